package envelope

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Payload says how a message's bytes carry flow-log lines.
type Payload uint8

const (
	// Lines is newline-separated flow-log lines.
	Lines Payload = iota
	// CloudWatchLogs is a CloudWatch Logs subscription envelope (gzip JSON,
	// optionally base64-encoded).
	CloudWatchLogs
	// Auto tells the two apart by the payload's first bytes.
	Auto
)

// String returns the config value of p: "lines", "cloudwatch_logs" or "auto".
func (p Payload) String() string {
	switch p {
	case Lines:
		return "lines"
	case CloudWatchLogs:
		return "cloudwatch_logs"
	case Auto:
		return "auto"
	}
	return fmt.Sprintf("payload(%d)", uint8(p))
}

// ParsePayload parses a config value: "lines", "cloudwatch_logs" or "auto".
func ParsePayload(s string) (Payload, error) {
	switch s {
	case "lines":
		return Lines, nil
	case "cloudwatch_logs":
		return CloudWatchLogs, nil
	case "auto":
		return Auto, nil
	}
	return 0, fmt.Errorf("unknown payload %q (want lines, cloudwatch_logs or auto)", s)
}

// MaxDecompressedSize bounds what one payload may inflate to, so that a
// gzip bomb is reported as bad input instead of exhausting memory. A
// CloudWatch Logs subscription record is at most 1 MiB compressed and
// inflates to a few MiB.
const MaxDecompressedSize = 64 << 20

// ErrTooLarge is returned (wrapped) by Decode when a payload inflates past
// MaxDecompressedSize.
var ErrTooLarge = errors.New("decompressed payload exceeds 64 MiB")

// maxDecompressed is MaxDecompressedSize; tests lower it.
var maxDecompressed = MaxDecompressedSize

// gzip magic, and its base64 form for the first three bytes (1f 8b 08).
var (
	gzipMagic   = []byte{0x1f, 0x8b}
	base64Magic = []byte("H4sI")
)

// Detect returns how Auto reads data: CloudWatchLogs when data is gzip,
// base64-encoded gzip or a JSON object, otherwise Lines.
func Detect(data []byte) Payload {
	data = trimLeft(data)
	switch {
	case bytes.HasPrefix(data, gzipMagic), bytes.HasPrefix(data, base64Magic),
		len(data) > 0 && data[0] == '{':
		return CloudWatchLogs
	}
	return Lines
}

// Decode appends to b.Records one record per flow-log line found in data,
// read as p. Raw of each record is the line trimmed of surrounding spaces,
// tabs and \r; it points into data (Lines) or into b.Buf (decompressed
// envelopes), so data must stay unmodified while the batch lives. Empty
// lines are skipped.
//
// Records of Lines share origin. Records of a CloudWatch Logs envelope
// share a new Origin with origin's Name, Account and Region, and the
// envelope's logGroup, logStream and owner (as Account) set.
//
// On error (corrupt gzip, bad base64, invalid JSON, unknown messageType)
// nothing is appended: b is as it was before the call.
func Decode(b *flowlog.Batch, data []byte, p Payload, origin *flowlog.Origin) error {
	switch p {
	case Lines:
		appendLines(b, data, origin)
		return nil
	case CloudWatchLogs, Auto:
		nrec, nbuf := len(b.Records), len(b.Buf)
		if err := decodeEnvelope(b, data, origin, p == Auto); err != nil {
			clear(b.Records[nrec:])
			b.Records = b.Records[:nrec]
			b.Buf = b.Buf[:nbuf]
			return err
		}
		return nil
	}
	return fmt.Errorf("unknown payload %d", uint8(p))
}

func decodeEnvelope(b *flowlog.Batch, data []byte, origin *flowlog.Origin, auto bool) error {
	data = trimLeft(data)
	if !bytes.HasPrefix(data, gzipMagic) && !bytes.HasPrefix(data, base64Magic) && (len(data) == 0 || data[0] != '{') {
		if auto {
			appendLines(b, data, origin)
			return nil
		}
		return errors.New("cloudwatch_logs: payload is not gzip, base64 gzip or a JSON object")
	}
	// The document is decoded in a pooled scratch buffer (strings are
	// unescaped in place); only the messages are copied to b.Buf.
	sp := getScratch(0)
	doc, err := loadDocument((*sp)[:0], data)
	defer putScratch(sp, doc)
	if err != nil {
		return err
	}
	if t := trimLeft(doc); auto && (len(t) == 0 || t[0] != '{') {
		// gzip-compressed lines
		start := len(b.Buf)
		b.Buf = append(grow(b.Buf, len(doc)), doc...)
		appendLines(b, b.Buf[start:], origin)
		return nil
	}
	// Messages take about half of a subscription document.
	b.Buf = grow(b.Buf, len(doc)/2)
	return decodeDocuments(b, doc, origin)
}

