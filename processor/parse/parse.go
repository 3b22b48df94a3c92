package parse

import (
	"fmt"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Parse parses r.Raw in place into r's typed fields: r.Reset, then for
// every field of the format that is not "-" in the line a span
// (r.SetSpan, read back with r.Text) and, for integer and address fields,
// the typed value. r.Raw and r.Origin are kept.
//
// Fields are separated by one or more spaces; surrounding spaces and tabs
// and a trailing \r or \n are ignored. On error r holds no field
// (r.Present == 0) and the error is a *ParseError naming the field and the
// value. Parse never panics and allocates only when it returns an error.
func (f *Format) Parse(r *flowlog.Record) error {
	r.Reset()
	if f.fast {
		if parseDefaultFast(r, r.Raw) {
			return nil
		}
		r.Reset()
	}
	if err := f.parse(r); err != nil {
		r.Reset()
		return err
	}
	return nil
}

func (f *Format) parse(r *flowlog.Record) *ParseError {
	line := r.Raw
	n := len(line)
	if n > flowlog.MaxLineLen {
		return &ParseError{Err: fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, n, flowlog.MaxLineLen)}
	}
	for n > 0 {
		if c := line[n-1]; c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			n--
			continue
		}
		break
	}
	i := 0
	for i < n && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i == n {
		return &ParseError{Err: ErrEmpty}
	}
	line = line[:n]
	for _, fl := range f.fields {
		for i < n && line[i] == ' ' {
			i++
		}
		if i == n {
			return f.countErr(line)
		}
		start := i
		switch fl.Kind() {
		case flowlog.KindInt:
			// Fused scan and decimal parse; anything unusual (a "-", a
			// sign, junk, more than 19 digits) takes the slow path.
			var v uint64
			for i < n {
				d := line[i] - '0'
				if d > 9 {
					break
				}
				v = v*10 + uint64(d)
				i++
			}
			if i-start == 0 || i-start > 19 || (i < n && line[i] != ' ') {
				end, perr := tokenEnd(fl, line, start)
				if perr != nil {
					return perr
				}
				i = end
				tok := line[start:i]
				if len(tok) == 1 && tok[0] == '-' {
					continue
				}
				var err error
				if v, err = parseUint(tok, 1<<64-1); err != nil {
					return fieldErr(fl.String(), tok, err)
				}
			}
			if perr := setInt(r, fl, v, line[start:i]); perr != nil {
				return perr
			}
		case flowlog.KindAddr:
			a, end, ok := scanIPv4(line, start)
			if !ok {
				var perr *ParseError
				if end, perr = tokenEnd(fl, line, start); perr != nil {
					return perr
				}
				tok := line[start:end]
				if len(tok) == 1 && tok[0] == '-' {
					i = end
					continue
				}
				if a, ok = parseAddrSlow(tok); !ok {
					return fieldErr(fl.String(), tok, ErrAddress)
				}
			}
			i = end
			r.SetAddr(fl, a)
		default:
			for i < n {
				c := line[i]
				if c <= ' ' {
					if c == ' ' {
						break
					}
					return controlErr(fl, line, i)
				}
				i++
			}
			if i-start == 1 && line[start] == '-' {
				continue
			}
		}
		r.SetSpan(fl, start, i-start)
	}
	for i < n && line[i] == ' ' {
		i++
	}
	if i < n {
		return f.countErr(line)
	}
	return nil
}

// tokenEnd returns the end of the token starting at start, or an error for
// a control character inside it.
func tokenEnd(fl flowlog.Field, line []byte, start int) (int, *ParseError) {
	i := start
	for i < len(line) {
		c := line[i]
		if c <= ' ' {
			if c == ' ' {
				break
			}
			return 0, controlErr(fl, line, i)
		}
		i++
	}
	return i, nil
}

// intMax is the largest value of each integer field that is narrower than
// 64 bits unsigned (0: no bound beyond uint64).
var intMax = [flowlog.NumFields]uint64{
	flowlog.FVersion:     255,
	flowlog.FSrcPort:     65535,
	flowlog.FDstPort:     65535,
	flowlog.FProtocol:    255,
	flowlog.FStart:       1<<63 - 1,
	flowlog.FEnd:         1<<63 - 1,
	flowlog.FTCPFlags:    65535,
	flowlog.FTrafficPath: 255,
}

