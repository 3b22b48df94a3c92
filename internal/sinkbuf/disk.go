package sinkbuf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// On disk, a buffer is a directory of segment files named after the
// sequence number of their first frame (%016x.seg), written in order and
// deleted once every frame in them is consumed. A frame is
//
//	length  uint32  body bytes
//	crc     uint32  CRC-32C of everything after this field
//	time    int64   unix nanoseconds when the batch entered the buffer
//	records uint32
//	codec   uint8   1: S2-compressed compact batch; 0: uncompressed;
//	                2: a sink's payload (PutPayload), opaque here
//	body
//
// (little endian). Appends go to the last segment; a flusher goroutine
// fsyncs what was written since its last pass and then acknowledges every
// batch it covered (group commit). The file "head" records, now and then,
// the first frame not yet consumed, so a restart re-sends few frames that
// were already delivered; it is a hint only (a stale head re-sends more,
// never less).

const (
	headerSize = 21
	codecNone  = 0
	codecS2    = 1
	// codecPayload frames hold what a sink stored with PutPayload.
	codecPayload = 2
	segExt       = ".seg"
	headFile     = "head"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func putHeader(buf []byte, now int64, records int, codec byte) {
	body := buf[headerSize:]
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(body)))
	binary.LittleEndian.PutUint64(buf[8:], uint64(now))
	binary.LittleEndian.PutUint32(buf[16:], uint32(records))
	buf[20] = codec
	crc := crc32.Update(crc32.Checksum(buf[8:headerSize], castagnoli), castagnoli, body)
	binary.LittleEndian.PutUint32(buf[4:], crc)
}

// checkFrame verifies a whole frame's checksum and codec.
func checkFrame(buf []byte) error {
	if len(buf) < headerSize || int(binary.LittleEndian.Uint32(buf[0:])) != len(buf)-headerSize {
		return errors.New("frame length mismatch")
	}
	want := binary.LittleEndian.Uint32(buf[4:])
	if got := crc32.Update(crc32.Checksum(buf[8:headerSize], castagnoli), castagnoli, buf[headerSize:]); got != want {
		return fmt.Errorf("checksum mismatch (crc32c %08x, want %08x)", got, want)
	}
	if buf[20] != codecS2 && buf[20] != codecNone && buf[20] != codecPayload {
		return fmt.Errorf("unknown codec %d", buf[20])
	}
	return nil
}

type segment struct {
	path  string
	first uint64
	r     *os.File
	w     *os.File // while active
	size  int64
	live  int // frames not yet consumed
}

type syncWaiter struct {
	seq  uint64
	done func(error)
}

type diskLog struct {
	b       *Buffer
	dir     string
	segSize int64

	// guarded by b.mu
	segs     []*segment
	active   *segment
	written  uint64
	synced   uint64
	waiters  []syncWaiter
	toClose  []*os.File
	dirDirty bool
	syncErr  error
	headSeq  uint64 // last head written

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

// Recovery says what Open found on disk.
type Recovery struct {
	Frames, Records int
	Bytes           int64
	// Lost lists the damaged places skipped (segment, offset, bytes).
	Lost []string
}

func (b *Buffer) openDisk() error {
	dir := filepath.Join(b.cfg.Path, b.id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	d := &diskLog{b: b, dir: dir, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	d.segSize = min(max(int64(b.cfg.MaxBytes)/16, 256<<10), 64<<20)
	b.disk = d
	rec, err := d.recover()
	if err != nil {
		return err
	}
	b.recovery = rec
	if rec.Frames > 0 || len(rec.Lost) > 0 {
		b.log.Info("disk buffer recovered; its records will be delivered", "dir", dir,
			"frames", rec.Frames, "records", rec.Records, "bytes", rec.Bytes, "damaged", len(rec.Lost))
	}
	go d.flusher()
	return nil
}

func (d *diskLog) recover() (Recovery, error) {
	var rec Recovery
	b := d.b
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return rec, fmt.Errorf("buffer: %w", err)
	}
	var head uint64
	if data, err := os.ReadFile(filepath.Join(d.dir, headFile)); err == nil {
		head, _ = strconv.ParseUint(strings.TrimSpace(string(data)), 16, 64)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), segExt) && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segExt), 16, 64)
		if err != nil {
			b.log.Warn("buffer: ignoring a file that is not a segment", "file", name)
			continue
		}
		seg := &segment{path: filepath.Join(d.dir, name), first: first}
		items, lost, err := d.scan(seg)
		if err != nil {
			return rec, err
		}
		if lost != "" {
			rec.Lost = append(rec.Lost, lost)
		}
		for _, it := range items {
			if it.seq < head {
				continue
			}
			it.seg = seg
			seg.live++
			b.items = append(b.items, it)
			b.records += int64(it.records)
			rec.Frames++
			rec.Records += it.records
		}
		if n := first + uint64(len(items)); n > b.seq {
			b.seq = n
		}
		if seg.live == 0 {
			seg.r.Close()
			os.Remove(seg.path)
			continue
		}
		d.segs = append(d.segs, seg)
		b.bytes += seg.size
		rec.Bytes += seg.size
	}
	if head > b.seq {
		b.seq = head
	}
	d.written, d.synced = b.seq-1, b.seq-1
	return rec, nil
}

