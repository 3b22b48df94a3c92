package eni

// Benchmarks (final figures: -count=3; see benchmarks/results/eni.md):
//
//	go test -run '^$' -bench . -benchtime=1s -count=3 -benchmem ./enrich/eni/
//
// The parse → eni_enrich benchmark is in ./enibench (it needs processor/parse).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

const benchENIs = 10_000

// warmEnv returns a stage whose cache holds benchENIs synthetic interfaces
// (loaded by the warm-up from the EC2 stand-in).
func warmEnv(b *testing.B) (*env, []*flowlog.ENI) {
	enis := ec2stub.Synthetic(acctA, "us-east-1", benchENIs)
	e := newEnv(b, enis, func(c *Config) { c.WarmUp.Accounts = []string{acctA} })
	if err := e.stage.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if p, _ := e.stage.store.len(); p != benchENIs {
		b.Fatalf("warm cache holds %d", p)
	}
	return e, enis
}

// benchLines returns n default-format lines over the synthetic interfaces:
// runs of `run` lines of one interface (1: every line another interface),
// half of them inbound, half outbound, some between interfaces of one
// subnet.
func benchLines(n, run int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	lines := make([]string, 0, n)
	for len(lines) < n {
		i := rng.IntN(benchENIs)
		for j := 0; j < run && len(lines) < n; j++ {
			me := ec2stub.SyntheticAddr(i).String()
			peer := fmt.Sprintf("198.51.%d.%d", rng.IntN(256), rng.IntN(256))
			if rng.IntN(8) == 0 { // a neighbour in the same subnet
				peer = ec2stub.SyntheticAddr(i/250*250 + rng.IntN(250)).String()
			}
			src, dst := me, peer
			if rng.IntN(2) == 0 {
				src, dst = peer, me
			}
			lines = append(lines, fmt.Sprintf("2 %s %s %s %s %d 443 6 %d %d 1700000000 1700000060 ACCEPT OK",
				acctA, ec2stub.SyntheticID(i), src, dst, 1024+rng.IntN(60000), 1+rng.IntN(100), 40+rng.IntN(100000)))
		}
	}
	return lines
}

func parsed(b *testing.B, lines []string) ([]flowlog.Record, int) {
	recs := make([]flowlog.Record, len(lines))
	n := 0
	for i, l := range lines {
		recs[i] = rec(b, v2, l, nil)
		n += len(l)
	}
	return recs, n
}

// BenchmarkCacheHit is the hit path: one op is a batch of 1000 records
// whose interfaces are all cached; ns/record is the cost per record
// (key, cache, direction, metrics).
func BenchmarkCacheHit(b *testing.B) {
	e, _ := warmEnv(b)
	for _, run := range []int{1, 50} {
		b.Run(fmt.Sprintf("run=%d", run), func(b *testing.B) {
			recs, n := parsed(b, benchLines(1000, run, uint64(run)))
			batch := &flowlog.Batch{Records: recs}
			ctx := context.Background()
			if err := e.stage.Process(ctx, batch); err != nil {
				b.Fatal(err)
			}
			for i := range recs {
				if recs[i].ENI == nil || recs[i].Direction == flowlog.DirUnknown {
					b.Fatalf("record %d: ENI %v direction %v", i, recs[i].ENI, recs[i].Direction)
				}
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			cpu0 := testkit.CPUTime()
			for b.Loop() {
				_ = e.stage.Process(ctx, batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
			b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N*len(recs)), "cpu-ns/record")
		})
	}
	if m := e.stage.m; m != nil && e.stub.Calls() != benchENIs/1000 {
		b.Fatalf("EC2 called %d times after the warm-up", e.stub.Calls())
	}
}
