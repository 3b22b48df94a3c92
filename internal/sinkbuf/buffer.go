package sinkbuf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// ErrFull is returned by Put when the batch does not fit and when_full is
// drop_newest: nothing was stored and done will not be called.
var ErrFull = errors.New("sinkbuf: buffer full")

// ErrClosed is returned by Put and Next, and given to pending done
// functions, once the buffer is closed.
var ErrClosed = errors.New("sinkbuf: buffer closed")

// cacheRecords bounds the records kept, besides their frames, as copies
// ready for the sink (about 15 MB): while the sink keeps up, what was just
// put is delivered from the copy, not read back and decoded, and its frame
// is not compressed (it is deleted within moments; a crash reads it back
// all the same). Other frames are read back from the log.
const cacheRecords = 16 * maxFrameRecords

// maxFrameRecords bounds the records of one frame, so that a frame stays
// far below max_bytes (a few hundred KB at most) whatever the batch size.
const maxFrameRecords = 2048

// Stats is what the buffer holds now.
type Stats struct {
	// Bytes is the memory (ready copies and frames) or disk (segment
	// files) used.
	Bytes int64
	// Records is the number of records not yet delivered.
	Records int64
	// Oldest is when the oldest record not yet delivered entered the
	// buffer; zero when the buffer is empty.
	Oldest time.Time
	// Max is max_bytes.
	Max int64
}

// Item is one frame handed out by Next; give it back to Done.
type Item struct {
	seq     uint64
	codec   byte
	time    int64 // unix nanos when it entered the buffer
	records int
	size    int64 // frame bytes, header included
	state   uint8
	// disk
	seg *segment
	off int64
	// memory
	data []byte
	ack  *batchAck
	// cached is a copy of the frame's batch, ready for the sink.
	cached *flowlog.Batch
}

// Records is the number of records of the frame.
func (it *Item) Records() int { return it.records }

const (
	stateQueued uint8 = iota
	stateOut
	stateDone
)

// batchAck calls fn once every frame of one memory-buffered batch is done.
type batchAck struct {
	n   atomic.Int32
	err atomic.Pointer[error]
	fn  func(error)
}

func (a *batchAck) done(err error) {
	if err != nil {
		a.err.CompareAndSwap(nil, &err)
	}
	if a.n.Add(-1) == 0 {
		var e error
		if p := a.err.Load(); p != nil {
			e = *p
		}
		a.fn(e)
	}
}

// Buffer is a bounded FIFO of batches in front of one sink, in memory or in
// segment files on disk. Put appends, Next hands out frames in order (any
// number may be out at once), Done consumes them.
type Buffer struct {
	cfg  Config
	id   string
	log  *slog.Logger
	disk *diskLog // nil for a memory buffer

	mu      sync.Mutex
	items   []*Item // not yet consumed, oldest first
	next    int     // index in items of the next item for Next
	bytes   int64
	records int64
	seq     uint64
	changed chan struct{}
	closed  bool

	scratch sync.Pool
	// frames recycles the buffers frames are encoded into before they are
	// written (disk), and read into (disk, uncompressed frames become the
	// batch's Buf and the batch's old Buf comes here).
	frames sync.Pool
	pool   flowlog.BatchPool
	// cachedRecords counts the records of items' cached copies.
	cachedRecords atomic.Int64
	// backlog mirrors bytes, for reads without the lock.
	backlog  atomic.Int64
	recovery Recovery
}

// Recovery says what Open found on disk (zero for memory).
func (b *Buffer) Recovery() Recovery { return b.recovery }

