// Command pprofrun runs a pipeline file in process, with the components
// the vpcflow binary registers, and writes a CPU profile (and optionally a
// heap profile) when the pipeline ends, on SIGTERM/SIGINT or after
// -duration. The vpcflow binary exposes no profiling endpoint; this is how
// the suite's pipelines are profiled:
//
//	pprofrun -config kafka.yaml -duration 20s -cpuprofile cpu.out
//	go tool pprof -top -nodecount 40 cpu.out
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/enrich/eni"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/cidrfilter"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowmetrics"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/processor/streamfilter"
	"github.com/vpcflow/vpcflow/sinks/filesink"
	"github.com/vpcflow/vpcflow/sinks/httpsink"
	"github.com/vpcflow/vpcflow/sources/filesource"
	"github.com/vpcflow/vpcflow/sources/kafkasource"
	"github.com/vpcflow/vpcflow/sources/kinesissource"
	"github.com/vpcflow/vpcflow/sources/s3sqssource"
)

func factories() processor.Factories {
	return processor.NewFactories(
		[]component.SourceFactory{filesource.NewFactory(), kafkasource.NewFactory(), kinesissource.NewFactory(), s3sqssource.NewFactory()},
		[]component.StageFactory{parse.NewFactory(), cidrfilter.NewFactory(), eni.NewFactory(), flowmetrics.NewFactory(), streamfilter.NewFactory()},
		[]component.SinkFactory{filesink.NewFactory(), httpsink.NewFactory()},
	)
}

func main() {
	cfgPath := flag.String("config", "", "pipeline file")
	duration := flag.Duration("duration", 0, "stop after this long (0: when the pipeline ends or on a signal)")
	cpuProfile := flag.String("cpuprofile", "cpu.out", "CPU profile output")
	memProfile := flag.String("memprofile", "", "heap profile output, written at the end")
	flag.Parse()
	if err := run(*cfgPath, *duration, *cpuProfile, *memProfile); err != nil {
		fmt.Fprintln(os.Stderr, "pprofrun:", err)
		os.Exit(1)
	}
}

func run(cfgPath string, duration time.Duration, cpuProfile, memProfile string) error {
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	cfg, err := processor.ParseConfig(text, os.LookupEnv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	p, err := processor.Build(ctx, cfg, factories(), processor.Settings{Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	start := time.Now()
	err = p.Run(ctx)
	pprof.StopCPUProfile()
	fmt.Fprintf(os.Stderr, "pprofrun: ran %.1fs\n", time.Since(start).Seconds())
	if memProfile != "" {
		mf, merr := os.Create(memProfile)
		if merr != nil {
			return merr
		}
		defer mf.Close()
		if merr := pprof.WriteHeapProfile(mf); merr != nil {
			return merr
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}
