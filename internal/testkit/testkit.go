// Package testkit holds helpers shared by the tests of several packages.
package testkit

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Buffer is a concurrency-safe log destination (for slog handlers written
// to from several goroutines) whose content tests read with String.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// MetricValue sums the values (counter, gauge or untyped) of the series of
// metric name in g that carry every label pair of labels (name, value,
// name, value, ...); found is false when no series matches.
func MetricValue(g prometheus.Gatherer, name string, labels ...string) (sum float64, found bool, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				has := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						has = true
						break
					}
				}
				if !has {
					continue series
				}
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Untyped != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
	}
	return sum, found, nil
}

// Metric returns what MetricValue sums for name and labels, and fails t
// when no series matches (a misspelled name or label is a test failure,
// not a zero).
func Metric(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, found, err := MetricValue(g, name, labels...)
	if err != nil {
		t.Fatalf("gather %s: %v", name, err)
	}
	if !found {
		t.Fatalf("no series %s{%s}", name, labelList(labels))
	}
	return v
}

func labelList(labels []string) string {
	var b strings.Builder
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i] + "=" + `"` + labels[i+1] + `"`)
	}
	return b.String()
}
