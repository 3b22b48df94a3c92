package parse

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// parseDefaultFast parses a well-formed default-format line in straight-line
// code: single spaces, no "-", IPv4 addresses, numbers in range. It
// reports false (leaving r in any state) for anything else, and the
// general parser then runs and produces the record or the precise error.
func parseDefaultFast(r *flowlog.Record, line []byte) bool {
	n := len(line)
	if n > flowlog.MaxLineLen {
		return false
	}
	var (
		i, j int
		v    uint64
	)
	// version
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digits(line, i); j == i || j-i > 3 || j >= n || line[j] != ' ' || v > 255 {
			return false
		}
		r.Version = uint8(v)
		r.SetSpan(flowlog.FVersion, i, j-i)
		i = j + 1
	}
	// account-id, interface-id
	if j = tokenEndFast(line, i); j <= i || j >= n {
		return false
	}
	if j-i != 1 || line[i] != '-' {
		r.SetSpan(flowlog.FAccountID, i, j-i)
	}
	i = j + 1
	if j = tokenEndFast(line, i); j <= i || j >= n {
		return false
	}
	if j-i != 1 || line[i] != '-' {
		r.SetSpan(flowlog.FInterfaceID, i, j-i)
	}
	i = j + 1
	// srcaddr, dstaddr
	if isDash(line, i) {
		i += 2
	} else {
		a, e, ok := scanIPv4(line, i)
		if !ok {
			if a, e, ok = scanIPv6(line, i); !ok {
				return false
			}
		}
		if e >= n {
			return false
		}
		r.SrcAddr = a
		r.SetSpan(flowlog.FSrcAddr, i, e-i)
		i = e + 1
	}
	if isDash(line, i) {
		i += 2
	} else {
		a, e, ok := scanIPv4(line, i)
		if !ok {
			if a, e, ok = scanIPv6(line, i); !ok {
				return false
			}
		}
		if e >= n {
			return false
		}
		r.DstAddr = a
		r.SetSpan(flowlog.FDstAddr, i, e-i)
		i = e + 1
	}
	// srcport, dstport, protocol
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digits(line, i); j == i || j-i > 5 || j >= n || line[j] != ' ' || v > 65535 {
			return false
		}
		r.SrcPort = uint16(v)
		r.SetSpan(flowlog.FSrcPort, i, j-i)
		i = j + 1
	}
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digits(line, i); j == i || j-i > 5 || j >= n || line[j] != ' ' || v > 65535 {
			return false
		}
		r.DstPort = uint16(v)
		r.SetSpan(flowlog.FDstPort, i, j-i)
		i = j + 1
	}
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digits(line, i); j == i || j-i > 3 || j >= n || line[j] != ' ' || v > 255 {
			return false
		}
		r.Protocol = uint8(v)
		r.SetSpan(flowlog.FProtocol, i, j-i)
		i = j + 1
	}
	// packets, bytes, start, end: up to 18 digits cannot overflow an int64
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digits(line, i); j == i || j-i > 18 || j >= n || line[j] != ' ' {
			return false
		}
		r.Packets = v
		r.SetSpan(flowlog.FPackets, i, j-i)
		i = j + 1
	}
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digits(line, i); j == i || j-i > 18 || j >= n || line[j] != ' ' {
			return false
		}
		r.Bytes = v
		r.SetSpan(flowlog.FBytes, i, j-i)
		i = j + 1
	}
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digitsLong(line, i); j == i || j-i > 18 || j >= n || line[j] != ' ' {
			return false
		}
		r.Start = int64(v)
		r.SetSpan(flowlog.FStart, i, j-i)
		i = j + 1
	}
	if isDash(line, i) {
		i += 2
	} else {
		if v, j = digitsLong(line, i); j == i || j-i > 18 || j >= n || line[j] != ' ' {
			return false
		}
		r.End = int64(v)
		r.SetSpan(flowlog.FEnd, i, j-i)
		i = j + 1
	}
	// action, log-status (the last token ends the line)
	if j = tokenEndFast(line, i); j <= i || j >= n {
		return false
	}
	if j-i != 1 || line[i] != '-' {
		r.SetSpan(flowlog.FAction, i, j-i)
	}
	i = j + 1
	if j = tokenEndFast(line, i); j != n || j <= i {
		return false
	}
	if j-i != 1 || line[i] != '-' {
		r.SetSpan(flowlog.FLogStatus, i, j-i)
	}
	return true
}

// isDash reports whether line[i:] starts with a lone "-" followed by a
// space.
func isDash(line []byte, i int) bool {
	return i+1 < len(line) && line[i] == '-' && line[i+1] == ' '
}

// scanIPv6 parses the address token at line[i:] with netip (IPv6, or
// IPv4 forms scanIPv4 leaves to netip); ok is false for a bad token.
func scanIPv6(line []byte, i int) (netip.Addr, int, bool) {
	e := tokenEndFast(line, i)
	if e <= i {
		return netip.Addr{}, 0, false
	}
	a, ok := parseAddrSlow(line[i:e])
	return a, e, ok
}

// digits parses the decimal digits at line[i:] and returns their value
// and the index of the first non-digit. More than 19 digits overflow
// silently; callers bound j-i.
func digits(line []byte, i int) (uint64, int) {
	var v uint64
	for ; i < len(line); i++ {
		d := line[i] - '0'
		if d > 9 {
			break
		}
		v = v*10 + uint64(d)
	}
	return v, i
}

// digitsLong is digits for fields that usually hold ten digits or more
// (Unix timestamps): eight digits are converted at once when they are all
// there. The result equals digits', modulo 2^64.
func digitsLong(line []byte, i int) (uint64, int) {
	if i+8 > len(line) {
		return digits(line, i)
	}
	x := binary.LittleEndian.Uint64(line[i:])
	if (x&0xF0F0F0F0F0F0F0F0)|(((x+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4) != 0x3333333333333333 {
		return digits(line, i)
	}
	x = (x & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	x = (x & 0x00FF00FF00FF00FF) * 6553601 >> 16
	x = (x & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
	v := x
	for i += 8; i < len(line); i++ {
		d := line[i] - '0'
		if d > 9 {
			break
		}
		v = v*10 + uint64(d)
	}
	return v, i
}

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// tokenEndFast returns the index of the space ending the token at
// line[i:], or len(line); -1 when the token holds a control character.
// It tests eight bytes at a time for a byte below 0x21.
func tokenEndFast(line []byte, i int) int {
	for i+8 <= len(line) {
		x := binary.LittleEndian.Uint64(line[i:])
		// A byte is flagged when it is below 0x21 (exact for bytes < 0x80;
		// bytes >= 0x80 are never flagged).
		if m := (x - lo8*0x21) & ^x & hi8; m != 0 {
			k := i + bits.TrailingZeros64(m)/8
			if line[k] != ' ' {
				return -1
			}
			return k
		}
		i += 8
	}
	for ; i < len(line); i++ {
		if c := line[i]; c <= ' ' {
			if c != ' ' {
				return -1
			}
			return i
		}
	}
	return i
}
