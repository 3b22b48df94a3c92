package main

import (
	"context"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// top --once on a busy pipeline lists its components in the graph's order
// with non-zero rates where records flow.
func TestTopOnce(t *testing.T) {
	dir := t.TempDir()
	in := startInstance(t, `
sources: {in: {type: file, path: "-", batch_max_records: 200}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["10.0.0.0/8"]}
sinks:
  out: {type: file, inputs: [internal], path: "`+filepath.Join(dir, "out.json")+`", encoding: json}
  errs: {type: file, inputs: [parse.errors], path: "`+filepath.Join(dir, "errs.json")+`", encoding: json}
telemetry: {listen: "127.0.0.1:0"}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a steady stream, ~20 k records/s
		for i := 0; ctx.Err() == nil; i += 400 {
			if _, err := io.WriteString(in.stdin, flowLines(i, 400)); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	r := vpcflow(t, nil, nil, "top", "--once", "--url", "http://"+in.addr)
	if r.code != 0 {
		t.Fatalf("top --once: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("\n%s", r.stdout)
	rows := map[string][]string{}
	var order []string
	for _, l := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(l)
		if len(f) >= 7 && (f[1] == "source" || f[1] == "stage" || f[1] == "sink") {
			rows[f[0]] = f
			order = append(order, f[0])
		}
	}
	if got := strings.Join(order, " "); got != "in parse internal errs out" {
		t.Fatalf("components %q, want in parse internal errs out:\n%s", got, r.stdout)
	}
	nonZero := func(id string, col int, name string) {
		t.Helper()
		v := rows[id][col]
		mult := 1.0
		switch {
		case strings.HasSuffix(v, "k"):
			v, mult = strings.TrimSuffix(v, "k"), 1e3
		case strings.HasSuffix(v, "M"):
			v, mult = strings.TrimSuffix(v, "M"), 1e6
		}
		if f, err := strconv.ParseFloat(v, 64); err != nil || f*mult <= 0 {
			t.Errorf("%s %s = %q, want a positive rate:\n%s", id, name, rows[id][col], r.stdout)
		}
	}
	nonZero("in", 3, "IN/S")
	nonZero("parse", 3, "IN/S")
	nonZero("parse", 4, "OUT/S")
	nonZero("parse", 6, "ERR/S")
	nonZero("internal", 5, "DROP/S")
	nonZero("out", 4, "OUT/S")
	nonZero("errs", 4, "OUT/S")
	if rows["parse"][2] != "parse_flowlog" || rows["out"][2] != "file" {
		t.Errorf("types: %v %v", rows["parse"], rows["out"])
	}
	if !strings.Contains(r.stdout, "batches in flight") || !strings.Contains(r.stdout, "latency ") {
		t.Errorf("no pipeline summary or sink latency:\n%s", r.stdout)
	}

	// Without telemetry.tap, /tap refuses and says why.
	r = vpcflow(t, nil, nil, "tap", "parse", "--url", in.addr)
	if r.code != 1 || !strings.Contains(r.stderr, "tap is off: set telemetry.tap: true") {
		t.Fatalf("tap while off: exit %d\n%s", r.code, r.stderr)
	}
	// Nothing listening: top says where it looked.
	r = vpcflow(t, nil, nil, "top", "--once", "--url", "127.0.0.1:1")
	if r.code != 1 || !strings.Contains(r.stderr, "scraping http://127.0.0.1:1/metrics") {
		t.Fatalf("top without an instance: exit %d\n%s", r.code, r.stderr)
	}
}
