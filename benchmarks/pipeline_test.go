// Package benchmarks holds end-to-end benchmarks of whole pipelines, run
// in process so they can be profiled:
//
//	go test ./benchmarks -run '^$' -bench . -benchtime 3x -count 3 | tee new.txt
//	go test ./benchmarks -run '^$' -bench FilePipeline -benchtime 3x -cpuprofile cpu.out
//
// e2e.sh measures the same pipelines through the binary (wall time, CPU
// time, peak RSS).
package benchmarks

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vpcflow/vpcflow/internal/gen"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/cidrfilter"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sinks/filesink"
	"github.com/vpcflow/vpcflow/sources/filesource"
)

const corpusRecords = 1_000_000

var corpus struct {
	once  sync.Once
	path  string
	bytes int64
	err   error
}

// corpusFile writes (once per process) a million default-format lines.
func corpusFile(b *testing.B) (string, int64) {
	corpus.once.Do(func() {
		dir := os.TempDir()
		corpus.path = filepath.Join(dir, fmt.Sprintf("vpcflow-bench-%d.log", corpusRecords))
		if st, err := os.Stat(corpus.path); err == nil && st.Size() > 0 {
			corpus.bytes = st.Size()
			return
		}
		f, err := os.Create(corpus.path)
		if err != nil {
			corpus.err = err
			return
		}
		w := bufio.NewWriterSize(f, 1<<20)
		corpus.err = gen.Run(context.Background(), w, gen.Config{Format: "default", Count: corpusRecords, ENIs: 10000, Seed: 7})
		w.Flush()
		f.Close()
		st, _ := os.Stat(corpus.path)
		corpus.bytes = st.Size()
	})
	if corpus.err != nil {
		b.Fatal(corpus.err)
	}
	return corpus.path, corpus.bytes
}

func factories() processor.Factories {
	return processor.NewFactories(
		[]component.SourceFactory{filesource.NewFactory()},
		[]component.StageFactory{parse.NewFactory(), cidrfilter.NewFactory()},
		[]component.SinkFactory{filesink.NewFactory()},
	)
}

func runPipeline(b *testing.B, yaml string) {
	b.Helper()
	cfg, err := processor.ParseConfig([]byte(yaml), os.LookupEnv)
	if err != nil {
		b.Fatal(err)
	}
	p, err := processor.Build(context.Background(), cfg, factories(), processor.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFilePipeline: file -> parse_flowlog -> cidr_filter -> json file,
// a million records per iteration. Target: ≥ 1.5 M records/s on 2 cores.
func BenchmarkFilePipeline(b *testing.B) {
	for _, enc := range []string{"json", "sumo_vpc_json", "raw"} {
		b.Run(enc, func(b *testing.B) {
			path, size := corpusFile(b)
			out := filepath.Join(b.TempDir(), "out")
			yaml := fmt.Sprintf(`
sources: {in: {type: file, path: %q}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["192.168.0.0/16"]}
sinks: {out: {type: file, inputs: [internal], path: %q, encoding: %s}}
`, path, out, enc)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				runPipeline(b, yaml)
			}
			b.ReportMetric(float64(corpusRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
