package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/internal/testkit"
)

// TestDiskBufferSurvivesOutageAndSIGKILL runs the binary on a Kafka topic
// (kfake) with two HTTP intakes: "siem" answers 503, "sumo" is healthy.
// With a disk buffer on siem, sumo receives every record and the group's
// lag reaches 0 while siem is down. The process is SIGKILLed, a segment
// gets a torn tail, and after a restart siem, back up, receives every
// record from the buffer; the damage is reported.
func TestDiskBufferSurvivesOutageAndSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary against kfake for several seconds")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	const records = 20000
	genFlows(t, in, "--count", fmt.Sprint(records), "--enis", "50")
	lines := readLines(t, in)
	want := map[string]bool{}
	for _, l := range lines {
		want[l] = true
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "flows"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// 100 lines per Kafka record, as a CloudWatch or Firehose relay packs them.
	var recs []*kgo.Record
	for i := 0; i < len(lines); i += 100 {
		recs = append(recs, &kgo.Record{Topic: "flows", Value: []byte(strings.Join(lines[i:min(i+100, len(lines))], "\n"))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var down atomic.Bool
	down.Store(true)
	siem := newCollector(func(int64) (int, http.Header) {
		if down.Load() {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	sumo := newCollector(nil)
	siemSrv, sumoSrv := httptest.NewServer(siem), httptest.NewServer(sumo)
	defer siemSrv.Close()
	defer sumoSrv.Close()

	bufDir := filepath.Join(dir, "buffers")
	listen := freeAddr(t)
	cfg := filepath.Join(dir, "p.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
sources:
  flows: {type: kafka, brokers: [%q], topic: flows, group: vpcflow, start_from: earliest, commit_interval: 100ms, lag_interval: 200ms,
    session_timeout: 6s, heartbeat_interval: 500ms, rebalance_timeout: 3s}
stages:
  parse: {type: parse_flowlog, inputs: [flows]}
sinks:
  sumo: {type: http, inputs: [parse], url: "${SUMO_URL}", encoding: sumo_vpc_json, batch: {timeout: 50ms}}
  siem:
    type: http
    inputs: [parse]
    url: "${SIEM_URL}"
    encoding: sumo_vpc_json
    batch: {timeout: 50ms}
    retry: {initial_interval: 20ms, max_interval: 200ms}
    buffer: {type: disk, path: %q, max_bytes: 64MiB}
max_in_flight: 4
shutdown_timeout: 5s
telemetry: {listen: %q}
`, brokers[0], bufDir, listen)), 0o644)
	env := []string{"SUMO_URL=" + sumoSrv.URL + "/receiver/v1/http/TOKEN", "SIEM_URL=" + siemSrv.URL + "/bulk"}

	first := startBinary(t, env, "run", "--config", cfg)
	eventually(t, 60*time.Second, "the healthy intake receives every record", first, func() bool { return sumo.distinct() == len(want) })
	eventually(t, 30*time.Second, "the group's lag reaches 0", first, func() bool {
		lags, err := adm.Lag(ctx, "vpcflow")
		if err != nil {
			return false
		}
		l, ok := lags["vpcflow"]
		return ok && l.Error() == nil && len(l.Lag) > 0 && l.Lag.Total() == 0
	})
	if n := siem.distinct(); n != 0 {
		t.Fatalf("the down intake accepted %d records", n)
	}
	metrics := bufferMetrics(t, listen)
	for _, m := range []string{`vpcflow_sink_buffer_records{sink="siem"} 20000`, `vpcflow_sink_buffer_bytes{sink="siem"}`,
		`vpcflow_sink_buffer_oldest_seconds{sink="siem"}`, `vpcflow_sink_buffer_dropped_records_total{sink="siem"} 0`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait(10 * time.Second)

	// A write torn by a crash: half a frame header at the end of the last
	// segment.
	segs, _ := filepath.Glob(filepath.Join(bufDir, "siem", "*.seg"))
	if len(segs) == 0 {
		t.Fatalf("no segment in %s", bufDir)
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x10, 0, 0, 0, 0xde, 0xad})
	f.Close()

	down.Store(false)
	second := startBinary(t, env, "run", "--config", cfg)
	eventually(t, 60*time.Second, "the intake back up receives every record from the buffer", second, func() bool { return siem.distinct() == len(want) })
	eventually(t, 10*time.Second, "the buffer empty", second, func() bool {
		return strings.Contains(bufferMetrics(t, listen), `vpcflow_sink_buffer_records{sink="siem"} 0`)
	})
	second.cmd.Process.Signal(syscall.SIGTERM)
	if err := second.wait(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, second.logs()[max(0, len(second.logs())-30000):])
	}
	logs := second.logs()
	if !strings.Contains(logs, "torn or corrupt segment tail skipped") || !strings.Contains(logs, "disk buffer recovered") {
		t.Errorf("recovery not reported:\n%.4000s", logs)
	}
	// Both intakes take sumo_vpc_json: the buffered one got exactly what
	// the healthy one did.
	siem.mu.Lock()
	sumo.mu.Lock()
	for l := range sumo.lines {
		if siem.lines[l] == 0 {
			t.Errorf("record missing at the buffered intake: %s", l)
			break
		}
	}
	sumo.mu.Unlock()
	siem.mu.Unlock()
	if left, _ := filepath.Glob(filepath.Join(bufDir, "siem", "*.seg")); len(left) > 1 {
		t.Errorf("consumed segments left on disk: %v", left)
	}
}

type proc struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	done   chan error
}

func (p *proc) logs() string { return p.stderr.String() }

func (p *proc) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		p.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump in the logs
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
		}
		return fmt.Errorf("still running after %s", d)
	}
}

func startBinary(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &testkit.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return p
}

func eventually(t *testing.T, d time.Duration, what string, p *proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s; logs:\n%.6000s", what, p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func bufferMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "vpcflow_sink_buffer") {
			b.WriteString(sc.Text() + "\n")
		}
	}
	io.Copy(io.Discard, resp.Body)
	return b.String()
}
