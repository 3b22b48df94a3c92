// Package filesink implements the `file` sink: records written one a line
// to a file or to standard output ("-") in the json, sumo_vpc_json or raw
// encoding. Batches of one source partition are written in order.
//
// # Acknowledgement
//
// Write returns once the batch is written and flushed to the operating
// system (and fsynced when `sync: true`). A write error (disk full) is
// returned as a transient error: the engine retries, holding the pipeline
// back, and nothing is acknowledged that was not written.
package filesink
