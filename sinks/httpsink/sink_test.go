package httpsink

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding/encodingtest"
)

func write(t testing.TB, s *Sink, b *flowlog.Batch) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return s.Write(ctx, b)
}

func wantLines(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, line(i))
	}
	return out
}

func sorted(ss []string) []string { ss = slices.Clone(ss); sort.Strings(ss); return ss }

func TestDeliverCompressions(t *testing.T) {
	for _, comp := range []string{"gzip", "deflate", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			in := newIntake(t, nil)
			cfg := testConfig(in.srv.URL + "/receiver/v1/http/SECRET")
			cfg.Compression = comp
			cfg.Encoding = "raw"
			env := newTestSink(t, cfg)
			if err := write(t, env.sink, batch(0, 50)); err != nil {
				t.Fatal(err)
			}
			reqs := in.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			want := map[string]string{"gzip": "gzip", "deflate": "deflate", "zstd": "zstd", "none": ""}[comp]
			if got := reqs[0].header.Get("Content-Encoding"); got != want {
				t.Errorf("Content-Encoding %q, want %q", got, want)
			}
			if got := string(reqs[0].body); got != strings.Join(wantLines(0, 50), "\n") {
				t.Errorf("body:\n%s", got)
			}
			if reqs[0].header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", reqs[0].header.Get("Content-Type"))
			}
			if got := env.counter("vpcflow_sink_http_records_delivered_total", "sink", "out"); got != 50 {
				t.Errorf("delivered metric %v, want 50", got)
			}
		})
	}
}

func TestSumoVPCJSONBytes(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Preset = PresetSumologic
	cfg.IncludeLogInfo = true
	env := newTestSink(t, cfg)
	eni := &flowlog.ENI{Region: "us-east-1", VPCID: "vpc-3d4e5f60", SubnetID: "subnet-e81c1aad",
		SecurityGroupIDs: []string{"sg-d821df99", "sg-931db925"}}
	o := &flowlog.Origin{LogGroup: "/vpc/flow-logs", LogStream: "eni-057e0bd0-all"}
	r1 := encodingtest.MustRecord("2 123456789012 eni-057e0bd0 52.1.2.3 192.168.3.98 50000 443 6 10 1000 1718000000 1718000060 ACCEPT OK", nil)
	r1.Origin, r1.ENI, r1.Direction = o, eni, flowlog.DirInbound
	r2 := encodingtest.MustRecord("2 123456789012 eni-057e0bd0 - - - - - - - 1718000000 1718000060 - NODATA", nil)
	r2.Origin = o
	if err := write(t, env.sink, &flowlog.Batch{Records: []flowlog.Record{r1, r2}}); err != nil {
		t.Fatal(err)
	}
	const want = `{"message":"2 123456789012 eni-057e0bd0 52.1.2.3 192.168.3.98 50000 443 6 10 1000 1718000000 1718000060 ACCEPT OK","logStream":"eni-057e0bd0-all","logGroup":"/vpc/flow-logs","security-group-ids":["sg-d821df99","sg-931db925"],"direction":"inbound","subnet-id":"subnet-e81c1aad","vpc-id":"vpc-3d4e5f60","aws-region":"us-east-1"}` +
		"\n" + `{"message":"2 123456789012 eni-057e0bd0 - - - - - - - 1718000000 1718000060 - NODATA","logStream":"eni-057e0bd0-all","logGroup":"/vpc/flow-logs"}`
	reqs := in.requests()
	if len(reqs) != 1 || string(reqs[0].body) != want {
		t.Fatalf("got %d requests, body:\n%s\nwant:\n%s", len(reqs), reqs[0].body, want)
	}
	h := reqs[0].header
	if h.Get("Content-Encoding") != "gzip" || h.Get("X-Sumo-Client") != "vpcflow" ||
		h.Get("X-Sumo-Name") != "eni-057e0bd0-all" || h.Get("X-Sumo-Host") != "/vpc/flow-logs" {
		t.Errorf("headers: %v", h)
	}
	for _, k := range []string{"X-Sumo-Category", "X-Sumo-Fields"} {
		if _, ok := h[k]; ok {
			t.Errorf("empty header %s was sent", k)
		}
	}
}

