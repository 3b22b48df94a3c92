package httpsink

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding/encodingtest"
)

func encodingtestRecord(line string) flowlog.Record { return encodingtest.MustRecord(line, nil) }

func componentSettings() component.Settings { return component.Settings{ID: "out"} }

func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The collector token sits in the URL's path and query; it must not show up
// in logs or errors, whatever goes wrong.
func TestSecretsNeverLeak(t *testing.T) {
	const pathSecret = "ZaVnC4dhaV2QkYqBzNDUxTnZjNW1Fc3dJMjRRZ3B4dQ"
	const querySecret = "s3cr3tQueryToken"
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		switch n {
		case 1:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("unavailable: " + r.URL.String()))
		default:
			// The intake echoes the URL it was called with.
			http.Error(w, "no such collector "+r.URL.Path+"?"+r.URL.RawQuery, http.StatusNotFound)
		}
		return true
	})
	url := in.srv.URL + "/receiver/v1/http/" + pathSecret + "?token=" + querySecret
	cfg := testConfig(url)
	// 404 is retried (the destination, not the batch); give up quickly.
	cfg.MaxRetryDuration = 100 * time.Millisecond
	cfg.Retry = RetryConfig{InitialInterval: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond}
	env := newTestSink(t, cfg)
	err := write(t, env.sink, batch(0, 3))
	if !component.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	// A dead intake: the transport error quotes the URL in *url.Error.
	dead := newIntake(t, nil)
	deadURL := dead.srv.URL + "/receiver/v1/http/" + pathSecret + "?token=" + querySecret
	dead.srv.Close()
	cfg2 := testConfig(deadURL)
	cfg2.MaxRetryDuration = 30 * time.Millisecond
	env2 := newTestSink(t, cfg2)
	err2 := write(t, env2.sink, batch(0, 1))
	if !component.IsPermanent(err2) {
		t.Fatalf("err2 = %v", err2)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	env.sink.Close(closeCtx)
	env2.sink.Close(closeCtx)

	for what, s := range map[string]string{
		"error": err.Error(), "dead-intake error": err2.Error(),
		"logs": env.logs.String(), "dead-intake logs": env2.logs.String(),
	} {
		for _, secret := range []string{pathSecret, querySecret, "receiver/v1/http"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains %q:\n%s", what, secret, s)
			}
		}
	}
	for what, s := range map[string]string{"error": err.Error(), "logs": env.logs.String()} {
		if !strings.Contains(s, in.srv.Listener.Addr().String()) {
			t.Errorf("%s does not name the host:\n%s", what, s)
		}
	}
	if !strings.Contains(err.Error(), "404") || !strings.Contains(err2.Error(), "refused") {
		t.Errorf("errors lost their cause: %v / %v", err, err2)
	}
	// Metrics carry no URL either.
	mfs, _ := env.reg.Gather()
	for _, mf := range mfs {
		if strings.Contains(mf.String(), pathSecret) {
			t.Errorf("metric %s holds the secret", mf.GetName())
		}
	}
}

func TestRedactor(t *testing.T) {
	r := newRedactor("https://user:pw123@collectors.example.com:8443/receiver/v1/http/TOKEN123?x=QTOKEN#frag", "bearer-xyz")
	if r.display != "https://collectors.example.com:8443/…" {
		t.Errorf("display %q", r.display)
	}
	in := `Post "https://user:pw123@collectors.example.com:8443/receiver/v1/http/TOKEN123?x=QTOKEN#frag": EOF; path /receiver/v1/http/TOKEN123; TOKEN123; x=QTOKEN; pw123; bearer-xyz`
	out := r.string(in)
	for _, s := range []string{"TOKEN123", "QTOKEN", "pw123", "bearer-xyz"} {
		if strings.Contains(out, s) {
			t.Errorf("%q left in %q", s, out)
		}
	}
}

// While the intake is dead, Writes block and memory stays flat: nothing is
// buffered beyond the bodies of the requests being retried and what waits
// to fill the next ones.
func TestMemoryBoundedWhileIntakeDead(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test skipped in -short mode")
	}
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	cfg := testConfig(in.srv.URL)
	cfg.Concurrency = 2
	cfg.Batch.MaxBytes = 64 << 10
	cfg.Retry = RetryConfig{InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond}
	env := newTestSink(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var returned atomic.Int64
	var written atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				b := batch(w*1_000_000+i*500, 500)
				written.Add(1)
				err := env.sink.Write(ctx, b)
				if err == nil || component.IsPermanent(err) {
					t.Errorf("Write returned %v while the intake is dead", err)
				}
				returned.Add(1)
			}
		})
	}
	attempts := func() int64 { return in.n.Load() }
	waitFor(t, "senders retrying", func() bool { return attempts() >= 50 })
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	h1 := heap()
	a1 := attempts()
	waitFor(t, "many more attempts", func() bool { return attempts() >= a1+200 })
	h2 := heap()
	if returned.Load() != 0 {
		t.Fatalf("%d Writes returned while the intake is dead", returned.Load())
	}
	if w := written.Load(); w != 16 {
		t.Errorf("%d Writes started, want 16 (each blocked in its first)", w)
	}
	limit := int64(env.sink.pendingLimit)
	if p := int64(env.counter("vpcflow_sink_http_pending_bytes")); p > limit {
		t.Errorf("pending bytes %d above the limit %d", p, limit)
	}
	if f := in.maxInFlight.Load(); f > 2 {
		t.Errorf("%d requests in flight, concurrency is 2", f)
	}
	const slack = 4 << 20
	if h2 > h1+slack {
		t.Errorf("heap grew from %d to %d bytes while the intake was dead", h1, h2)
	}
	t.Logf("heap %d → %d bytes over %d attempts", h1, h2, attempts()-a1)
	cancel()
	wg.Wait()
}