// loadDocument appends to dst the document in data: gunzipped, base64
// decoded and gunzipped, or copied.
func loadDocument(dst, data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, gzipMagic):
		return gunzipAppend(dst, data)
	case bytes.HasPrefix(data, base64Magic):
		sp := getScratch(base64.StdEncoding.DecodedLen(len(data)))
		raw, err := decodeBase64((*sp)[:0], data)
		if err == nil {
			dst, err = gunzipAppend(dst, raw)
		}
		putScratch(sp, raw)
		return dst, err
	}
	return append(grow(dst, len(data)), data...), nil
}

// appendRaw copies a line to b.Buf and returns it there.
func appendRaw(b *flowlog.Batch, line []byte) []byte {
	start := len(b.Buf)
	b.Buf = append(grow(b.Buf, len(line)), line...)
	return b.Buf[start:len(b.Buf):len(b.Buf)]
}

// appendLines appends one record per non-empty line of data.
func appendLines(b *flowlog.Batch, data []byte, o *flowlog.Origin) {
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if line = trim(line); len(line) > 0 {
			growRecords(b)
			b.Records = append(b.Records, flowlog.Record{Raw: line, Origin: o})
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// trim removes surrounding spaces, tabs, \r and \n and caps the result so
// that appending to it never writes past the line.
func trim(s []byte) []byte {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j:j]
}

func trimLeft(s []byte) []byte {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

type zreader struct {
	br bytes.Reader
	zr *gzip.Reader
}

var zpool = sync.Pool{New: func() any { return new(zreader) }}

// gunzipAppend appends the decompressed content of src (one or more gzip
// members) to dst.
func gunzipAppend(dst, src []byte) ([]byte, error) {
	z := zpool.Get().(*zreader)
	defer zpool.Put(z)
	z.br.Reset(src)
	var err error
	if z.zr == nil {
		z.zr, err = gzip.NewReader(&z.br)
	} else {
		err = z.zr.Reset(&z.br)
	}
	if err != nil {
		z.zr = nil
		return dst, fmt.Errorf("cloudwatch_logs: gunzip: %w", err)
	}
	start := len(dst)
	// Flow-log JSON typically compresses 8-12 times.
	dst = grow(dst, min(8*len(src)+512, maxDecompressed))
	for {
		if len(dst) == cap(dst) {
			dst = grow(dst, cap(dst)-start+512)
		}
		n, err := z.zr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > maxDecompressed {
			return dst, fmt.Errorf("cloudwatch_logs: %w", ErrTooLarge)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = errors.New("truncated gzip stream")
			}
			return dst, fmt.Errorf("cloudwatch_logs: gunzip: %w", err)
		}
	}
}

// grow makes room for n more bytes, at least doubling the capacity when it
// must reallocate, so that a batch's buffer filled by many envelopes is
// copied O(1) times per byte (append grows large slices by only 1.25x).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	return slices.Grow(b, max(n, cap(b)))
}

// growRecords makes room for one more record, doubling the capacity.
func growRecords(b *flowlog.Batch) {
	if len(b.Records) == cap(b.Records) {
		b.Records = slices.Grow(b.Records, max(cap(b.Records), 16))
	}
}

// decodeBase64 decodes src (standard alphabet, padded or not, line breaks
// ignored) into dst.
func decodeBase64(dst, src []byte) ([]byte, error) {
	src = trim(src)
	enc := base64.StdEncoding
	if len(src)%4 != 0 && bytes.IndexByte(src, '=') < 0 && bytes.IndexByte(src, '\n') < 0 {
		enc = base64.RawStdEncoding
	}
	dst = slices.Grow(dst, enc.DecodedLen(len(src)))
	n, err := enc.Decode(dst[:cap(dst)], src)
	if err != nil {
		return dst, fmt.Errorf("cloudwatch_logs: base64: %w", err)
	}
	return dst[:n], nil
}

var scratchPool sync.Pool // of *[]byte

func getScratch(n int) *[]byte {
	if p, ok := scratchPool.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return p
		}
	}
	s := make([]byte, 0, max(n, 64<<10))
	return &s
}

// putScratch returns a scratch buffer, keeping the larger storage of used
// when it grew.
func putScratch(p *[]byte, used []byte) {
	if cap(used) > 8<<20 {
		return // let big one-offs go
	}
	if cap(used) > cap(*p) {
		*p = used[:0]
	}
	scratchPool.Put(p)
}
