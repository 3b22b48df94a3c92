package httpsink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/vpcflow/vpcflow/processor/component"
)

var _ component.Spooler = (*Sink)(nil)

// With a disk buffer the sink spools its finished requests rather than
// records: a sender compresses a full body and stores it, with its header
// values and record boundaries, as a payload; the Writes holding its
// records return once it is fsynced. The engine then hands the payloads
// back to Send, which posts them as they are (a backlog costs no encoding
// or compression) and splits one only when the intake refuses it.
//
// A payload is
//
//	uvarint  version (1)
//	string   Content-Encoding ("" when not compressed)
//	uvarint  header count, then each header as name and value strings
//	uvarint  record count n, then n uvarints: each record's length
//	byte     1 when the body's last newline was left out, else 0
//	rest     the body, compressed as the Content-Encoding says
//
// (strings are a uvarint length and the bytes). Header values (the
// Content-Type among them) and the encoding are stored, not taken from the
// config, so payloads written before a config change are still sent as
// they were made.
const payloadVersion = 1

// Spool switches the sink to spooling into sp (see component.Spooler). It
// is called before the first Write.
func (s *Sink) Spool(sp component.Spool) {
	s.spool = sp
}

// store compresses req's body and puts it in the spool; req's Writes are
// released once it is durable (or the put fails). comp is scratch, as in
// deliver.
func (s *Sink) store(req *request, comp []byte) []byte {
	raw := *req.body
	trimmed := 0
	if !s.trailingNL && len(raw) > 0 && raw[len(raw)-1] == '\n' {
		raw, trimmed = raw[:len(raw)-1], 1
	}
	s.m.batchBytes.Observe(float64(len(raw)))
	// The Content-Type it would be sent with is stored with the headers,
	// so that it is sent so whatever the config says then.
	header := req.header
	if header.Get("Content-Type") == "" {
		ctype := s.headers.static.Get("Content-Type")
		if ctype == "" {
			ctype = s.ctype
		}
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", ctype)
	}
	comp = appendPayloadHead(comp[:0], s.comp.contentEncoding(), header, req.lines.ends, trimmed == 1)
	comp = s.comp.compress(comp, raw)
	n := req.n
	*req.body = (*req.body)[:0]
	s.bodies.Put(req.body)
	req.body = nil
	req.lines.release()
	if err := s.spool.Put(s.hardCtx, comp, n, func(err error) { s.finish(req, err) }); err != nil {
		if s.hardCtx.Err() != nil {
			err = errClosed
		}
		s.finish(req, err)
	}
	return comp
}

