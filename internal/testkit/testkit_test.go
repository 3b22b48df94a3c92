package testkit

import (
	"fmt"
	"runtime"
	"testing"
	"time"

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

// fatalTB records the message of Fatalf and ends its goroutine, as
// testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMetricFailsOnAMissingSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"sink"})
	reg.MustRegister(c)
	c.WithLabelValues("a").Add(4)
	if v := Metric(t, reg, "c_total", "sink", "a"); v != 4 {
		t.Errorf("Metric = %v, want 4", v)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   string
	}{
		{"c_totl", []string{"sink", "a"}, `no series c_totl{sink="a"}`},
		{"c_total", []string{"sink", "b"}, `no series c_total{sink="b"}`},
		{"c_total", []string{"sinc", "a"}, `no series c_total{sinc="a"}`},
	} {
		tb := &fatalTB{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Metric(tb, reg, tc.name, tc.labels...)
			t.Errorf("Metric(%s %v) returned instead of failing", tc.name, tc.labels)
		}()
		<-done
		if tb.msg != tc.want {
			t.Errorf("Metric(%s %v) failed with %q, want %q", tc.name, tc.labels, tb.msg, tc.want)
		}
	}
}

// CPUTime grows with work done on the CPU and not with time spent asleep.
func TestCPUTime(t *testing.T) {
	c0 := CPUTime()
	if c0 <= 0 {
		t.Fatalf("CPUTime() = %v at start, want > 0", c0)
	}
	time.Sleep(50 * time.Millisecond)
	c1 := CPUTime()
	x := uint64(1)
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
	c2 := CPUTime()
	if c1 < c0 || c2 < c1 {
		t.Fatalf("CPUTime went back: %v, %v, %v", c0, c1, c2)
	}
	if slept, spun := c1-c0, c2-c1; spun < 20*time.Millisecond || slept >= spun {
		t.Errorf("CPU time %v while asleep for 50ms, %v while spinning for 100ms", slept, spun)
	}
}

var sink uint64
