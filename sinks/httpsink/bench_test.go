package httpsink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
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

// BenchmarkSink drives the whole sink (sumo_vpc_json, gzip or zstd, 1 MB
// bodies, 4 requests in flight) with 8 Writes of 1000-record batches in
// flight, as the engine calls it, into an intake that reads and discards
// bodies.
//
// The intake runs in a child process (this test binary, started again
// with intakeProcessEnv set), so records/cpu-s is the CPU time of this
// process only: the sink's encoding, compression and HTTP client plus the
// loop that calls Write, not the intake's reading of what it sends. The
// intake still shares the machine's cores, which records/s (wall time)
// feels. The timer runs until every Write has returned, that is until
// every record was accepted by the intake.
//
//	go test -run '^$' -bench 'Sink$' -benchtime=2s -count 3 ./sinks/httpsink/
func BenchmarkSink(b *testing.B) {
	url := startIntakeProcess(b)
	for _, comp := range []string{"gzip", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			cfg := *NewDefaultConfig()
			cfg.URL = url + "/receiver/v1/http/TOKEN"
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
			b.ResetTimer()
			cpu0 := testkit.CPUTime()
			// Not b.Loop: it stops the timer when it returns false,
			// before the last Writes end.
			for i := range b.N {
				sem <- struct{}{}
				bt := batches[i%len(batches)]
				wg.Go(func() {
					defer func() { <-sem }()
					if err := s.Write(context.Background(), bt); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			cpu := testkit.CPUTime() - cpu0
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N*size)/cpu.Seconds(), "records/cpu-s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// intakeProcessEnv, set in the environment of this test binary, makes it
// an HTTP intake instead of running tests (see TestMain).
const intakeProcessEnv = "HTTPSINK_BENCH_INTAKE"

// startIntakeProcess starts this test binary as an intake in a process of
// its own and returns its URL. The child stops when the benchmark ends.
func startIntakeProcess(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), intakeProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child exits at the end of its input
		if err := cmd.Wait(); err != nil {
			b.Errorf("intake process: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("intake process: %v", err)
	}
	return strings.TrimSpace(line)
}

// serveIntakeProcess is the child of startIntakeProcess: it serves an
// intake that reads and discards request bodies, prints its URL, and
// returns when its standard input ends.
func serveIntakeProcess() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	fmt.Printf("http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
}
