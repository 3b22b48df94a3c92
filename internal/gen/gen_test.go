package gen

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1700000000, 0)

func generate(t testing.TB, cfg Config) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := Run(context.Background(), &buf, cfg); err != nil {
		t.Fatalf("Run(%+v): %v", cfg, err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// TestEveryFormatParses generates each named format and a custom one,
// with its header, and parses every line with the format named by the
// header, as the parse stage's auto mode does.
func TestEveryFormatParses(t *testing.T) {
	formats := append([]string{}, FormatNames...)
	formats = append(formats, "${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr} ${action} ${reject-reason} ${ecs-task-id} ${tgw-src-eni}")
	for _, name := range formats {
		t.Run(name, func(t *testing.T) {
			lines := generate(t, Config{Format: name, Count: 3000, Header: true, Seed: 7, ENIs: 40, Accounts: 2, Start: t0})
			if len(lines) != 3001 {
				t.Fatalf("%d lines, want 3001", len(lines))
			}
			want, err := Format(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parse.ParseHeader([]byte(lines[0]))
			if err != nil {
				t.Fatalf("header %q: %v", lines[0], err)
			}
			if f.String() != want.String() && name != "default" && name != "v2" {
				t.Errorf("header format %q, want %q", f, want)
			}
			for i, l := range lines[1:] {
				r := flowlog.Record{Raw: []byte(l)}
				if err := f.Parse(&r); err != nil {
					t.Fatalf("line %d %q: %v", i+2, l, err)
				}
				if f.Has(flowlog.FVersion) && int(r.Version) != formatVersion(want) {
					t.Fatalf("line %d: version %d", i+2, r.Version)
				}
			}
		})
	}
}

func TestVersions(t *testing.T) {
	for name, v := range map[string]int{"default": 2, "v3": 3, "v4": 4, "v5": 5, "v6": 5, "v7": 7, "v8": 8, "tgw": 6} {
		f, err := Format(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatVersion(f); got != v {
			t.Errorf("%s: version %d, want %d", name, got, v)
		}
	}
	f, _ := Format("v3")
	if got := f.Header(); got != "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr" {
		t.Errorf("v3 = %q", got)
	}
	if _, err := Format("v9"); err == nil {
		t.Error("v9 accepted")
	}
	if _, err := Format("${nosuch}"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("custom unknown field: %v", err)
	}
	if err := Run(context.Background(), io.Discard, Config{Format: "bogus", Count: 1}); err == nil {
		t.Error("Run with a bad format succeeded")
	}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Format: "v5", Count: 500, Seed: 42, Start: t0}
	a := generate(t, cfg)
	b := generate(t, cfg)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("same seed, different output")
	}
	cfg.Seed = 43
	if c := generate(t, cfg); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("different seed, same output")
	}
}

// TestMix checks the traffic mix over a default-format run against the
// interface pool.
func TestMix(t *testing.T) {
	cfg := Config{Count: 20000, Seed: 3, ENIs: 60, Start: t0}
	pool := NewENIPool(cfg)
	owner := map[netip.Addr]*ENI{}
	secondary := map[netip.Addr]bool{}
	byID := map[string]*ENI{}
	for i := range pool {
		e := &pool[i]
		byID[e.ID] = e
		for k, a := range e.PrivateIPs {
			owner[a] = e
			secondary[a] = k > 0
		}
		for _, a := range e.IPv6 {
			owner[a] = e
		}
	}
	count := map[string]int{}
	f := parse.Default()
	for _, l := range generate(t, cfg) {
		r := flowlog.Record{Raw: []byte(l)}
		if err := f.Parse(&r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		count[string(r.Text(flowlog.FLogStatus))]++
		count[string(r.Text(flowlog.FAction))]++
		if !r.Has(flowlog.FSrcAddr) {
			continue
		}
		count["proto"+string(r.Text(flowlog.FProtocol))]++
		e := byID[string(r.Text(flowlog.FInterfaceID))]
		if e == nil {
			t.Fatalf("unknown interface in %q", l)
		}
		srcMine, dstMine := owner[r.SrcAddr] == e, owner[r.DstAddr] == e
		if !srcMine && !dstMine {
			t.Fatalf("neither address belongs to %s: %q", e.ID, l)
		}
		if srcMine {
			count["outbound"]++
		} else {
			count["inbound"]++
		}
		if secondary[r.SrcAddr] && srcMine || secondary[r.DstAddr] && dstMine {
			count["secondary"]++
		}
		if r.SrcAddr.Is6() {
			count["ipv6"]++
		}
		src, dst := owner[r.SrcAddr], owner[r.DstAddr]
		switch {
		case src != nil && dst != nil && src.SubnetID == dst.SubnetID:
			count["same-subnet"]++
		case src != nil && dst != nil:
			count["cross-subnet"]++
		default:
			count["public"]++
		}
		if r.DstPort < 1024 && r.DstPort > 0 {
			count["well-known"]++
		}
		if r.SrcPort >= 32768 || r.DstPort >= 32768 {
			count["ephemeral"]++
		}
	}
	for _, k := range []string{"OK", "NODATA", "SKIPDATA", "ACCEPT", "REJECT", "proto6", "proto17", "proto1", "proto58",
		"outbound", "inbound", "secondary", "ipv6", "same-subnet", "cross-subnet", "public", "well-known", "ephemeral"} {
		if count[k] < 20 {
			t.Errorf("%s: only %d of 20000 lines", k, count[k])
		}
	}
	if count["REJECT"] > count["ACCEPT"]/2 {
		t.Errorf("too many rejects: %v", count)
	}
	t.Logf("mix: %v", count)
}

func TestENIPool(t *testing.T) {
	cfg := Config{ENIs: 200, Accounts: 3, Seed: 9, Region: "eu-west-1"}
	a, b := NewENIPool(cfg), NewENIPool(cfg)
	if len(a) != 200 {
		t.Fatalf("%d interfaces", len(a))
	}
	ids := map[string]bool{}
	accounts := map[string]bool{}
	ips := map[netip.Addr]bool{}
	var withV6, withSecondary, withoutInstance int
	for i := range a {
		e := &a[i]
		if e.ID != b[i].ID || e.PrivateIPs[0] != b[i].PrivateIPs[0] {
			t.Fatal("pool not deterministic")
		}
		if ids[e.ID] || !strings.HasPrefix(e.ID, "eni-") || len(e.ID) != 21 {
			t.Errorf("bad or duplicate id %q", e.ID)
		}
		ids[e.ID] = true
		accounts[e.Account] = true
		if len(e.Account) != 12 || e.Region != "eu-west-1" || !strings.HasPrefix(e.AZ, "eu-west-1") || !strings.HasPrefix(e.AZID, "euw1-az") {
			t.Errorf("bad placement %+v", e)
		}
		if !strings.HasPrefix(e.VPCID, "vpc-") || !strings.HasPrefix(e.SubnetID, "subnet-") || len(e.SecurityGroups) == 0 {
			t.Errorf("bad ids %+v", e)
		}
		for _, ip := range e.PrivateIPs {
			if !e.SubnetCIDR.Contains(ip) || !e.VPCCIDR.Contains(ip) || !ip.IsPrivate() {
				t.Errorf("%s: %v outside %v", e.ID, ip, e.SubnetCIDR)
			}
			if ips[ip] {
				t.Errorf("address %v used twice", ip)
			}
			ips[ip] = true
		}
		if len(e.IPv6) > 0 {
			withV6++
		}
		if len(e.PrivateIPs) > 1 {
			withSecondary++
		}
		if e.InstanceID == "" {
			withoutInstance++
		} else if e.Type != "interface" {
			t.Errorf("%s: instance on a %s", e.ID, e.Type)
		}
	}
	if len(accounts) != 3 || withV6 == 0 || withSecondary == 0 || withoutInstance == 0 {
		t.Errorf("accounts %d, v6 %d, secondary %d, no instance %d", len(accounts), withV6, withSecondary, withoutInstance)
	}
	if c := NewENIPool(Config{ENIs: 200, Accounts: 3, Seed: 10}); c[0].ID == a[0].ID {
		t.Error("seed ignored")
	}
}

func TestRate(t *testing.T) {
	start := time.Now()
	lines := generate(t, Config{Count: 100, Rate: 1000, Seed: 1})
	if len(lines) != 100 {
		t.Fatalf("%d lines", len(lines))
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("100 lines at 1000/s took %v", d)
	}
}

func TestUnlimitedStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, pw, Config{Rate: 100000})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for i := 0; i < 10 && sc.Scan(); i++ {
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestRecord(t *testing.T) {
	g, err := New(Config{Format: "v8", Seed: 5, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		r, err := g.Record()
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != 8 || !r.Has(flowlog.FInterfaceID) {
			t.Fatalf("record %q", r.Raw)
		}
	}
}

// BenchmarkRun measures unthrottled generation of default-format lines.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./internal/gen/ | tee new.txt
func BenchmarkRun(b *testing.B) {
	for _, name := range []string{"default", "v5"} {
		b.Run(name, func(b *testing.B) {
			g, err := New(Config{Format: name, Seed: 1, ENIs: 500, Start: t0})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 4096)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				buf = g.AppendLine(buf[:0])
				n += len(buf) + 1
			}
			b.SetBytes(int64(n / max(1, b.N)))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// TestParallelMatchesSequential: the output does not depend on the number
// of workers nor on throttling.
func TestParallelMatchesSequential(t *testing.T) {
	cfg := Config{Format: "v3", Count: 3*chunkLines + 17, Seed: 11, Start: t0}
	want := strings.Join(generate(t, Config{Format: cfg.Format, Count: cfg.Count, Seed: cfg.Seed, Start: t0, Rate: 1e12}), "\n")
	for _, workers := range []int{1, 2, 5} {
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := runParallel(context.Background(), &buf, g, workers); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(buf.String(), "\n"); got != want {
			t.Errorf("%d workers: output differs from the sequential run (%d vs %d bytes)", workers, len(got), len(want))
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, io.ErrShortWrite
	}
	w.after--
	return len(p), nil
}

func TestWriteErrorStops(t *testing.T) {
	for _, cfg := range []Config{{Count: 0}, {Count: 100 * chunkLines}, {Count: 0, Rate: 1e9}} {
		err := Run(context.Background(), &failingWriter{after: 2}, cfg)
		if err != io.ErrShortWrite {
			t.Errorf("%+v: Run = %v, want the write error", cfg, err)
		}
	}
}

func TestCancelWithCount(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, io.Discard, Config{Count: 10 * chunkLines}); err != context.Canceled {
		t.Errorf("Run with a cancelled context = %v", err)
	}
	if err := Run(ctx, io.Discard, Config{}); err != nil {
		t.Errorf("unlimited Run with a cancelled context = %v", err)
	}
}

// BenchmarkRunParallel measures Run end to end (every CPU, to io.Discard);
// one op is 65536 default-format lines.
func BenchmarkRunParallel(b *testing.B) {
	const lines = 16 * chunkLines
	cfg := Config{Count: lines, Seed: 1, ENIs: 500, Start: t0}
	var cw countingWriter
	b.ReportAllocs()
	for b.Loop() {
		if err := Run(context.Background(), &cw, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(cw.n / int64(b.N))
	b.ReportMetric(float64(b.N*lines)/b.Elapsed().Seconds(), "lines/s")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestLargePoolUniqueAddresses(t *testing.T) {
	pool := NewENIPool(Config{ENIs: 10000, Seed: 1})
	seen := make(map[netip.Addr]string, 15000)
	for i := range pool {
		for _, a := range pool[i].PrivateIPs {
			if !pool[i].SubnetCIDR.Contains(a) {
				t.Fatalf("%v outside %v", a, pool[i].SubnetCIDR)
			}
			if prev, dup := seen[a]; dup {
				t.Fatalf("%v used by %s and %s", a, prev, pool[i].ID)
			}
			seen[a] = pool[i].ID
		}
	}
}
