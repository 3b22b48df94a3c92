package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vpcflow/vpcflow/processor"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"go.opentelemetry.io/otel"
)

func newLogger(w io.Writer, cfg processor.TelemetryConfig) *slog.Logger {
	var level slog.Level
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// healthChecker is what the /healthz and /readyz handlers ask.
type healthChecker interface {
	Healthy() error
	Ready() error
}

type lazyHealth struct{ p *processor.Pipeline }

func (l *lazyHealth) Healthy() error {
	if l.p == nil {
		return nil
	}
	return l.p.Healthy()
}

func (l *lazyHealth) Ready() error {
	if l.p == nil {
		return errors.New("starting")
	}
	return l.p.Ready()
}

// serveTelemetry serves /metrics, /healthz and /readyz on addr, with
// /graph and /tap (for vpcflow top and tap) when lv is set, until the
// returned stop is called; stop waits for requests in progress until its
// ctx ends. It returns the bound address.
func serveTelemetry(ctx context.Context, addr string, reg *prometheus.Registry, h healthChecker, lv *live, log *slog.Logger) (string, func(context.Context), error) {
	if addr == "" {
		return "", func(context.Context) {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("telemetry.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.Healthy(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	if lv != nil {
		lv.routes(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("telemetry server stopped", "error", err)
		}
	}()
	stop := func(ctx context.Context) {
		// Let a scrape in progress finish, but no later than ctx allows.
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if srv.Shutdown(c) != nil {
			srv.Close()
		}
	}
	log.Info("serving metrics and health", "address", ln.Addr().String())
	return ln.Addr().String(), stop, nil
}

// newTracerProvider builds the tracer provider of telemetry.tracing; a
// no-op provider when tracing is off.
func newTracerProvider(ctx context.Context, cfg processor.TracingConfig, w io.Writer) (trace.TracerProvider, func(context.Context) error, error) {
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.Exporter {
	case "", "none":
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	case "otlp_grpc":
		opts := []otlptracegrpc.Option{}
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "otlp_http":
		opts := []otlptracehttp.Option{}
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpoint(strings.TrimPrefix(strings.TrimPrefix(cfg.Endpoint, "http://"), "https://")))
		}
		if cfg.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	case "stdout":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	default:
		return nil, nil, fmt.Errorf("telemetry.tracing.exporter: unknown exporter %q", cfg.Exporter)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry.tracing: %w", err)
	}
	ratio := 0.01
	if cfg.SampleRatio != nil {
		ratio = *cfg.SampleRatio
	}
	name := cfg.ServiceName
	if name == "" {
		name = "vpcflow"
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name), semconv.ServiceVersion(version))),
	)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp, tp.Shutdown, nil
}