// Open creates the buffer of sink id. A disk buffer recovers what an
// earlier run left in <path>/<id>: every intact frame is delivered again;
// a torn or corrupt tail is logged with what was lost and skipped.
func Open(cfg Config, id string, log *slog.Logger) (*Buffer, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Buffer{cfg: cfg, id: id, log: log, changed: make(chan struct{}), seq: 1}
	if cfg.Type == TypeDisk {
		if err := b.openDisk(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Durable reports whether a Put batch survives a crash (disk).
func (b *Buffer) Durable() bool { return b.disk != nil }

// Stats returns what the buffer holds now.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{Bytes: b.bytes, Records: b.records, Max: int64(b.cfg.MaxBytes)}
	if len(b.items) > 0 {
		s.Oldest = time.Unix(0, b.items[0].time)
	}
	return s
}

func (b *Buffer) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// waitLocked releases mu until the buffer changes or ctx ends.
func (b *Buffer) waitLocked(ctx context.Context) error {
	ch := b.changed
	b.mu.Unlock()
	defer b.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// frame is an encoded frame ready to store.
type frame struct {
	buf     []byte // header + body
	records int
	cached  *flowlog.Batch
	size    int64 // bytes it takes (memory)
	pooled  bool  // buf goes back to Buffer.frames once written
}

// recycle gives back the buffers of frames written to disk (or not
// stored).
func (b *Buffer) recycle(frames []frame) {
	for i := range frames {
		if f := &frames[i]; f.pooled && cap(f.buf) <= maxPooledFrame {
			buf := f.buf[:0]
			b.frames.Put(&buf)
			f.buf = nil
		}
	}
}

// maxPooledFrame bounds the frame buffers kept for reuse.
const maxPooledFrame = 4 << 20

// encode cuts batch into frames of at most maxFrameRecords records.
func (b *Buffer) encode(batch *flowlog.Batch, now int64) []frame {
	var scratch []byte
	if s, ok := b.scratch.Get().(*[]byte); ok {
		scratch = *s
	}
	var out []frame
	n := len(batch.Records)
	isErr := n == 0
	if isErr {
		n = len(batch.Failed)
	}
	for lo := 0; lo < n || (n == 0 && lo == 0); lo += maxFrameRecords {
		hi := min(lo+maxFrameRecords, n)
		part := *batch
		if isErr {
			part.Records, part.Failed = nil, batch.Failed[lo:hi]
		} else {
			part.Records, part.Failed = batch.Records[lo:hi], nil
		}
		var fr frame
		fr.records = hi - lo
		if b.cachedRecords.Add(int64(hi-lo)) <= cacheRecords {
			fr.cached = copyBatch(b.pool.Get(), &part)
		} else {
			b.cachedRecords.Add(int64(lo - hi))
		}
		if b.disk == nil && fr.cached != nil {
			// In memory the copy is all there is to keep.
			fr.size = int64(cap(fr.cached.Buf)) + int64(len(fr.cached.Records))*recordSize + int64(len(fr.cached.Failed))*failureSize
		} else {
			// Compression buys room, at about 240 ns a record to encode
			// and 100 to decode (uncompressed: 60–80 and 130–190):
			// frames are compressed once the buffer holds an eighth of
			// max_bytes (a backlog); before that, and for frames the sink
			// takes from the copy, they are stored as they are.
			codec := byte(codecS2)
			if fr.cached != nil || b.backlog.Load() < int64(b.cfg.MaxBytes)/8 {
				codec = codecNone
			}
			var buf []byte
			if b.disk != nil {
				// Written out by Put, then reused.
				if p, ok := b.frames.Get().(*[]byte); ok {
					buf = *p
				}
				fr.pooled = true
			}
			buf = append(buf[:0], make([]byte, headerSize)...)
			buf, scratch = encodeBatchAs(buf, scratch, &part, codec == codecS2)
			putHeader(buf, now, hi-lo, codec)
			fr.buf, fr.size = buf, int64(len(buf))
		}
		out = append(out, fr)
		if n == 0 {
			break
		}
	}
	b.scratch.Put(&scratch)
	return out
}

// Put appends batch. For a disk buffer, done(nil) is called once the batch
// is written and fsynced (one fsync covers every batch written meanwhile),
// done(err) if that fails. For a memory buffer, done is called once every
// record of the batch went through Done: nil when delivered, an error when
// the buffer closed first; the batch is acknowledged only when delivered.
//
// When the batch does not fit, Put waits for room (when_full: block; ctx
// ending returns ctx.Err()) or returns ErrFull (drop_newest). When Put
// returns an error, done is never called.
func (b *Buffer) Put(ctx context.Context, batch *flowlog.Batch, done func(error)) error {
	now := time.Now().UnixNano()
	return b.store(ctx, b.encode(batch, now), now, done)
}

// PutPayload appends a sink's own payload (an encoded, compressed request,
// say) of records records, as Put appends a batch: done is called as Put
// says, and Take hands it out like any frame; LoadPayload reads it back.
func (b *Buffer) PutPayload(ctx context.Context, payload []byte, records int, done func(error)) error {
	now := time.Now().UnixNano()
	var buf []byte
	if p, ok := b.frames.Get().(*[]byte); ok {
		buf = *p
	}
	buf = append(append(buf[:0], make([]byte, headerSize)...), payload...)
	putHeader(buf, now, records, codecPayload)
	return b.store(ctx, []frame{{buf: buf, records: records, size: int64(len(buf)), pooled: b.disk != nil}}, now, done)
}

// store appends encoded frames (see Put).
func (b *Buffer) store(ctx context.Context, frames []frame, now int64, done func(error)) error {
	var total int64
	for _, f := range frames {
		total += f.size
	}
	b.mu.Lock()
	for {
		if b.closed {
			return b.abandonLocked(frames, ErrClosed)
		}
		if b.bytes+total <= int64(b.cfg.MaxBytes) || len(b.items) == 0 && b.bytes == 0 {
			break
		}
		if b.cfg.WhenFull == WhenFullDropNewest {
			return b.abandonLocked(frames, ErrFull)
		}
		if err := b.waitLocked(ctx); err != nil {
			return b.abandonLocked(frames, err)
		}
	}
	var ack *batchAck
	if b.disk == nil {
		ack = &batchAck{fn: done}
		ack.n.Store(int32(len(frames)))
	}
	var last uint64
	for i, f := range frames {
		it := &Item{seq: b.seq, time: now, records: f.records, size: f.size, ack: ack, cached: f.cached}
		if b.disk != nil {
			if err := b.disk.appendLocked(it, f.buf); err != nil {
				// Frames before i are stored: their items own their cached
				// copies (they are delivered, and the nacked batch comes
				// again: duplicates, no loss). Only the rest give theirs back.
				b.mu.Unlock()
				b.uncache(frames[i:])
				b.recycle(frames)
				return err
			}
		} else {
			it.data = f.buf
			b.bytes += it.size
		}
		b.seq++
		last = it.seq
		b.items = append(b.items, it)
		b.records += int64(f.records)
	}
	if b.disk != nil {
		b.disk.waitSyncLocked(last, done)
	}
	b.backlog.Store(b.bytes)
	b.broadcastLocked()
	b.mu.Unlock()
	b.recycle(frames)
	return nil
}

// Next waits for the oldest frame not yet handed out and returns it with
// its batch. A frame found corrupt on disk is logged, counted as lost and
// skipped. Next returns ctx.Err() when ctx ends and ErrClosed once the
// buffer is closed.
func (b *Buffer) Next(ctx context.Context) (*Item, *flowlog.Batch, error) {
	for {
		it, err := b.Take(ctx)
		if err != nil {
			return nil, nil, err
		}
		if batch, err := b.Load(it); err == nil {
			return it, batch, nil
		}
	}
}

// Take waits for the oldest frame not yet handed out (ctx.Err() when ctx
// ends, ErrClosed once closed). Load then gives its batch; several taken
// frames may be loaded at once.
func (b *Buffer) Take(ctx context.Context) (*Item, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.next >= len(b.items) {
		if b.closed {
			return nil, ErrClosed
		}
		if err := b.waitLocked(ctx); err != nil {
			return nil, err
		}
	}
	it := b.items[b.next]
	b.next++
	it.state = stateOut
	return it, nil
}

// Load returns the batch of a taken frame: its ready copy, or the frame
// read back and decoded. A frame that cannot be read or decoded (damaged
// on disk) is logged, consumed and its records counted lost; Load then
// returns the error and the item must not be given to Done.
func (b *Buffer) Load(it *Item) (*flowlog.Batch, error) {
	b.mu.Lock()
	cached := it.cached
	it.cached = nil
	b.mu.Unlock()
	if cached != nil {
		b.cachedRecords.Add(-int64(it.records))
		return cached, nil
	}
	var body, frameBuf []byte
	var err error
	if b.disk != nil {
		if p, ok := b.frames.Get().(*[]byte); ok {
			frameBuf = *p
		}
		frameBuf, body, err = b.disk.read(it, frameBuf)
	} else {
		body = it.data[headerSize:]
		it.codec = it.data[20]
	}
	var batch *flowlog.Batch
	if err == nil && it.codec == codecPayload {
		err = errors.New("the frame holds a sink's own payload, which only that kind of sink reads")
	}
	if err == nil {
		batch = b.pool.Get()
		if batch == nil {
			batch = &flowlog.Batch{}
		}
		if frameBuf != nil && it.codec == codecNone {
			// Decoded in place: the frame becomes the batch's buffer, and
			// the batch's old buffer the next frame's.
			frameBuf, batch.Buf = batch.Buf, frameBuf
		}
		batch, err = decodeBatchAs(body, batch, it.codec)
	}
	if frameBuf != nil && cap(frameBuf) <= maxPooledFrame {
		frameBuf = frameBuf[:0]
		b.frames.Put(&frameBuf)
	}
	if err != nil {
		b.log.Error("buffer frame unreadable; its records are lost", "records", it.records, "error", err)
		b.Done(it, nil)
		return nil, err
	}
	return batch, nil
}

// LoadPayload returns the payload of a taken frame PutPayload stored, and
// a function to call once the payload is no longer used; ok is false for a
// frame of records (Load it). A frame that cannot be read is logged and
// consumed, as by Load, and its error returned.
func (b *Buffer) LoadPayload(it *Item) (payload []byte, release func(), ok bool, err error) {
	if b.disk == nil {
		if it.data == nil || it.data[20] != codecPayload {
			return nil, nil, false, nil
		}
		return it.data[headerSize:], func() {}, true, nil
	}
	var frameBuf []byte
	if p, ok := b.frames.Get().(*[]byte); ok {
		frameBuf = *p
	}
	frameBuf, body, err := b.disk.read(it, frameBuf)
	release = func() {
		if cap(frameBuf) <= maxPooledFrame {
			frameBuf = frameBuf[:0]
			b.frames.Put(&frameBuf)
		}
	}
	if err != nil {
		release()
		b.log.Error("buffer frame unreadable; its records are lost", "records", it.records, "error", err)
		b.Done(it, nil)
		return nil, nil, false, err
	}
	if it.codec != codecPayload {
		release()
		return nil, nil, false, nil
	}
	return body, release, true, nil
}

// abandonLocked unlocks b.mu, gives back the frames of a Put that stores
// nothing more, and returns err.
func (b *Buffer) abandonLocked(frames []frame, err error) error {
	b.mu.Unlock()
	b.uncache(frames)
	b.recycle(frames)
	return err
}

// uncache gives back the copies of frames that were not stored.
func (b *Buffer) uncache(frames []frame) {
	for _, f := range frames {
		if f.cached != nil {
			b.cachedRecords.Add(-int64(f.records))
			b.pool.Put(f.cached)
		}
	}
}

// Sizes of what a memory buffer holds for a cached record or failure.
var (
	recordSize  = int64(unsafe.Sizeof(flowlog.Record{}))
	failureSize = int64(unsafe.Sizeof(flowlog.Failure{}))
)

// Release recycles a batch from Next once the sink is done with it (its
// records and lines are reused).
func (b *Buffer) Release(batch *flowlog.Batch) { b.pool.Put(batch) }

// Done gives back an item from Next. With err nil the item is consumed:
// its bytes are freed (a disk segment is deleted once all its frames are
// consumed) and, for memory, its batch is acknowledged when all its frames
// are. With an error (shutdown), a disk frame stays for the next run and a
// memory frame's batch is nacked.
func (b *Buffer) Done(it *Item, err error) {
	b.mu.Lock()
	if err != nil && b.disk != nil {
		b.mu.Unlock()
		return
	}
	it.state = stateDone
	for len(b.items) > 0 && b.items[0].state == stateDone {
		h := b.items[0]
		b.items[0] = nil
		b.items = b.items[1:]
		b.next--
		b.records -= int64(h.records)
		if b.disk != nil {
			b.disk.consumedLocked(h)
		} else {
			b.bytes -= h.size
		}
	}
	b.backlog.Store(b.bytes)
	b.broadcastLocked()
	b.mu.Unlock()
	if it.ack != nil {
		it.data = nil
		it.ack.done(err)
	}
}

// WaitEmpty waits until the buffer is empty or ctx ends.
func (b *Buffer) WaitEmpty(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.items) > 0 && !b.closed {
		if err := b.waitLocked(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Healthy reports a disk buffer whose fsync failed.
func (b *Buffer) Healthy() error {
	if b.disk == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.disk.syncErr != nil {
		return fmt.Errorf("buffer: %w", b.disk.syncErr)
	}
	return nil
}

// Close stops the buffer. A disk buffer syncs and closes its files (what it
// holds is read again by the next Open); a memory buffer nacks every batch
// not yet delivered, except frames still out (their Done nacks them). Close
// is idempotent.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var nack []*Item
	if b.disk == nil {
		nack = slices.Clone(b.items[b.next:])
		b.items = b.items[:b.next]
	}
	b.broadcastLocked()
	b.mu.Unlock()
	var records, bytes int64
	for _, it := range nack {
		if it.cached != nil {
			b.cachedRecords.Add(-int64(it.records))
			it.cached = nil
		}
		records += int64(it.records)
		bytes += it.size
	}
	if len(nack) > 0 {
		b.mu.Lock()
		b.records -= records
		b.bytes -= bytes
		b.mu.Unlock()
	}
	for _, it := range nack {
		it.ack.done(ErrClosed)
	}
	if b.disk != nil {
		return b.disk.close()
	}
	return nil
}