func TestTrailingNewline(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Encoding, cfg.TrailingNewline = "raw", true
	env := newTestSink(t, cfg)
	if err := write(t, env.sink, batch(0, 2)); err != nil {
		t.Fatal(err)
	}
	if got := string(in.requests()[0].body); got != line(0)+"\n"+line(1)+"\n" {
		t.Fatalf("body %q", got)
	}
}

func TestSumoPresetGrouping(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Preset = PresetSumologic
	cfg.Encoding = "raw"
	cfg.Sumologic.Category = "aws/vpc/{account-id}"
	cfg.Sumologic.Fields = "region={region},vpc={vpc-id}"
	cfg.Headers = map[string]string{"X-Static": "yes", "X-Empty": ""}
	env := newTestSink(t, cfg)
	cwl := &flowlog.Origin{LogGroup: "vpc-logs", LogStream: "eni-1-all"}
	s3 := &flowlog.Origin{Name: "s3://b/k", Account: "999999999999", Region: "eu-west-1"}
	eni := &flowlog.ENI{VPCID: "vpc-9", Region: "us-east-1"}
	var b flowlog.Batch
	for i := range 30 {
		acct := []string{"111111111111", "222222222222", "-"}[i%3]
		r := encodingtest.MustRecord(strings.Replace(line(i), "123456789012", acct, 1), nil)
		r.Origin = []*flowlog.Origin{cwl, s3}[i%2]
		if i%5 == 0 {
			r.ENI = eni
		}
		b.Records = append(b.Records, r)
	}
	if err := write(t, env.sink, &b); err != nil {
		t.Fatal(err)
	}
	total := 0
	seen := map[string]bool{}
	for _, req := range in.requests() {
		h := req.header
		if h.Get("X-Static") != "yes" || h.Get("X-Sumo-Client") != "vpcflow" {
			t.Errorf("static headers missing: %v", h)
		}
		if _, ok := h["X-Empty"]; ok {
			t.Error("empty header sent")
		}
		key := h.Get("X-Sumo-Category") + "|" + h.Get("X-Sumo-Fields") + "|" + h.Get("X-Sumo-Host") + "|" + h.Get("X-Sumo-Name")
		if seen[key] {
			t.Errorf("two requests for the same header values %s", key)
		}
		seen[key] = true
		for _, l := range strings.Split(string(req.body), "\n") {
			total++
			r := encodingtest.MustRecord(l, nil)
			acct := string(r.Text(flowlog.FAccountID))
			var i int
			for i = range 30 {
				if b.Records[i].Text(flowlog.FBytes) != nil && string(b.Records[i].Raw) == l {
					break
				}
			}
			rec := b.Records[i]
			wantAcct, wantRegion, wantHost := acct, "", ""
			if acct == "" && rec.Origin == s3 {
				wantAcct = "999999999999"
			}
			switch {
			case rec.Origin == s3:
				wantRegion = "eu-west-1" // the input's region comes before the ENI's
			case rec.ENI != nil:
				wantRegion = "us-east-1"
			}
			if rec.Origin == cwl {
				wantHost = "vpc-logs"
			}
			wantCat := "aws/vpc/" + wantAcct
			if got := h.Get("X-Sumo-Category"); got != wantCat {
				t.Errorf("%s: category %q, want %q", l, got, wantCat)
			}
			wantFields := "region=" + wantRegion + ",vpc="
			if rec.ENI != nil {
				wantFields += "vpc-9"
			}
			if got := h.Get("X-Sumo-Fields"); got != wantFields {
				t.Errorf("%s: fields %q, want %q", l, got, wantFields)
			}
			if got := h.Get("X-Sumo-Host"); got != wantHost {
				t.Errorf("%s: host %q, want %q", l, got, wantHost)
			}
			if _, ok := h["X-Sumo-Host"]; wantHost == "" && ok {
				t.Errorf("%s: empty X-Sumo-Host sent", l)
			}
		}
	}
	if total != 30 {
		t.Fatalf("%d records arrived, want 30", total)
	}
	if len(seen) < 6 {
		t.Errorf("only %d groups", len(seen))
	}
}

