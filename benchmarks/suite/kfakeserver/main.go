// Command kfakeserver runs an in-memory Kafka cluster (kfake) in its own
// process on a fixed address, seeds topics and optionally preloads one of
// them with synthetic flow-log lines (internal/gen), 100 lines per Kafka
// record. It prints "ready <lines>" on stdout once the backlog is in and
// serves until SIGTERM or SIGINT.
//
//	kfakeserver -port 19092 -partitions 6 -topics vpc-flow-logs,vpc-flow-live -preload 2000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/benchmarks/suite/internal/kload"
	"github.com/vpcflow/vpcflow/internal/gen"
)

func main() {
	port := flag.Int("port", 19092, "broker port on 127.0.0.1")
	partitions := flag.Int("partitions", 6, "partitions of every topic")
	topics := flag.String("topics", "vpc-flow-logs", "comma-separated topics to create")
	preload := flag.Int("preload", 0, "lines to produce into the first topic before reporting ready")
	per := flag.Int("per", 100, "flow-log lines per Kafka record")
	enis := flag.Int("enis", 10000, "interfaces in the synthetic estate (the EC2 stand-in must use the same)")
	seed := flag.Int64("seed", 7, "generator seed (the EC2 stand-in must use the same)")
	flag.Parse()

	names := strings.Split(*topics, ",")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*port), kfake.SeedTopics(int32(*partitions), names...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var n int64
	if *preload > 0 {
		start := time.Now()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(names[0]),
			kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(20000))
		if err != nil {
			fmt.Fprintln(os.Stderr, "kfakeserver:", err)
			os.Exit(1)
		}
		n, err = kload.Produce(ctx, cl, gen.Config{Format: "default", Count: *preload, ENIs: *enis, Seed: *seed}, *per)
		cl.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "kfakeserver: preload:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "kfakeserver: preloaded %d lines into %s in %.1fs\n", n, names[0], time.Since(start).Seconds())
	}
	fmt.Printf("ready %d %s\n", n, addr)
	<-ctx.Done()
}
