// Package sinkbuf is the buffer the engine may put in front of a sink
// (`buffer: {type: memory|disk, max_bytes, path, when_full}`), so that one
// slow or unreachable destination does not hold the others back.
//
// A sink that spools (component.Spooler: the http sink) stores its own
// finished requests with PutPayload instead, opaque here; Take, Done and
// the bounds treat them like any frame, LoadPayload reads one back.
//
// Batches are stored in a compact binary form (the line, which token each
// field is, the parsed values, shared origins and ENIs once per frame):
// about 150 bytes a default-format record instead of the 456 of a Record
// and its line, in frames of at most 2048 records. Once the buffer holds an
// eighth of max_bytes (a backlog: the sink is down or slow) frames are also
// compressed with S2 (about 75 bytes a record); below that, compression
// would cost CPU (about 200 ns a record each way) for room not needed.
// While the sink keeps up, the newest frames are also kept as ready copies
// (up to 32768 records), so the sink gets them without a read and a decode.
//
// # Acknowledgement
//
// A disk buffer acknowledges a batch once its frames are written and
// fsynced; a flusher goroutine fsyncs everything written since its last
// pass, so one fsync covers many batches (group commit). Frames are
// checksummed (CRC-32C); Open delivers every intact frame an earlier run
// left and logs, then truncates, a torn or corrupt tail.
//
// A memory buffer holds ready copies, and frames beyond them (compressed
// in a backlog, as above), and acknowledges a batch only once every record
// of it went through Done: it absorbs bursts and lets the other sinks go
// on, but claims no durability it lacks; Close nacks what it still holds,
// and the source delivers it again.
//
// # Bounds
//
// The buffer never holds more than max_bytes (copies and frames in memory,
// segment files on disk; a single batch larger than the whole buffer is let
// into an empty one). When a batch does not fit, Put waits (when_full:
// block, backpressure) or returns ErrFull (drop_newest). Consumed segments
// are deleted as soon as every frame in them is consumed.
package sinkbuf
