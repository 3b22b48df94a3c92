package eni

import (
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
)

// key identifies a cached interface: account, region and interface id,
// packed into 16 bytes without pointers so that building one from a record
// allocates nothing and hashing and comparing it is cheap.
type key struct {
	// idLo holds the last (up to) 16 hex digits of the interface id.
	idLo uint64
	// meta holds the account (bits 0-39: 12 decimal digits fit in 40
	// bits; 0 when unknown), the interned region number (bits 40-47; 0 is
	// "no region") and idHi (bits 48-63, see parseID).
	meta uint64
}

func mkKey(account, idLo uint64, idHi, region uint32) key {
	return key{idLo: idLo, meta: account&(1<<40-1) | uint64(region&0xff)<<40 | uint64(idHi&0xffff)<<48}
}

func (k key) account() uint64 { return k.meta & (1<<40 - 1) }
func (k key) region() uint32  { return uint32(k.meta >> 40 & 0xff) }
func (k key) idHi() uint32    { return uint32(k.meta >> 48) }

const maxIDDigits = 17 // eni-0123456789abcdef0

// parseID reads "eni-" followed by 1 to 17 hex digits. The two lengths
// AWS issues (17 digits, 8 for old interfaces) take eight digits at a
// time; others go digit by digit.
func parseID(b []byte) (lo uint64, hi uint32, ok bool) {
	if len(b) < 5 || len(b) > 4+maxIDDigits || b[0] != 'e' || b[1] != 'n' || b[2] != 'i' || b[3] != '-' {
		return 0, 0, false
	}
	d := b[4:]
	n := len(d)
	switch n {
	case maxIDDigits:
		top := unhex[d[0]]
		v, ok := hex16(binary.LittleEndian.Uint64(d[1:9]), binary.LittleEndian.Uint64(d[9:17]))
		if top > 15 || !ok {
			return 0, 0, false
		}
		return v, uint32(n) | uint32(top)<<8, true
	case 8:
		l, ok := hex8(binary.LittleEndian.Uint64(d))
		if !ok {
			return 0, 0, false
		}
		return l, uint32(n), true
	}
	for _, c := range d {
		v := unhex[c]
		if v > 15 {
			return 0, 0, false
		}
		lo = lo<<4 | uint64(v)
	}
	return lo, uint32(n), true
}

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// hex8 converts eight hex digits, loaded little-endian (the first digit in
// the low byte), to their value; ok is false when one is not a hex digit.
func hex8(x uint64) (uint64, bool) {
	if !hexDigits(x) {
		return 0, false
	}
	return nibbles(x), true
}

// hex16 is hex8 of sixteen digits, x holding the first eight; the two
// halves are worked in one body so that their steps overlap.
func hex16(x, y uint64) (uint64, bool) {
	if !hexDigits(x) || !hexDigits(y) {
		return 0, false
	}
	return nibbles(x)<<32 | nibbles(y), true
}

// hexDigits reports whether the eight bytes of x are all hex digits:
// below 0x80, then in '0'..'9' or, case folded, 'a'..'f'. x + (0x80-lo)*ones
// sets a byte's high bit when it is >= lo, x + (0x7f-hi)*ones when it is >
// hi; bytes below 0x80 do not carry.
func hexDigits(x uint64) bool {
	y := x | 0x20*ones
	digit := (x + (0x80-'0')*ones) &^ (x + (0x7f-'9')*ones)
	alpha := (y + (0x80-'a')*ones) &^ (y + (0x7f-'f')*ones)
	return x&high == 0 && (digit|alpha)&high == high
}

// nibbles converts eight hex digits (checked) to their value, the low
// byte's digit most significant: '0'..'9' → 0..9; 'a'..'f' and 'A'..'F'
// (bit 6 set) → 1..6 + 9; then the nibbles are gathered pairwise.
func nibbles(x uint64) uint64 {
	v := x&(0x0f*ones) + (x>>6&ones)*9
	v = (v<<4 | v>>8) & 0x00ff00ff00ff00ff
	v = (v<<8 | v>>16) & 0x0000ffff0000ffff
	return (v<<16 | v>>32) & 0xffffffff
}

var unhex = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = uint8(c-'a') + 10
		t[c-'a'+'A'] = uint8(c-'a') + 10
	}
	return t
}()

// interfaceID formats the key's interface id ("eni-" and lowercase hex).
func (k key) interfaceID() string {
	n := int(k.idHi() & 0xff)
	buf := make([]byte, 4+n)
	copy(buf, "eni-")
	lo := k.idLo
	for i := 4 + n - 1; i >= 4; i-- {
		if i == 4 && n == maxIDDigits {
			buf[i] = "0123456789abcdef"[k.idHi()>>8&0xf]
			break
		}
		buf[i] = "0123456789abcdef"[lo&0xf]
		lo >>= 4
	}
	return string(buf)
}

// parseAccount reads a 12-digit account id; anything else is unknown (0).
func parseAccount(b []byte) uint64 {
	if len(b) != 12 {
		return 0
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

// accountString formats an account number back to its 12 digits; "" for 0.
func accountString(a uint64) string {
	if a == 0 {
		return ""
	}
	s := strconv.FormatUint(a, 10)
	for len(s) < 12 {
		s = "0" + s
	}
	return s
}

// regions interns region names to small numbers. Reads take no lock: the
// table is an immutable snapshot replaced on (rare) additions.
type regions struct {
	mu    sync.Mutex
	table atomic.Pointer[regionTable]
}

type regionTable struct {
	ids   map[string]uint32
	names []string // names[0] == ""
}

func newRegions() *regions {
	r := &regions{}
	r.table.Store(&regionTable{ids: map[string]uint32{"": 0}, names: []string{""}})
	return r
}

// maxRegions bounds the table so that garbage in region fields cannot grow
// it without limit (AWS has about 40 regions); region numbers take 8 bits
// of a key.
const maxRegions = 256

// id returns the number of region b, adding it when new; ok is false when b
// does not look like a region name or the table is full. It allocates only
// the first time a region is seen.
func (r *regions) id(b []byte) (uint32, bool) {
	if id, ok := r.table.Load().ids[string(b)]; ok {
		return id, true
	}
	if !validRegion(b) {
		return 0, false
	}
	return r.add(string(b))
}

// validRegion accepts names like us-east-1, eu-central-2, us-gov-west-1.
func validRegion(b []byte) bool {
	if len(b) < 3 || len(b) > 32 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (r *regions) idString(s string) (uint32, bool) {
	if id, ok := r.table.Load().ids[s]; ok {
		return id, true
	}
	if !validRegion([]byte(s)) {
		return 0, false
	}
	return r.add(s)
}

func (r *regions) add(s string) (uint32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if id, ok := old.ids[s]; ok {
		return id, true
	}
	if len(old.names) >= maxRegions {
		return 0, false
	}
	t := &regionTable{ids: make(map[string]uint32, len(old.ids)+1), names: append(old.names[:len(old.names):len(old.names)], s)}
	for k, v := range old.ids {
		t.ids[k] = v
	}
	id := uint32(len(t.names) - 1)
	t.ids[s] = id
	r.table.Store(t)
	return id, true
}

func (r *regions) name(id uint32) string {
	t := r.table.Load()
	if int(id) < len(t.names) {
		return t.names[id]
	}
	return ""
}
