package kinesissource

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// isARN reports whether the configured stream is an ARN.
func isARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// listShards returns every shard of the stream, open and closed, following
// NextToken.
func (s *Source) listShards(ctx context.Context) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{}
	if isARN(s.stream) {
		in.StreamARN = aws.String(s.stream)
	} else {
		in.StreamName = aws.String(s.stream)
	}
	for {
		out, err := s.kin.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", s.stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil || *out.NextToken == "" {
			return shards, nil
		}
		// With a NextToken the stream must not be named again.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// syncShards adds a lease for every shard that has none and removes the
// leases of finished shards that left the stream.
//
// A shard can also leave the stream before it was read to its end: when
// vpcflow was stopped (or behind) for longer than the stream's retention
// after the shard was closed by a reshard. Its unread records are gone;
// its lease would keep its children from ever being read. Such a lease is
// removed once its shard was missing from the listings of at least
// shard_sync_interval (one listing is not trusted alone), with an error naming the shard and its
// checkpoint, and counted in vpcflow_kinesis_shards_expired_total.
//
// A shard born of a split or merge of a leased shard starts at its trim
// horizon (its parents are read to their end first, so nothing is skipped).
// Other shards start at start_from; with latest, closed shards without
// leased parents get no lease: their data is older than any new record.
func (s *Source) syncShards(ctx context.Context) {
	shards, err := s.listShards(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("shard sync", "error", err)
		}
		return
	}
	leases, err := s.table.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("shard sync", "error", err)
		}
		return
	}
	have := make(map[string]lease, len(leases))
	for _, l := range leases {
		have[l.Key] = l
	}
	// Parents before children: a child's first sequence number is above its
	// parents'.
	slices.SortFunc(shards, func(a, b types.Shard) int {
		return cmpSeq(seqStart(a), seqStart(b))
	})
	inStream := make(map[string]bool, len(shards))
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		inStream[id] = true
		if _, ok := have[id]; ok {
			continue
		}
		var parents []string
		leasedParent := false
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if p == nil || *p == "" {
				continue
			}
			parents = append(parents, *p)
			if _, ok := have[*p]; ok {
				leasedParent = true
			}
		}
		closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
		cp := s.initialCheckpoint()
		switch {
		case leasedParent:
			cp = cpTrimHorizon
		case cp == cpLatest && closed:
			continue
		}
		l := lease{Key: id, Checkpoint: position{Seq: cp}, Parents: parents}
		created, err := s.table.create(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.countOp("create", err)
			s.log.Warn("shard sync", "error", err)
			return // parents must exist before their children: stop here
		}
		if created {
			s.countOp("create", nil)
			s.log.Debug("lease created", "shard", id, "checkpoint", cp, "parents", parents)
		}
		have[id] = l
	}
	missing := make(map[string]time.Time)
	now := time.Now()
	for _, l := range leases {
		switch {
		case inStream[l.Key]:
		case l.Checkpoint.Seq == cpShardEnd:
			if err := s.table.remove(ctx, l); err != nil && ctx.Err() == nil {
				s.log.Warn("remove lease of expired shard", "shard", l.Key, "error", err)
			}
		case len(shards) > 0: // an empty listing proves nothing
			since, seen := s.missing[l.Key]
			if !seen {
				since = now
			}
			missing[l.Key] = since
			if now.Sub(since) < s.cfg.ShardSyncInterval {
				continue // wait for a later listing
			}
			removed, err := s.table.removeExpired(ctx, l)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("remove lease of expired shard", "shard", l.Key, "error", err)
				}
				continue
			}
			if removed {
				s.m.expired.Inc()
				s.log.Error("shard left the stream before it was read to its end: its records after the checkpoint expired (stream retention) and cannot be read; its lease is removed so that its children are read",
					"shard", l.Key, "checkpoint", l.Checkpoint.Seq, "owner", l.Owner)
				delete(missing, l.Key)
			}
		}
	}
	s.missing = missing
}

func seqStart(sh types.Shard) string {
	if sh.SequenceNumberRange == nil {
		return ""
	}
	return aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber)
}

// initialCheckpoint is the checkpoint sentinel of start_from.
func (s *Source) initialCheckpoint() string {
	switch s.cfg.StartFrom {
	case StartLatest:
		return cpLatest
	case StartAtTimestamp:
		return cpAtTimestamp
	}
	return cpTrimHorizon
}
