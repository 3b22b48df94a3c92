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
	"crypto/sha256"
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

// corpusConfig is what the corpus is generated from.
var corpusConfig = gen.Config{Format: "default", Count: corpusRecords, ENIs: 10000, Seed: 7}

// corpusFile writes (once per process) a million default-format lines, or
// reuses the file an earlier run wrote. The file's name carries a hash of
// the generator's Version and of corpusConfig, so that a corpus written
// by another version of the generator, or with other parameters, is never
// taken for this one; it is written under a temporary name and renamed,
// so that a run killed half-way leaves no partial corpus behind.
func corpusFile(b *testing.B) (string, int64) {
	corpus.once.Do(func() {
		key := sha256.Sum256(fmt.Appendf(nil, "%d %#v", gen.Version, corpusConfig))
		corpus.path = filepath.Join(os.TempDir(), fmt.Sprintf("vpcflow-bench-%d-%x.log", corpusRecords, key[:6]))
		if st, err := os.Stat(corpus.path); err == nil && st.Size() > 0 {
			corpus.bytes = st.Size()
			return
		}
		corpus.bytes, corpus.err = writeCorpus(corpus.path)
	})
	if corpus.err != nil {
		b.Fatal(corpus.err)
	}
	return corpus.path, corpus.bytes
}

func writeCorpus(path string) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	w := bufio.NewWriterSize(f, 1<<20)
	err = gen.Run(context.Background(), w, corpusConfig)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(f.Name())
	if err != nil {
		return 0, err
	}
	return st.Size(), os.Rename(f.Name(), path)
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
