// Package s3sqssource implements the s3_sqs source: VPC flow-log objects
// written to S3, announced by S3 event notifications on an SQS queue.
//
// Notifications are long-polled by several receivers, in any of the shapes
// they reach a queue: an S3 event (Records[].s3), the same wrapped in an
// SNS notification, or an EventBridge "Object Created" event. s3:TestEvent
// and events other than object creations are deleted and counted; object
// keys are URL-decoded; key_prefix / key_suffix filter objects.
//
// Each announced object is streamed with GetObject and never held whole in
// memory: gzip or plain text is split into lines, Parquet objects are read
// row group by row group through ranged GETs and rendered as text lines
// preceded by a header line naming the columns. Every line becomes a
// record with only Raw and Origin set (Origin.Name = s3://bucket/key, and
// Account and Region from the key when it follows AWS's layout). Header
// lines are handed out like any line: the parse_flowlog stage with
// `format: auto` reads each object's format from them, so pipelines reading
// S3 use `format: auto`. Batches of one object share its Partition and are
// handed out in order; a bounded hand-off means a producer waits while the
// engine is behind, so a 75 MB object costs a few batches of memory.
//
// # Acknowledgement
//
// The SQS message is deleted only once every batch of every one of its
// objects was acknowledged with ack(nil). The first ack(err) stops reading
// the message's objects and, once its other batches are settled, makes it
// visible again (visibility 0) so that it is delivered again. While a
// message is in flight its visibility is extended every half
// visibility_timeout, with ChangeMessageVisibilityBatch calls of up to 10
// messages that run concurrently, each with its own timeout, so one slow
// call delays no other message; a failed extension is counted in
// vpcflow_s3sqs_visibility_failures_total{reason} and logged (rate
// limited). Close stops receiving and makes every unfinished message
// visible again; after a crash they come back when their visibility
// timeout expires. Duplicates are possible, loss is not.
//
// # Failures
//
// An object that cannot be read to its end — NoSuchKey, AccessDenied, a
// corrupt gzip stream or Parquet file, more than max_object_bytes once
// decompressed — sends its message to the dead letter: moved to
// dead_letter_queue_url when set (with a vpcflow_error message attribute
// naming bucket, key and reason), otherwise left on the queue, invisible
// for a full visibility timeout, to be tried again or taken by the queue's
// redrive policy (a warning at start says when the queue has none). Records
// read before the damage are delivered; the failure is logged with bucket
// and key, counted in vpcflow_s3sqs_objects_total{outcome}, and put in the
// object's last batch (Batch.Failed) so it reaches the source's .errors
// output. Transient errors (network, throttling, 5xx) make the message
// visible again after a backoff. A line longer than max_line_bytes goes to
// Batch.Failed and the rest of the object flows.
//
// A notification is received at most max_receive_attempts times (its
// ApproximateReceiveCount): on its last attempt a failure sends it to
// dead_letter_queue_url, or, without one, abandons it — logged at error
// level naming bucket, key and count, counted as
// vpcflow_s3sqs_messages_total{outcome="abandoned"}, and deleted — rather
// than leaving it to be retried until the queue's retention period drops it
// silently. A queue redrive policy with a lower maxReceiveCount acts first.
//
// # Memory
//
// Each object in flight holds the batch being filled; finished batches
// wait in a hand-off of max_in_flight_objects batches that Read drains.
// A batch (its records and their line buffer) is reused for a later batch
// once its AckFunc has returned: by the Batch contract no stage or sink
// holds it by then, and nothing may touch it after acknowledging it.
package s3sqssource
