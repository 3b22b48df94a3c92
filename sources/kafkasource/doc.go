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
// # Acknowledgement
//
// Offsets are committed only for acknowledged batches, in order per
// partition: the committed offset is the last offset of the highest
// contiguous acknowledged batch plus one. Commits happen every
// commit_interval, when partitions are revoked, and on Close. A nack
// (ack(err) with err != nil) stops commits of that partition past the
// nacked batch until the partition is reassigned or the process restarts,
// so the batch is read again. Acks of batches whose partition was revoked
// are ignored: the new owner reads them again from the last commit
// (duplicates, never loss). Close commits what was acknowledged and leaves
// the group.
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
//   - vpcflow_kafka_partitions_assigned{source},
//     vpcflow_kafka_decode_failures_total{source},
//     vpcflow_kafka_fetch_errors_total{source}, vpcflow_kafka_nacks_total{source},
//     vpcflow_kafka_commits_total{source,outcome},
//     vpcflow_kafka_rebalance_events_total{source,event}.
package kafkasource
