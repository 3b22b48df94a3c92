// Package filesource implements the `file` source: flow-log lines from a
// file, a glob of files, or standard input ("-"), plain or gzip (detected
// by its magic bytes, multi-member gzip included), streamed in constant
// memory.
//
// # Acknowledgement
//
// A file has nothing to commit, but a nack keeps the one meaning it has for
// every source: the nacked batch's records are handed out again. The
// source goes back to the batch's first line — a plain file is seeked to
// its byte offset, a gzip file is opened again and decompressed up to it —
// and reads on from there; batches read ahead of the nack and not yet
// handed out are dropped (they are read again), later files wait. Batches
// handed out after the nacked one may thus be delivered twice. At the end
// of the input the source reports end of input only once every batch has
// been acknowledged, so that a late nack is still honoured.
//
// Standard input, a pipe or any other file that is not a regular file
// cannot be read again: a nack of one of its batches fails the run — the
// next Read and Close return an error naming the input and the batch's
// first line. So does a file that no longer holds the nacked line
// (truncated or replaced since).
//
// A corrupt or truncated gzip member is reported, naming the file, to the
// source's .errors output; the records before the damage are delivered and
// the next file is read.
package filesource