// appendPayloadHead appends what precedes the body of a payload.
func appendPayloadHead(b []byte, encoding string, header http.Header, ends []int32, trimmed bool) []byte {
	b = binary.AppendUvarint(b, payloadVersion)
	b = appendString(b, encoding)
	names := make([]string, 0, len(header))
	for k := range header {
		names = append(names, k)
	}
	sort.Strings(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendString(appendString(b, k), header.Get(k))
	}
	b = binary.AppendUvarint(b, uint64(len(ends)))
	prev := int32(0)
	for _, e := range ends {
		b = binary.AppendUvarint(b, uint64(e-prev))
		prev = e
	}
	if trimmed {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// storedRequest is a payload read back.
type storedRequest struct {
	encoding string
	header   http.Header
	ends     []int32
	trimmed  bool
	body     []byte // compressed
}

func parsePayload(p []byte) (*storedRequest, error) {
	r := &storedRequest{}
	bad := func(what string) (*storedRequest, error) {
		return nil, fmt.Errorf("stored request unreadable: %s", what)
	}
	v, n := binary.Uvarint(p)
	if n <= 0 || v != payloadVersion {
		return bad(fmt.Sprintf("version %d, want %d", v, payloadVersion))
	}
	p = p[n:]
	str := func() (string, bool) {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return "", false
		}
		v := string(p[n : n+int(l)])
		p = p[n+int(l):]
		return v, true
	}
	var ok bool
	if r.encoding, ok = str(); !ok {
		return bad("content encoding")
	}
	h, n := binary.Uvarint(p)
	if n <= 0 || h > uint64(len(p)) {
		return bad("header count")
	}
	p = p[n:]
	if h > 0 {
		r.header = make(http.Header, h)
	}
	for range h {
		k, ok1 := str()
		val, ok2 := str()
		if !ok1 || !ok2 {
			return bad("header")
		}
		r.header[k] = []string{val}
	}
	cnt, n := binary.Uvarint(p)
	if n <= 0 || cnt > uint64(len(p)) {
		return bad("record count")
	}
	p = p[n:]
	r.ends = make([]int32, cnt)
	end := uint64(0)
	for i := range r.ends {
		l, n := binary.Uvarint(p)
		if n <= 0 {
			return bad("record lengths")
		}
		p = p[n:]
		end += l
		if end > 1<<31-1 {
			return bad("record lengths")
		}
		r.ends[i] = int32(end)
	}
	if len(p) < 1 {
		return bad("flags")
	}
	r.trimmed, r.body = p[0] == 1, p[1:]
	return r, nil
}

// unpack decompresses a stored body, whose uncompressed size is want.
func unpack(encoding string, body []byte, want int) ([]byte, error) {
	var rd io.Reader
	switch encoding {
	case "":
		rd = bytes.NewReader(body)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		rd = zr
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unknown content encoding %q", encoding)
	}
	out, err := io.ReadAll(io.LimitReader(rd, int64(want)+1))
	if err != nil {
		return nil, err
	}
	if len(out) != want {
		return nil, fmt.Errorf("body is %d bytes, want %d", len(out), want)
	}
	return out, nil
}

// Send delivers one stored payload (see component.Spooler): as it was made
// while the intake takes it; split down to the refused records, which go
// to the spool's Refused, when it refuses it for its content.
func (s *Sink) Send(ctx context.Context, payload []byte) error {
	sr, err := parsePayload(payload)
	if err != nil {
		s.log.Error("a stored request is unreadable and dropped", "error", err)
		return component.Permanent(err)
	}
	select {
	case s.sendSlots <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.hardCtx.Done():
		return errClosed
	}
	defer func() { <-s.sendSlots }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.hardCtx, cancel)
	defer stop()

	total := 0
	if n := len(sr.ends); n > 0 {
		total = int(sr.ends[n-1])
	}
	req := &request{header: sr.header, n: len(sr.ends), ctx: ctx, encoding: sr.encoding, packed: sr.body, packedEnd: total}
	req.lines.ends = sr.ends
	req.unpack = func() ([]byte, error) {
		want := total
		if sr.trimmed {
			want--
		}
		raw, err := unpack(sr.encoding, sr.body, max(want, 0))
		if err != nil {
			return nil, err
		}
		if sr.trimmed {
			raw = append(raw, '\n')
		}
		return raw, nil
	}
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	parts := []part{req.lines.whole()}
	backoff := time.Second
	for {
		var again []part
		req.refuse = func(p part, cause error) error {
			raw, err := req.raw()
			if err != nil {
				return err
			}
			lines := make([][]byte, 0, p.records())
			start := p.start
			for _, e := range p.ends {
				line := raw[start:e]
				if len(line) > 0 && line[len(line)-1] == '\n' {
					line = line[:len(line)-1]
				}
				lines = append(lines, line)
				start = int(e)
			}
			if err := s.spool.Refused(ctx, lines, cause); err != nil {
				again = append(again, p)
			}
			return nil
		}
		var comp []byte
		for _, p := range parts {
			if comp, err = s.sendPart(req, p, comp); err != nil {
				if component.IsPermanent(err) {
					// max_retry_duration: the records go to Refused as well.
					if err = req.refuse(p, err); err == nil {
						continue
					}
				}
				if ctx.Err() != nil || s.hardCtx.Err() != nil {
					return errClosed
				}
				s.log.Error("a stored request cannot be split; dropped", "records", p.records(), "error", err)
				return component.Permanent(err)
			}
		}
		if len(again) == 0 {
			return nil
		}
		// Refused records the engine wants retried (on_rejected: block).
		s.blocked.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.blocked.Add(-1)
			return errClosed
		}
		s.blocked.Add(-1)
		backoff = min(2*backoff, maxRetryAfter)
		parts = again
	}
}

// errNoSplit is returned when a stored body cannot be read back to split.
var errNoSplit = errors.New("stored request body unreadable")
