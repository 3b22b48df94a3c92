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
// answered with a 2xx. When one of them failed permanently it returns a
// component.Permanent error: the engine sends the whole batch to the sink's
// dead_letter and acknowledges it (its other records may then arrive twice;
// none is lost). When ctx ends first, or Close abandons a request, Write
// returns a plain error and the batch is redelivered.
//
// # Retries
//
// 408, 429, 5xx, transport errors and attempts running past request_timeout
// are retried with exponential backoff and jitter (retry.initial_interval
// doubling up to retry.max_interval), or after the server's Retry-After
// (seconds or an HTTP date, capped at 10 minutes). They are retried for
// ever unless max_retry_duration is set; past it the request fails
// permanently. Any other status is permanent at once.
//
// While a request is retried its sender is busy; once all concurrency
// senders are, Write blocks handing over the next full body: that is the
// backpressure that stops the pipeline pulling from its sources. Memory for
// bodies stays within about (concurrency + 2) × batch.max_bytes: a sender
// keeps only the compressed body while it retries, and bytes waiting in
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
