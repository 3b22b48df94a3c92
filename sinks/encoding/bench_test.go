package encoding

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding/encodingtest"
)

// benchRecords returns n realistic enriched default-format records.
func benchRecords(n int) []flowlog.Record {
	rs := make([]flowlog.Record, n)
	actions := []string{"ACCEPT", "ACCEPT", "ACCEPT", "REJECT"}
	for i := range rs {
		line := fmt.Sprintf("2 123456789012 eni-%08x 10.%d.%d.%d 52.%d.%d.%d %d %d 6 %d %d %d %d %s OK",
			i%500, i%7, i%200, i%250, i%13, i%97, i%251, 1024+i%60000, []int{443, 80, 22, 53}[i%4],
			1+i%50, 40+i*37%150000, 1718000000+i%60, 1718000060+i%60, actions[i%4])
		rs[i] = encodingtest.MustRecord(line, nil)
		rs[i].ENI = testENI
		rs[i].Direction = flowlog.DirOutbound
		rs[i].Origin = cwlOrigin
	}
	return rs
}

// Run: go test -run '^$' -bench . -benchtime=1s -count 3 ./sinks/encoding/
func BenchmarkEncode(b *testing.B) {
	rs := benchRecords(1024)
	for _, n := range Names {
		b.Run(n, func(b *testing.B) {
			e, _ := New(n, Options{})
			buf := make([]byte, 0, 1<<20)
			size := len(e.AppendRecord(nil, &rs[0]))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			cpu0 := testkit.CPUTime()
			for b.Loop() {
				buf = e.AppendRecord(buf[:0], &rs[i&1023])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if cpu := testkit.CPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
			}
		})
	}
}

var gzPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression); return w }}

// BenchmarkSumoEncodeGzip encodes sumo_vpc_json and gzips it in 1 MB
// bodies, as the http sink does, on one core.
func BenchmarkSumoEncodeGzip(b *testing.B) {
	rs := benchRecords(4096)
	for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			e, _ := New(SumoVPCJSON, Options{})
			body := make([]byte, 0, 1<<20+4096)
			var out bytes.Buffer
			w, _ := gzip.NewWriterLevel(&out, level)
			b.ReportAllocs()
			var raw, comp int64
			i := 0
			cpu0 := testkit.CPUTime()
			for b.Loop() {
				body = e.AppendRecord(body, &rs[i&4095])
				i++
				if len(body) >= 1<<20 {
					out.Reset()
					w.Reset(&out)
					w.Write(body)
					w.Close()
					raw += int64(len(body))
					comp += int64(out.Len())
					body = body[:0]
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if cpu := testkit.CPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
			}
			if comp > 0 {
				b.ReportMetric(float64(raw)/float64(comp), "ratio")
			}
		})
	}
}
