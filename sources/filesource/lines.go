// Cutting lines out of an input into batches.

package filesource

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// fill reads up to BatchMaxRecords lines of in into a batch. It reads large
// chunks straight into the batch buffer and cuts lines in place, so a line
// is copied once (by the read) and a partial last line is carried over to
// the next batch.
func (s *Source) fill(in *input) *flowlog.Batch {
	b := s.newBatch()
	b.Partition = in.name
	if chunk := s.chunkSize(); cap(b.Buf) < chunk {
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
		in.read += int64(n)
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

// chunkSize is the buffer a batch reads its lines into: room for
// BatchMaxRecords lines of 128 bytes, and at least 64 KiB.
func (s *Source) chunkSize() int { return max(s.cfg.BatchMaxRecords*128, 64<<10) }

// skipLongLine reports a line longer than max_line_bytes and discards the
// rest of it.
func (s *Source) skipLongLine(in *input, b *flowlog.Batch, head []byte) {
	in.line++
	raw := append([]byte(nil), head[:min(len(head), 256)]...)
	b.Fail(s.set.ID, fmt.Errorf("%s:%d: line longer than max_line_bytes (%d)", in.name, in.line, s.cfg.MaxLineBytes), raw, in.origin)
	for {
		l, err := in.br.ReadSlice('\n')
		in.read += int64(len(l))
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
