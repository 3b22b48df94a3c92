// Package filesource implements the `file` source: flow-log lines from a
// file, a glob of files, or standard input ("-"), plain or gzip (detected
// by its magic bytes, multi-member gzip included), streamed in constant
// memory.
//
// # Acknowledgement
//
// A file has nothing to commit: the source only counts batches that were
// nacked (not delivered) and reports them when it is closed. A corrupt or
// truncated gzip member is reported, naming the file, to the source's
// .errors output; the records before the damage are delivered and the next
// file is read.
package filesource
