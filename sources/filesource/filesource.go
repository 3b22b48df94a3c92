package filesource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/ackonce"
)

var _ component.Source = (*Source)(nil)

// Type is the value of the `type:` key that selects this source.
const Type = "file"

// NewFactory returns the factory of the `file` source.
func NewFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (component.Source, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(*c, set)
		},
	}
}

// Source reads flow-log lines from files.
type Source struct {
	cfg   Config
	set   component.Settings
	files []string
	stdin io.Reader

	idx int
	cur *input // owned by the producer goroutine

	startOnce sync.Once
	ch        chan item
	stop      chan struct{}

	pool   flowlog.BatchPool
	nacked atomic.Int64
	closed atomic.Bool
}

type input struct {
	name   string
	f      io.Closer
	br     *bufio.Reader
	origin *flowlog.Origin
	line   int
	eof    bool
	carry  []byte // partial line read after the last batch's last line
	err    error  // read error to report once the carried lines are cut
}

// New builds a file source. The glob is expanded now: files created later
// are not read.
func New(cfg Config, set component.Settings) (*Source, error) {
	set = set.Normalize()
	if cfg.BatchRecords != 0 {
		set.Logger.Warn("file source: batch_records is deprecated; name it batch_max_records", "batch_records", cfg.BatchRecords)
		cfg.BatchMaxRecords, cfg.BatchRecords = cfg.BatchRecords, 0
	}
	s := &Source{cfg: cfg, set: set}
	if cfg.Path == "-" {
		s.files = []string{"-"}
		s.stdin = os.Stdin
	} else {
		matches, err := filepath.Glob(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		if len(matches) == 0 {
			if _, err := os.Stat(cfg.Path); err != nil {
				return nil, fmt.Errorf("path: %w", err)
			}
			matches = []string{cfg.Path}
		}
		sort.Strings(matches)
		s.files = matches
	}
	return s, nil
}

// SetStdin replaces standard input (for tests).
func (s *Source) SetStdin(r io.Reader) { s.stdin = r }

func (s *Source) open(name string) (*input, error) {
	var r io.Reader
	var c io.Closer
	if name == "-" {
		r = s.stdin
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		r, c = f, f
	}
	br := bufio.NewReaderSize(r, 256<<10)
	magic, _ := br.Peek(2)
	in := &input{name: name, f: c, origin: &flowlog.Origin{Name: name}}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	in.br = br
	return in, nil
}

func (s *Source) newBatch() *flowlog.Batch {
	if b := s.pool.Get(); b != nil {
		return b
	}
	return &flowlog.Batch{
		Records: make([]flowlog.Record, 0, s.cfg.BatchMaxRecords),
		Buf:     make([]byte, 0, s.cfg.BatchMaxRecords*128),
	}
}

type item struct {
	b   *flowlog.Batch
	err error
}

// Read returns the next batch of lines, ErrEndOfInput after the last file.
// Files are read and decompressed ahead by one batch in a goroutine, so
// reading overlaps processing and a blocked standard input never stops a
// shutdown.
func (s *Source) Read(ctx context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	s.startOnce.Do(func() {
		s.ch = make(chan item, 2)
		s.stop = make(chan struct{})
		go s.produce()
	})
	select {
	case it, ok := <-s.ch:
		if !ok {
			return nil, nil, component.ErrEndOfInput
		}
		if it.err != nil {
			return nil, nil, it.err
		}
		return it.b, s.ackFunc(it.b), nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (s *Source) produce() {
	defer close(s.ch)
	defer func() {
		if s.cur != nil && s.cur.f != nil {
			s.cur.f.Close()
		}
	}()
	for {
		b, err := s.next()
		if err == component.ErrEndOfInput {
			return
		}
		select {
		case s.ch <- item{b, err}:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *Source) next() (*flowlog.Batch, error) {
	for {
		select {
		case <-s.stop:
			return nil, component.ErrEndOfInput
		default:
		}
		if s.cur == nil {
			if s.idx >= len(s.files) {
				return nil, component.ErrEndOfInput
			}
			name := s.files[s.idx]
			s.idx++
			in, err := s.open(name)
			if err != nil {
				// Unreadable input: report it and go on with the next file.
				b := s.newBatch()
				b.Partition = name
				b.Fail(s.set.ID, err, nil, &flowlog.Origin{Name: name})
				s.set.Logger.Error("cannot read input", "file", name, "error", err)
				return b, nil
			}
			s.cur = in
		}
		b := s.fill(s.cur)
		if s.cur.eof {
			if s.cur.f != nil {
				s.cur.f.Close()
			}
			s.cur = nil
		}
		if len(b.Records) == 0 && len(b.Failed) == 0 {
			s.pool.Put(b)
			continue
		}
		return b, nil
	}
}

func (s *Source) ackFunc(b *flowlog.Batch) flowlog.AckFunc {
	return ackonce.Func(func(_ context.Context, err error) {
		if err != nil {
			s.nacked.Add(1)
		}
		// The engine no longer holds the batch: recycle it.
		s.pool.Put(b)
	})
}

// fill reads up to BatchMaxRecords lines of in into a batch. It reads large
// chunks straight into the batch buffer and cuts lines in place, so a line
// is copied once (by the read) and a partial last line is carried over to
// the next batch.
func (s *Source) fill(in *input) *flowlog.Batch {
	b := s.newBatch()
	b.Partition = in.name
	chunk := max(s.cfg.BatchMaxRecords*128, 64<<10)
	if cap(b.Buf) < chunk {
		b.Buf = make([]byte, 0, chunk)
	}
	buf := append(b.Buf[:0], in.carry...)
	in.carry = in.carry[:0]
	readErr := in.err // an error seen while lines were still to be cut
	in.err = nil
	lines := 0
	start := 0   // start of the first line not yet cut
	scanned := 0 // buf[start:scanned] holds no newline
	for {
		// Cut complete lines.
		for lines < s.cfg.BatchMaxRecords {
			k := bytes.IndexByte(buf[scanned:], '\n')
			if k < 0 {
				scanned = len(buf)
				break
			}
			end := scanned + k
			in.line++
			if t0, t1 := trimSpan(buf, start, end); t1 > t0 {
				b.Records = append(b.Records, flowlog.Record{Raw: buf[t0:t1:t1], Origin: in.origin})
			}
			lines++
			start, scanned = end+1, end+1
		}
		if lines >= s.cfg.BatchMaxRecords || readErr != nil {
			break
		}
		if len(buf) == cap(buf) {
			if start > 0 {
				break // the buffer is full of whole lines: a batch
			}
			// One line fills the buffer: grow it, up to the cap.
			if len(buf) >= s.cfg.MaxLineBytes {
				s.skipLongLine(in, b, buf)
				buf, start, scanned = buf[:0], 0, 0
				continue
			}
			nb := make([]byte, len(buf), min(2*cap(buf), s.cfg.MaxLineBytes+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := in.br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		readErr = err
	}
	// What is left after the last cut line goes to the next batch (or, at
	// the end of the input, is the last line without a newline).
	rest := buf[start:]
	if readErr != nil && bytes.IndexByte(rest, '\n') >= 0 {
		// The batch is full and whole lines remain: they come first.
		in.carry = append(in.carry, rest...)
		in.err = readErr
	} else if readErr != nil {
		if len(rest) > 0 {
			in.line++
			if t0, t1 := trimSpan(buf, start, len(buf)); t1 > t0 {
				b.Records = append(b.Records, flowlog.Record{Raw: buf[t0:t1:t1], Origin: in.origin})
			}
		}
		s.endInput(in, b, readErr)
	} else {
		in.carry = append(in.carry, rest...)
	}
	b.Buf = buf
	return b
}

// skipLongLine reports a line longer than max_line_bytes and discards the
// rest of it.
func (s *Source) skipLongLine(in *input, b *flowlog.Batch, head []byte) {
	in.line++
	raw := append([]byte(nil), head[:min(len(head), 256)]...)
	b.Fail(s.set.ID, fmt.Errorf("%s:%d: line longer than max_line_bytes (%d)", in.name, in.line, s.cfg.MaxLineBytes), raw, in.origin)
	for {
		_, err := in.br.ReadSlice('\n')
		if err != bufio.ErrBufferFull {
			// A read error (or the end of the input) met while skipping is
			// reported by the next fill, like any other.
			in.err = err
			return
		}
	}
}

// trimSpan returns buf[from:to] without surrounding spaces, tabs and \r.
func trimSpan(buf []byte, from, to int) (int, int) {
	for from < to && (buf[from] == ' ' || buf[from] == '\t' || buf[from] == '\r') {
		from++
	}
	for to > from && (buf[to-1] == ' ' || buf[to-1] == '\t' || buf[to-1] == '\r') {
		to--
	}
	return from, to
}

func (s *Source) endInput(in *input, b *flowlog.Batch, err error) {
	in.eof = true
	if err == io.EOF {
		return
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%s: truncated after line %d: %w", in.name, in.line, err)
	} else {
		err = fmt.Errorf("%s: read error after line %d: %w", in.name, in.line, err)
	}
	b.Fail(s.set.ID, err, nil, in.origin)
	s.set.Logger.Error("input damaged; records before the damage are delivered", "file", in.name, "line", in.line, "error", err)
}

// Close releases the open file. Nacked batches (not delivered when the
// pipeline stopped) are reported as an error. It waits for the reader to
// finish its batch for at most 2s, and no longer than ctx allows.
func (s *Source) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	s.startOnce.Do(func() {}) // never start after Close
	if s.stop != nil {
		close(s.stop)
		// Let the producer finish its batch (it closes its file); a read
		// blocked on standard input is left to the process exit.
		timeout := time.After(2 * time.Second)
	drain:
		for {
			select {
			case _, ok := <-s.ch:
				if !ok {
					break drain
				}
			case <-timeout:
				break drain
			case <-ctx.Done():
				break drain
			}
		}
	}
	if n := s.nacked.Load(); n > 0 {
		s.set.Logger.Warn("batches were not delivered", "batches", n)
	}
	return nil
}
