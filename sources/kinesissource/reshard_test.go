package kinesissource

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func keyed(from, n int) [][2]string {
	var r [][2]string
	for i := from; i < from+n; i++ {
		k := fmt.Sprintf("key%d", i%10)
		r = append(r, [2]string{k, fmt.Sprintf("%s %06d", k, i)})
	}
	return r
}

// A split and a merge while records flow: every record is read exactly
// once, and the records of each key (one shard lineage) in order.
func TestReshardSplitMerge(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 2)
	cfg := testConfig(stream)
	cfg.MaxRecordsPerCall = 20 // many batches per shard, so parents are still being read when children appear
	var want [][2]string
	add := func(r [][2]string) {
		e.put(t, stream, r...)
		want = append(want, r...)
	}
	add(keyed(0, 200))

	s := e.source(t, cfg, srcOpts{worker: "w"})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 10*time.Second, "reading started", func() bool { return c.count() > 0 })

	ctx := context.Background()
	// Split shard 0 (hash keys [0, 2^127)) in two halves.
	half := new(big.Int).Lsh(big.NewInt(1), 126)
	if _, err := e.kin.SplitShard(ctx, &kinesis.SplitShardInput{
		StreamName: &stream, ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(half.String()),
	}); err != nil {
		t.Fatal(err)
	}
	e.waitActive(t, stream)
	add(keyed(200, 200))
	// Merge the upper child (shard 3) with its neighbour, shard 1.
	if _, err := e.kin.MergeShards(ctx, &kinesis.MergeShardsInput{
		StreamName: &stream, ShardToMerge: aws.String("shardId-000000000003"), AdjacentShardToMerge: aws.String("shardId-000000000001"),
	}); err != nil {
		t.Fatal(err)
	}
	e.waitActive(t, stream)
	add(keyed(400, 200))

	waitFor(t, 30*time.Second, "every record", func() bool { return c.count() >= len(want) })
	// Parents are checkpointed SHARD_END once every record was acknowledged.
	waitFor(t, 10*time.Second, "parents finished", func() bool {
		ls := e.leases(t, cfg.LeaseTable)
		for _, k := range []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000003"} {
			if ls[k].Checkpoint.Seq != cpShardEnd {
				return false
			}
		}
		return true
	})
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	got, failed := c.snapshot()
	if len(failed) > 0 {
		t.Fatal(failed[0].Err)
	}
	wantAll(t, setOf(t, got, true), want)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	checkKeyOrder(t, got)

	ls := e.leases(t, cfg.LeaseTable)
	if len(ls) != 5 {
		t.Fatalf("%d leases, want 5", len(ls))
	}
	wantParents := map[string][]string{
		"shardId-000000000002": {"shardId-000000000000"},
		"shardId-000000000003": {"shardId-000000000000"},
		"shardId-000000000004": {"shardId-000000000003", "shardId-000000000001"},
	}
	for k, ps := range wantParents {
		if fmt.Sprint(sortedCopy(ls[k].Parents)) != fmt.Sprint(sortedCopy(ps)) {
			t.Errorf("lease %s parents %v, want %v", k, ls[k].Parents, ps)
		}
	}
	// Shard lineage as read: each child's first record came after its
	// parents' last.
	firstIdx, lastIdx := map[string]int{}, map[string]int{}
	for i, r := range got {
		if _, ok := firstIdx[r.shard]; !ok {
			firstIdx[r.shard] = i
		}
		lastIdx[r.shard] = i
	}
	for child, ps := range wantParents {
		for _, p := range ps {
			if f, ok := firstIdx[child]; ok && f < lastIdx[p] {
				t.Errorf("%s read (from #%d) before its parent %s was finished (#%d)", child, f, p, lastIdx[p])
			}
		}
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// hidingKinesis lists only the shards without parents (as a ListShards
// answer that lags behind a reshard) and names the children at the shard
// end, as GetRecords does: child leases come from ChildShards alone.
type hidingKinesis struct {
	kinesisAPI
	stream  string
	mu      sync.Mutex
	shardOf map[string]string // iterator -> shard
}

func (h *hidingKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	out, err := h.kinesisAPI.ListShards(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	var keep []types.Shard
	for _, s := range out.Shards {
		if s.ParentShardId == nil {
			keep = append(keep, s)
		}
	}
	out.Shards = keep
	return out, nil
}

func (h *hidingKinesis) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	out, err := h.kinesisAPI.GetShardIterator(ctx, in, opts...)
	if err == nil {
		h.mu.Lock()
		h.shardOf[aws.ToString(out.ShardIterator)] = aws.ToString(in.ShardId)
		h.mu.Unlock()
	}
	return out, err
}

func (h *hidingKinesis) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	out, err := h.kinesisAPI.GetRecords(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	shard := h.shardOf[aws.ToString(in.ShardIterator)]
	if out.NextShardIterator != nil {
		h.shardOf[*out.NextShardIterator] = shard
	}
	h.mu.Unlock()
	if out.NextShardIterator == nil {
		all, err := h.kinesisAPI.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(h.stream)})
		if err != nil {
			return nil, err
		}
		for _, s := range all.Shards {
			if aws.ToString(s.ParentShardId) == shard || aws.ToString(s.AdjacentParentShardId) == shard {
				c := types.ChildShard{ShardId: s.ShardId, HashKeyRange: s.HashKeyRange, ParentShards: []string{aws.ToString(s.ParentShardId)}}
				if s.AdjacentParentShardId != nil {
					c.ParentShards = append(c.ParentShards, *s.AdjacentParentShardId)
				}
				out.ChildShards = append(out.ChildShards, c)
			}
		}
	}
	return out, nil
}

