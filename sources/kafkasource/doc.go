// Package kafkasource is the `kafka` source: it consumes VPC flow logs from
// Kafka topics (github.com/twmb/franz-go) as a member of a consumer group,
// so that every vpcflow instance with the same group shares the partitions
// (cooperative-sticky balancing: a rebalance moves only the partitions that
// must move).
//
// Each Kafka record's value is decoded by sources/envelope as the
// configured payload (lines, cloudwatch_logs or auto). Read returns one
// batch per chunk of one partition (Batch.Partition is "topic/N"), at most
// batch_max_records flow records, in offset order. A record whose value
// cannot be decoded goes to Batch.Failed with an error naming
// topic/partition@offset; the partition moves on.
//
// # Memory
//
// The batches decoded and not yet acknowledged (queued or handed out) hold
// at most about max_in_flight_bytes: their records (456 B each) and the
// fetched values their lines point into. A poll takes as many Kafka
// records as the room left holds at their recent decoded cost (the first
// takes one); with no room left Read waits for acknowledgements. A batch is
// closed before a Kafka record whose lines would take it past
// batch_max_records, so batches never outgrow their slices. Beside that,
// the client holds one fetch per broker (fetch_max_bytes, compressed).
//
// # Acknowledgement
//
// Offsets are committed only for acknowledged batches, in order per
// partition: the committed offset is the last offset of the highest
// contiguous acknowledged batch plus one. Commits happen every
// commit_interval, when partitions are revoked, and on Close.
//
// # Nack
//
// A nack (ack(err) with err != nil) means: hand these records out again.
// The nacked batch and every later batch of its partition are forgotten:
// batches still queued are dropped, and acks of those already handed out
// change nothing (they are delivered again: duplicates after a nack, never
// loss). No further record of the partition is handed out until every
// batch handed out before the nacked one is acknowledged; then the client
// seeks back to the nacked batch's first offset (or to an earlier nacked
// batch's) and the partition is read again from there, in order. Nothing
// past the nacked batch is committed until its redelivery is acknowledged.
//
// # Rebalance and shutdown
//
// Partitions move without doubling anything when nobody crashes. With the
// cooperative-sticky balancer, only partitions that must move are revoked.
// For those, in the revocation callback, the old owner stops handing out
// their batches (those decoded but not handed out are dropped), waits until
// the batches it handed out are acknowledged, at most 90% of
// rebalance_timeout, commits, and only then returns, so that the new owner
// starts exactly where delivery stopped. Batches still unacknowledged when
// the wait runs out are read again by the new owner (their late acks are
// ignored). Close (SIGTERM) does the same for every partition: it stops
// handing out and fetching, waits for the batches in flight (at most 90% of
// rebalance_timeout and never past its context's deadline, keeping a fifth
// of the time left, at most 2 s, for the rest), commits, and leaves the
// group. Partitions lost rather than revoked (the session expired, the
// member was fenced) are dropped without a commit: their uncommitted work is
// read again. Crashes, nacks, lost partitions and waits that run out are
// the only causes of records delivered twice.
//
// # Tracing
//
// When a Kafka record carries a W3C traceparent header, the batch's Span is
// that remote span context (the first such record of the batch).
//
// # Metrics
//
//   - vpcflow_source_lag_records{source,partition}: high watermark minus
//     committed offset of each owned partition, in Kafka records (a record
//     may carry many flow lines), refreshed every lag_interval (also while
//     idle). Commits happen every commit_interval, so while consuming it
//     reads up to about commit_interval + lag_interval of records high.
//     A partition with no commit yet counts from the log start offset
//     (start_from earliest) or from its end when first seen (latest).
//   - vpcflow_source_newest_record_age_seconds{source,partition}: age of the
//     newest record read, by its Kafka timestamp, at the last refresh.
//   - vpcflow_source_in_flight_bytes{source},
//     vpcflow_source_budget_waits_total{source}: the bytes held against
//     max_in_flight_bytes, and how often Read waited for them.
//   - vpcflow_kafka_partitions_assigned{source},
//     vpcflow_kafka_decode_failures_total{source},
//     vpcflow_kafka_fetch_errors_total{source}, vpcflow_kafka_nacks_total{source},
//     vpcflow_kafka_commits_total{source,outcome},
//     vpcflow_kafka_rebalance_events_total{source,event}.
package kafkasource
