package httpsink

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// A Template is a header value with {name} placeholders, expanded per
// record. Names are flow-log field names (their text in the line; absent
// fields fall back to the ENI or the input: account-id, region, vpc-id,
// subnet-id, instance-id) and: aws-region (the ENI's region, else region),
// log-group and log-stream (CloudWatch Logs envelope), availability-zone
// and interface-type (ENI), direction. A placeholder that cannot be filled
// expands to nothing. Braces around anything else ("{\"a\":1}") stay as
// they are; {lowercase-name} that is not known is a config error.
type template struct {
	segs []segment
}

type segment struct {
	lit string
	v   varFunc // nil for a literal
	// originOnly is set when v depends on the record's Origin alone.
	originOnly bool
}

// varFunc appends a placeholder's value for a record (r may be nil for a
// dead-letter line, then only o is known).
type varFunc func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte

func (t *template) static() bool { return len(t.segs) <= 1 && (len(t.segs) == 0 || t.segs[0].v == nil) }

func (t *template) literal() string {
	if len(t.segs) == 0 {
		return ""
	}
	return t.segs[0].lit
}

func (t *template) append(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
	for _, s := range t.segs {
		if s.v == nil {
			dst = append(dst, s.lit...)
			continue
		}
		start := len(dst)
		dst = s.v(dst, r, o)
		// Header values cannot hold control characters: drop them.
		k := start
		for _, b := range dst[start:] {
			if b >= 0x20 && b != 0x7f {
				dst[k] = b
				k++
			}
		}
		dst = dst[:k]
	}
	return dst
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '}' && j > i+1 {
				name := s[i+1 : j]
				v, ok := variable(name)
				if !ok {
					return nil, fmt.Errorf("unknown placeholder {%s} (a flow-log field name, aws-region, log-group, log-stream, availability-zone, interface-type or direction)", name)
				}
				if lit.Len() > 0 {
					t.segs = append(t.segs, segment{lit: lit.String()})
					lit.Reset()
				}
				t.segs = append(t.segs, segment{v: v, originOnly: name == "log-group" || name == "log-stream"})
				i = j
				continue
			}
		}
		lit.WriteByte(s[i])
	}
	if lit.Len() > 0 {
		t.segs = append(t.segs, segment{lit: lit.String()})
	}
	return t, nil
}

func origin(r *flowlog.Record, o *flowlog.Origin) *flowlog.Origin {
	if r != nil && r.Origin != nil {
		return r.Origin
	}
	return o
}

func eniOf(r *flowlog.Record) *flowlog.ENI {
	if r == nil {
		return nil
	}
	return r.ENI
}

// variable returns the expander of placeholder name.
func variable(name string) (varFunc, bool) {
	switch name {
	case "log-group":
		return func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
			if o = origin(r, o); o != nil {
				dst = append(dst, o.LogGroup...)
			}
			return dst
		}, true
	case "log-stream":
		return func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
			if o = origin(r, o); o != nil {
				dst = append(dst, o.LogStream...)
			}
			return dst
		}, true
	case "aws-region":
		return func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
			if e := eniOf(r); e != nil && e.Region != "" {
				return append(dst, e.Region...)
			}
			return regionOf(dst, r, o)
		}, true
	case "availability-zone":
		return eniString(func(e *flowlog.ENI) string { return e.AvailabilityZone }), true
	case "interface-type":
		return eniString(func(e *flowlog.ENI) string { return e.InterfaceType }), true
	case "direction":
		return func(dst []byte, r *flowlog.Record, _ *flowlog.Origin) []byte {
			if r != nil {
				dst = append(dst, r.Direction.String()...)
			}
			return dst
		}, true
	}
	f, ok := flowlog.FieldByName(name)
	if !ok {
		return nil, false
	}
	var fallback func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte
	switch f {
	case flowlog.FAccountID:
		fallback = func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
			if o = origin(r, o); o != nil && o.Account != "" {
				return append(dst, o.Account...)
			}
			if e := eniOf(r); e != nil {
				dst = append(dst, e.AccountID...)
			}
			return dst
		}
	case flowlog.FRegion:
		fallback = func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
			if o = origin(r, o); o != nil && o.Region != "" {
				return append(dst, o.Region...)
			}
			if e := eniOf(r); e != nil {
				dst = append(dst, e.Region...)
			}
			return dst
		}
	case flowlog.FVPCID:
		fallback = eniString(func(e *flowlog.ENI) string { return e.VPCID })
	case flowlog.FSubnetID:
		fallback = eniString(func(e *flowlog.ENI) string { return e.SubnetID })
	case flowlog.FInstanceID:
		fallback = eniString(func(e *flowlog.ENI) string { return e.InstanceID })
	case flowlog.FInterfaceID:
		fallback = eniString(func(e *flowlog.ENI) string { return e.InterfaceID })
	}
	return func(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
		if r != nil && r.Has(f) {
			return append(dst, r.Text(f)...)
		}
		if fallback != nil {
			return fallback(dst, r, o)
		}
		return dst
	}, true
}

func regionOf(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
	if r != nil && r.Has(flowlog.FRegion) {
		return append(dst, r.Text(flowlog.FRegion)...)
	}
	if o = origin(r, o); o != nil {
		dst = append(dst, o.Region...)
	}
	return dst
}

func eniString(get func(*flowlog.ENI) string) varFunc {
	return func(dst []byte, r *flowlog.Record, _ *flowlog.Origin) []byte {
		if e := eniOf(r); e != nil {
			dst = append(dst, get(e)...)
		}
		return dst
	}
}

// headerSet is the compiled header list: static headers sent as they are,
// templated ones expanded per record into a group key.
type headerSet struct {
	static    http.Header
	names     []string // canonical names of the templated headers
	templates []*template
	// originOnly is set when every placeholder depends on the record's
	// Origin alone (log-group, log-stream): records sharing an Origin
	// share a group.
	originOnly bool
}

func compileHeaders(hs [][2]string) (*headerSet, error) {
	// Later entries win over earlier ones with the same name.
	last := map[string]int{}
	for i, h := range hs {
		last[http.CanonicalHeaderKey(h[0])] = i
	}
	set := &headerSet{static: http.Header{}, originOnly: true}
	for i, h := range hs {
		name := http.CanonicalHeaderKey(h[0])
		if last[name] != i {
			continue
		}
		t, err := parseTemplate(h[1])
		if err != nil {
			return nil, fmt.Errorf("headers.%s: %w", h[0], err)
		}
		if t.static() {
			if v := t.literal(); v != "" { // an empty header is not sent
				set.static[name] = []string{v}
			}
			continue
		}
		set.names = append(set.names, name)
		set.templates = append(set.templates, t)
		for _, seg := range t.segs {
			if seg.v != nil && !seg.originOnly {
				set.originOnly = false
			}
		}
	}
	return set, nil
}

// key appends the group key of a record: the expanded templated values,
// each followed by 0.
func (h *headerSet) key(dst []byte, r *flowlog.Record, o *flowlog.Origin) []byte {
	for _, t := range h.templates {
		dst = t.append(dst, r, o)
		dst = append(dst, 0)
	}
	return dst
}

// header returns the templated headers of a group key; empty values are
// left out.
func (h *headerSet) header(key string) http.Header {
	if len(h.names) == 0 {
		return nil
	}
	out := make(http.Header, len(h.names))
	for _, name := range h.names {
		i := strings.IndexByte(key, 0)
		if v := key[:i]; v != "" {
			out[name] = []string{v}
		}
		key = key[i+1:]
	}
	return out
}
