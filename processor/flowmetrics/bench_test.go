package flowmetrics

import (
	"context"
	"fmt"
	"testing"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// benchBatch builds a batch of n records spread over vpcs VPCs, with a mix
// of actions, protocols, directions and ports like real traffic.
func benchBatch(n, vpcs int) (*flowlog.Batch, int64) {
	b := &flowlog.Batch{Records: make([]flowlog.Record, 0, n)}
	protos := []int{6, 6, 6, 17, 17, 1, 58, 47}
	var size int64
	for i := range n {
		f := ok(fmt.Sprintf("vpc-%08x", i/64%vpcs), "ACCEPT", protos[i%len(protos)], 1024+i%2000, uint64(1+i%30), uint64(60+i%1500))
		if i%5 == 0 {
			f.action = "REJECT"
		}
		f.dir = flowlog.Direction(1 + i%3)
		if i%97 == 0 {
			f = flow{vpc: f.vpc, status: "NODATA", proto: -1, dstport: -1}
		}
		r := record(f)
		// A default-format line is ~100 bytes: count that, not the
		// shorter synthetic Raw, so MB/s compares with the parser's.
		size += 100
		b.Records = append(b.Records, r)
	}
	return b, size
}

// BenchmarkProcess measures the stage on batches of 500 records.
//
//	go test -run '^$' -bench . -benchtime=1s -count 6 ./processor/flowmetrics/ | tee new.txt && benchstat new.txt
func BenchmarkProcess(b *testing.B) {
	for _, vpcs := range []int{1, 20, 300} {
		b.Run(fmt.Sprintf("vpcs=%d", vpcs), func(b *testing.B) {
			s, err := NewStage(*NewDefaultConfig(), component.Settings{ID: "fm"})
			if err != nil {
				b.Fatal(err)
			}
			batch, size := benchBatch(500, vpcs)
			ctx := context.Background()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Process(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Records)), "ns/record")
		})
	}
}

// BenchmarkProcessParallel runs the stage from every core at once, as the
// engine's workers do.
func BenchmarkProcessParallel(b *testing.B) {
	s, err := NewStage(*NewDefaultConfig(), component.Settings{ID: "fm"})
	if err != nil {
		b.Fatal(err)
	}
	batch, size := benchBatch(500, 20)
	b.SetBytes(size)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := s.Process(ctx, batch); err != nil {
				b.Error(err)
			}
		}
	})
}
