package kinesissource

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/envelope"
	"github.com/vpcflow/vpcflow/sources/kinesissource/kpl"
)

// decoder turns Kinesis records into flow-log records of a batch.
type decoder struct {
	payload string
	source  string // component id, the Stage of failures
	stream  string
	users   [][]byte // scratch for de-aggregation
}

// aggregates reports whether records may be KPL aggregates, whose
// checkpoints carry sub-sequence numbers.
func (d *decoder) aggregates() bool {
	return d.payload == PayloadKPL || d.payload == PayloadAuto
}

// decodeResult says how far a Kinesis record was consumed.
type decodeResult struct {
	lastSub int64 // sub-sequence number of its last user record
	skipped bool  // every user record was at or before the skip position
}

// add decodes one Kinesis record into b. User records at or before skip
// (a checkpoint within this record) are left out. Undecodable data goes to
// b.Failed with an error naming the stream, shard and sequence number.
func (d *decoder) add(b *flowlog.Batch, shard string, r types.Record, skip *position) decodeResult {
	seq := aws.ToString(r.SequenceNumber)
	origin := &flowlog.Origin{Name: "kinesis:" + d.stream + "/" + shard + "@" + seq}
	if d.aggregates() && kpl.IsAggregated(r.Data) {
		users, err := kpl.Deaggregate(r.Data, d.users[:0])
		d.users = users[:0]
		if err == nil {
			res := decodeResult{lastSub: int64(len(users)) - 1, skipped: true}
			for i, u := range users {
				if skip != nil && skip.Seq == seq && int64(i) <= skip.Sub {
					continue
				}
				res.skipped = false
				if err := envelope.Decode(b, u, envelope.Auto, origin); err != nil {
					b.Fail(d.source, fmt.Errorf("kinesis stream %s shard %s sequence %s user record %d: %w", d.stream, shard, seq, i, err), u, origin)
				}
			}
			clear(users)
			return res
		}
		if d.payload == PayloadKPL {
			if skip == nil || skip.Seq != seq {
				b.Fail(d.source, fmt.Errorf("kinesis stream %s shard %s sequence %s: %w", d.stream, shard, seq, err), r.Data, origin)
			}
			return decodeResult{}
		}
		// auto: a record that merely starts with the magic is plain data,
		// as the KPL's consumers read it.
	}
	if skip != nil && skip.Seq == seq {
		return decodeResult{skipped: true}
	}
	p := envelope.Auto
	switch d.payload {
	case PayloadLines:
		p = envelope.Lines
	case PayloadCloudWatchLogs:
		p = envelope.CloudWatchLogs
	}
	if err := envelope.Decode(b, r.Data, p, origin); err != nil {
		b.Fail(d.source, fmt.Errorf("kinesis stream %s shard %s sequence %s: %w", d.stream, shard, seq, err), r.Data, origin)
	}
	return decodeResult{}
}