func TestFailuresBatch(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	env := newTestSink(t, cfg)
	b := &flowlog.Batch{}
	b.Fail("parse", errors.New("line 1: 5 fields, want 14"), []byte("2 a b c d"), &flowlog.Origin{Name: "f.log"})
	b.Fail("parse", errors.New("line 2: bad"), []byte("junk"), nil)
	if err := write(t, env.sink, b); err != nil {
		t.Fatal(err)
	}
	want := `{"stage":"parse","error":"line 1: 5 fields, want 14","raw":"2 a b c d","input":"f.log"}` + "\n" +
		`{"stage":"parse","error":"line 2: bad","raw":"junk"}`
	if got := string(in.requests()[0].body); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEmptyBatch(t *testing.T) {
	in := newIntake(t, nil)
	env := newTestSink(t, testConfig(in.srv.URL))
	if err := write(t, env.sink, &flowlog.Batch{}); err != nil {
		t.Fatal(err)
	}
}

func TestIntakeDownThenUp(t *testing.T) {
	in := newIntake(t, nil)
	addr := in.srv.Listener.Addr().String()
	in.srv.Listener.Close() // the intake is down
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	env := newTestSink(t, cfg)
	done := make(chan error, 1)
	go func() { done <- write(t, env.sink, batch(0, 100)) }()
	waitFor(t, "network retries", func() bool { return env.counter("vpcflow_sink_http_retries_total", "class", "network") >= 3 })
	select {
	case err := <-done:
		t.Fatalf("Write returned %v while the intake is down", err)
	default:
	}
	// The intake comes back on the same address.
	srv := &http.Server{Handler: http.HandlerFunc(in.serve)}
	l := listenAgain(t, addr)
	go srv.Serve(l)
	defer srv.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sorted(in.lines()); !slices.Equal(got, sorted(wantLines(0, 100))) {
		t.Fatalf("%d lines arrived, want 100", len(got))
	}
}

func TestServiceUnavailableBurst(t *testing.T) {
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n <= 6 {
			w.WriteHeader([]int{503, 502, 500, 504, 408, 503}[n-1])
			return true
		}
		return false
	})
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	cfg.Batch.MaxBytes = 2000
	env := newTestSink(t, cfg)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			if err := write(t, env.sink, batch(w*50, 50)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := sorted(in.lines()); !slices.Equal(got, sorted(wantLines(0, 200))) {
		t.Fatalf("%d lines arrived, want 200", len(got))
	}
	if r := env.counter("vpcflow_sink_http_retries_total", "class", "5xx"); r != 5 {
		t.Errorf("5xx retries %v, want 5", r)
	}
	if r := env.counter("vpcflow_sink_http_retries_total", "class", "4xx"); r != 1 {
		t.Errorf("4xx retries %v, want 1", r)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var first time.Time
	var second time.Time
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		switch n {
		case 1:
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		case 2:
			second = time.Now()
		}
		return false
	})
	env := newTestSink(t, testConfig(in.srv.URL)) // backoff alone would wait ≤ 5ms
	if err := write(t, env.sink, batch(0, 3)); err != nil {
		t.Fatal(err)
	}
	if d := second.Sub(first); d < 950*time.Millisecond {
		t.Fatalf("retried after %s, Retry-After said 1s", d)
	}
	if len(in.lines()) != 3 {
		t.Fatalf("lines: %v", in.lines())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"0":                             0,
		"-3":                            0,
		"junk":                          0,
		"99999999":                      maxRetryAfter,
		"Fri, 02 Jan 2026 03:04:35 GMT": 30 * time.Second,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestRequestTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n == 1 {
			select { // hang past request_timeout
			case <-r.Context().Done():
			case <-release:
			}
			return true
		}
		return false
	})
	defer close(release)
	cfg := testConfig(in.srv.URL)
	cfg.RequestTimeout = 100 * time.Millisecond
	env := newTestSink(t, cfg)
	if err := write(t, env.sink, batch(0, 5)); err != nil {
		t.Fatal(err)
	}
	if len(in.lines()) != 5 || in.n.Load() != 2 {
		t.Fatalf("lines %d, requests %d", len(in.lines()), in.n.Load())
	}
	if !strings.Contains(env.logs.String(), "request_timeout") {
		t.Errorf("logs do not say the request timed out:\n%s", env.logs)
	}
}

