package testkit

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"sink", "outcome"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "h"})
	reg.MustRegister(c, g)
	c.WithLabelValues("a", "ok").Add(2)
	c.WithLabelValues("a", "failed").Add(3)
	c.WithLabelValues("b", "ok").Add(5)
	g.Set(7)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
		found  bool
	}{
		{"c_total", []string{"sink", "a", "outcome", "ok"}, 2, true},
		{"c_total", []string{"sink", "a"}, 5, true},
		{"c_total", nil, 10, true},
		{"c_total", []string{"sink", "z"}, 0, false},
		{"g", nil, 7, true},
		{"absent", nil, 0, false},
	} {
		v, found, err := MetricValue(reg, tc.name, tc.labels...)
		if err != nil || v != tc.want || found != tc.found {
			t.Errorf("%s %v = %v, %v, %v; want %v, %v", tc.name, tc.labels, v, found, err, tc.want, tc.found)
		}
	}
}
