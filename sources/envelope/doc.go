// Package envelope decodes the payloads that carry VPC flow logs over a
// message bus (Kafka records, Kinesis records) into flow-log records.
//
// Three payload kinds are understood:
//
//   - Lines: one or more newline-separated flow-log lines. Each non-empty
//     line, trimmed of surrounding spaces, tabs and a trailing \r, becomes
//     one record whose Raw points into the payload.
//   - CloudWatchLogs: the gzip-compressed JSON document that a CloudWatch
//     Logs subscription filter writes to Kinesis or Firehose
//     ({"messageType", "owner", "logGroup", "logStream",
//     "subscriptionFilters", "logEvents": [{"id", "timestamp", "message"}]}),
//     also accepted base64-encoded, uncompressed, or as several documents
//     (concatenated gzip members or JSON objects). A DATA_MESSAGE yields one
//     record per log event; its Origin carries the log group and stream,
//     and the owner as Account. A CONTROL_MESSAGE yields nothing.
//   - Auto: gzip (raw or base64) or a JSON object is a CloudWatch Logs
//     envelope; anything else is Lines. A gzip stream whose content is not
//     JSON is read as gzip-compressed lines.
//
// Decode never panics on bad input: a corrupt gzip stream, invalid JSON or
// an unknown messageType is returned as an error naming what is wrong, and
// the batch is left as it was, so that the caller can put the payload in
// Batch.Failed and carry on.
//
// # Performance
//
// gzip readers and scratch buffers are pooled. A CloudWatch Logs document is
// decompressed into a pooled buffer and its JSON decoded in place (each
// message is unescaped where it lies); only the messages are copied to
// Batch.Buf, which grows by doubling. A record costs no allocation; one
// Origin is allocated per envelope.
package envelope
