package envelope_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sources/envelope"
)

// Benchmarks: decode alone and decode + parse (default v2 format) of
// 1000-line payloads. Per-op figures are per payload; records/s is reported.
//
//	go test -run '^$' -bench . -benchtime 1s -count 6 -benchmem ./sources/envelope/ | tee new.txt
//	benchstat old.txt new.txt

const benchLines = 1000

func flowLines(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		action := "ACCEPT"
		if r.IntN(10) == 0 {
			action = "REJECT"
		}
		out[i] = fmt.Sprintf("2 123456789012 eni-%08x 10.%d.%d.%d 172.16.%d.%d %d %d 6 %d %d %d %d %s OK",
			r.Uint32(), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256),
			r.IntN(65536), []int{443, 80, 22, 5432}[r.IntN(4)], 1+r.IntN(100), 40+r.IntN(100000),
			1718000000+i, 1718000060+i, action)
	}
	return out
}

func cwlPayload(b *testing.B, lines []string) []byte {
	type ev struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	env := struct {
		MessageType         string   `json:"messageType"`
		Owner               string   `json:"owner"`
		LogGroup            string   `json:"logGroup"`
		LogStream           string   `json:"logStream"`
		SubscriptionFilters []string `json:"subscriptionFilters"`
		LogEvents           []ev     `json:"logEvents"`
	}{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/vpc/flow-logs", LogStream: "eni-0123-all",
		SubscriptionFilters: []string{"vpcflow"}}
	for i, l := range lines {
		env.LogEvents = append(env.LogEvents, ev{ID: fmt.Sprintf("%056d", i), Timestamp: 1718000000000 + int64(i), Message: l})
	}
	doc, err := json.Marshal(env)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(doc)
	w.Close()
	return buf.Bytes()
}

func BenchmarkDecode(b *testing.B) {
	lines := flowLines(benchLines)
	text := []byte(strings.Join(lines, "\n") + "\n")
	cw := cwlPayload(b, lines)
	cw64 := []byte(base64.StdEncoding.EncodeToString(cw))
	f, err := parse.Compile("default")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		p    envelope.Payload
	}{
		{"lines", text, envelope.Lines},
		{"lines_auto", text, envelope.Auto},
		{"cloudwatch_gzip", cw, envelope.CloudWatchLogs},
		{"cloudwatch_base64", cw64, envelope.Auto},
	} {
		for _, withParse := range []bool{false, true} {
			name := tc.name
			if withParse {
				name += "+parse"
			}
			b.Run(name, func(b *testing.B) {
				var batch flowlog.Batch
				o := &flowlog.Origin{Name: "bench"}
				b.SetBytes(int64(len(tc.data)))
				b.ReportAllocs()
				cpu0 := testkit.CPUTime()
				for b.Loop() {
					batch.Reset()
					if err := envelope.Decode(&batch, tc.data, tc.p, o); err != nil {
						b.Fatal(err)
					}
					if len(batch.Records) != benchLines {
						b.Fatalf("%d records", len(batch.Records))
					}
					if withParse {
						for i := range batch.Records {
							if err := f.Parse(&batch.Records[i]); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				b.ReportMetric(float64(b.N)*benchLines/b.Elapsed().Seconds(), "records/s")
				// per second of process CPU time: steadier on a shared machine
				b.ReportMetric(float64(b.N)*benchLines/(testkit.CPUTime()-cpu0).Seconds(), "records/cpu-s")
			})
		}
	}
}
