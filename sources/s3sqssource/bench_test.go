package s3sqssource

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
)

// Benchmarks of an object's way from S3 bytes to parsed records, on one
// goroutine: GetObject body → gunzip (or Parquet row groups) → lines →
// batches → parse_flowlog (format auto, reading the header line).
//
//	go test -run '^$' -bench . -benchtime=1s -count 3 ./sources/s3sqssource/ | tee new.txt
//	benchstat old.txt new.txt

// memS3 serves objects from memory, ranges included.
type memS3 map[string][]byte

func (m memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	data, ok := m[aws.ToString(in.Key)]
	if !ok {
		return nil, io.ErrUnexpectedEOF
	}
	if r := aws.ToString(in.Range); r != "" {
		from, to, _ := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
		f, _ := strconv.Atoi(from)
		t, _ := strconv.Atoi(to)
		data = data[f:min(t+1, len(data))]
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data)))}, nil
}

func benchSource(b *testing.B, objects memS3) *Source {
	cfg := NewDefaultConfig()
	cfg.QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/flows"
	s, err := newSource(cfg, component.Settings{ID: "s3"}, nil, objects)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchObject(b *testing.B, s *Source, key string, size int64) {
	stage, err := parse.NewStage(parse.Config{Format: parse.FormatAuto}, component.Settings{ID: "parse"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	var recs, failed int
	start, cpu0 := time.Now(), testkit.CPUTime()
	for b.Loop() {
		origin := &flowlog.Origin{Name: "s3://bench/" + key}
		bt := &batcher{
			source: "s3", partition: origin.Name, origin: origin,
			maxRecords: s.cfg.BatchMaxRecords, maxBytes: s.cfg.BatchMaxBytes,
			emit: func(bb *flowlog.Batch) error {
				if err := stage.Process(ctx, bb); err != nil {
					return err
				}
				recs += len(bb.Records)
				failed += len(bb.Failed)
				s.batches.Put(bb) // acknowledged at once
				return nil
			},
			pool: &s.batches,
		}
		if err := s.readObject(ctx, objectRef{Bucket: "bench", Key: key}, bt); err != nil {
			b.Fatal(err)
		}
	}
	if failed > 0 {
		b.Fatalf("%d lines failed to parse", failed)
	}
	b.ReportMetric(float64(recs)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(recs)/(testkit.CPUTime()-cpu0).Seconds(), "records/cpu-s")
}

// BenchmarkGzipTextObject: a 100,000-line gzip flow-log object (~10 MB
// of text), read and parsed.
func BenchmarkGzipTextObject(b *testing.B) {
	text := textObject(0, 100000)
	key := "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/bench.log.gz"
	s := benchSource(b, memS3{key: gz(text)})
	benchObject(b, s, key, int64(len(text)))
}

// BenchmarkParquetObject: a 100,000-row Parquet flow-log object (18
// columns, 5 of them dictionary-encoded, Snappy, row groups of 25,000),
// rendered as lines and parsed.
func BenchmarkParquetObject(b *testing.B) {
	data, lines := parquetObjectWith(b, 100000, 25000) // default 256 KiB pages, v2
	key := "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/bench.log.parquet"
	s := benchSource(b, memS3{key: data})
	benchObject(b, s, key, int64(len(strings.Join(lines, "\n"))))
}

// BenchmarkEndToEnd: notification on SQS (goaws) → GetObject from S3
// (gofakes3) over HTTP → Read → parse → ack → DeleteMessage, one
// 100,000-line gzip object per iteration. The stand-ins run in the same
// process and share its CPU.
func BenchmarkEndToEnd(b *testing.B) {
	e := newEnv(b)
	text := textObject(0, 100000)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/e2e.log.gz"
	e.put(key, gz(text))
	s, _ := e.source(e.config(func(c *Config) { c.WaitTime = 0 }))
	stage, err := parse.NewStage(parse.Config{Format: parse.FormatAuto}, component.Settings{ID: "parse"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	recs := 0
	start, cpu0 := time.Now(), testkit.CPUTime()
	for b.Loop() {
		e.send(s3Event(key))
		for got := 0; got < 100000; {
			bb, ack, err := s.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := stage.Process(ctx, bb); err != nil {
				b.Fatal(err)
			}
			got += len(bb.Records)
			if len(bb.Failed) > 0 {
				b.Fatal(bb.Failed[0].Err)
			}
			ack(ctx, nil)
		}
		recs += 100000
	}
	b.ReportMetric(float64(recs)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(recs)/(testkit.CPUTime()-cpu0).Seconds(), "records/cpu-s")
}
