package parse

import (
	"errors"
	"strconv"
)

// Reasons a line is rejected. ParseError.Err wraps exactly one of them, so
// callers classify failures with errors.Is.
var (
	// ErrFieldCount is returned when a line has more or fewer fields than
	// its format.
	ErrFieldCount = errors.New("wrong field count")
	// ErrRange is returned for a number too large for its field (a port
	// above 65535, a protocol above 255, a counter above 2^64-1).
	ErrRange = errors.New("out of range")
	// ErrNegative is returned for a negative number.
	ErrNegative = errors.New("negative value")
	// ErrSyntax is returned for a number that is not a decimal integer.
	ErrSyntax = errors.New("not a decimal integer")
	// ErrAddress is returned for a value that is not an IPv4 or IPv6
	// address.
	ErrAddress = errors.New("bad address")
	// ErrControl is returned for a line holding a NUL byte or another
	// control character.
	ErrControl = errors.New("control character")
	// ErrTooLong is returned for a line longer than flowlog.MaxLineLen.
	ErrTooLong = errors.New("line too long")
	// ErrEmpty is returned for an empty line.
	ErrEmpty = errors.New("empty line")
)

// ParseError reports why a line does not fit its format.
type ParseError struct {
	// Input names where the line came from (Origin.Name), when known.
	Input string
	// Line is the 1-based line number within Input, 0 when unknown.
	Line int
	// Field is the AWS name of the offending field, "" when the fault is
	// the line as a whole (field count, length).
	Field string
	// Err is the cause; it wraps one of the Err* sentinels of this package.
	Err error
}

// Error returns e.g. `s3://b/k: line 7: dstport: "70000" out of range`.
func (e *ParseError) Error() string {
	var b []byte
	if e.Input != "" {
		b = append(b, e.Input...)
		b = append(b, ": "...)
	}
	if e.Line > 0 {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ": "...)
	}
	if e.Field != "" {
		b = append(b, e.Field...)
		b = append(b, ": "...)
	}
	if e.Err != nil {
		b = append(b, e.Err.Error()...)
	}
	return string(b)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Reason returns a short, bounded label for the cause, used in metrics:
// field_count, range, negative, syntax, address, control, too_long, empty
// or other.
func (e *ParseError) Reason() string { return reasonOf(e.Err) }

func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrFieldCount):
		return "field_count"
	case errors.Is(err, ErrRange):
		return "range"
	case errors.Is(err, ErrNegative):
		return "negative"
	case errors.Is(err, ErrSyntax):
		return "syntax"
	case errors.Is(err, ErrAddress):
		return "address"
	case errors.Is(err, ErrControl):
		return "control"
	case errors.Is(err, ErrTooLong):
		return "too_long"
	case errors.Is(err, ErrEmpty):
		return "empty"
	}
	return "other"
}

// valueError is a sentinel plus the offending value, printed as
// `70000 out of range`.
type valueError struct {
	value string
	err   error
}

func (e *valueError) Error() string { return e.value + " " + e.err.Error() }
func (e *valueError) Unwrap() error { return e.err }

// maxValueInError bounds how much of a bad value an error message repeats.
const maxValueInError = 64

// showValue renders v for an error message: as is when it is short
// printable ASCII, quoted and truncated otherwise.
func showValue(v []byte) string {
	plain := len(v) <= maxValueInError
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			plain = false
			break
		}
	}
	if plain {
		return string(v)
	}
	trunc := false
	if len(v) > maxValueInError {
		v = v[:maxValueInError]
		trunc = true
	}
	s := strconv.Quote(string(v))
	if trunc {
		s += "…"
	}
	return s
}

func fieldErr(f string, v []byte, sentinel error) *ParseError {
	return &ParseError{Field: f, Err: &valueError{value: showValue(v), err: sentinel}}
}
