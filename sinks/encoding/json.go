package encoding

import (
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// jsonEncoder writes one JSON object per record (encoding json).
type jsonEncoder struct{ opts Options }

// fieldAt is a present field and where its text starts in the line.
type fieldAt struct {
	off int
	f   flowlog.Field
}

func (e jsonEncoder) AppendRecord(dst []byte, r *flowlog.Record) []byte {
	// Collect the present fields with their offsets in the line, then sort
	// them by offset: that is the format's order. Enum order is the default
	// format's order, so the insertion sort does no work in the common case.
	var fs [flowlog.NumFields]fieldAt
	n := 0
	for set := uint64(r.Present); set != 0; set &= set - 1 {
		f := flowlog.Field(bits.TrailingZeros64(set))
		if f >= flowlog.NumFields {
			break
		}
		fs[n] = fieldAt{off: textOffset(r, f), f: f}
		for j := n; j > 0 && fs[j-1].off > fs[j].off; j-- {
			fs[j-1], fs[j] = fs[j], fs[j-1]
		}
		n++
	}

	dst = append(dst, '{')
	comma := false
	for k, fa := range fs[:n] {
		key := fieldKeys[fa.f]
		if k == 0 {
			key = key[1:]
		}
		dst = append(dst, key...)
		comma = true
		dst = appendFieldValue(dst, r, fa.f)
	}

	o, eni := r.Origin, r.ENI
	if !r.Has(flowlog.FAccountID) {
		acct := ""
		if o != nil {
			acct = o.Account
		}
		if acct == "" && eni != nil {
			acct = eni.AccountID
		}
		dst, comma = appendOptString(dst, "account-id", acct, comma)
	}
	if !r.Has(flowlog.FRegion) && o != nil {
		dst, comma = appendOptString(dst, "region", o.Region, comma)
	}
	if eni != nil {
		if !r.Has(flowlog.FVPCID) {
			dst, comma = appendOptString(dst, "vpc-id", eni.VPCID, comma)
		}
		if !r.Has(flowlog.FSubnetID) {
			dst, comma = appendOptString(dst, "subnet-id", eni.SubnetID, comma)
		}
		if !r.Has(flowlog.FInstanceID) {
			dst, comma = appendOptString(dst, "instance-id", eni.InstanceID, comma)
		}
		dst, comma = appendOptString(dst, "aws-region", eni.Region, comma)
		dst, comma = appendOptString(dst, "availability-zone", eni.AvailabilityZone, comma)
		dst, comma = appendOptString(dst, "interface-type", eni.InterfaceType, comma)
		dst = appendKey(dst, "security-group-ids", comma)
		comma = true
		dst = appendStringArray(dst, eni.SecurityGroupIDs)
		if len(eni.Tags) > 0 {
			dst = appendKey(dst, "tags", comma)
			dst = appendTags(dst, eni.Tags)
		}
	}
	if r.Direction != flowlog.DirUnknown {
		dst, comma = appendOptString(dst, "direction", r.Direction.String(), comma)
	}
	if e.opts.IncludeLogInfo && o != nil && o.LogGroup != "" {
		dst, comma = appendOptString(dst, "log-group", o.LogGroup, comma)
		dst, _ = appendOptString(dst, "log-stream", o.LogStream, comma)
	}
	return append(dst, '}', '\n')
}

// fieldKeys holds `,"name":` for every field.
var fieldKeys = func() (t [flowlog.NumFields]string) {
	for f := range flowlog.NumFields {
		t[f] = `,"` + f.String() + `":`
	}
	return t
}()

// textOffset returns where field f's text starts in r.Raw (0 when it cannot
// tell).
func textOffset(r *flowlog.Record, f flowlog.Field) int {
	t := r.Text(f)
	if cap(t) == 0 || len(r.Raw) == 0 {
		return 0
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(t))) - uintptr(unsafe.Pointer(unsafe.SliceData(r.Raw)))
	if off > uintptr(len(r.Raw)) {
		return 0
	}
	return int(off)
}

// appendFieldValue appends the JSON value of the present field f.
func appendFieldValue(dst []byte, r *flowlog.Record, f flowlog.Field) []byte {
	switch f.Kind() {
	case flowlog.KindInt:
		switch f {
		case flowlog.FPackets:
			return strconv.AppendUint(dst, r.Packets, 10)
		case flowlog.FBytes:
			return strconv.AppendUint(dst, r.Bytes, 10)
		case flowlog.FPacketsLostNoRoute, flowlog.FPacketsLostBlackhole,
			flowlog.FPacketsLostMTUExceeded, flowlog.FPacketsLostTTLExpired:
			return strconv.AppendUint(dst, r.PacketsLost[f-flowlog.FPacketsLostNoRoute], 10)
		}
		v, _ := r.Int(f)
		return strconv.AppendInt(dst, v, 10)
	case flowlog.KindAddr:
		a, _ := r.Addr(f)
		if !a.IsValid() {
			return appendQuoted(dst, r.Text(f))
		}
		dst = append(dst, '"')
		dst = a.AppendTo(dst)
		return append(dst, '"')
	}
	return appendQuoted(dst, r.Text(f))
}

// appendOptString appends ,"key":"v" when v is not empty.
func appendOptString(dst []byte, key, v string, comma bool) ([]byte, bool) {
	if v == "" {
		return dst, comma
	}
	dst = appendKey(dst, key, comma)
	return appendQuotedString(dst, v), true
}

func (e jsonEncoder) AppendFailure(dst []byte, f *flowlog.Failure) []byte {
	return appendFailureJSON(dst, f)
}

// appendTags appends tags as a JSON object with sorted keys. The eni_enrich
// stage copies only the tag keys it is configured with, so there are few;
// up to 16 are sorted on the stack.
func appendTags(dst []byte, tags map[string]string) []byte {
	var stack [16]string
	keys := stack[:0]
	if len(tags) > len(stack) {
		keys = make([]string, 0, len(tags))
	}
	for k := range tags {
		keys = append(keys, k)
		for j := len(keys) - 1; j > 0 && keys[j-1] > keys[j]; j-- {
			keys[j-1], keys[j] = keys[j], keys[j-1]
		}
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendQuotedString(dst, k)
		dst = append(dst, ':')
		dst = appendQuotedString(dst, tags[k])
	}
	return append(dst, '}')
}