func TestConnectionResetRetried(t *testing.T) {
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if n <= 3 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}
		return false
	})
	env := newTestSink(t, testConfig(in.srv.URL))
	if err := write(t, env.sink, batch(0, 20)); err != nil {
		t.Fatal(err)
	}
	if len(in.lines()) != 20 {
		t.Fatalf("%d lines", len(in.lines()))
	}
	if got := env.counter("vpcflow_sink_http_retries_total", "class", "network"); got != 3 {
		t.Errorf("network retries %v, want 3", got)
	}
}

// A 400 refuses the request for what it holds: the sink halves the body
// down to the offending record, delivers the rest and reports only that
// record, by its index in the Write's batch.
func TestRejected400SplitsDownToTheRecord(t *testing.T) {
	in := newRefusingIntake(t, func(w http.ResponseWriter, body []byte) bool {
		if strings.Contains(string(body), "POISON") {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return true
		}
		return false
	})
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	env := newTestSink(t, cfg)
	b := batch(0, 16)
	b.Records[5].Raw = []byte("POISON five")
	b.Records[11].Raw = []byte("POISON eleven")
	err := write(t, env.sink, b)
	r, ok := component.AsRejected(err)
	if !ok {
		t.Fatalf("err = %v, want a RejectedError", err)
	}
	if !slices.Equal(r.Indexes, []int{5, 11}) {
		t.Fatalf("rejected %v, want [5 11]", r.Indexes)
	}
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "bad payload") {
		t.Errorf("error does not say what happened: %v", err)
	}
	got := in.lines()
	slices.Sort(got)
	var want []string
	for i := range b.Records {
		if i != 5 && i != 11 {
			want = append(want, string(b.Records[i].Raw))
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("intake got %d lines %q, want the 14 others", len(got), got)
	}
	if got := env.counter("vpcflow_sink_http_records_failed_total"); got != 2 {
		t.Errorf("failed metric %v, want 2", got)
	}
	if got := env.counter("vpcflow_sink_http_records_delivered_total"); got != 14 {
		t.Errorf("delivered metric %v, want 14", got)
	}
	if env.sink.Blocked() != nil {
		t.Errorf("a refused record blocks the sink: %v", env.sink.Blocked())
	}
}

// A 413 splits the body and sends the halves; a record too large alone is
// refused.
func TestTooLargeSplitsAndResends(t *testing.T) {
	in := newRefusingIntake(t, func(w http.ResponseWriter, body []byte) bool {
		if len(body) > 200 {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return true
		}
		return false
	})
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	env := newTestSink(t, cfg)
	b := batch(0, 20)
	b.Records[7].Raw = bytes.Repeat([]byte("x"), 300)
	err := write(t, env.sink, b)
	if r, ok := component.AsRejected(err); !ok || !slices.Equal(r.Indexes, []int{7}) {
		t.Fatalf("err = %v, want record 7 rejected", err)
	}
	if got := len(in.lines()); got != 19 {
		t.Fatalf("intake got %d lines, want 19", got)
	}
}