func TestConfigValidate(t *testing.T) {
	good := NewDefaultConfig()
	good.URL = "https://collectors.example.com/receiver/v1/http/TOKEN"
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults + url: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		want []string
	}{
		{"no url", func(c *Config) { c.URL = "" }, []string{"url must be set"}},
		{"bad scheme hides url", func(c *Config) { c.URL = "ftp://h/SECRET" }, []string{"url must be http"}},
		{"encoding", func(c *Config) { c.Encoding = "xml" }, []string{"encoding must be"}},
		{"compression", func(c *Config) { c.Compression = "br" }, []string{"compression must be"}},
		{"level", func(c *Config) { c.CompressionLevel = 12 }, []string{"compression_level must be 0–9"}},
		{"batch", func(c *Config) { c.Batch = BatchConfig{MaxBytes: 0, MaxRecords: -1} },
			[]string{"batch.max_bytes", "batch.max_records", "batch.timeout"}},
		{"concurrency", func(c *Config) { c.Concurrency = 0; c.RequestTimeout = 0 }, []string{"concurrency", "request_timeout"}},
		{"retry", func(c *Config) { c.MaxRetryDuration = -1; c.Retry.MaxInterval = time.Millisecond },
			[]string{"max_retry_duration", "retry.max_interval"}},
		{"auth", func(c *Config) { c.Auth = AuthConfig{Password: "x", BearerTokenEnv: "T"} }, []string{"auth: set either", "auth.username"}},
		{"preset", func(c *Config) { c.Preset = "splunk" }, []string{"preset must be"}},
		{"placeholder", func(c *Config) { c.Preset = "sumologic"; c.Sumologic.Category = "aws/{acount-id}" },
			[]string{"sumologic (X-Sumo-Category): unknown placeholder {acount-id}"}},
		{"header placeholder", func(c *Config) { c.Headers = map[string]string{"X-Index": "vpc-{bogus}"} },
			[]string{"headers.X-Index: unknown placeholder {bogus}"}},
		{"ca file", func(c *Config) { c.TLS.CAFile = "/nonexistent/ca.pem" }, []string{"tls.ca_file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *good
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows the url: %v", err)
			}
		})
	}
	// Literal braces are not placeholders.
	c := *good
	c.Headers = map[string]string{"X-Json": `{"a":1}`, "X-Empty-Braces": "{}"}
	if err := c.Validate(); err != nil {
		t.Errorf("literal braces: %v", err)
	}
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "http" {
		t.Fatalf("type %q", f.Type)
	}
	cfg := f.NewDefaultConfig().(*Config)
	cfg.URL = "http://127.0.0.1:1/x"
	s, err := f.Create(context.Background(), cfg, componentSettings())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(context.Background(), "nope", componentSettings()); err == nil {
		t.Fatal("wrong config type accepted")
	}
}

// Two http sinks may share a registry.
func TestTwoSinksOneRegistry(t *testing.T) {
	in := newIntake(t, nil)
	env := newTestSink(t, testConfig(in.srv.URL))
	s2, err := New(testConfig(in.srv.URL), component.Settings{ID: "second", Registerer: env.reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	if err := write(t, s2, batch(0, 4)); err != nil {
		t.Fatal(err)
	}
	if got := env.counter("vpcflow_sink_http_records_delivered_total", "sink", "second"); got != 4 {
		t.Errorf("second sink delivered %v", got)
	}
	if got := env.counter("vpcflow_sink_http_records_delivered_total", "sink", "out"); got != 0 {
		t.Errorf("first sink delivered %v", got)
	}
}

var _ = errors.New
var _ flowlog.Record

// With many header groups, the bytes waiting in all of them together stay
// under the limit: the largest group is sent early.
func TestManyGroupsBounded(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	cfg.Concurrency = 1
	cfg.Batch.MaxBytes = 3000
	cfg.Batch.Timeout = time.Hour
	cfg.Headers = map[string]string{"X-Acct": "{account-id}"}
	env := newTestSink(t, cfg)
	b := &flowlog.Batch{}
	for i := range 500 {
		r := batch(i, 1).Records[0]
		raw := strings.Replace(string(r.Raw), "123456789012", fmt.Sprintf("%012d", i%20), 1)
		b.Records = append(b.Records, encodingtestRecord(raw))
	}
	done := make(chan error, 1)
	go func() { done <- env.sink.Write(context.Background(), b) }()
	waitFor(t, "early requests", func() bool { return len(in.requests()) > 0 })
	waitFor(t, "the Write to finish encoding", func() bool {
		if env.sink.lock(context.Background()) != nil {
			return false
		}
		defer env.sink.unlock()
		if env.sink.pendingBytes > env.sink.pendingLimit {
			t.Fatalf("pending %d bytes, limit %d", env.sink.pendingBytes, env.sink.pendingLimit)
		}
		return env.counter("vpcflow_sink_http_pending_bytes") > 0
	})
	if err := env.sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range in.requests() {
		acct := r.header.Get("X-Acct")
		for _, l := range strings.Split(string(r.body), "\n") {
			n++
			if !strings.Contains(l, " "+acct+" ") {
				t.Errorf("line %q in the request of account %s", l, acct)
			}
		}
	}
	if n != 500 {
		t.Fatalf("%d lines, want 500", n)
	}
}
