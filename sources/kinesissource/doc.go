// Package kinesissource implements the `kinesis` source: it reads a Kinesis
// data stream with aws-sdk-go-v2 and shares its shards among any number of
// vpcflow instances through a lease table in DynamoDB, as the Kinesis
// Client Library (KCL) does.
//
//	sources:
//	  flows:
//	    type: kinesis
//	    stream: vpc-flow-logs
//	    lease_table: vpcflow-vpc-flow-logs   # created if absent
//	    start_from: trim_horizon             # trim_horizon | latest | at_timestamp
//	    payload: auto                        # lines | cloudwatch_logs | kpl | auto
//
// # Leases
//
// The lease table holds one item per shard with the KCL's attribute names
// (leaseKey, leaseOwner, leaseCounter, checkpoint,
// checkpointSubSequenceNumber, ownerSwitchesSinceCheckpoint, parentShardId
// as a string set, and KCL 3.x's checkpointOwner during a hand-off), so the
// usual tools read it. An instance renews its leases every failover_time/3
// by incrementing leaseCounter. A lease whose counter did not move for
// failover_time is expired and taken by another instance; when none is
// expired, an instance below its even share asks the most loaded instance
// for one lease (a graceful hand-off, below). Every take, hand-off,
// renewal, checkpoint and release is a write conditional on leaseCounter
// (and leaseOwner or checkpointOwner), so two instances never both win a
// lease.
//
// # Graceful hand-off
//
// When nobody crashed, moving a lease delivers nothing twice, as the Kinesis
// Client Library 3.x's graceful lease handoff does it:
//
//  1. The taker marks the lease: leaseOwner becomes the taker and
//     checkpointOwner the owner (conditional on both being unchanged). The
//     lease then counts as the taker's; nobody else asks for it.
//  2. The owner notices at its next renewal (every failover_time/3) or lease
//     scan, stops reading the shard and handing out its batches, and waits
//     until every batch it handed out is acknowledged (at most
//     handoff_timeout). It keeps renewing the lease meanwhile, as its
//     checkpointOwner.
//  3. It checkpoints the acknowledged position and removes checkpointOwner
//     (conditional on being checkpointOwner): the lease is the taker's.
//  4. The taker, looking at the leases it asked for every
//     min(failover_time/3, 1s), starts reading once checkpointOwner is gone,
//     from that checkpoint: exactly where delivery stopped.
//
// Batches still unacknowledged after handoff_timeout are not checkpointed:
// the taker reads them again. An owner that does not answer (it crashed
// after the mark, or is an older vpcflow) loses the lease the old way: the
// taker removes checkpointOwner itself once the counter stood still for
// failover_time (or after handoff_timeout + failover_time), and reads from
// the last checkpoint. handoff_timeout: 0 turns asking off: leases are
// stolen at once, and what their owner had not checkpointed is read again
// (an instance still answers others' requests).
//
// # Acknowledgement
//
// A batch is the data of one GetRecords call on one shard; Partition is the
// shard id. The checkpoint of a shard only ever holds the highest position
// up to which every batch was acknowledged with ack(nil); it is written at
// each renewal and on Close. KPL aggregates are de-aggregated and
// checkpointed as the KCL does, with the sub-sequence number of the last
// user record, so a restart inside an aggregate resumes at the next user
// record. A nack (ack(err)) makes the shard read again from its last
// acknowledged position; the batches handed out after it are discarded
// (their acks change nothing) and read again. Close (SIGTERM) stops
// reading, waits (until its context is done, at most handoff_timeout, or
// failover_time when it is 0) for handed-out batches to be acknowledged,
// checkpoints every acknowledged position and releases the leases (leases
// asked for and not yet handed over are given up): other instances take
// them at their next lease scan and read on from where delivery stopped.
// Leases therefore move exactly once when nobody crashed (scale-out,
// scale-in, SIGTERM). A crash loses nothing: the next owner reads again
// from the checkpoint (at least once).
//
// # Resharding
//
// Shards are listed every shard_sync_interval and whenever a shard ends; a
// new shard gets a lease naming its parent(s). At a shard end the children
// GetRecords names get their leases at once, before the parent's lease is
// released. A child shard is read only
// once all its parents were read to SHARD_END, every batch of them was
// acknowledged and SHARD_END was checkpointed, and it is read from its
// start: across a split or a merge nothing is skipped or read twice, and
// order is kept along a shard's lineage.
//
// A closed shard that leaves the stream (retention) before it was read to
// its end cannot be read any more; its lease would hold its children back
// for ever. Once its shard is missing from the listings of at least
// shard_sync_interval, such a lease is removed with an error log naming the
// shard and its checkpoint, and vpcflow_kinesis_shards_expired_total
// counts it: the children are then read.
//
// # Reading
//
// GetRecords stays within the per-shard limits (5 calls and 2 MB a
// second); a shard that is caught up is polled every poll_interval. A call
// asks for about 2 MiB of records (by the shard's recent record size),
// since the SDK holds each answer twice. The batches built and not yet
// acknowledged hold at most about max_in_flight_bytes over all shards
// (records at 456 B each and their lines; vpcflow_source_in_flight_bytes):
// with no room left, shards wait for acknowledgements before building more.
// ProvisionedThroughputExceeded is retried with jittered exponential
// backoff (250ms up to 10s), an expired iterator is replaced by one after
// the last record read, and so is an iterator after three failed calls in
// a row. Each Kinesis call is bounded by 30s, each round of lease work by
// failover_time.
//
// # Payloads
//
// payload selects how a Kinesis record is decoded (package
// sources/envelope): lines, cloudwatch_logs (gzip JSON subscription
// envelopes; CONTROL_MESSAGE yields nothing; log group and stream are
// carried in the records' Origin), kpl (KPL aggregates, MD5-checked, whose
// user records are decoded as auto) or auto (all three recognised per
// record). Undecodable data goes to Batch.Failed with an error naming the
// stream, shard and sequence number.
//
// # AWS clients
//
// Clients come from the SDK's default configuration chain, so AWS_REGION,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_DYNAMODB
// apply; region, endpoint, dynamodb_endpoint and role_arn in the file
// override them.
//
// # Metrics
//
//	vpcflow_source_lag_seconds{source,partition}   MillisBehindLatest per shard
//	vpcflow_source_leases_held{source}
//	vpcflow_source_in_flight_bytes{source}         bytes held against max_in_flight_bytes
//	vpcflow_source_budget_waits_total{source}      times shards waited for that room
//	vpcflow_kinesis_records_total{source}
//	vpcflow_kinesis_bytes_total{source}
//	vpcflow_kinesis_decode_failures_total{source}
//	vpcflow_kinesis_get_records_total{source,outcome}
//	vpcflow_kinesis_lease_operations_total{source,op,outcome}
//	vpcflow_kinesis_checkpoints_total{source}
//	vpcflow_kinesis_shards_expired_total{source}
package kinesissource
