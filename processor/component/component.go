// Package component is vpcflow's ground floor: every contract a plug-in
// (source, stage, sink, enrichment) needs, and nothing else. Source,
// Stage and Sink with their factories; Settings, what the engine injects;
// AckFunc and ErrEndOfInput, the acknowledgement contract; Permanent and
// RejectedError, how a sink tells the engine that no retry can help;
// Ordered, Blocker, Starter, Closer, Readier, Healther and Spooler (a sink
// that keeps its own requests in its disk buffer), the optional
// interfaces; RateLimitedLogger, Register and ConfigAs, helpers every
// plug-in uses. Plug-ins import this package and processor/flowlog, never
// the engine (package processor); internal/layering checks it.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Settings is what the engine injects into a component. Config is what the
// user writes; Settings is what code provides.
type Settings struct {
	// ID is the component's id in the config file.
	ID string
	// Logger is never nil after Normalize; it already carries the id.
	Logger *slog.Logger
	// Registerer receives the component's metrics; never nil after Normalize.
	Registerer prometheus.Registerer
	// TracerProvider is never nil after Normalize.
	TracerProvider trace.TracerProvider
}

// Normalize replaces nil fields by no-op values.
func (s Settings) Normalize() Settings {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Registerer == nil {
		s.Registerer = prometheus.NewRegistry()
	}
	if s.TracerProvider == nil {
		s.TracerProvider = noop.NewTracerProvider()
	}
	return s
}

// Validator is implemented by configs that can check themselves. Errors
// name the offending key; the engine prefixes the component.
type Validator interface {
	Validate() error
}

// Starter is implemented by components with background work started after
// construction and before data flows.
type Starter interface {
	Start(ctx context.Context) error
}

// Closer is implemented by stages that hold resources. Sources and sinks
// always have Close.
type Closer interface {
	Close(ctx context.Context) error
}

// Readier is implemented by components that know whether they are ready
// (connected); /readyz reports not ready while any says false.
type Readier interface {
	Ready() bool
}

// Healther is implemented by components that can tell they are stuck or
// broken (a source whose fetches have failed for minutes); /healthz fails
// while any returns an error.
type Healther interface {
	Healthy() error
}

// Register registers c on reg, or returns the identical collector that
// another component of the same type registered before (several http sinks
// or kafka sources in one process share their metric families and differ by
// label). Any other registration error is appended to errs.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errs = append(*errs, err)
	return c
}

// ConfigAs returns cfg as *C, the config type of the component named name,
// or an error when a factory was handed another factory's config.
func ConfigAs[C any](name string, cfg any) (*C, error) {
	c, ok := cfg.(*C)
	if !ok {
		return nil, fmt.Errorf("%s: config is %T, want %T", name, cfg, (*C)(nil))
	}
	return c, nil
}
