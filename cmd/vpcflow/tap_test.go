package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// instance is `vpcflow run` reading stdin, with its telemetry address.
type instance struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startInstance runs yaml (which must listen on 127.0.0.1:0) and waits
// for its telemetry address.
func startInstance(t *testing.T, yaml string) *instance {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: exec.Command(binary, "run", "--config", cfg), stderr: &lockedBuffer{}, done: make(chan error, 1)}
	in.stdin, _ = in.cmd.StdinPipe()
	pr, pw := io.Pipe()
	in.cmd.Stderr = pw
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.done <- in.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		in.cmd.Process.Kill()
		<-in.done
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			in.stderr.Write(append(sc.Bytes(), '\n'))
			var l struct{ Msg, Address string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "serving metrics and health" {
				addr <- l.Address
			}
		}
	}()
	select {
	case in.addr = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatalf("no telemetry address:\n%s", in.stderr)
	}
	return in
}

// wait closes stdin and waits for the pipeline to deliver everything.
func (in *instance) wait(t *testing.T) {
	t.Helper()
	in.stdin.Close()
	select {
	case err := <-in.done:
		in.done <- err
		if err != nil {
			t.Fatalf("vpcflow run: %v\n%s", err, in.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("vpcflow run did not finish:\n%s", in.stderr)
	}
}

// flowLines are n flow-log lines: one in three between two 10.x
// addresses (dropped by a cidr_filter on 10.0.0.0/8), one in a hundred
// not a flow log at all.
func flowLines(from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		switch {
		case i%100 == 99:
			fmt.Fprintf(&b, "not a flow log %d\n", i)
		case i%3 == 0:
			fmt.Fprintf(&b, "2 123456789010 eni-%08x 10.0.%d.%d 10.1.0.1 %d 443 6 10 %d 1700000000 1700000060 ACCEPT OK\n", i, i/250%250, i%250, 1024+i%60000, 40+i)
		default:
			fmt.Fprintf(&b, "2 123456789010 eni-%08x 203.0.%d.%d 10.1.0.1 %d 443 6 10 %d 1700000000 1700000060 REJECT OK\n", i, i/250%250, i%250, 1024+i%60000, 40+i)
		}
	}
	return b.String()
}

// tapCmd is a running `vpcflow tap`.
type tapCmd struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// startTap starts vpcflow tap and waits until it is attached.
func startTap(t *testing.T, args ...string) *tapCmd {
	t.Helper()
	tc := &tapCmd{cmd: exec.Command(binary, append([]string{"tap"}, args...)...)}
	tc.cmd.Stdout = &tc.stdout
	se, _ := tc.cmd.StderrPipe()
	if err := tc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(se).ReadString('\n')
	if !strings.HasPrefix(line, "tapping ") {
		tc.cmd.Wait()
		t.Fatalf("vpcflow tap %v: %q %v", args, line, err)
	}
	go io.Copy(&tc.stderr, se)
	return tc
}

func (tc *tapCmd) wait(t *testing.T) []string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- tc.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.cmd.Args, err, tc.stderr.String())
		}
	case <-time.After(30 * time.Second):
		tc.cmd.Process.Kill()
		t.Fatalf("%v did not end", tc.cmd.Args)
	}
	return strings.Split(strings.TrimSuffix(tc.stdout.String(), "\n"), "\n")
}

// Taps of parse, of a cidr_filter and of parse.errors return records the
// sinks reading those outputs received, byte for byte in the same
// encoding; an unknown component is a clear error.
func TestTapRunningPipeline(t *testing.T) {
	dir := t.TempDir()
	out := func(name string) string { return filepath.Join(dir, name) }
	in := startInstance(t, `
sources: {in: {type: file, path: "-", batch_max_records: 500}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["10.0.0.0/8"]}
sinks:
  parsed: {type: file, inputs: [parse], path: "`+out("parsed.json")+`", encoding: json}
  kept: {type: file, inputs: [internal], path: "`+out("kept.sumo")+`", encoding: sumo_vpc_json}
  errs: {type: file, inputs: [parse.errors], path: "`+out("errs.json")+`", encoding: json}
telemetry: {listen: "127.0.0.1:0", tap: true}
`)
	url := "http://" + in.addr
	parse := startTap(t, "parse", "--limit", "40", "--url", url)
	kept := startTap(t, "internal", "--encoding", "sumo_vpc_json", "--limit", "40", "--url", in.addr)
	errs := startTap(t, "--url", url, "--limit", "5", "parse.errors")
	raw := startTap(t, "in", "--encoding", "raw", "--limit", "10", "--url", url)

	r := vpcflow(t, nil, nil, "tap", "nope", "--url", url)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown component "nope": outputs are in, internal, parse (each also as <id>.errors)`) {
		t.Fatalf("tap of an unknown component: exit %d\n%s", r.code, r.stderr)
	}
	r = vpcflow(t, nil, nil, "tap", "kept", "--url", url)
	if r.code != 1 || !strings.Contains(r.stderr, "sinks.kept is a sink") {
		t.Fatalf("tap of a sink: exit %d\n%s", r.code, r.stderr)
	}

	input := flowLines(0, 3000)
	if _, err := io.WriteString(in.stdin, input); err != nil {
		t.Fatal(err)
	}
	in.wait(t)

	for _, tc := range []struct {
		tap  *tapCmd
		sink string
		n    int
	}{{parse, "parsed.json", 40}, {kept, "kept.sumo", 40}, {errs, "errs.json", 5}, {raw, "", 10}} {
		got := tc.tap.wait(t)
		if tc.tap == kept {
			// The filter's tap saw only records it kept.
			for _, l := range got {
				if strings.Contains(l, " 10.0.") {
					t.Errorf("tap of internal shows a record it dropped: %s", l)
				}
			}
		}
		want := strings.Split(input, "\n")
		if tc.sink != "" {
			want = readLines(t, out(tc.sink))
		}
		if len(got) != tc.n {
			t.Errorf("%v: %d lines, want %d", tc.tap.cmd.Args[1:], len(got), tc.n)
		}
		for _, l := range got {
			if !slices.Contains(want, l) {
				t.Errorf("%v: %q is not what %s received", tc.tap.cmd.Args[1:], l, tc.sink)
			}
		}
	}
}

// /tap answers only from loopback, and only when telemetry.tap is on.
func TestTapRefusals(t *testing.T) {
	for _, tc := range []struct {
		tap    bool
		remote string
		code   int
		want   string
	}{
		{false, "127.0.0.1:5000", http.StatusForbidden, "tap is off"},
		{true, "10.0.3.7:5000", http.StatusForbidden, "only from inside the pod"},
		{true, "[::ffff:192.0.2.1]:5000", http.StatusForbidden, "only from inside the pod"},
		{true, "127.0.0.1:5000", http.StatusServiceUnavailable, "starting"},
		{true, "[::1]:5000", http.StatusServiceUnavailable, "starting"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/tap?component=parse", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		newLive(tc.tap).serveTap(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("tap %v from %s: %d %q, want %d %q", tc.tap, tc.remote, rec.Code, rec.Body.String(), tc.code, tc.want)
		}
	}
}
