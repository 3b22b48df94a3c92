package kinesissource

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestStartFrom(t *testing.T) {
	e := emulators(t)
	for _, from := range []string{StartLatest, StartAtTimestamp} {
		t.Run(from, func(t *testing.T) {
			stream := e.createStream(t, 2)
			old := lines("old", 20)
			e.put(t, stream, old...)
			cfg := testConfig(stream)
			cfg.StartFrom = from
			var fresh [][2]string
			if from == StartAtTimestamp {
				// Arrival timestamps have millisecond precision.
				time.Sleep(5 * time.Millisecond)
				cfg.StartTimestamp = time.Now()
				time.Sleep(5 * time.Millisecond)
				// kinesalite answers GetShardIterator AT_TIMESTAMP only when
				// a record follows the timestamp.
				fresh = lines("new before start", 20)
				e.put(t, stream, fresh...)
			}
			s := e.source(t, cfg, srcOpts{worker: "w"})
			var c collector
			done := consume(s, &c, nil)
			// Both shards have an iterator once a GetRecords call was made on each.
			waitFor(t, 10*time.Second, "first reads", func() bool {
				return testutil.ToFloat64(s.m.calls.WithLabelValues("ok")) >= 2 && s.heldCount() == 2
			})
			fresh = append(fresh, lines("new", 20)...)
			e.put(t, stream, fresh[len(fresh)-20:]...)
			waitFor(t, 10*time.Second, "new records", func() bool { return c.count() >= len(fresh) })
			s.Close(context.Background())
			<-done
			got, _ := c.snapshot()
			wantAll(t, setOf(t, got, true), fresh)
			if len(got) != len(fresh) {
				t.Fatalf("read %d records, want only the %d new ones", len(got), len(fresh))
			}
			for k, l := range e.leases(t, cfg.LeaseTable) {
				if l.Checkpoint.isSentinel() {
					t.Errorf("lease %s checkpoint %q", k, l.Checkpoint.Seq)
				}
			}
		})
	}
}

// pagingKinesis answers ListShards one shard a page, as the API may.
type pagingKinesis struct {
	kinesisAPI
	mu     sync.Mutex
	pages  int
	misuse error
}

func (p *pagingKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages++
	var idx int
	var stream string
	switch {
	case in.NextToken != nil && in.StreamName == nil:
		var tok string
		stream, tok, _ = cut(*in.NextToken)
		idx, _ = strconv.Atoi(tok)
	case in.NextToken == nil && in.StreamName != nil:
		stream = *in.StreamName
	default:
		p.misuse = errors.New("ListShards with both or neither of NextToken and StreamName")
		return nil, p.misuse
	}
	out, err := p.kinesisAPI.ListShards(ctx, &kinesis.ListShardsInput{StreamName: &stream}, opts...)
	if err != nil {
		return nil, err
	}
	res := &kinesis.ListShardsOutput{Shards: out.Shards[idx : idx+1]}
	if idx+1 < len(out.Shards) {
		res.NextToken = aws.String(stream + "|" + strconv.Itoa(idx+1))
	}
	return res, nil
}

func cut(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func TestListShardsPaging(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 3)
	recs := lines("p", 60)
	e.put(t, stream, recs...)
	pk := &pagingKinesis{}
	s := e.source(t, testConfig(stream), srcOpts{worker: "w", kin: func(k kinesisAPI) kinesisAPI { pk.kinesisAPI = k; return pk }})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 10*time.Second, "records of the three shards", func() bool { return c.count() >= len(recs) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	wantAll(t, setOf(t, got, true), recs)
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.misuse != nil {
		t.Fatal(pk.misuse)
	}
	if pk.pages < 3 {
		t.Fatalf("%d ListShards pages, want at least 3", pk.pages)
	}
}

// A shard started at LATEST whose first batch is nacked reads that batch
// again: the rewind goes back to when LATEST was asked for, not to a new
// LATEST.
func TestLatestNackBeforeAnyAck(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	cfg := testConfig(stream)
	cfg.StartFrom = StartLatest
	rec := &iterRecorder{}
	s := e.source(t, cfg, srcOpts{worker: "w", kin: func(k kinesisAPI) kinesisAPI { rec.kinesisAPI = k; return rec }})
	var c collector
	nacked := false
	done := consume(s, &c, func(b *flowlog.Batch) error {
		if !nacked {
			nacked = true
			return errNack
		}
		return nil
	})
	waitFor(t, 10*time.Second, "first read", func() bool {
		return testutil.ToFloat64(s.m.calls.WithLabelValues("ok")) >= 1
	})
	recs := lines("l", 10)
	e.put(t, stream, recs...)
	waitFor(t, 10*time.Second, "records after the nack", func() bool { return c.count() >= len(recs) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	wantAll(t, setOf(t, got, true), recs)
	if !nacked {
		t.Fatal("no batch was nacked")
	}
	// kinesalite's LATEST happens to return earlier records too, so check
	// what was asked for.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.types) < 2 || rec.types[0] != types.ShardIteratorTypeLatest || rec.types[1] != types.ShardIteratorTypeAtTimestamp {
		t.Fatalf("iterators %v, want LATEST then AT_TIMESTAMP", rec.types)
	}
}

// iterRecorder records the types of the shard iterators asked for.
type iterRecorder struct {
	kinesisAPI
	mu    sync.Mutex
	types []types.ShardIteratorType
}

func (r *iterRecorder) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	r.mu.Lock()
	r.types = append(r.types, in.ShardIteratorType)
	r.mu.Unlock()
	return r.kinesisAPI.GetShardIterator(ctx, in, opts...)
}