// 401 is about the destination (a revoked or mistyped token), not the
// batch: the sink retries, reports itself blocked, and delivers everything
// once the token works again. Nothing is failed or lost.
func TestUnauthorizedRetriedUntilTheTokenWorks(t *testing.T) {
	var ok atomic.Bool
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if !ok.Load() {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return true
		}
		return false
	})
	cfg := testConfig(in.srv.URL + "/receiver/v1/http/SECRETTOKEN")
	cfg.Retry = RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond}
	env := newTestSink(t, cfg)
	done := make(chan error, 1)
	go func() { done <- write(t, env.sink, batch(0, 30)) }()
	deadline := time.Now().Add(5 * time.Second)
	for env.sink.Blocked() == nil {
		if time.Now().After(deadline) {
			t.Fatal("never reported blocked while the intake answers 401")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b := env.sink.Blocked(); !strings.Contains(b.Error(), "401") || strings.Contains(b.Error(), "SECRETTOKEN") {
		t.Errorf("Blocked = %v, want the status without the token", b)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Write returned %v while the intake refuses the token", err)
	default:
	}
	ok.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("Write = %v after the token works again", err)
	}
	if got := len(in.lines()); got != 30 {
		t.Errorf("intake got %d lines, want 30", got)
	}
	if env.sink.Blocked() != nil {
		t.Errorf("still blocked after delivery: %v", env.sink.Blocked())
	}
	if got := env.counter("vpcflow_sink_http_records_failed_total"); got != 0 {
		t.Errorf("failed %v, want 0", got)
	}
	if got := env.counter("vpcflow_sink_http_retries_total", "class", "4xx"); got < 2 {
		t.Errorf("4xx retries %v, want several", got)
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "401") || strings.Contains(logs, "SECRETTOKEN") {
		t.Errorf("logs must name the status and never the token:\n%s", logs)
	}
}

func TestMaxRetryDuration(t *testing.T) {
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	cfg := testConfig(in.srv.URL)
	cfg.MaxRetryDuration = 200 * time.Millisecond
	env := newTestSink(t, cfg)
	start := time.Now()
	err := write(t, env.sink, batch(0, 5))
	if !component.IsPermanent(err) || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %s", d)
	}
	if in.n.Load() < 2 {
		t.Errorf("only %d attempts", in.n.Load())
	}
}

// A request holding records of several Writes that the intake refuses
// for one record: only that record's Write hears of it, for that record
// alone; the others are delivered.
func TestRejectedOnlyForItsRecords(t *testing.T) {
	in := newRefusingIntake(t, func(w http.ResponseWriter, body []byte) bool {
		if strings.Contains(string(body), "POISON") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return true
		}
		return false
	})
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	cfg.Batch.MaxRecords = 20
	cfg.Batch.Timeout = time.Second
	cfg.Batch.IdleTimeout = 200 * time.Millisecond
	env := newTestSink(t, cfg)
	good := batch(0, 10)
	bad := batch(10, 10)
	bad.Records[3].Raw = []byte("POISON")
	errs := make(chan error, 2)
	go func() { errs <- write(t, env.sink, good) }()
	go func() { errs <- write(t, env.sink, bad) }()
	var rejected, delivered int
	for range 2 {
		err := <-errs
		switch r, ok := component.AsRejected(err); {
		case err == nil:
			delivered++
		case ok && slices.Equal(r.Indexes, []int{3}):
			rejected++
		default:
			t.Fatalf("Write = %v", err)
		}
	}
	if rejected != 1 || delivered != 1 {
		t.Fatalf("%d rejected, %d delivered; want 1 and 1", rejected, delivered)
	}
	if got := len(in.lines()); got != 19 {
		t.Errorf("intake got %d lines, want 19", got)
	}
}

