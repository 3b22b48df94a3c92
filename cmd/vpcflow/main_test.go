package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vpcflow-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "vpcflow")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func vpcflow(t *testing.T, env []string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, so.String(), se.String()}
}

func TestVersionAndUsage(t *testing.T) {
	if r := vpcflow(t, nil, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "vpcflow ") {
		t.Fatalf("version: %+v", r)
	}
	if r := vpcflow(t, nil, nil, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %+v", r)
	}
	if r := vpcflow(t, nil, nil, "run"); r.code != 2 || !strings.Contains(r.stderr, "--config FILE is required") {
		t.Fatalf("run without config: %+v", r)
	}
}

func TestValidateFixtures(t *testing.T) {
	env := []string{"INPUT=/dev/null", "OUTPUT=/dev/null", "ERRORS=/dev/null", "SUMO_HTTP_URL=https://collectors.example.com/receiver/v1/http/SECRETTOKEN",
		"FLOWS=/dev/null", "KAFKA_BROKERS=127.0.0.1:9092", "INTAKE_URL=http://127.0.0.1:9/bulk", "QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/flows",
		"BUFFER_DIR=" + t.TempDir()}
	good, _ := filepath.Glob("testdata/config/*.good.yaml")
	examples, _ := filepath.Glob("../../examples/*.yaml")
	good = append(good, examples...)
	if len(good) == 0 {
		t.Fatal("no good fixtures")
	}
	for _, f := range good {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := vpcflow(t, env, nil, "validate", "--config", f)
			if r.code != 0 || !strings.Contains(r.stdout, ": ok") {
				t.Fatalf("validate %s: exit %d\n%s%s", f, r.code, r.stdout, r.stderr)
			}
		})
	}
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"unknown-key.bad.yaml", []string{
			`sources.in (file): batch_record: unknown key (line 2); did you mean "batch_records"?`,
			`stages.parse (parse_flowlog): formt: unknown key (line 4); did you mean "format"?`,
			`sinks.out (file): encodng: unknown key (line 6); did you mean "encoding"?`,
		}},
		{"graph.bad.yaml", []string{
			`stages.parse: inputs: "inn" is not a source or stage; did you mean "in"?`,
			`stages: cycle among a, b`,
			`sinks.orphan: type: unknown sink type "kafka_sink"`,
		}},
		{"buffer.bad.yaml", []string{
			`sinks.a.buffer.type: must be memory or disk, got "tape"`,
			`sinks.b.buffer.max_bytes: 10 is below the minimum`,
			`sinks.b.buffer.path: missing`,
			`sinks.c.buffer.max_size: unknown key`,
			`sinks.d.buffer: invalid size "lots"`,
			`sinks.e.buffer.path: cannot create /proc/vpcflow-buffer`,
		}},
		{"values.bad.yaml", []string{
			`stages.parse (parse_flowlog): format`, `srcaddress`,
			`stages.internal (cidr_filter): drop_when_both_in`, `10.0.0.0/33`,
			`sinks.out (file): encoding`, `xml`,
			`sinks.sumo.url: environment variable SUMO_HTTP_URL is not set`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := vpcflow(t, nil, nil, "validate", "--config", filepath.Join("testdata/config", tc.file))
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

func TestRunFilePipelineDeliversEverything(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o755)
	in := filepath.Join(dir, "in", "flows.log.gz")
	genFlows(t, in, "--count", "20000", "--header", "--enis", "300")
	// A second input, plain, with damage in it.
	bad := filepath.Join(dir, "in", "more.log")
	os.WriteFile(bad, []byte(strings.Join([]string{
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 70000 6 20 4249 1418530010 1418530070 ACCEPT OK",
		"not a flow log at all",
		"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
	}, "\n")+"\n"), 0o644)
	out, errs := filepath.Join(dir, "out.json"), filepath.Join(dir, "errors.json")
	env := []string{"INPUT=" + filepath.Join(dir, "in", "*"), "OUTPUT=" + out, "ERRORS=" + errs}
	r := vpcflow(t, env, nil, "run", "--config", "testdata/config/file.good.yaml")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	outLines := readLines(t, out)
	errLines := readLines(t, errs)
	if len(errLines) != 2 {
		t.Fatalf("%d error records, want 2: %.2000v", len(errLines), errLines)
	}
	for _, l := range errLines {
		var e struct{ Stage, Error, Raw, Input string }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("error line %q: %v", l, err)
		}
		if e.Stage != "parse" || e.Error == "" || !strings.Contains(e.Input, "more.log") {
			t.Errorf("error record %+v lacks stage, reason or input", e)
		}
	}
	// Every record is either delivered or dropped on purpose by the CIDR
	// filter: compare with the stage counters printed nowhere, so count the
	// internal flows ourselves.
	if len(outLines) < 1000 || len(outLines) > 20002 {
		t.Fatalf("%d records delivered", len(outLines))
	}
	for _, l := range outLines[:100] {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		if _, ok := m["version"].(float64); !ok {
			t.Fatalf("version is not a number in %s", l)
		}
		if _, ok := m["account-id"].(string); !ok {
			t.Fatalf("account-id is not a string in %s", l)
		}
	}
}

