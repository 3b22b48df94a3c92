package benchmarks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/enrich/eni"
	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sinks/filesink"
	"github.com/vpcflow/vpcflow/sources/filesource"
)

const coldAccount = "111111111111"

// coldStart is the result of one cold run of file → parse_flowlog →
// eni_enrich (defaults) → json file against a throttling EC2 stand-in.
type coldStart struct {
	records, enriched, wrong int
	elapsed                  time.Duration
	calls, throttled         int
}

// runColdStart writes records default-format lines over enis interfaces of
// one account (each line a random interface, inbound or outbound), starts
// an EC2 stand-in that knows them and throttles as EC2 does (a bucket of
// 100 calls refilled at 20/s per account and region), runs the pipeline
// once with eni_enrich at its defaults (a cold cache, no warm-up) and
// checks every output line: enriched means vpc-id and subnet-id are
// there; wrong means they are not the interface's.
func runColdStart(tb testing.TB, enis, records int) coldStart {
	return runColdStartLatency(tb, enis, records, 0)
}

// runColdStartLatency is runColdStart with EC2 answering each call after
// latency.
func runColdStartLatency(tb testing.TB, enis, records int, latency time.Duration) coldStart {
	tb.Helper()
	dir := tb.TempDir()
	in := filepath.Join(dir, "in.log")
	out := filepath.Join(dir, "out.json")
	f, err := os.Create(in)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(uint64(enis), uint64(records)))
	for range records {
		i := rng.IntN(enis)
		me, peer := ec2stub.SyntheticAddr(i).String(), fmt.Sprintf("198.51.%d.%d", rng.IntN(256), rng.IntN(256))
		if rng.IntN(2) == 0 {
			me, peer = peer, me
		}
		fmt.Fprintf(w, "2 %s %s %s %s %d 443 6 %d %d 1700000000 1700000060 ACCEPT OK\n",
			coldAccount, ec2stub.SyntheticID(i), me, peer, 1024+rng.IntN(60000), 1+rng.IntN(100), 40+rng.IntN(100000))
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}

	stub := ec2stub.NewServer(ec2stub.Synthetic(coldAccount, "us-east-1", enis))
	stub.SetRateLimit(20, 100)
	stub.SetLatency(latency)
	srv := httptest.NewServer(stub)
	defer srv.Close()
	yaml := fmt.Sprintf(`
sources: {in: {type: file, path: %q}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  eni: {type: eni_enrich, inputs: [parse], region: us-east-1, endpoint: %q}
sinks: {out: {type: file, inputs: [eni], path: %q, encoding: json}}
`, in, srv.URL, out)
	cfg, err := processor.ParseConfig([]byte(yaml), os.LookupEnv)
	if err != nil {
		tb.Fatal(err)
	}
	facts := processor.NewFactories(
		[]component.SourceFactory{filesource.NewFactory()},
		[]component.StageFactory{parse.NewFactory(), eni.NewFactory(eni.AWSLoadOptions(
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", "")),
			config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{})))},
		[]component.SinkFactory{filesink.NewFactory()},
	)
	p, err := processor.Build(context.Background(), cfg, facts, processor.Settings{Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	res := coldStart{elapsed: time.Since(start), calls: stub.Calls(), throttled: stub.Throttled()}

	of, err := os.Open(out)
	if err != nil {
		tb.Fatal(err)
	}
	defer of.Close()
	sc := bufio.NewScanner(of)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var rec struct {
		ID     string `json:"interface-id"`
		VPC    string `json:"vpc-id"`
		Subnet string `json:"subnet-id"`
	}
	for sc.Scan() {
		res.records++
		rec.ID, rec.VPC, rec.Subnet = "", "", ""
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			tb.Fatalf("output line %d: %v", res.records, err)
		}
		if rec.VPC == "" && rec.Subnet == "" {
			continue
		}
		i, ok := ec2stub.SyntheticIndex(rec.ID)
		subnet := i / 250
		if ok && rec.Subnet == fmt.Sprintf("subnet-%017x", subnet) && rec.VPC == fmt.Sprintf("vpc-%017x", subnet/16) {
			res.enriched++
		} else {
			res.wrong++
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return res
}

// check fails tb unless r meets the cold-start targets: every record
// delivered, ≥ 99 % enriched, none wrong, within limit, at most maxCalls
// EC2 calls.
func (r coldStart) check(tb testing.TB, records int, limit time.Duration, maxCalls int) {
	tb.Helper()
	tb.Logf("%d records out of %d in %v: %d enriched (%.2f %%), %d wrong; %d EC2 calls (%d throttled)",
		r.records, records, r.elapsed.Round(time.Millisecond), r.enriched, 100*float64(r.enriched)/float64(records), r.wrong, r.calls, r.throttled)
	if r.records != records || r.wrong != 0 || float64(r.enriched) < 0.99*float64(records) || r.elapsed > limit || r.calls > maxCalls {
		tb.Errorf("cold start misses its targets (%d records, ≥ 99 %% enriched, 0 wrong, ≤ %v, ≤ %d calls)", records, limit, maxCalls)
	}
}

// TestENIColdStart is the cold start at a tenth of the scale of
// BenchmarkENIColdStart: 30,000 interfaces (30 pages, within EC2's
// burst), 150,000 records.
func TestENIColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("lists 30,000 interfaces from the EC2 stand-in")
	}
	runColdStart(t, 30_000, 150_000).check(t, 150_000, 60*time.Second, 40)
}

// BenchmarkENIColdStart: one op is the case that made a large account
// crawl, cold, with eni_enrich at its defaults: 1.5 M records over
// 300,000 interfaces of one account (300 listing pages: 100 within the
// burst, 200 at 20/s), file → parse_flowlog → eni_enrich → json file.
// Targets: ≥ 99 % enriched, 0 wrong, within 90 s, ≤ 400 EC2 calls.
//
//	go test ./benchmarks -run '^$' -bench ENIColdStart -benchtime 1x -count 3
func BenchmarkENIColdStart(b *testing.B) {
	const enis, records = 300_000, 1_500_000
	for b.Loop() {
		r := runColdStart(b, enis, records)
		r.check(b, records, 90*time.Second, 400)
		b.ReportMetric(r.elapsed.Seconds(), "s/run")
		b.ReportMetric(float64(records)/r.elapsed.Seconds(), "records/s")
		b.ReportMetric(100*float64(r.enriched)/float64(records), "%enriched")
		b.ReportMetric(float64(r.wrong), "wrong")
		b.ReportMetric(float64(r.calls), "ec2-calls")
		b.ReportMetric(float64(r.throttled), "throttled")
	}
}

// BenchmarkENIColdStartSlowEC2 is BenchmarkENIColdStart with EC2 taking
// 250ms to answer each call (real pages of 1000 interfaces take it a
// second or more). Listed one page after the other, the 300 pages alone
// would take 75 s; by id prefix, 8 at a time, close to the rate limit (20/s
// after a burst of 100).
//
//	go test ./benchmarks -run '^$' -bench ENIColdStartSlowEC2 -benchtime 1x -count 2
func BenchmarkENIColdStartSlowEC2(b *testing.B) {
	const enis, records = 300_000, 1_500_000
	for b.Loop() {
		r := runColdStartLatency(b, enis, records, 250*time.Millisecond)
		r.check(b, records, 90*time.Second, 400)
		b.ReportMetric(r.elapsed.Seconds(), "s/run")
		b.ReportMetric(100*float64(r.enriched)/float64(records), "%enriched")
		b.ReportMetric(float64(r.calls), "ec2-calls")
	}
}
