// Package encoding turns records into the bytes sinks write: json,
// sumo_vpc_json and raw, one record a line.
//
// Every encoder is safe for concurrent use and allocates nothing per record:
// it appends to the caller's buffer with hand-written appenders.
//
// # json
//
// One object per record. Keys are the AWS field names (flowlog.Field.String)
// of the fields present in the line, in the order of the line's format.
// version, srcport, dstport, protocol, tcp-flags, traffic-path, packets,
// bytes, start, end and the transit-gateway packets-lost-* counters are JSON
// integers; every other field (account-id included) is a string. Then come,
// when not already present from the line:
//   - account-id and region from the input (an S3 key) when the line lacks them;
//   - the enrichment keys, when the record's ENI is known: vpc-id, subnet-id,
//     instance-id, aws-region, availability-zone, interface-type,
//     security-group-ids (an array, possibly empty), tags (an object of the
//     tag keys eni_enrich copies, when any) and direction (left out when
//     unknown); empty values are left out;
//   - log-group and log-stream, with Options.IncludeLogInfo, for records that
//     came in a CloudWatch Logs envelope.
//
// # sumo_vpc_json
//
// Byte for byte what the Sumo Logic CloudWatch Logs Lambda (LogFormat
// VPC-JSON) posts: {"message":"<line>"}, then logStream and logGroup (with
// Options.IncludeLogInfo, for records of a CloudWatch Logs envelope), then,
// when the ENI is known, security-group-ids, direction (left out when
// unknown), subnet-id, vpc-id and aws-region (each left out when empty).
// The Lambda JSON.parse-s each message first, so a line that happens to be
// valid JSON (a bare number) would be written as a number; flow-log lines
// never are, and this encoder always writes the line as a string. The
// Lambda's requestID heuristic (meant for Lambda logs) is not reproduced.
//
// # raw
//
// The line itself (LogFormat VPC-RAW).
//
// # Strings
//
// Strings are escaped as JavaScript's JSON.stringify does: '"', '\\' and the
// control characters below U+0020 (\b \t \n \f \r by name, the others as
// \u00xx); everything else, U+2028, U+2029 and '<', '>', '&' included, is
// written as is. Invalid UTF-8 is replaced by U+FFFD, byte by byte.
//
// # Empty lines
//
// sumo_vpc_json and raw write nothing for a record whose line is empty (the
// Lambda drops such records); json writes {} for a record with no field.
package encoding

import (
	"fmt"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Encoder appends encoded records. Implementations are safe for concurrent
// use and allocate nothing per record in steady state.
type Encoder interface {
	// AppendRecord appends the encoding of r followed by '\n' to dst.
	// sumo_vpc_json and raw append nothing for a record with an empty line.
	AppendRecord(dst []byte, r *flowlog.Record) []byte
	// AppendFailure appends one dead-letter line for f followed by '\n':
	// json/sumo_vpc_json write {"stage":…,"error":…,"raw":…}, raw writes
	// the original line.
	AppendFailure(dst []byte, f *flowlog.Failure) []byte
}

// Options tune an encoder.
type Options struct {
	// IncludeLogInfo adds logStream and logGroup (sumo_vpc_json), or
	// log-stream and log-group (json), for records that came in a
	// CloudWatch Logs envelope.
	IncludeLogInfo bool
}

// Names of the encodings New knows.
const (
	JSON        = "json"
	SumoVPCJSON = "sumo_vpc_json"
	Raw         = "raw"
)

// Names lists the encodings New accepts, for validation messages.
var Names = []string{JSON, SumoVPCJSON, Raw}

// New returns the encoder called name: json, sumo_vpc_json or raw.
func New(name string, opts Options) (Encoder, error) {
	switch name {
	case JSON:
		return jsonEncoder{opts: opts}, nil
	case SumoVPCJSON:
		return sumoEncoder{opts: opts}, nil
	case Raw:
		return rawEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown encoding %q (want json, sumo_vpc_json or raw)", name)
}

// ContentType returns the MIME type of a body of records in encoding name,
// one record a line.
func ContentType(name string) string {
	if name == Raw {
		return "text/plain; charset=utf-8"
	}
	return "application/x-ndjson"
}
