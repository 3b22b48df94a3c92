package benchmarks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/sinks/encoding"
)

// BenchmarkFilePipelineTap: the json file pipeline of BenchmarkFilePipeline
// with no tap, with a tap of parse at its default rate, and with one that
// copies every record it can (rate unbounded, a slow reader's share
// dropped); the reader encodes to json as vpcflow tap's server does. Run
// the modes in turn, round after round, so that a shared machine's noise
// falls on all three (benchmarks/README.md, "A tap on a busy pipeline"):
//
//	go test -c -o /tmp/benchmarks.test ./benchmarks && cd benchmarks &&
//	for i in 1 2 3 4 5 6; do for m in none default all; do
//		/tmp/benchmarks.test -test.run '^$' -test.bench "FilePipelineTap/tap=$m\$" -test.benchtime 3x
//	done; done | tee tap.txt
func BenchmarkFilePipelineTap(b *testing.B) {
	enc, err := encoding.New(encoding.JSON, encoding.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rate int // 0: no tap
	}{{"none", 0}, {"default", processor.DefaultTapRate}, {"all", 1 << 30}} {
		b.Run("tap="+tc.name, func(b *testing.B) {
			path, size := corpusFile(b)
			out := filepath.Join(b.TempDir(), "out")
			cfg, err := processor.ParseConfig(fmt.Appendf(nil, `
sources: {in: {type: file, path: %q}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["192.168.0.0/16"]}
sinks: {out: {type: file, inputs: [internal], path: %q, encoding: json}}
`, path, out), os.LookupEnv)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			tapped := 0
			for b.Loop() {
				p, err := processor.Build(context.Background(), cfg, factories(), processor.Settings{})
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				read := make(chan int)
				if tc.rate > 0 {
					t, err := p.Tap("parse", processor.TapOptions{Rate: tc.rate})
					if err != nil {
						b.Fatal(err)
					}
					go func() {
						defer t.Close()
						n, buf := 0, []byte(nil)
						send := func(tb processor.TapBatch) {
							buf = buf[:0]
							for i := range tb.Records {
								buf = enc.AppendRecord(buf, &tb.Records[i])
							}
							n += len(tb.Records)
						}
						for {
							select {
							case tb := <-t.C():
								send(tb)
							case <-done:
								read <- n
								return
							}
						}
					}()
				}
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				close(done)
				if tc.rate > 0 {
					tapped += <-read
				}
			}
			b.ReportMetric(float64(corpusRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(tapped)/float64(b.N), "tapped/op")
		})
	}
}