// setInt stores v into integer field fl after checking its range.
func setInt(r *flowlog.Record, fl flowlog.Field, v uint64, tok []byte) *ParseError {
	if m := intMax[fl]; m != 0 && v > m {
		return fieldErr(fl.String(), tok, ErrRange)
	}
	r.SetInt(fl, v)
	return nil
}

// scanIPv4 parses a dotted-quad IPv4 address starting at line[start] and
// ending at a space or the end of line. ok is false for anything else
// (IPv6, "-", junk, leading zeros), which the caller re-examines; end is
// then meaningless.
func scanIPv4(line []byte, start int) (a netip.Addr, end int, ok bool) {
	var b [4]byte
	i := start
	for k := range 4 {
		if i >= len(line) {
			return a, i, false
		}
		d := line[i] - '0'
		if d > 9 {
			return a, i, false
		}
		v := uint(d)
		i++
		// A leading 0 stands alone: "01" fails on the separator check.
		if d != 0 && i < len(line) {
			if d = line[i] - '0'; d <= 9 {
				v = v*10 + uint(d)
				i++
				if i < len(line) {
					if d = line[i] - '0'; d <= 9 {
						v = v*10 + uint(d)
						i++
					}
				}
			}
		}
		if v > 255 {
			return a, i, false
		}
		b[k] = byte(v)
		if k < 3 {
			if i >= len(line) || line[i] != '.' {
				return a, i, false
			}
			i++
		}
	}
	if i < len(line) && line[i] != ' ' {
		return a, i, false
	}
	return netip.AddrFrom4(b), i, true
}

// countErr reports a line whose field count differs from the format's.
func (f *Format) countErr(line []byte) *ParseError {
	got := 0
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		got++
		for i < len(line) && line[i] != ' ' {
			i++
		}
	}
	return &ParseError{Err: fmt.Errorf("%w: %d fields, format has %d", ErrFieldCount, got, len(f.fields))}
}

func controlErr(fl flowlog.Field, line []byte, at int) *ParseError {
	what := "0x" + strconv.FormatUint(uint64(line[at]), 16)
	if line[at] == 0 {
		what = "NUL byte"
	}
	return &ParseError{Field: fl.String(), Err: fmt.Errorf("%w (%s) at byte %d", ErrControl, what, at)}
}

var (
	errSyntax   error = ErrSyntax
	errRange    error = ErrRange
	errNegative error = ErrNegative
)

// parseUint parses a non-negative decimal integer no greater than max.
// Leading zeros are allowed; signs are not.
func parseUint(tok []byte, max uint64) (uint64, error) {
	if len(tok) <= 19 {
		// 19 decimal digits cannot overflow a uint64.
		var v uint64
		for _, c := range tok {
			d := c - '0'
			if d > 9 {
				return 0, badNumber(tok)
			}
			v = v*10 + uint64(d)
		}
		if v > max {
			return 0, errRange
		}
		return v, nil
	}
	var v uint64
	for _, c := range tok {
		d := c - '0'
		if d > 9 {
			return 0, badNumber(tok)
		}
		if v > (1<<64-1-uint64(d))/10 {
			// Keep scanning so a non-digit is reported as syntax.
			for _, c := range tok {
				if c-'0' > 9 {
					return 0, badNumber(tok)
				}
			}
			return 0, errRange
		}
		v = v*10 + uint64(d)
	}
	if v > max {
		return 0, errRange
	}
	return v, nil
}

// badNumber tells a negative integer from any other non-number.
func badNumber(tok []byte) error {
	if len(tok) > 1 && tok[0] == '-' {
		for _, c := range tok[1:] {
			if c-'0' > 9 {
				return errSyntax
			}
		}
		return errNegative
	}
	return errSyntax
}

// parseAddrSlow parses tok with netip.ParseAddr over a string view of tok
// (no allocation), for what scanIPv4 leaves: IPv6 and unusual IPv4 forms.
// Zones are rejected: flow logs never carry them.
func parseAddrSlow(tok []byte) (netip.Addr, bool) {
	if len(tok) == 0 || len(tok) > 64 {
		return netip.Addr{}, false
	}
	for _, c := range tok {
		if c == '%' {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(unsafe.String(&tok[0], len(tok)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}
