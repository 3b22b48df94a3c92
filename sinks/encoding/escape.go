package encoding

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// safe[b] is true for the ASCII bytes written unescaped inside a JSON
// string.
var safe = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendQuoted appends s as a JSON string, quotes included, escaped as
// JSON.stringify does.
func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendQuotedString is appendQuoted for a string, without copying it.
func appendQuotedString(dst []byte, s string) []byte {
	return appendQuoted(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// plainAll reports whether every byte of s is safe ASCII. Strings of 8
// bytes or more are checked 8 bytes at a time, the last word overlapping.
func plainAll(s []byte) bool {
	n := len(s)
	if n < 8 {
		for _, b := range s {
			if !safe[b] {
				return false
			}
		}
		return true
	}
	for i := 0; i+8 <= n; i += 8 {
		if !plain8(binary.LittleEndian.Uint64(s[i:])) {
			return false
		}
	}
	return plain8(binary.LittleEndian.Uint64(s[n-8:]))
}

// appendEscaped appends the escaped content of s, without quotes.
func appendEscaped(dst, s []byte) []byte {
	if plainAll(s) {
		return append(dst, s...)
	}
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain ASCII bytes at a time.
		for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if safe[b] {
			i++
			continue
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '"', '\\':
			dst = append(dst, '\\', b)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain8 reports whether the 8 bytes of x are all safe ASCII: none below
// 0x20, none '"' or '\\', none with the top bit set.
func plain8(x uint64) bool {
	ctl := (x - 0x20*lsb) & ^x
	quote := x ^ ('"' * lsb)
	quote = (quote - lsb) & ^quote
	bs := x ^ ('\\' * lsb)
	bs = (bs - lsb) & ^bs
	return (ctl|quote|bs|x)&msb == 0
}

// appendKey appends ,"key": (or "key": first, when comma is false). key
// needs no escaping.
func appendKey(dst []byte, key string, comma bool) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendStringArray appends a JSON array of strings.
func appendStringArray(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendQuotedString(dst, s)
	}
	return append(dst, ']')
}

// jsTrim removes what JavaScript's String.prototype.trim removes: ASCII
// white space and line terminators, U+00A0, U+1680, U+2000–U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000 and U+FEFF.
func jsTrim(s []byte) []byte {
	for len(s) > 0 {
		if b := s[0]; b < utf8.RuneSelf {
			if !asciiSpace(b) {
				break
			}
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		if !jsSpace(r) {
			break
		}
		s = s[n:]
	}
	for len(s) > 0 {
		if b := s[len(s)-1]; b < utf8.RuneSelf {
			if !asciiSpace(b) {
				break
			}
			s = s[:len(s)-1]
			continue
		}
		r, n := utf8.DecodeLastRune(s)
		if !jsSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

func asciiSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

func jsSpace(r rune) bool {
	switch {
	case r == 0xa0, r == 0x1680, r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029,
		r == 0x202f, r == 0x205f, r == 0x3000, r == 0xfeff:
		return true
	}
	return false
}