func TestReshardChildShardsFromGetRecords(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	cfg := testConfig(stream)
	cfg.ShardSyncInterval = time.Hour // only the start and shard ends sync
	first := keyed(0, 50)
	e.put(t, stream, first...)
	hk := &hidingKinesis{stream: stream, shardOf: map[string]string{}}
	s := e.source(t, cfg, srcOpts{worker: "w", kin: func(k kinesisAPI) kinesisAPI { hk.kinesisAPI = k; return hk }})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 10*time.Second, "first records", func() bool { return c.count() >= len(first) })
	half := new(big.Int).Lsh(big.NewInt(1), 127)
	if _, err := e.kin.SplitShard(context.Background(), &kinesis.SplitShardInput{
		StreamName: &stream, ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(half.String()),
	}); err != nil {
		t.Fatal(err)
	}
	e.waitActive(t, stream)
	second := keyed(50, 50)
	e.put(t, stream, second...)
	waitFor(t, 15*time.Second, "records of the children", func() bool { return c.count() >= len(first)+len(second) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	wantAll(t, setOf(t, got, true), append(first, second...))
	checkKeyOrder(t, got)
	ls := e.leases(t, cfg.LeaseTable)
	if ls["shardId-000000000000"].Checkpoint.Seq != cpShardEnd {
		t.Errorf("parent checkpoint %q, want SHARD_END", ls["shardId-000000000000"].Checkpoint.Seq)
	}
	for _, k := range []string{"shardId-000000000001", "shardId-000000000002"} {
		if fmt.Sprint(ls[k].Parents) != "[shardId-000000000000]" {
			t.Errorf("child %s parents %v", k, ls[k].Parents)
		}
	}
}

// gone names a shard that is not in the stream (any more).
const gone = "shardId-000000000042"

// seedLeases creates the lease table with ls in it, as an earlier
// instance left it.
func (e *emu) seedLeases(t *testing.T, table string, ls ...lease) {
	t.Helper()
	lt := &leaseTable{db: e.ddb, name: table, owner: "old-instance"}
	ctx := context.Background()
	if err := lt.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if _, err := lt.create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
}

// A parent shard that left the stream before it was read to its end (the
// stream's retention passed while vpcflow was stopped) no longer holds its
// child back: its lease is removed after two listings without it, the
// loss is counted, and the child is read.
func TestExpiredParentReleasesChild(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	cfg := testConfig(stream)
	ctx := context.Background()
	// The gone parent, last held by an instance that is gone too, and the
	// real shard as its child.
	e.seedLeases(t, cfg.LeaseTable,
		lease{Key: gone, Checkpoint: position{Seq: "49590338271490256608559692538361571095921575989136588898"}},
		lease{Key: "shardId-000000000000", Checkpoint: position{Seq: cpTrimHorizon}, Parents: []string{gone}})
	want := lines("after-expiry", 50)
	e.put(t, stream, want...)
	s := e.source(t, cfg, srcOpts{worker: "w"})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 15*time.Second, "the child's records", func() bool { return c.count() >= len(want) })
	if _, ok := e.leases(t, cfg.LeaseTable)[gone]; ok {
		t.Fatal("lease of the expired shard still in the table")
	}
	if n := testutil.ToFloat64(s.m.expired); n != 1 {
		t.Fatalf("shards_expired_total = %v, want 1", n)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	recs, _ := c.snapshot()
	wantAll(t, setOf(t, recs, true), want)
}

// A shard missing from one listing only (a listing is not trusted alone)
// keeps its lease, and its child waits.
func TestMissingOnceKeepsLease(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	cfg := testConfig(stream)
	cfg.ShardSyncInterval = time.Hour // only the sync at start runs
	ctx := context.Background()
	e.seedLeases(t, cfg.LeaseTable,
		lease{Key: gone, Checkpoint: position{Seq: cpTrimHorizon}},
		lease{Key: "shardId-000000000000", Checkpoint: position{Seq: cpTrimHorizon}, Parents: []string{gone}})
	e.put(t, stream, lines("held-back", 5)...)
	s := e.source(t, cfg, srcOpts{worker: "w"})
	var c collector
	done := consume(s, &c, nil)
	time.Sleep(1500 * time.Millisecond) // a few balance rounds
	if _, ok := e.leases(t, cfg.LeaseTable)[gone]; !ok {
		t.Fatal("lease removed after one listing")
	}
	if n := c.count(); n != 0 {
		t.Fatalf("child read (%d records) while its parent's lease stands", n)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
}