func TestCorruptGzipDeliversRecordsBeforeTheDamage(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "a.log.gz")
	genFlows(t, gz, "--count", "5000")
	data, _ := os.ReadFile(gz)
	os.WriteFile(gz, data[:len(data)*2/3], 0o644) // truncated
	out, errs := filepath.Join(dir, "out.json"), filepath.Join(dir, "errors.json")
	env := []string{"INPUT=" + gz, "OUTPUT=" + out, "ERRORS=" + errs}
	r := vpcflow(t, env, nil, "run", "--config", "testdata/config/file.good.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "a.log.gz") {
		t.Errorf("log does not name the damaged file:\n%s", r.stderr)
	}
	// The damage is reported by the source, naming the file; the cut-off
	// last line, if any, is a parse error.
	errLines := readLines(t, errs)
	if len(errLines) < 1 || len(errLines) > 2 || !strings.Contains(errLines[0]+errLines[len(errLines)-1], `"stage":"in"`) ||
		!strings.Contains(errLines[0], "a.log.gz") {
		t.Fatalf("errors: %.2000v", errLines)
	}
	if n := len(readLines(t, out)); n < 1000 {
		t.Fatalf("only %d records before the damage delivered", n)
	}
}

func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "p.yaml")
	out := filepath.Join(dir, "out.json")
	os.WriteFile(cfg, []byte(`
sources: {in: {type: file, path: "-", batch_max_records: 1}}
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks: {out: {type: file, inputs: [parse], path: "`+out+`", encoding: raw}}
shutdown_timeout: 5s
`), 0o644)
	cmd := exec.Command(binary, "run", "--config", cfg)
	stdin, _ := cmd.StdinPipe()
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n"
	fmt.Fprint(stdin, line)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if data, _ := os.ReadFile(out); len(data) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record not delivered: %s", se.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, se.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("did not exit after SIGTERM")
	}
	stdin.Close()
	if got := strings.Join(readLines(t, out), "\n") + "\n"; got != line {
		t.Fatalf("output %q", got)
	}
}

// genFlows runs vpcflow gen with args, writing to path.
func genFlows(t *testing.T, path string, args ...string) {
	t.Helper()
	if r := vpcflow(t, nil, nil, append(append([]string{"gen"}, args...), "-o", path)...); r.code != 0 {
		t.Fatalf("gen: %+v", r)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestDevRunsTheWholeGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("runs vpcflow dev for a few seconds")
	}
	r := vpcflow(t, nil, nil, "dev", "--duration", "6s", "--rate", "2000", "--enis", "50", "--every", "1s", "--listen", "127.0.0.1:0")
	if r.code != 0 {
		t.Fatalf("dev: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"in-process Kafka", "rec/s", "ENI cache hit", "done: produced", `"security-group-ids"`, `"direction"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dev output lacks %q:\n%s", want, r.stdout)
		}
	}
	var delivered int
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "done:") {
			fmt.Sscanf(l[strings.Index(l, "delivered"):], "delivered %d", &delivered)
		}
	}
	if delivered < 1000 {
		t.Fatalf("dev delivered %d records:\n%s", delivered, r.stdout)
	}
}
