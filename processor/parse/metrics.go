package parse

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
)

// reasons are the values of the reason label: bounded, fixed words.
var reasons = []string{"field_count", "range", "negative", "syntax", "address", "control", "too_long", "empty", "header", "other"}

type metrics struct {
	headers prometheus.Counter
	errors  map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, stage string) (*metrics, error) {
	headers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_parse_headers_total",
		Help: "S3 header lines seen by the parse stage (compiled in format auto, dropped in every mode).",
	}, []string{"stage"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_parse_errors_total",
		Help: "Lines the parse stage rejected, by reason: field_count, range, negative, syntax, address, control, too_long, empty, header, other.",
	}, []string{"stage", "reason"})
	var problems []error
	headers = component.Register(reg, headers, &problems)
	errs = component.Register(reg, errs, &problems)
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	m := &metrics{headers: headers.WithLabelValues(stage), errors: make(map[string]prometheus.Counter, len(reasons))}
	for _, r := range reasons {
		m.errors[r] = errs.WithLabelValues(stage, r)
	}
	return m, nil
}
