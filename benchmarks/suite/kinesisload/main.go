// Command kinesisload creates a Kinesis stream on an emulator (kinesalite)
// and preloads it with synthetic flow-log lines (internal/gen) wrapped as
// a CloudWatch Logs subscription delivers them: gzip JSON envelopes of
// 100 log events each. It prints the number of lines written.
//
//	kinesisload -endpoint http://127.0.0.1:4567 -stream bench -shards 4 -records 300000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"

	"github.com/vpcflow/vpcflow/internal/gen"
)

type logEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

type envelope struct {
	MessageType         string     `json:"messageType"`
	Owner               string     `json:"owner"`
	LogGroup            string     `json:"logGroup"`
	LogStream           string     `json:"logStream"`
	SubscriptionFilters []string   `json:"subscriptionFilters"`
	LogEvents           []logEvent `json:"logEvents"`
}

// putter turns lines into envelopes and envelopes into PutRecords calls.
type putter struct {
	ctx     context.Context
	cl      *kinesis.Client
	stream  string
	per     int
	events  []logEvent
	entries []types.PutRecordsRequestEntry
	size    int
	seq     int
	lines   int
	rest    []byte
}

func (p *putter) Write(b []byte) (int, error) {
	data := b
	if len(p.rest) > 0 {
		data = append(p.rest, b...)
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		p.seq++
		p.events = append(p.events, logEvent{ID: strconv.Itoa(p.seq), Timestamp: time.Now().UnixMilli(), Message: string(data[:i])})
		data = data[i+1:]
		if len(p.events) >= p.per {
			if err := p.envelope(); err != nil {
				return 0, err
			}
		}
	}
	p.rest = append(p.rest[:0], data...)
	return len(b), nil
}

func (p *putter) envelope() error {
	if len(p.events) == 0 {
		return nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(envelope{
		MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "vpc-flow-logs",
		LogStream: fmt.Sprintf("eni-%08x-all", len(p.entries)%16), SubscriptionFilters: []string{"to-kinesis"},
		LogEvents: p.events,
	}); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	p.lines += len(p.events)
	p.events = p.events[:0]
	p.entries = append(p.entries, types.PutRecordsRequestEntry{Data: buf.Bytes(), PartitionKey: aws.String(strconv.Itoa(p.seq))})
	p.size += buf.Len()
	if len(p.entries) >= 500 || p.size >= 4<<20 {
		return p.put()
	}
	return nil
}

func (p *putter) put() error {
	for len(p.entries) > 0 {
		out, err := p.cl.PutRecords(p.ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: p.entries})
		if err != nil {
			return err
		}
		var retry []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, p.entries[i])
			}
		}
		p.entries = retry
		if len(retry) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	p.size = 0
	return nil
}

func main() {
	endpoint := flag.String("endpoint", os.Getenv("VPCFLOW_KINESIS_ENDPOINT"), "Kinesis endpoint (kinesalite)")
	stream := flag.String("stream", "vpcflow-bench", "stream to create and fill")
	shards := flag.Int("shards", 4, "shards of the stream")
	records := flag.Int("records", 300000, "flow-log lines to write")
	per := flag.Int("per", 100, "log events per envelope (Kinesis record)")
	enis := flag.Int("enis", 10000, "interfaces in the synthetic estate (the EC2 stand-in must use the same)")
	seed := flag.Int64("seed", 7, "generator seed (the EC2 stand-in must use the same)")
	flag.Parse()
	if *endpoint == "" {
		fail(fmt.Errorf("-endpoint or VPCFLOW_KINESIS_ENDPOINT is required"))
	}
	ctx := context.Background()
	cl := kinesis.New(kinesis.Options{
		Region: "us-east-1", BaseEndpoint: endpoint,
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
	})
	if _, err := cl.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: stream, ShardCount: aws.Int32(int32(*shards))}); err != nil {
		fail(fmt.Errorf("create stream: %w", err))
	}
	w := kinesis.NewStreamExistsWaiter(cl)
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: stream}, time.Minute, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	}); err != nil {
		fail(fmt.Errorf("stream %s not active: %w", *stream, err))
	}
	start := time.Now()
	p := &putter{ctx: ctx, cl: cl, stream: *stream, per: *per}
	if err := gen.Run(ctx, p, gen.Config{Format: "default", Count: *records, ENIs: *enis, Seed: *seed}); err != nil {
		fail(err)
	}
	if err := p.envelope(); err != nil {
		fail(err)
	}
	if err := p.put(); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "kinesisload: %d lines into %s (%d shards) in %.1fs\n", p.lines, *stream, *shards, time.Since(start).Seconds())
	fmt.Println(p.lines)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kinesisload:", err)
	os.Exit(1)
}
