package filesource

import (
	"bufio"
	"context"
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

	// gen is the producer's generation: the batches it makes between two
	// rewinds (owned by the producer goroutine).
	gen int
	rw  rewinds
}

type input struct {
	name   string
	idx    int   // in Source.files
	reread bool  // a regular file: it can be opened again at an offset
	read   int64 // bytes read from br (decompressed)
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
	s.rw.init()
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

// open opens input idx of s.files at its beginning.
func (s *Source) open(idx int) (*input, error) {
	return s.openAt(idx, position{file: idx})
}

// openAt opens input idx and skips to p: a plain file is seeked, a gzip
// file is decompressed again from its start up to p.offset.
func (s *Source) openAt(idx int, p position) (*input, error) {
	name := s.files[idx]
	var r io.Reader
	var c io.Closer
	reread := false
	if name == "-" {
		r = s.stdin
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			reread = true
		}
		r, c = f, f
	}
	in := &input{name: name, idx: idx, reread: reread, f: c, origin: &flowlog.Origin{Name: name}}
	if p.offset > 0 && !reread {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("%s: cannot be read again from line %d: not a regular file", name, p.line+1)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 256<<10)
		if p.offset > 0 {
			if n, err := io.CopyN(io.Discard, br, p.offset); err != nil {
				c.Close()
				return nil, fmt.Errorf("%s: cannot be read again from line %d: %d of %d decompressed bytes before it: %w", name, p.line+1, n, p.offset, err)
			}
		}
	} else if p.offset > 0 {
		f := c.(*os.File)
		if _, err := f.Seek(p.offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: cannot be read again from line %d: %w", name, p.line+1, err)
		}
		br = bufio.NewReaderSize(f, 256<<10)
	}
	in.br = br
	in.read = p.offset
	in.line = p.line
	return in, nil
}

func (s *Source) newBatch() *flowlog.Batch {
	if b := s.pool.Get(); b != nil {
		return b
	}
	return &flowlog.Batch{
		Records: make([]flowlog.Record, 0, s.cfg.BatchMaxRecords),
		Buf:     make([]byte, 0, s.chunkSize()),
	}
}

type item struct {
	b   *flowlog.Batch
	at  mark
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
	for {
		if err := s.rw.failed(); err != nil {
			return nil, nil, err
		}
		select {
		case it, ok := <-s.ch:
			if !ok {
				if err := s.rw.failed(); err != nil {
					return nil, nil, err
				}
				return nil, nil, component.ErrEndOfInput
			}
			if it.err != nil {
				return nil, nil, it.err
			}
			if s.rw.stale(it.at) {
				// Read before a nack of an earlier batch: the rewind
				// reads these lines again.
				s.pool.Put(it.b)
				s.rw.settled()
				continue
			}
			return it.b, s.ackFunc(it.b, it.at), nil
		case <-s.rw.fatal:
			continue
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
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
		b, at, err := s.next()
		if err == component.ErrEndOfInput {
			return
		}
		if err == nil {
			s.rw.made()
		}
		select {
		case s.ch <- item{b, at, err}:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *Source) next() (*flowlog.Batch, mark, error) {
	for {
		select {
		case <-s.stop:
			return nil, mark{}, component.ErrEndOfInput
		default:
		}
		if p, gen, ok := s.rw.take(); ok {
			if err := s.rewind(p, gen); err != nil {
				return nil, mark{}, err
			}
		}
		if s.cur == nil {
			if s.idx >= len(s.files) {
				if s.rw.wait(s.stop) {
					continue // a nack came: read again
				}
				return nil, mark{}, component.ErrEndOfInput
			}
			idx := s.idx
			s.idx++
			in, err := s.open(idx)
			if err != nil {
				// Unreadable input: report it and go on with the next file.
				name := s.files[idx]
				b := s.newBatch()
				b.Partition = name
				b.Fail(s.set.ID, err, nil, &flowlog.Origin{Name: name})
				s.set.Logger.Error("cannot read input", "file", name, "error", err)
				return b, mark{gen: s.gen, pos: position{file: idx}, name: name, reread: true}, nil
			}
			s.cur = in
		}
		at := mark{gen: s.gen, pos: position{file: s.cur.idx, offset: s.cur.read - int64(len(s.cur.carry)), line: s.cur.line}, name: s.cur.name, reread: s.cur.reread}
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
		return b, at, nil
	}
}

// rewind goes back to p, the first line of a nacked batch, and starts
// generation gen: batches of earlier generations not yet handed out are
// dropped by Read.
func (s *Source) rewind(p position, gen int) error {
	if s.cur != nil && s.cur.f != nil {
		s.cur.f.Close()
	}
	s.cur = nil
	s.gen = gen
	in, err := s.openAt(p.file, p)
	if err != nil {
		return s.rw.fail(fmt.Errorf("re-reading a batch that was not delivered: %w", err))
	}
	s.cur = in
	s.idx = p.file + 1
	s.set.Logger.Info("reading again from a batch that was not delivered", "file", in.name, "line", p.line+1)
	return nil
}

func (s *Source) ackFunc(b *flowlog.Batch, at mark) flowlog.AckFunc {
	var once ackonce.Guard
	return func(_ context.Context, err error) error {
		if e := once.Try(); e != nil {
			return e
		}
		// The engine no longer holds the batch: recycle it. A nack is
		// recorded before the batch counts as settled, so that the
		// producer waiting at the end of the input sees it.
		s.pool.Put(b)
		var nerr error
		if err != nil {
			s.nacked.Add(1)
			nerr = s.rw.nack(at, err)
		}
		s.rw.settled()
		return nerr
	}
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
	if err := s.rw.failed(); err != nil {
		return err
	}
	if n := s.nacked.Load(); n > 0 {
		s.set.Logger.Warn("batches were not delivered", "batches", n)
	}
	return nil
}