func TestMaxBytesNeverExceeded(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	cfg.Batch.MaxBytes = 1000
	cfg.Compression = "gzip"
	env := newTestSink(t, cfg)
	b := batch(0, 300)
	big := strings.Repeat("x", 2500)
	b.Records[150].Raw = []byte(big) // larger than max_bytes: goes alone
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			part := &flowlog.Batch{Records: b.Records[i*100 : (i+1)*100]}
			if err := write(t, env.sink, part); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, r := range in.requests() {
		lines := strings.Split(string(r.body), "\n")
		n += len(lines)
		if len(r.body) > 1000 && !(len(lines) == 1 && lines[0] == big) {
			t.Errorf("body of %d bytes (%d lines) exceeds max_bytes", len(r.body), len(lines))
		}
	}
	if n != 300 {
		t.Fatalf("%d lines arrived, want 300", n)
	}
}

func TestMaxRecords(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Encoding = "raw"
	cfg.Batch.MaxRecords = 7
	env := newTestSink(t, cfg)
	if err := write(t, env.sink, batch(0, 50)); err != nil {
		t.Fatal(err)
	}
	for _, r := range in.requests() {
		if n := strings.Count(string(r.body), "\n") + 1; n > 7 {
			t.Errorf("%d records in one request", n)
		}
	}
	if got := sorted(in.lines()); !slices.Equal(got, sorted(wantLines(0, 50))) {
		t.Fatalf("%d lines", len(got))
	}
}

func TestBatchTimeoutFlush(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Batch.Timeout = 100 * time.Millisecond
	cfg.Batch.IdleTimeout = 0
	env := newTestSink(t, cfg)
	start := time.Now()
	if err := write(t, env.sink, batch(0, 1)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("a lone record was sent after %s, before batch.timeout", d)
	}
}

// Once no record comes, what is pending goes after batch.idle_timeout, not
// batch.timeout.
func TestIdleFlush(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Batch.Timeout = time.Hour
	cfg.Batch.IdleTimeout = 50 * time.Millisecond
	cfg.Encoding = "raw"
	env := newTestSink(t, cfg)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if err := write(t, env.sink, batch(i*10, 10)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 45*time.Millisecond || d > 30*time.Second {
		t.Errorf("delivered after %s", d)
	}
	if got := sorted(in.lines()); !slices.Equal(got, sorted(wantLines(0, 30))) {
		t.Fatalf("%d lines", len(got))
	}
}

func TestConcurrencyLimit(t *testing.T) {
	in := newIntake(t, nil)
	in.delay = 20 * time.Millisecond
	cfg := testConfig(in.srv.URL)
	cfg.Concurrency = 3
	cfg.Batch.MaxRecords = 5
	env := newTestSink(t, cfg)
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			if err := write(t, env.sink, batch(w*20, 20)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := in.maxInFlight.Load(); m > 3 || m < 2 {
		t.Fatalf("max requests in flight %d, want 2..3", m)
	}
	if len(in.lines()) != 200 {
		t.Fatalf("%d lines", len(in.lines()))
	}
}

func TestContextCancelAbortsWrite(t *testing.T) {
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	env := newTestSink(t, testConfig(in.srv.URL))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.sink.Write(ctx, batch(0, 5)) }()
	waitFor(t, "retries", func() bool { return in.n.Load() >= 2 })
	cancel()
	err := <-done
	if err == nil || component.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a non-permanent context error", err)
	}
}

