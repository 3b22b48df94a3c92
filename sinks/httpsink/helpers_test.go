package httpsink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding/encodingtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(intakeProcessEnv) != "" {
		serveIntakeProcess() // BenchmarkSink's intake
		return
	}
	goleak.VerifyTestMain(m)
}

// received is one request the intake saw.
type received struct {
	header http.Header
	body   []byte // decoded
	path   string
	query  string
}

// intake is a local HTTP log intake. fault, when set, may answer a request
// itself (returning true); n counts requests from 1.
type intake struct {
	t     testing.TB
	srv   *httptest.Server
	mu    sync.Mutex
	got   []received
	fault func(w http.ResponseWriter, r *http.Request, n int64) bool
	n     atomic.Int64

	inFlight, maxInFlight atomic.Int64
	delay                 time.Duration
}

func newIntake(t testing.TB, fault func(w http.ResponseWriter, r *http.Request, n int64) bool) *intake {
	in := &intake{t: t, fault: fault}
	in.srv = httptest.NewServer(http.HandlerFunc(in.serve))
	t.Cleanup(in.srv.Close)
	return in
}

// newRefusingIntake is an intake that decodes each request's body and
// lets refuse answer it (refuse writes the response and returns true);
// bodies refuse lets through are taken as by newIntake.
func newRefusingIntake(t testing.TB, refuse func(w http.ResponseWriter, body []byte) bool) *intake {
	return newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		body, _ := decodeBody(r)
		if refuse(w, body) {
			return true
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Header.Del("Content-Encoding")
		return false
	})
}

func (in *intake) serve(w http.ResponseWriter, r *http.Request) {
	cur := in.inFlight.Add(1)
	defer in.inFlight.Add(-1)
	for {
		m := in.maxInFlight.Load()
		if cur <= m || in.maxInFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	n := in.n.Add(1)
	if in.fault != nil && in.fault(w, r, n) {
		return
	}
	body, err := decodeBody(r)
	if err != nil {
		in.t.Errorf("intake: request %d: %v", n, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if in.delay > 0 {
		time.Sleep(in.delay)
	}
	in.mu.Lock()
	in.got = append(in.got, received{header: r.Header.Clone(), body: body, path: r.URL.Path, query: r.URL.RawQuery})
	in.mu.Unlock()
}

func decodeBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	case "":
	default:
		return nil, fmt.Errorf("unexpected Content-Encoding %q", enc)
	}
	return io.ReadAll(rd)
}

func (in *intake) requests() []received {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]received(nil), in.got...)
}

// lines returns every record line received, in arrival order.
func (in *intake) lines() []string {
	var out []string
	for _, r := range in.requests() {
		out = append(out, strings.Split(string(r.body), "\n")...)
	}
	return out
}

// testConfig is a fast config aimed at url.
func testConfig(url string) Config {
	c := *NewDefaultConfig()
	c.URL = url
	c.Batch.Timeout = 20 * time.Millisecond
	c.Retry = RetryConfig{InitialInterval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond}
	c.RequestTimeout = 5 * time.Second
	return c
}

type testEnv struct {
	sink *Sink
	reg  *prometheus.Registry
	logs *testkit.Buffer
}

func newTestSink(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	env := &testEnv{reg: prometheus.NewRegistry(), logs: &testkit.Buffer{}}
	s, err := New(cfg, component.Settings{
		ID:         "out",
		Logger:     slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: env.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.sink = s
	t.Cleanup(func() {
		// Tests that leave an intake dead end here with requests still
		// retrying: give up on them quickly.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_ = s.Close(ctx)
	})
	return env
}

func (e *testEnv) counter(name string, labels ...string) float64 {
	v, _, err := testkit.MetricValue(e.reg, name, labels...)
	if err != nil {
		panic(err)
	}
	return v
}

var _ = testutil.ToFloat64

// line returns a default-format line numbered i.
func line(i int) string {
	return fmt.Sprintf("2 123456789012 eni-%08x 10.0.%d.%d 52.1.2.%d %d 443 6 10 %d 1718000000 1718000060 ACCEPT OK",
		i%1000, i/250%250, i%250, i%200, 1024+i%60000, 100+i)
}

// batch returns a batch of records lines from..from+n-1.
func batch(from, n int) *flowlog.Batch {
	b := &flowlog.Batch{Source: "flows", Partition: "p0"}
	o := &flowlog.Origin{Name: "test"}
	for i := from; i < from+n; i++ {
		r := encodingtest.MustRecord(line(i), nil)
		r.Origin = o
		b.Records = append(b.Records, r)
	}
	return b
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// listenAgain listens on addr, retrying while the port is still in TIME_WAIT.
func listenAgain(t testing.TB, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	waitFor(t, "listening on "+addr, func() bool {
		var err error
		l, err = net.Listen("tcp", addr)
		return err == nil
	})
	return l
}
