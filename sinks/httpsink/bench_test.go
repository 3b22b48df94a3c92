package httpsink

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding"
)

// benchBatches returns n batches of size enriched records from CloudWatch
// Logs envelopes, as the eni_enrich stage hands them over.
func benchBatches(n, size int) []*flowlog.Batch {
	eni := &flowlog.ENI{Region: "us-east-1", VPCID: "vpc-3d4e5f60", SubnetID: "subnet-e81c1aad",
		SecurityGroupIDs: []string{"sg-d821df99", "sg-931db925"}}
	o := &flowlog.Origin{LogGroup: "/vpc/flow-logs", LogStream: "eni-057e0bd0-all"}
	bs := make([]*flowlog.Batch, n)
	for i := range bs {
		bs[i] = batch(i*size, size)
		for j := range bs[i].Records {
			bs[i].Records[j].ENI, bs[i].Records[j].Origin, bs[i].Records[j].Direction = eni, o, flowlog.DirOutbound
		}
	}
	return bs
}

// BenchmarkEncodeCompress is the per-record cost of sumo_vpc_json encoding
// plus compression of 1 MB bodies, on one goroutine.
//
//	go test -run '^$' -bench EncodeCompress -benchtime=1s -count 3 ./sinks/httpsink/
func BenchmarkEncodeCompress(b *testing.B) {
	recs := benchBatches(1, 4096)[0].Records
	for _, comp := range []string{"gzip", "zstd", "deflate", "none"} {
		b.Run(comp, func(b *testing.B) {
			enc, _ := encoding.New(encoding.SumoVPCJSON, encoding.Options{IncludeLogInfo: true})
			c, err := newCompressor(comp, 0, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer c.close()
			body := make([]byte, 0, 1<<20+4096)
			var out []byte
			var raw, wire int64
			b.ReportAllocs()
			i := 0
			cpu0 := testkit.CPUTime()
			for b.Loop() {
				body = enc.AppendRecord(body, &recs[i&4095])
				i++
				if len(body) >= 1_000_000 {
					out = c.compress(out[:0], body)
					raw += int64(len(body))
					wire += int64(len(out))
					body = body[:0]
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if cpu := testkit.CPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
			}
			if wire > 0 {
				b.ReportMetric(float64(raw)/float64(wire), "ratio")
			}
		})
	}
}

// BenchmarkSink drives the whole sink (sumo_vpc_json, gzip, 1 MB bodies, 4
// requests in flight) into a local intake that reads and discards bodies,
// with 8 Writes of 1000-record batches in flight, as the engine calls it.
//
//	go test -run '^$' -bench 'Sink$' -benchtime=2s -count 3 ./sinks/httpsink/
func BenchmarkSink(b *testing.B) {
	for _, comp := range []string{"gzip", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
			}))
			defer srv.Close()
			cfg := *NewDefaultConfig()
			cfg.URL = srv.URL + "/receiver/v1/http/TOKEN"
			cfg.Preset = PresetSumologic
			cfg.Compression = comp
			s, err := New(cfg, component.Settings{ID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			const size = 1000
			batches := benchBatches(64, size)
			sem := make(chan struct{}, 8)
			var wg sync.WaitGroup
			b.ReportAllocs()
			i := 0
			cpu0 := testkit.CPUTime()
			for b.Loop() {
				sem <- struct{}{}
				bt := batches[i%len(batches)]
				i++
				wg.Go(func() {
					defer func() { <-sem }()
					if err := s.Write(context.Background(), bt); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
			if cpu := testkit.CPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N*size)/cpu.Seconds(), "records/cpu-s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

var _ = fmt.Sprint
