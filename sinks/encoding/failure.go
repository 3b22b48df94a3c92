package encoding

import (
	"encoding/base64"
	"unicode/utf8"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// appendFailureJSON writes a dead-letter line:
// {"stage":…,"error":…,"raw":…} plus "input" (Origin.Name) when known and
// "raw_base64" when raw is not valid UTF-8 (so nothing is lost to U+FFFD).
func appendFailureJSON(dst []byte, f *flowlog.Failure) []byte {
	dst = append(dst, `{"stage":`...)
	dst = appendQuotedString(dst, f.Stage)
	dst = append(dst, `,"error":`...)
	if f.Err != nil {
		dst = appendQuotedString(dst, f.Err.Error())
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"raw":`...)
	dst = appendQuoted(dst, f.Raw)
	if !utf8.Valid(f.Raw) {
		dst = append(dst, `,"raw_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, f.Raw)
		dst = append(dst, '"')
	}
	if f.Origin != nil && f.Origin.Name != "" {
		dst = append(dst, `,"input":`...)
		dst = appendQuotedString(dst, f.Origin.Name)
	}
	return append(dst, '}', '\n')
}
