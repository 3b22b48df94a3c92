// Command loadgen produces synthetic flow-log lines (internal/gen) to a
// Kafka topic at a fixed rate for a while, 100 lines per Kafka record, and
// prints how many lines the broker acknowledged.
//
//	loadgen -brokers 127.0.0.1:19092 -topic vpc-flow-live -rate 200000 -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/benchmarks/suite/internal/kload"
	"github.com/vpcflow/vpcflow/internal/gen"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:19092", "seed broker")
	topic := flag.String("topic", "vpc-flow-live", "topic to produce to")
	rate := flag.Float64("rate", 100000, "flow-log lines per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to produce")
	per := flag.Int("per", 100, "flow-log lines per Kafka record")
	enis := flag.Int("enis", 10000, "interfaces in the synthetic estate (the EC2 stand-in must use the same)")
	seed := flag.Int64("seed", 7, "generator seed (the EC2 stand-in must use the same)")
	flag.Parse()
	if *rate <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -rate must be positive")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(*brokers), kgo.DefaultProduceTopic(*topic), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	defer cl.Close()
	start := time.Now()
	n, err := kload.Produce(ctx, cl, gen.Config{Format: "default", Rate: *rate, ENIs: *enis, Seed: *seed}, *per)
	secs := time.Since(start).Seconds()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	fmt.Printf("%d %.3f %.0f\n", n, secs, float64(n)/secs)
}