// scan reads a segment's frames, checking each checksum. At the first
// damaged frame it logs what is lost, truncates the segment there and
// stops.
func (d *diskLog) scan(seg *segment) ([]*Item, string, error) {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return nil, "", fmt.Errorf("buffer: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("buffer: %w", err)
	}
	size := st.Size()
	br := bufio.NewReaderSize(f, 256<<10)
	var items []*Item
	var off int64
	var buf []byte
	var problem string
	hintRecords := -1
	for off < size {
		if size-off < headerSize {
			problem = "torn frame header"
			break
		}
		buf = append(buf[:0], make([]byte, headerSize)...)
		if _, err := io.ReadFull(br, buf); err != nil {
			problem = "unreadable: " + err.Error()
			break
		}
		n := int64(binary.LittleEndian.Uint32(buf[0:]))
		if off+headerSize+n > size {
			problem = fmt.Sprintf("torn frame (%d body bytes announced, %d left)", n, size-off-headerSize)
			break
		}
		hintRecords = int(binary.LittleEndian.Uint32(buf[16:]))
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(br, buf[headerSize:]); err != nil {
			problem = "unreadable: " + err.Error()
			break
		}
		if err := checkFrame(buf); err != nil {
			problem = err.Error()
			break
		}
		items = append(items, &Item{seq: seg.first + uint64(len(items)), time: int64(binary.LittleEndian.Uint64(buf[8:])),
			records: hintRecords, size: headerSize + n, off: off})
		off += headerSize + n
		hintRecords = -1
	}
	lost := ""
	if problem != "" {
		lost = fmt.Sprintf("%s@%d: %d bytes", filepath.Base(seg.path), off, size-off)
		attrs := []any{"segment", filepath.Base(seg.path), "offset", off, "lost_bytes", size - off,
			"frames_kept", len(items), "problem", problem}
		if hintRecords >= 0 && hintRecords <= 1<<20 {
			attrs = append(attrs, "lost_records_at_least", hintRecords)
		}
		d.b.log.Error("disk buffer: torn or corrupt segment tail skipped; the records in it are lost, the rest is delivered", attrs...)
		if err := f.Truncate(off); err != nil {
			d.b.log.Warn("disk buffer: cannot truncate the damaged segment", "error", err)
		}
		size = off
	}
	f.Close()
	seg.size = size
	if seg.r, err = os.Open(seg.path); err != nil {
		return nil, "", fmt.Errorf("buffer: %w", err)
	}
	return items, lost, nil
}

// appendLocked writes one frame to the active segment, starting a new
// segment when it would overflow.
func (d *diskLog) appendLocked(it *Item, buf []byte) error {
	if d.syncErr != nil {
		return fmt.Errorf("buffer: an earlier fsync failed: %w", d.syncErr)
	}
	if d.active == nil || d.active.size > 0 && d.active.size+int64(len(buf)) > d.segSize {
		if err := d.rollLocked(it.seq); err != nil {
			return err
		}
	}
	a := d.active
	if _, err := a.w.Write(buf); err != nil {
		// Cut off a partial frame; if that fails too, start afresh.
		if terr := a.w.Truncate(a.size); terr != nil {
			d.retireLocked(a)
		}
		return fmt.Errorf("buffer: write %s: %w", filepath.Base(a.path), err)
	}
	it.seg, it.off = a, a.size
	a.size += int64(len(buf))
	a.live++
	d.b.bytes += int64(len(buf))
	d.written = it.seq
	return nil
}

func (d *diskLog) rollLocked(first uint64) error {
	if d.active != nil {
		d.toClose = append(d.toClose, d.active.w)
		d.active.w = nil
		d.active = nil
	}
	path := filepath.Join(d.dir, fmt.Sprintf("%016x%s", first, segExt))
	w, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("buffer: new segment: %w", err)
	}
	r, err := os.Open(path)
	if err != nil {
		w.Close()
		os.Remove(path)
		return fmt.Errorf("buffer: new segment: %w", err)
	}
	seg := &segment{path: path, first: first, r: r, w: w}
	d.segs = append(d.segs, seg)
	d.active = seg
	d.dirDirty = true
	return nil
}

// retireLocked stops appending to seg; the flusher closes its writer.
func (d *diskLog) retireLocked(seg *segment) {
	if seg == d.active {
		d.toClose = append(d.toClose, seg.w)
		seg.w = nil
		d.active = nil
		d.kickFlusher()
	}
}

