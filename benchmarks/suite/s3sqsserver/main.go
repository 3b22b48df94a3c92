// Command s3sqsserver runs S3 (gofakes3, in memory) and SQS (goaws) stand-ins
// in one process on fixed addresses, and preloads a backlog: synthetic
// flow-log lines (internal/gen) cut into gzip text objects with the S3
// header line, as VPC Flow Logs writes them, each announced on the queue
// with an S3 event notification. It prints "ready <queue-url>" on stdout
// and serves until SIGTERM or SIGINT.
//
//	s3sqsserver -s3 127.0.0.1:19382 -sqs 127.0.0.1:19383 -records 1000000 -per-object 50000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/klauspost/compress/gzip"

	"github.com/vpcflow/vpcflow/internal/gen"
)

const (
	bucket  = "flow-logs"
	account = "123456789012"
	queue   = "flow-logs-events"
)

// objectWriter cuts the generator's lines into gzip objects of per lines.
type objectWriter struct {
	backend *s3mem.Backend
	sqs     *sqs.Client
	queue   string
	header  []byte
	per     int
	lines   int
	objects int
	rest    []byte
	raw     bytes.Buffer
	zbuf    bytes.Buffer
	zw      *gzip.Writer
}

func (w *objectWriter) Write(p []byte) (int, error) {
	data := p
	if len(w.rest) > 0 {
		data = append(w.rest, p...)
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if w.lines == 0 {
			w.raw.Write(w.header)
		}
		w.raw.Write(data[:i+1])
		data = data[i+1:]
		w.lines++
		if w.lines >= w.per {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	w.rest = append(w.rest[:0], data...)
	return len(p), nil
}

func (w *objectWriter) flush() error {
	if w.lines == 0 {
		return nil
	}
	w.zbuf.Reset()
	if w.zw == nil {
		w.zw, _ = gzip.NewWriterLevel(&w.zbuf, gzip.BestSpeed)
	} else {
		w.zw.Reset(&w.zbuf)
	}
	w.zw.Write(w.raw.Bytes())
	if err := w.zw.Close(); err != nil {
		return err
	}
	w.raw.Reset()
	w.lines = 0
	w.objects++
	key := fmt.Sprintf("AWSLogs/%s/vpcflowlogs/us-east-1/2026/11/25/%s_vpcflowlogs_us-east-1_fl-0bench_20261125T%04dZ_%08x.log.gz",
		account, account, w.objects%2400, w.objects)
	size := int64(w.zbuf.Len())
	if _, err := w.backend.PutObject(bucket, key, map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(w.zbuf.Bytes()), size, nil); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-25T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":%d}}}]}`,
		bucket, bucket, key, size)
	_, err := w.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queue), MessageBody: aws.String(body)})
	return err
}

func main() {
	s3Addr := flag.String("s3", "127.0.0.1:19382", "address of the S3 stand-in")
	sqsAddr := flag.String("sqs", "127.0.0.1:19383", "address of the SQS stand-in")
	records := flag.Int("records", 1000000, "flow-log lines to preload")
	per := flag.Int("per-object", 50000, "lines per S3 object")
	enis := flag.Int("enis", 10000, "interfaces in the synthetic estate (the EC2 stand-in must use the same)")
	seed := flag.Int64("seed", 7, "generator seed (the EC2 stand-in must use the same)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		fail(err)
	}
	faker := gofakes3.New(backend)
	errc := make(chan error, 2)
	go func() { errc <- (&http.Server{Addr: *s3Addr, Handler: faker.Server()}).ListenAndServe() }()
	quit := make(chan bool)
	go gosqs.PeriodicTasks(time.Second, quit)
	go func() { errc <- (&http.Server{Addr: *sqsAddr, Handler: router.New()}).ListenAndServe() }()

	sqsURL := "http://" + *sqsAddr
	client := sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(sqsURL),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
	})
	var err error
	for range 50 { // the listener may not be up yet
		if _, err = client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queue)}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		fail(fmt.Errorf("create queue: %w", err))
	}
	// goaws builds queue URLs from placeholder settings; address the queue
	// on this server instead.
	queueURL := sqsURL + "/000000000000/" + queue

	start := time.Now()
	format, err := gen.Format("default")
	if err != nil {
		fail(err)
	}
	w := &objectWriter{backend: backend, sqs: client, queue: queueURL, per: *per,
		header: append(format.AppendHeader(nil), '\n')}
	if err := gen.Run(ctx, w, gen.Config{Format: "default", Count: *records, ENIs: *enis, Seed: *seed}); err != nil {
		fail(err)
	}
	if err := w.flush(); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "s3sqsserver: %d lines in %d objects preloaded in %.1fs\n", *records, w.objects, time.Since(start).Seconds())
	fmt.Printf("ready %s\n", queueURL)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fail(err)
		}
	}
	close(quit)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "s3sqsserver:", err)
	os.Exit(1)
}
