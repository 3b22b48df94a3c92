// Package httpsink implements sink type http: batched, compressed delivery
// of records to an HTTP log intake — a Sumo Logic HTTP Source (preset
// sumologic, encoding sumo_vpc_json) or any intake taking one record a line
// (json, raw).
//
// Write encodes a batch's records into the request body being filled for
// their header values (headers may be templated from record fields, e.g.
// X-Sumo-Category: aws/vpc/{account-id}; one body per distinct set of
// values). A body is sent when the next record would take it past
// batch.max_bytes of uncompressed payload (a single larger record goes
// alone), when it holds batch.max_records, batch.timeout after its first
// record, or once no record has come for batch.idle_timeout (the engine's
// in-flight batches all wait on the sink then: waiting longer adds only
// latency). Records are joined by "\n" with no trailing newline (as the Sumo
// Logic Lambda posts them) unless trailing_newline is set.
//
// # Acknowledgement
//
// Write returns nil only once every request holding one of its records was
// answered with a 2xx. When the intake refused some records for what they
// are, Write returns a component.RejectedError naming just those records (by
// index in the batch): the engine sends them alone to the sink's
// dead_letter, or applies on_rejected. When a request ran past
// max_retry_duration, Write returns a component.Permanent error and the
// engine dead-letters the whole batch. When ctx ends first, or Close
// abandons a request, Write returns a plain error and the batch is
// redelivered.
//
// # With a disk buffer
//
// Given a disk buffer (component.Spooler, see spool.go), the sink spools:
// a full body is compressed and stored, with its header values and record
// boundaries, and the Writes holding its records return once it is
// fsynced. Send then posts stored requests as they were made,
// concurrency at once, with the retries below; a refused one is
// decompressed and split like any other, and the refused records go to
// the engine's dead letter as failures holding their encoded form (the
// records themselves were not kept). Encoding and compression are paid
// once, before the buffer, so buffering costs little more than the write,
// and a backlog drains without encoding anything.
//
// # Refused requests
//
// 400 and 422 say the request holds records the intake cannot take: the
// body is halved (at record boundaries, kept in a lineIndex) and each half
// sent again, down to the offending records, so the others are delivered
// and a refused request never fails records of other Writes. 413 splits the
// same way; a record too large alone is refused.
//
// # Retries
//
// Every other failure is about the destination, not the batch: 401, 403,
// 404, other 4xx, 408, 429, 5xx, transport errors and attempts running past
// request_timeout are retried with exponential backoff and jitter
// (retry.initial_interval doubling up to retry.max_interval, at most 1m), or
// after the server's Retry-After (seconds or an HTTP date, capped at 1m).
// They are retried for ever unless max_retry_duration is set; meanwhile
// Blocked reports the last error (vpcflow_sink_blocked, /healthz after
// stuck_after) and the status is logged, rate limited.
//
// While a request is retried its sender is busy; once all concurrency
// senders are, Write blocks handing over the next full body: that is the
// backpressure that stops the pipeline pulling from its sources. Memory for
// bodies stays within about (concurrency + 2) × batch.max_bytes: a sender
// keeps the body (a refused request is split from it) and its compressed
// form, about a tenth of it, while it retries, and bytes waiting in
// all groups together are capped at max(2, concurrency) × max_bytes (the
// largest group is sent early past it).
//
// # Secrets
//
// The URL usually carries the collector's token. It appears in logs and
// errors only as scheme://host/…; errors from net/http, which quote the URL,
// are rewritten, and the URL's path, query and user information, the basic
// password and the bearer token are scrubbed from every message.
package httpsink