func TestCloseAbandonsAndIsIdempotent(t *testing.T) {
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	env := newTestSink(t, testConfig(in.srv.URL))
	done := make(chan error, 1)
	go func() { done <- env.sink.Write(context.Background(), batch(0, 5)) }()
	waitFor(t, "retries", func() bool { return in.n.Load() >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := env.sink.Close(ctx); err == nil {
		t.Error("Close reported success with a request undelivered")
	}
	if err := <-done; err == nil || component.IsPermanent(err) {
		t.Fatalf("abandoned Write: %v", err)
	}
	if err := env.sink.Close(context.Background()); err == nil {
		t.Error("second Close changed its answer")
	}
	if err := env.sink.Write(context.Background(), batch(0, 1)); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestCloseFlushesPending(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Batch.Timeout = time.Hour
	env := newTestSink(t, cfg)
	done := make(chan error, 1)
	go func() { done <- write(t, env.sink, batch(0, 3)) }()
	waitFor(t, "pending bytes", func() bool { return env.counter("vpcflow_sink_http_pending_bytes") > 0 })
	if err := env.sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(in.lines()) != 3 {
		t.Fatalf("%d lines", len(in.lines()))
	}
}

func TestCloseWithoutWrites(t *testing.T) {
	s, err := New(testConfig("http://127.0.0.1:1/x"), componentSettings())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAuthHeaders(t *testing.T) {
	in := newIntake(t, nil)
	cfg := testConfig(in.srv.URL)
	cfg.Auth.Username, cfg.Auth.Password = "user", "pa55"
	env := newTestSink(t, cfg)
	if err := write(t, env.sink, batch(0, 1)); err != nil {
		t.Fatal(err)
	}
	if u, p, ok := (&http.Request{Header: in.requests()[0].header}).BasicAuth(); !ok || u != "user" || p != "pa55" {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}

	t.Setenv("VPCFLOW_TEST_TOKEN", "tok-123")
	in2 := newIntake(t, nil)
	cfg = testConfig(in2.srv.URL)
	cfg.Auth.BearerTokenEnv = "VPCFLOW_TEST_TOKEN"
	env2 := newTestSink(t, cfg)
	if err := write(t, env2.sink, batch(0, 1)); err != nil {
		t.Fatal(err)
	}
	if got := in2.requests()[0].header.Get("Authorization"); got != "Bearer tok-123" {
		t.Errorf("Authorization %q", got)
	}
	cfg.Auth.BearerTokenEnv = "VPCFLOW_TEST_TOKEN_UNSET"
	if _, err := New(cfg, componentSettings()); err == nil || !strings.Contains(err.Error(), "VPCFLOW_TEST_TOKEN_UNSET") {
		t.Errorf("missing token env: %v", err)
	}
}

func TestTLSWithCAFile(t *testing.T) {
	in := &intake{t: t}
	srv := httptest.NewTLSServer(http.HandlerFunc(in.serve))
	defer srv.Close()
	in.srv = srv
	caFile := writeCA(t, srv)
	cfg := testConfig(srv.URL)
	cfg.TLS.CAFile = caFile
	env := newTestSink(t, cfg)
	if err := write(t, env.sink, batch(0, 2)); err != nil {
		t.Fatal(err)
	}
	// Without the CA the certificate is refused, which is retried: give up fast.
	cfg.TLS.CAFile = ""
	cfg.MaxRetryDuration = 50 * time.Millisecond
	env2 := newTestSink(t, cfg)
	if err := write(t, env2.sink, batch(0, 1)); !component.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestRedirects(t *testing.T) {
	in := newIntake(t, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, in.srv.URL+"/new", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/kept", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, in.srv.URL+"/new", http.StatusPermanentRedirect)
	})
	front := httptest.NewServer(mux)
	defer front.Close()

	env := newTestSink(t, testConfig(front.URL+"/kept"))
	if err := write(t, env.sink, batch(0, 2)); err != nil {
		t.Fatal(err)
	}
	if reqs := in.requests(); len(reqs) != 1 || reqs[0].path != "/new" || len(strings.Split(string(reqs[0].body), "\n")) != 2 {
		t.Fatalf("308 not followed with its body: %+v", reqs)
	}
	// A 301 is a destination problem (the URL moved): retried, never
	// followed; here max_retry_duration ends the retries.
	cfg2 := testConfig(front.URL + "/moved")
	cfg2.MaxRetryDuration = 100 * time.Millisecond
	cfg2.Retry = RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond}
	env2 := newTestSink(t, cfg2)
	if err := write(t, env2.sink, batch(0, 2)); !component.IsPermanent(err) || !strings.Contains(err.Error(), "301") {
		t.Fatalf("301: %v", err)
	}
	if len(in.requests()) != 1 {
		t.Fatal("a 301 was followed")
	}
}
