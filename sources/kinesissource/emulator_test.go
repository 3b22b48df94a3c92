package kinesissource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Integration tests run against kinesalite and dynalite:
//
//	eval "$(bash .ci/start-kinesalite.sh)"
//	go test -race ./sources/kinesissource/
const (
	envKinesis  = "VPCFLOW_KINESIS_ENDPOINT"
	envDynamoDB = "VPCFLOW_DYNAMODB_ENDPOINT"
)

type emu struct {
	kinURL, ddbURL string
	kin            *kinesis.Client
	ddb            *dynamodb.Client
}

func emulators(t *testing.T) *emu {
	t.Helper()
	k, d := os.Getenv(envKinesis), os.Getenv(envDynamoDB)
	if k == "" {
		t.Skipf("%s is not set (eval \"$(bash .ci/start-kinesalite.sh)\")", envKinesis)
	}
	if d == "" {
		t.Skipf("%s is not set (eval \"$(bash .ci/start-kinesalite.sh)\")", envDynamoDB)
	}
	return &emu{kinURL: k, ddbURL: d, kin: kinesisClient(k), ddb: dynamoClient(d)}
}

func testAWSConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}
}

func kinesisClient(url string) *kinesis.Client {
	return kinesis.NewFromConfig(testAWSConfig(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(url) })
}

func dynamoClient(url string) *dynamodb.Client {
	return dynamodb.NewFromConfig(testAWSConfig(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(url) })
}

func uniq(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// createStream creates a stream of n shards and waits until it is active.
func (e *emu) createStream(t *testing.T, n int) string {
	t.Helper()
	name := uniq("flows")
	ctx := context.Background()
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: &name, ShardCount: aws.Int32(int32(n))}); err != nil {
		t.Fatal(err)
	}
	e.waitActive(t, name)
	t.Cleanup(func() {
		_, _ = e.kin.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: &name})
	})
	return name
}

func (e *emu) waitActive(t *testing.T, stream string) {
	t.Helper()
	waitFor(t, 10*time.Second, "stream "+stream+" active", func() bool {
		out, err := e.kin.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: &stream})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	})
}

// put writes records; each entry is (partition key, data).
func (e *emu) put(t *testing.T, stream string, recs ...[2]string) {
	t.Helper()
	for len(recs) > 0 {
		n := min(len(recs), 500)
		var entries []types.PutRecordsRequestEntry
		for _, r := range recs[:n] {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(r[0]), Data: []byte(r[1])})
		}
		out, err := e.kin.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: &stream, Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("%d records failed", aws.ToInt32(out.FailedRecordCount))
		}
		recs = recs[n:]
	}
}

func (e *emu) putBytes(t *testing.T, stream, key string, data []byte) string {
	t.Helper()
	out, err := e.kin.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: &stream, PartitionKey: &key, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.SequenceNumber)
}

// testConfig is a config with short timings so tests run in seconds.
func testConfig(stream string) Config {
	cfg := *NewDefaultConfig()
	cfg.Stream = stream
	cfg.LeaseTable = uniq("leases")
	cfg.Payload = PayloadLines
	cfg.FailoverTime = 900 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	cfg.ShardSyncInterval = 300 * time.Millisecond
	return cfg
}

type srcOpts struct {
	worker string
	reg    *prometheus.Registry
	kin    func(kinesisAPI) kinesisAPI
}

func (e *emu) source(t *testing.T, cfg Config, o srcOpts) *Source {
	t.Helper()
	cfg.WorkerID = o.worker
	if o.reg == nil {
		o.reg = prometheus.NewRegistry()
	}
	var kin kinesisAPI = e.kin
	if o.kin != nil {
		kin = o.kin(kin)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newSource(cfg, component.Settings{ID: "flows", Registerer: o.reg}, kin, e.ddb)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// got is one record read, with the batch it came in.
type got struct {
	shard  string
	raw    string
	origin *flowlog.Origin
	worker string
}

// collector gathers what consumers read.
type collector struct {
	mu     sync.Mutex
	recs   []got
	failed []flowlog.Failure
}

func (c *collector) snapshot() ([]got, []flowlog.Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.recs...), append([]flowlog.Failure(nil), c.failed...)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// consume reads s and acknowledges every batch with ack (nil when ack is
// nil) until Read fails; the returned channel closes then.
func consume(s *Source, c *collector, ack func(b *flowlog.Batch) error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, ackf, err := s.Read(context.Background())
			if err != nil {
				return
			}
			var aerr error
			if ack != nil {
				aerr = ack(b)
			}
			if aerr == nil {
				c.mu.Lock()
				for _, r := range b.Records {
					c.recs = append(c.recs, got{shard: b.Partition, raw: string(r.Raw), origin: r.Origin, worker: s.WorkerID()})
				}
				c.failed = append(c.failed, b.Failed...)
				c.mu.Unlock()
			}
			if err := ackf(context.Background(), aerr); err != nil {
				panic(err)
			}
		}
	}()
	return done
}

// waitFor polls cond every 20ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leases returns the lease table by shard id.
func (e *emu) leases(t *testing.T, table string) map[string]lease {
	t.Helper()
	lt := &leaseTable{db: e.ddb, name: table}
	ls, err := lt.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]lease{}
	for _, l := range ls {
		m[l.Key] = l
	}
	return m
}

func (s *Source) heldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

func lines(prefix string, n int) [][2]string {
	var r [][2]string
	for i := range n {
		r = append(r, [2]string{fmt.Sprintf("k%d", i%16), fmt.Sprintf("%s %d", prefix, i)})
	}
	return r
}

var errNack = errors.New("sink failed")

func componentSettings() component.Settings {
	return component.Settings{ID: "flows", Registerer: prometheus.NewRegistry()}
}