func (d *diskLog) kickFlusher() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// waitSyncLocked calls done once frames up to seq are fsynced.
func (d *diskLog) waitSyncLocked(seq uint64, done func(error)) {
	d.waiters = append(d.waiters, syncWaiter{seq, done})
	d.kickFlusher()
}

// consumedLocked accounts for a consumed frame and deletes its segment
// when no frame of it is left (the active one only once it is half full,
// so a drain that keeps up does not create a file per batch).
func (d *diskLog) consumedLocked(it *Item) {
	seg := it.seg
	seg.live--
	if seg.live > 0 {
		return
	}
	if seg == d.active {
		if seg.size < d.segSize/2 {
			return
		}
		d.retireLocked(seg)
	}
	for i, s := range d.segs {
		if s == seg {
			d.segs = append(d.segs[:i], d.segs[i+1:]...)
			break
		}
	}
	seg.r.Close()
	if err := os.Remove(seg.path); err != nil {
		d.b.log.Warn("disk buffer: cannot delete a consumed segment", "error", err)
	}
	d.b.bytes -= seg.size
	d.dirDirty = true
}

// read reads a frame into buf (reused when large enough) and returns the
// buffer and the frame's body, checking its checksum again.
func (d *diskLog) read(it *Item, buf []byte) (out, body []byte, err error) {
	if int64(cap(buf)) < it.size {
		buf = make([]byte, it.size)
	}
	buf = buf[:it.size]
	if _, err := it.seg.r.ReadAt(buf, it.off); err != nil {
		return buf, nil, fmt.Errorf("read %s@%d: %w", filepath.Base(it.seg.path), it.off, err)
	}
	if err := checkFrame(buf); err != nil {
		return buf, nil, fmt.Errorf("%s@%d: %w", filepath.Base(it.seg.path), it.off, err)
	}
	it.codec = buf[20]
	return buf, buf[headerSize:], nil
}

func (d *diskLog) flusher() {
	defer close(d.stopped)
	lastHead := time.Now()
	for {
		select {
		case <-d.kick:
		case <-d.stop:
			d.flush(true)
			return
		}
		d.flush(false)
		if time.Since(lastHead) > 200*time.Millisecond {
			d.writeHead()
			lastHead = time.Now()
		}
	}
}

// flush fsyncs everything written so far and completes the waiters it
// covers.
func (d *diskLog) flush(final bool) {
	b := d.b
	b.mu.Lock()
	target := d.written
	var w *os.File
	if d.active != nil {
		w = d.active.w
		if final {
			d.toClose = append(d.toClose, w)
			d.active.w = nil
			d.active = nil
			w = nil
		}
	}
	tc := d.toClose
	d.toClose = nil
	dd := d.dirDirty
	d.dirDirty = false
	b.mu.Unlock()

	var err error
	for _, f := range tc {
		if e := f.Sync(); e != nil && err == nil {
			err = e
		}
		f.Close()
	}
	if w != nil {
		if e := w.Sync(); e != nil && err == nil {
			err = e
		}
	}
	if dd {
		if e := syncDir(d.dir); e != nil && err == nil {
			err = e
		}
	}
	b.mu.Lock()
	if err != nil {
		if d.syncErr == nil {
			b.log.Error("disk buffer: fsync failed; batches are not acknowledged and the buffer refuses writes", "error", err)
		}
		d.syncErr = err
	} else if target > d.synced {
		d.synced = target
	}
	var ready []syncWaiter
	keep := d.waiters[:0]
	for _, wt := range d.waiters {
		if wt.seq <= d.synced || d.syncErr != nil {
			ready = append(ready, wt)
		} else {
			keep = append(keep, wt)
		}
	}
	clear(d.waiters[len(keep):])
	d.waiters = keep
	serr := d.syncErr
	more := len(d.waiters) > 0
	b.mu.Unlock()
	for _, wt := range ready {
		if serr != nil {
			wt.done(fmt.Errorf("buffer: fsync: %w", serr))
		} else {
			wt.done(nil)
		}
	}
	if more && !final {
		d.kickFlusher()
	}
}

// writeHead records the first frame not yet consumed (a hint; see above).
func (d *diskLog) writeHead() {
	b := d.b
	b.mu.Lock()
	head := b.seq
	if len(b.items) > 0 {
		head = b.items[0].seq
	}
	same := head == d.headSeq
	d.headSeq = head
	b.mu.Unlock()
	if same {
		return
	}
	tmp := filepath.Join(d.dir, headFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(head, 16)+"\n"), 0o640); err != nil {
		return
	}
	os.Rename(tmp, filepath.Join(d.dir, headFile))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d *diskLog) close() error {
	close(d.stop)
	<-d.stopped
	d.writeHead()
	b := d.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range d.segs {
		s.r.Close()
	}
	for _, wt := range d.waiters {
		go wt.done(ErrClosed)
	}
	d.waiters = nil
	return d.syncErr
}
