package parse

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Format is a compiled flow-log format: the ordered fields of a line. A
// Format is immutable and safe for concurrent use.
type Format struct {
	fields []flowlog.Field
	set    flowlog.FieldSet
	spec   string
	// fast selects parseDefaultFast, for the default field list.
	fast bool
}

// byName maps AWS field names to fields. Indexed as byName[string(b)] it
// does not allocate.
var byName = func() map[string]flowlog.Field {
	m := make(map[string]flowlog.Field, flowlog.NumFields)
	for f := range flowlog.NumFields {
		m[f.String()] = f
	}
	return m
}()

var defaultFormat = mustCompile("default")

// Default returns the default (version 2) format:
// version account-id interface-id srcaddr dstaddr srcport dstport protocol
// packets bytes start end action log-status.
func Default() *Format { return defaultFormat }

func mustCompile(spec string) *Format {
	f, err := Compile(spec)
	if err != nil {
		panic(err)
	}
	return f
}

// Compile compiles a format: "default", or the fields of a custom format in
// order, each written "${field}" as in the AWS console and API
// ("${version} ${vpc-id} ${srcaddr} …"); bare names ("version vpc-id …",
// as in an S3 header line) are accepted too. Fields are separated by
// spaces. An unknown or repeated field is an error naming it.
func Compile(spec string) (*Format, error) {
	s := strings.TrimSpace(spec)
	if s == "default" {
		return newFormat(flowlog.DefaultFormat, "default"), nil
	}
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return nil, errors.New("empty format")
	}
	fields := make([]flowlog.Field, 0, len(toks))
	var set flowlog.FieldSet
	for _, tok := range toks {
		name := tok
		if strings.HasPrefix(tok, "${") && strings.HasSuffix(tok, "}") {
			name = tok[2 : len(tok)-1]
		} else if strings.ContainsAny(tok, "${}") {
			return nil, fmt.Errorf("malformed field %q: want ${name}", tok)
		}
		f, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("unknown field %q", name)
		}
		if set.Has(f) {
			return nil, fmt.Errorf("field %q repeated", name)
		}
		set = set.With(f)
		fields = append(fields, f)
	}
	return newFormat(fields, ""), nil
}

func newFormat(fields []flowlog.Field, spec string) *Format {
	f := &Format{fields: append([]flowlog.Field(nil), fields...)}
	for _, fl := range fields {
		f.set = f.set.With(fl)
	}
	if spec == "" {
		var b strings.Builder
		for i, fl := range fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("${")
			b.WriteString(fl.String())
			b.WriteByte('}')
		}
		spec = b.String()
	}
	f.spec = spec
	f.fast = slices.Equal(f.fields, flowlog.DefaultFormat)
	return f
}

// Fields returns the fields of the format in line order. The caller must
// not modify the slice.
func (f *Format) Fields() []flowlog.Field { return f.fields }

// Has reports whether the format contains field fl.
func (f *Format) Has(fl flowlog.Field) bool { return f.set.Has(fl) }

// String returns the format as it was compiled: "default" or
// "${field} ${field} …".
func (f *Format) String() string { return f.spec }

// Header returns the S3 header line of the format: its field names
// separated by single spaces ("version account-id interface-id …").
func (f *Format) Header() string {
	return string(f.AppendHeader(nil))
}

// AppendHeader appends the S3 header line of the format (no newline) to dst.
func (f *Format) AppendHeader(dst []byte) []byte {
	for i, fl := range f.fields {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, fl.String()...)
	}
	return dst
}

// IsHeader reports whether line is a header line as S3 delivery writes at
// the top of each text object: every token is a flow-log field name
// ("version account-id interface-id srcaddr …"). It does not allocate and
// rejects data lines after their first byte in the common case.
func IsHeader(line []byte) bool {
	line = trim(line)
	if len(line) == 0 || line[0] < 'a' || line[0] > 'z' {
		return false
	}
	// Field names are lower-case letters and dashes: most data lines
	// ("eni-0a1b…", "vpc-…") fail on their first token's first digit.
	for _, c := range line {
		if c == ' ' {
			break
		}
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		if _, ok := byName[string(line[i:j])]; !ok {
			return false
		}
		n++
		i = j
	}
	return n > 0
}

// ParseHeader compiles the format named by an S3 header line.
func ParseHeader(line []byte) (*Format, error) {
	line = trim(line)
	if !IsHeader(line) {
		return nil, fmt.Errorf("not a header line: %s", showValue(line))
	}
	return Compile(string(line))
}

// trim removes surrounding spaces and tabs and a trailing \r or \n.
func trim(b []byte) []byte {
	i, n := 0, len(b)
	for n > 0 {
		if c := b[n-1]; c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			n--
			continue
		}
		break
	}
	for i < n && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return b[i:n]
}
