package enibench

// go test -run '^$' -bench . -benchtime=1s -count=3 -benchmem ./enrich/eni/enibench/

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/enrich/eni"
	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
)

const (
	account   = "111111111111"
	numENIs   = 10_000
	total     = 1_000_000
	batchSize = 1000
)

// warmStage returns an eni_enrich stage whose cache the warm-up filled with
// numENIs interfaces from the EC2 stand-in.
func warmStage(b *testing.B) (*eni.Stage, *ec2stub.Server) {
	stub := ec2stub.NewServer(ec2stub.Synthetic(account, "us-east-1", numENIs))
	srv := httptest.NewServer(stub)
	b.Cleanup(srv.Close)
	cfg := eni.NewDefaultConfig()
	cfg.Region = "us-east-1"
	cfg.Endpoint = srv.URL
	cfg.RateLimit, cfg.RateBurst = 1000, 1000
	cfg.WarmUp.Accounts = []string{account}
	s, err := eni.New(context.Background(), cfg, component.Settings{ID: "eni", Registerer: prometheus.NewRegistry()},
		eni.AWSLoadOptions(
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", "")),
			config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if c := stub.Calls(); c != numENIs/1000 {
		b.Fatalf("warm-up made %d calls", c)
	}
	return s, stub
}

// lines returns n default-format lines, each naming a random interface of
// the synthetic table, inbound or outbound.
func lines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 7))
	out := make([][]byte, n)
	for j := range out {
		i := rng.IntN(numENIs)
		me, peer := ec2stub.SyntheticAddr(i).String(), fmt.Sprintf("198.51.%d.%d", rng.IntN(256), rng.IntN(256))
		if rng.IntN(2) == 0 {
			me, peer = peer, me
		}
		out[j] = fmt.Appendf(nil, "2 %s %s %s %s %d 443 6 %d %d 1700000000 1700000060 ACCEPT OK",
			account, ec2stub.SyntheticID(i), me, peer, 1024+rng.IntN(60000), 1+rng.IntN(100), 40+rng.IntN(100000))
	}
	return out
}

// BenchmarkParseEnrich1M: one op is 1M records (100k distinct lines, 10
// passes) parsed and enriched in batches of 1000 reused as the engine does,
// on one goroutine ("1 worker") or two ("2 workers", the engine's shards).
// records/s is wall time; cpu-ns/record is the process's CPU time per
// record (the machine is shared: wall time includes waiting for a core).
func BenchmarkParseEnrich1M(b *testing.B) {
	s, stub := warmStage(b)
	raw := lines(100_000)
	size := 0
	for _, l := range raw {
		size += len(l)
	}
	ctx := context.Background()
	var enrichNS atomic.Int64 // time spent in Process, all workers
	run := func(b *testing.B, batch *flowlog.Batch, from, to int, enrich bool) {
		for done := from; done < to; done += batchSize {
			for j := range batch.Records {
				r := &batch.Records[j]
				*r = flowlog.Record{Raw: raw[(done+j)%len(raw)]}
				if err := parse.Default().Parse(r); err != nil {
					b.Fatal(err)
				}
			}
			if enrich {
				t0 := time.Now()
				if err := s.Process(ctx, batch); err != nil {
					b.Fatal(err)
				}
				enrichNS.Add(int64(time.Since(t0)))
			}
		}
	}
	for _, tc := range []struct {
		name    string
		workers int
		enrich  bool
	}{
		{"parse-only/1-worker", 1, false},
		{"parse+eni_enrich/1-worker", 1, true},
		{"parse+eni_enrich/2-workers", 2, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			batches := make([]*flowlog.Batch, tc.workers)
			for w := range batches {
				batches[w] = &flowlog.Batch{Records: make([]flowlog.Record, batchSize)}
			}
			b.SetBytes(int64(size * (total / len(raw))))
			b.ReportAllocs()
			enrichNS.Store(0)
			cpu0 := testkit.CPUTime()
			for b.Loop() {
				var wg sync.WaitGroup
				per := total / tc.workers
				for w := range tc.workers {
					wg.Go(func() { run(b, batches[w], w*per, (w+1)*per, tc.enrich) })
				}
				wg.Wait()
			}
			b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(total*b.N), "cpu-ns/record")
			if tc.enrich {
				// The stage's own share: records just parsed (warm), their
				// interfaces random over the whole table.
				b.ReportMetric(float64(enrichNS.Load())/float64(total*b.N), "enrich-ns/record")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
	for _, r := range batchesCheck(b, s, raw[:batchSize]) {
		if r.ENI == nil || r.Direction == flowlog.DirUnknown {
			b.Fatalf("record not enriched: %s", r.Raw)
		}
	}
	if c := stub.Calls(); c != numENIs/1000 {
		b.Fatalf("EC2 called %d times after the warm-up", c)
	}
}

func batchesCheck(b *testing.B, s *eni.Stage, raw [][]byte) []flowlog.Record {
	batch := &flowlog.Batch{Records: make([]flowlog.Record, len(raw))}
	for j := range raw {
		batch.Records[j].Raw = raw[j]
		if err := parse.Default().Parse(&batch.Records[j]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Process(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	return batch.Records
}
