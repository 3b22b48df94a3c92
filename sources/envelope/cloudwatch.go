package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// maxDepth bounds the nesting of skipped JSON values.
const maxDepth = 64

// jsonDoc decodes CloudWatch Logs subscription documents in place: strings
// are unescaped over themselves (an unescaped string is never longer than
// its escaped form), so their values alias the buffer; messages are then
// copied to the batch's buffer.
type jsonDoc struct {
	buf []byte
	pos int
}

func (d *jsonDoc) errorf(format string, args ...any) error {
	return fmt.Errorf("cloudwatch_logs: invalid JSON at byte %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *jsonDoc) ws() {
	for d.pos < len(d.buf) && isSpace(d.buf[d.pos]) {
		d.pos++
	}
}

// consume skips white space and the byte c.
func (d *jsonDoc) consume(c byte) error {
	d.ws()
	if d.pos >= len(d.buf) {
		return d.errorf("unexpected end, want %q", c)
	}
	if d.buf[d.pos] != c {
		return d.errorf("unexpected %q, want %q", d.buf[d.pos], c)
	}
	d.pos++
	return nil
}

// more reports whether another member or element follows in an object or
// array (after '{' / '[' or a value), consuming a ','. first is true right
// after the opening bracket.
func (d *jsonDoc) more(end byte, first bool) (bool, error) {
	d.ws()
	if d.pos >= len(d.buf) {
		return false, d.errorf("unexpected end, want %q", end)
	}
	switch c := d.buf[d.pos]; {
	case c == end:
		d.pos++
		return false, nil
	case first:
		return true, nil
	case c == ',':
		d.pos++
		return true, nil
	default:
		return false, d.errorf("unexpected %q, want ',' or %q", c, end)
	}
}

// str decodes the string at the current position in place and returns it.
func (d *jsonDoc) str() ([]byte, error) {
	if err := d.consume('"'); err != nil {
		return nil, err
	}
	start := d.pos
	rest := d.buf[start:]
	q := bytes.IndexByte(rest, '"')
	if q < 0 {
		return nil, d.errorf("unterminated string")
	}
	bs := bytes.IndexByte(rest[:q], '\\')
	if bs < 0 {
		d.pos = start + q + 1
		return rest[:q:q], nil
	}
	// Slow path: unescape in place.
	r, w := start+bs, start+bs
	for {
		if r >= len(d.buf) {
			d.pos = r
			return nil, d.errorf("unterminated string")
		}
		c := d.buf[r]
		switch c {
		case '"':
			d.pos = r + 1
			return d.buf[start:w:w], nil
		case '\\':
			if r+1 >= len(d.buf) {
				d.pos = r
				return nil, d.errorf("unterminated string")
			}
			e := d.buf[r+1]
			r += 2
			switch e {
			case '"', '\\', '/':
				d.buf[w] = e
			case 'b':
				d.buf[w] = '\b'
			case 'f':
				d.buf[w] = '\f'
			case 'n':
				d.buf[w] = '\n'
			case 'r':
				d.buf[w] = '\r'
			case 't':
				d.buf[w] = '\t'
			case 'u':
				cp, ok := hex4(d.buf, r)
				if !ok {
					d.pos = r
					return nil, d.errorf("bad \\u escape")
				}
				r += 4
				rn := rune(cp)
				if utf16.IsSurrogate(rn) {
					if lo, ok := hex4(d.buf, r+2); ok && r+1 < len(d.buf) && d.buf[r] == '\\' && d.buf[r+1] == 'u' {
						if dec := utf16.DecodeRune(rn, rune(lo)); dec != utf8.RuneError {
							rn = dec
							r += 6
						} else {
							rn = utf8.RuneError
						}
					} else {
						rn = utf8.RuneError
					}
				}
				w += utf8.EncodeRune(d.buf[w:], rn)
				continue
			default:
				d.pos = r - 1
				return nil, d.errorf("bad escape \\%c", e)
			}
			w++
		default:
			d.buf[w] = c
			w++
			r++
		}
	}
}

func hex4(b []byte, i int) (uint16, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v uint16
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}

// skip skips one value of any type.
func (d *jsonDoc) skip(depth int) error {
	if depth > maxDepth {
		return d.errorf("nested deeper than %d", maxDepth)
	}
	d.ws()
	if d.pos >= len(d.buf) {
		return d.errorf("unexpected end, want a value")
	}
	switch c := d.buf[d.pos]; c {
	case '"':
		return d.skipString()
	case '{':
		d.pos++
		for first := true; ; first = false {
			ok, err := d.more('}', first)
			if err != nil || !ok {
				return err
			}
			if err := d.skipString(); err != nil {
				return err
			}
			if err := d.consume(':'); err != nil {
				return err
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		d.pos++
		for first := true; ; first = false {
			ok, err := d.more(']', first)
			if err != nil || !ok {
				return err
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			start := d.pos
			for d.pos < len(d.buf) && bytes.IndexByte([]byte("0123456789+-.eE"), d.buf[d.pos]) >= 0 {
				d.pos++
			}
			if d.pos == start+1 && c == '-' {
				return d.errorf("bad number")
			}
			return nil
		}
		return d.errorf("unexpected %q, want a value", c)
	}
}

func (d *jsonDoc) skipString() error {
	if err := d.consume('"'); err != nil {
		return err
	}
	for {
		rest := d.buf[d.pos:]
		q := bytes.IndexByte(rest, '"')
		if q < 0 {
			d.pos = len(d.buf)
			return d.errorf("unterminated string")
		}
		bs := bytes.IndexByte(rest[:q], '\\')
		if bs < 0 {
			d.pos += q + 1
			return nil
		}
		// skip the escape's first byte after the backslash (\uXXXX digits
		// are plain) and look again
		d.pos += bs + 2
		if d.pos > len(d.buf) {
			d.pos = len(d.buf)
			return d.errorf("unterminated string")
		}
	}
}

func (d *jsonDoc) literal(lit string) error {
	if !bytes.HasPrefix(d.buf[d.pos:], []byte(lit)) {
		return d.errorf("bad literal")
	}
	d.pos += len(lit)
	return nil
}

// decodeDocuments decodes one or more concatenated CloudWatch Logs
// documents from doc (which it may modify).
func decodeDocuments(b *flowlog.Batch, doc []byte, origin *flowlog.Origin) error {
	d := jsonDoc{buf: doc}
	for n := 0; ; n++ {
		d.ws()
		if d.pos == len(d.buf) {
			if n == 0 {
				return errors.New("cloudwatch_logs: empty document")
			}
			return nil
		}
		if err := d.document(b, origin); err != nil {
			return err
		}
	}
}

var (
	keyMessageType = []byte("messageType")
	keyOwner       = []byte("owner")
	keyLogGroup    = []byte("logGroup")
	keyLogStream   = []byte("logStream")
	keyLogEvents   = []byte("logEvents")
	keyMessage     = []byte("message")

	dataMessage    = []byte("DATA_MESSAGE")
	controlMessage = []byte("CONTROL_MESSAGE")
)

// document decodes one envelope object.
func (d *jsonDoc) document(b *flowlog.Batch, origin *flowlog.Origin) error {
	nrec := len(b.Records)
	o := &flowlog.Origin{}
	if origin != nil {
		o.Name, o.Account, o.Region = origin.Name, origin.Account, origin.Region
	}
	var msgType []byte
	seenType := false
	if err := d.consume('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		ok, err := d.more('}', first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if err := d.consume(':'); err != nil {
			return err
		}
		switch {
		case bytes.Equal(key, keyMessageType):
			if msgType, err = d.str(); err != nil {
				return err
			}
			seenType = true
		case bytes.Equal(key, keyOwner):
			v, err := d.str()
			if err != nil {
				return err
			}
			if len(v) > 0 {
				o.Account = string(v)
			}
		case bytes.Equal(key, keyLogGroup):
			v, err := d.str()
			if err != nil {
				return err
			}
			o.LogGroup = string(v)
		case bytes.Equal(key, keyLogStream):
			v, err := d.str()
			if err != nil {
				return err
			}
			o.LogStream = string(v)
		case bytes.Equal(key, keyLogEvents):
			if err := d.events(b, o); err != nil {
				return err
			}
		default:
			if err := d.skip(1); err != nil {
				return err
			}
		}
	}
	switch {
	case bytes.Equal(msgType, dataMessage):
		return nil
	case bytes.Equal(msgType, controlMessage):
		clear(b.Records[nrec:])
		b.Records = b.Records[:nrec]
		return nil
	case !seenType:
		return errors.New("cloudwatch_logs: envelope has no messageType")
	default:
		return fmt.Errorf("cloudwatch_logs: unknown messageType %q", truncate(msgType, 64))
	}
}

// events decodes the logEvents array, appending one record per message.
func (d *jsonDoc) events(b *flowlog.Batch, o *flowlog.Origin) error {
	d.ws()
	if d.pos < len(d.buf) && d.buf[d.pos] == 'n' {
		return d.literal("null")
	}
	if err := d.consume('['); err != nil {
		return err
	}
	for first := true; ; first = false {
		ok, err := d.more(']', first)
		if err != nil || !ok {
			return err
		}
		if err := d.consume('{'); err != nil {
			return err
		}
		for efirst := true; ; efirst = false {
			ok, err := d.more('}', efirst)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			key, err := d.str()
			if err != nil {
				return err
			}
			if err := d.consume(':'); err != nil {
				return err
			}
			if !bytes.Equal(key, keyMessage) {
				if err := d.skip(1); err != nil {
					return err
				}
				continue
			}
			msg, err := d.str()
			if err != nil {
				return err
			}
			// A message is one line: the subscription adds a trailing \n.
			if msg = trim(msg); len(msg) > 0 {
				growRecords(b)
				b.Records = append(b.Records, flowlog.Record{Raw: appendRaw(b, msg), Origin: o})
			}
		}
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
