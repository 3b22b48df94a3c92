// Package parse is the flow-log parser and the parse_flowlog stage.
//
// A Format is compiled once from "default", a custom format string
// ("${version} ${vpc-id} ${srcaddr} …") or an S3 header line
// ("version vpc-id srcaddr …"); Format.Parse then turns one line
// (Record.Raw) into the typed Record in place: integers for ports,
// protocol, counters and times, netip.Addr for addresses, spans into the
// line for string fields, and a presence mark for each field that was in
// the format and not "-" in the line. It covers every field of VPC
// flow-log versions 2 to 8 and of transit-gateway flow logs. Parsing a
// default-format line allocates nothing.
//
// A line that does not fit its format yields a *ParseError naming the
// field and the value (`dstport: 70000 out of range`); it never panics,
// whatever the input.
//
// # The parse_flowlog stage
//
//	stages:
//	  parse:
//	    type: parse_flowlog
//	    inputs: [flows]
//	    format: default   # default | auto | "${version} ${vpc-id} …"
//
// With format auto, a header line (the first line of each S3 text object)
// sets the format of the rest of its input: it is compiled and kept in the
// input's Origin, so inputs with different formats may share a batch.
// Lines of an input without a header are read in the default format. In
// every mode header lines are dropped, not passed on.
//
// Lines that do not parse go to the stage's .errors output with the
// reason; they are counted in vpcflow_parse_errors_total{stage,reason} and
// the first of them are logged, at most one log line per second.
package parse
