// Package encoding turns records into the bytes sinks write: json,
// sumo_vpc_json and raw, one record a line.
package encoding

import "github.com/vpcflow/vpcflow/processor/flowlog"

// Encoder appends encoded records. Implementations are safe for concurrent
// use and allocate nothing per record in steady state.
type Encoder interface {
	// AppendRecord appends the encoding of r followed by '\n' to dst.
	AppendRecord(dst []byte, r *flowlog.Record) []byte
	// AppendFailure appends one dead-letter line for f followed by '\n':
	// json/sumo_vpc_json write {"stage":…,"error":…,"raw":…}, raw writes
	// the original line.
	AppendFailure(dst []byte, f *flowlog.Failure) []byte
}

// Options tune an encoder.
type Options struct {
	// IncludeLogInfo adds logStream and logGroup (sumo_vpc_json) for records
	// that came in a CloudWatch Logs envelope.
	IncludeLogInfo bool
}
