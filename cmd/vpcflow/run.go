package main

import (
	"context"
	"flag"
	"io"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/processor"
)

func isConfigError(err error) bool { return processor.IsConfigError(err) }

// configFlag parses --config FILE (or FILE alone) and the flags extra
// adds.
func configFlag(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "pipeline file (YAML)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if *path == "" {
		if fs.NArg() == 1 {
			return fs.Arg(0), nil
		}
		return "", usageError{"--config FILE is required"}
	}
	if fs.NArg() > 0 {
		return "", usageError{"unexpected arguments after flags"}
	}
	return *path, nil
}

// loadConfig reads the file named by --config and checks it against the
// known components; problems come back as one *processor.ConfigError.
func loadConfig(cmd string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (string, *processor.Config, error) {
	path, err := configFlag(cmd, args, stderr, extra)
	if err != nil {
		return "", nil, err
	}
	cfg, err := processor.LoadConfigFile(path)
	if err != nil {
		return path, nil, err
	}
	if err := processor.Validate(cfg, factories()); err != nil {
		if ce, ok := err.(*processor.ConfigError); ok {
			ce.File = path
		}
		return path, nil, err
	}
	return path, cfg, nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	path, _, err := loadConfig("validate", args, stderr, nil)
	if err != nil {
		return err
	}
	io.WriteString(stdout, path+": ok\n")
	return nil
}

// cmdRun runs a pipeline. --shutdown-timeout, when given, replaces the
// file's shutdown_timeout: a deployment passes the same value it derives
// its grace period from (the Helm chart does), whatever file is mounted.
func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	var budget time.Duration
	_, cfg, err := loadConfig("run", args, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&budget, "shutdown-timeout", 0, "replaces the file's shutdown_timeout (drain, commit, close and flush after SIGTERM)")
	})
	if err != nil {
		return err
	}
	switch {
	case budget < 0:
		return usageError{"--shutdown-timeout must not be negative"}
	case budget > 0:
		cfg.ShutdownTimeout = budget
	}
	return runPipelineWith(ctx, cfg, stderr, nil)
}

// runPipelineWith builds and runs cfg with telemetry. started, when set,
// gets the pipeline, the telemetry address and the metrics registry once
// the pipeline is built.
//
// When ctx ends (SIGTERM, SIGINT) everything happens within one
// shutdown_timeout from that moment: the pipeline drains, stops hard,
// commits and closes (processor.Pipeline.Run), then the traces are flushed
// and the telemetry server stops. A pipeline that overruns the budget is
// left behind: undelivered batches are not committed and are handed out
// again after the restart.
func runPipelineWith(ctx context.Context, cfg *processor.Config, logw io.Writer, started func(p *processor.Pipeline, addr string, reg *prometheus.Registry)) error {
	log := newLogger(logw, cfg.Telemetry)
	setMemoryLimit(log)
	stop := watchStop(ctx, cfg.ShutdownTimeout)
	defer stop.release()
	reg := newRegistry()
	tp, shutdownTracing, err := newTracerProvider(ctx, cfg.Telemetry.Tracing, logw)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := stop.flushContext()
		defer cancel()
		if err := shutdownTracing(fctx); err != nil {
			log.Warn("traces not flushed", "error", err)
		}
	}()
	health := &lazyHealth{}
	lv := newLive(cfg.Telemetry.Tap)
	addr, stopTelemetry, err := serveTelemetry(ctx, cfg.Telemetry.Listen, reg, health, lv, log)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := stop.flushContext()
		defer cancel()
		stopTelemetry(fctx)
	}()
	defer lv.stopped() // before the listener stops: taps being served end
	p, err := processor.Build(ctx, cfg, factories(), processor.Settings{Logger: log, Registerer: reg, TracerProvider: tp})
	if err != nil {
		return err
	}
	health.p = p
	lv.p.Store(p)
	if started != nil {
		started(p, addr, reg)
	}
	log.Info("pipeline running", "version", version, "sources", len(cfg.Sources), "stages", len(cfg.Stages), "sinks", len(cfg.Sinks))
	done := make(chan error, 1)
	go func() {
		err := p.Run(ctx)
		lv.stopped()
		done <- err
	}()
	select {
	case err = <-done:
	case <-stop.overrun():
		// Run ends within the budget unless a component ignores its
		// context: stop without it.
		select {
		case err = <-done:
		default:
			log.Error("shutdown_timeout exceeded; stopping with batches in flight, they will be redelivered",
				"timeout", cfg.ShutdownTimeout)
			return nil
		}
	}
	if err != nil {
		log.Error("pipeline stopped with an error", "error", err)
		return err
	}
	if at, ok := stop.signalled(); ok {
		log.Info("pipeline stopped", "shutdown_seconds", time.Since(at).Seconds(), "shutdown_timeout", cfg.ShutdownTimeout)
		return nil
	}
	log.Info("pipeline stopped")
	return nil
}

// stopWatch keeps the time ctx ended, from which one shutdown budget runs.
type stopWatch struct {
	budget  time.Duration
	at      atomic.Pointer[time.Time]
	over    chan struct{} // closed at the end of the budget
	timer   atomic.Pointer[time.Timer]
	release func() bool
}

func watchStop(ctx context.Context, budget time.Duration) *stopWatch {
	w := &stopWatch{budget: budget, over: make(chan struct{})}
	w.release = context.AfterFunc(ctx, func() {
		now := time.Now()
		w.at.Store(&now)
		w.timer.Store(time.AfterFunc(budget, func() { close(w.over) }))
	})
	release := w.release
	w.release = func() bool {
		if t := w.timer.Load(); t != nil {
			t.Stop()
		}
		return release()
	}
	return w
}

// signalled reports when ctx ended, if it did.
func (w *stopWatch) signalled() (time.Time, bool) {
	if at := w.at.Load(); at != nil {
		return *at, true
	}
	return time.Time{}, false
}

// overrun is closed once the budget is spent.
func (w *stopWatch) overrun() <-chan struct{} { return w.over }

// flushContext bounds flushing telemetry: until the end of the budget when
// ctx ended (at least a moment, so that what is buffered gets its chance),
// otherwise for the pipeline's shutdown reserve.
func (w *stopWatch) flushContext() (context.Context, context.CancelFunc) {
	if at, ok := w.signalled(); ok {
		end := at.Add(w.budget)
		if least := time.Now().Add(100 * time.Millisecond); end.Before(least) {
			end = least
		}
		return context.WithDeadline(context.Background(), end)
	}
	return context.WithTimeout(context.Background(), processor.ShutdownReserve(w.budget))
}
