package main

import (
	"context"
	"flag"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/processor"
)

func isConfigError(err error) bool { return processor.IsConfigError(err) }

func configFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "pipeline file (YAML)")
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
func loadConfig(cmd string, args []string, stderr io.Writer) (string, *processor.Config, error) {
	path, err := configFlag(cmd, args, stderr)
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
	path, _, err := loadConfig("validate", args, stderr)
	if err != nil {
		return err
	}
	io.WriteString(stdout, path+": ok\n")
	return nil
}

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	_, cfg, err := loadConfig("run", args, stderr)
	if err != nil {
		return err
	}
	return runPipelineWith(ctx, cfg, stderr, nil)
}

// runPipelineWith builds and runs cfg with telemetry. started, when set,
// gets the pipeline, the telemetry address and the metrics registry once
// the pipeline is built.
func runPipelineWith(ctx context.Context, cfg *processor.Config, logw io.Writer, started func(p *processor.Pipeline, addr string, reg *prometheus.Registry)) error {
	log := newLogger(logw, cfg.Telemetry)
	setMemoryLimit(log)
	reg := newRegistry()
	tp, shutdownTracing, err := newTracerProvider(ctx, cfg.Telemetry.Tracing, logw)
	if err != nil {
		return err
	}
	defer shutdownTracing(context.WithoutCancel(ctx))
	health := &lazyHealth{}
	addr, stopTelemetry, err := serveTelemetry(ctx, cfg.Telemetry.Listen, reg, health, log)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	p, err := processor.Build(ctx, cfg, factories(), processor.Settings{Logger: log, Registerer: reg, TracerProvider: tp})
	if err != nil {
		return err
	}
	health.p = p
	if started != nil {
		started(p, addr, reg)
	}
	log.Info("pipeline running", "version", version, "sources", len(cfg.Sources), "stages", len(cfg.Stages), "sinks", len(cfg.Sinks))
	err = p.Run(ctx)
	if err != nil {
		log.Error("pipeline stopped with an error", "error", err)
		return err
	}
	log.Info("pipeline stopped")
	return nil
}
