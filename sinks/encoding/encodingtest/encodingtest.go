// Package encodingtest builds flow-log records for tests and benchmarks of
// sinks without depending on the parse stage: Record splits a line by a
// format and fills the typed fields the way the parser does.
package encodingtest

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Record parses line (fields separated by single or repeated spaces) with
// format (flowlog.DefaultFormat when nil). A "-" field is absent. It
// returns an error for a wrong field count or a bad number or address.
func Record(line string, format []flowlog.Field) (flowlog.Record, error) {
	if format == nil {
		format = flowlog.DefaultFormat
	}
	raw := []byte(line)
	r := flowlog.Record{Raw: raw}
	i, k := 0, 0
	for i < len(raw) {
		for i < len(raw) && raw[i] == ' ' {
			i++
		}
		if i == len(raw) {
			break
		}
		j := i
		for j < len(raw) && raw[j] != ' ' {
			j++
		}
		if k >= len(format) {
			return r, fmt.Errorf("more than %d fields", len(format))
		}
		if err := set(&r, format[k], raw, i, j); err != nil {
			return r, err
		}
		k++
		i = j
	}
	if k != len(format) {
		return r, fmt.Errorf("%d fields, want %d", k, len(format))
	}
	return r, nil
}

// MustRecord is Record that panics on error.
func MustRecord(line string, format []flowlog.Field) flowlog.Record {
	r, err := Record(line, format)
	if err != nil {
		panic(fmt.Sprintf("encodingtest: %q: %v", line, err))
	}
	return r
}

func set(r *flowlog.Record, f flowlog.Field, raw []byte, i, j int) error {
	t := string(raw[i:j])
	if t == "-" {
		return nil
	}
	switch f.Kind() {
	case flowlog.KindAddr:
		a, err := netip.ParseAddr(t)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		r.SetAddr(f, a)
	case flowlog.KindInt:
		v, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		r.SetInt(f, v)
	}
	r.SetSpan(f, i, j-i)
	return nil
}
