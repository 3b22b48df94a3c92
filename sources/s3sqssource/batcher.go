package s3sqssource

import (
	"bytes"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// maxFailedRaw bounds the copy of a rejected line kept in a Failure.
const maxFailedRaw = 1024

// batcher cuts the lines of one object into batches. A batch's Buf is
// allocated at its full capacity and never grows, so Record.Raw can point
// into it as lines are added.
type batcher struct {
	source     string
	partition  string
	origin     *flowlog.Origin
	maxRecords int
	maxBytes   int
	// emit hands a full batch on; it blocks while the consumer is behind.
	emit func(*flowlog.Batch) error
	// pool, when set, supplies batches returned by acknowledgements.
	pool *flowlog.BatchPool

	// hint estimates the bytes of lines still to come (0: unknown); the
	// first allocation of a batch is sized from it so that small objects
	// do not hold full-size batches.
	hint int64

	// partial is the incomplete last line when the object ended in error.
	partial []byte

	b       *flowlog.Batch
	records int64 // records emitted so far
}

// minBatchBytes is the smallest buffer a batch starts with.
const minBatchBytes = 16 << 10

func (bt *batcher) batch() *flowlog.Batch {
	if bt.b == nil && bt.pool != nil {
		if b := bt.pool.Get(); b != nil {
			b.Source, b.Partition = bt.source, bt.partition
			bt.b = b
		}
	}
	if bt.b == nil {
		n := bt.maxBytes
		if bt.hint > 0 && bt.hint < int64(n) {
			n = max(int(bt.hint), minBatchBytes)
		}
		// ~100 bytes a line: records are sized to fill the buffer.
		r := min(bt.maxRecords, max(n/100, 64))
		bt.b = &flowlog.Batch{
			Source:    bt.source,
			Partition: bt.partition,
			Records:   make([]flowlog.Record, 0, r),
			Buf:       make([]byte, 0, n),
		}
	}
	return bt.b
}

// grow gives b.Buf room for n more bytes, up to maxBytes, moving the
// bytes and re-pointing every record's Raw. It reports false when the
// batch is at its byte limit.
func (bt *batcher) grow(b *flowlog.Batch, n int) bool {
	need := len(b.Buf) + n
	if need > bt.maxBytes {
		return false
	}
	nb := make([]byte, len(b.Buf), min(max(2*cap(b.Buf), need), bt.maxBytes))
	copy(nb, b.Buf)
	b.Buf = nb
	bt.repoint(b)
	return true
}

// add appends one line (its surrounding spaces, \r and \n are trimmed;
// blank lines are skipped). The caller guarantees len(line) <= maxBytes.
func (bt *batcher) add(line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	b := bt.batch()
	if len(b.Records) == bt.maxRecords || len(b.Buf)+len(line) > cap(b.Buf) && !bt.grow(b, len(line)) {
		if err := bt.flush(); err != nil {
			return err
		}
		b = bt.batch()
	}
	off := len(b.Buf)
	b.Buf = append(b.Buf, line...)
	raw := b.Buf[off:len(b.Buf):len(b.Buf)]
	if n := len(b.Records); n < cap(b.Records) {
		// Clear the slot in place: one pass over the 456-byte record
		// rather than building it on the stack and copying it.
		b.Records = b.Records[:n+1]
		r := &b.Records[n]
		*r = flowlog.Record{}
		r.Raw, r.Origin = raw, bt.origin
		return nil
	}
	b.Records = append(b.Records, flowlog.Record{Raw: raw, Origin: bt.origin})
	return nil
}

// appendLine renders one line with render straight into the batch buffer
// (no intermediate copy) and adds it as a record. render appends to dst
// and returns it; the line must not be blank. A line longer than maxLine
// is not added: its length and start are returned for the caller to
// reject.
func (bt *batcher) appendLine(maxLine int, render func(dst []byte) []byte) (rejected []byte, n int, err error) {
	b := bt.batch()
	if len(b.Records) == bt.maxRecords || cap(b.Buf)-len(b.Buf) < maxLine && !bt.grow(b, maxLine) {
		if err := bt.flush(); err != nil {
			return nil, 0, err
		}
		b = bt.batch()
	}
	off, c := len(b.Buf), cap(b.Buf)
	buf := render(b.Buf)
	if cap(buf) != c {
		// The line outgrew the buffer (so it is longer than maxLine and
		// rejected below) and append moved it: re-point the records to the
		// new array, keeping the batch within maxBytes.
		b.Buf = buf[:off:max(off, min(cap(buf), bt.maxBytes))]
		bt.repoint(b)
	}
	line := buf[off:len(buf):len(buf)]
	if len(line) > maxLine {
		b.Buf = b.Buf[:off]
		return line[:min(len(line), maxFailedRaw)], len(line), nil
	}
	b.Buf = buf
	if n := len(b.Records); n < cap(b.Records) {
		b.Records = b.Records[:n+1]
		r := &b.Records[n]
		*r = flowlog.Record{}
		r.Raw, r.Origin = line, bt.origin
	} else {
		b.Records = append(b.Records, flowlog.Record{Raw: line, Origin: bt.origin})
	}
	return nil, 0, nil
}

// repoint makes every record's Raw point into b.Buf again after the
// buffer moved (records are laid out back to back from its start).
func (bt *batcher) repoint(b *flowlog.Batch) {
	off := 0
	for i := range b.Records {
		l := len(b.Records[i].Raw)
		b.Records[i].Raw = b.Buf[off : off+l : off+l]
		off += l
	}
}

// fail records a rejected input in the current batch. raw is copied (at
// most maxFailedRaw bytes), outside Buf.
func (bt *batcher) fail(err error, raw []byte) {
	if len(raw) > maxFailedRaw {
		raw = raw[:maxFailedRaw]
	}
	var cp []byte
	if len(raw) > 0 {
		cp = bytes.Clone(raw)
	}
	bt.batch().Fail(bt.source, err, cp, bt.origin)
}

// flush emits the current batch if it holds anything.
func (bt *batcher) flush() error {
	b := bt.b
	if b == nil || len(b.Records) == 0 && len(b.Failed) == 0 {
		return nil
	}
	bt.b = nil
	bt.records += int64(len(b.Records))
	bt.hint -= int64(len(b.Buf))
	b.Read = time.Now()
	return bt.emit(b)
}
