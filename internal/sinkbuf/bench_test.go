package sinkbuf

import (
	"bufio"
	"bytes"
	"context"
	"testing"

	"github.com/vpcflow/vpcflow/internal/gen"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
)

// parsedBatch is 2048 synthetic default-format records, parsed.
func parsedBatch(b *testing.B) *flowlog.Batch {
	var buf bytes.Buffer
	if err := gen.Run(context.Background(), &buf, gen.Config{Format: "default", Count: maxFrameRecords, ENIs: 1000, Accounts: 3, Seed: 1, Region: "us-east-1"}); err != nil {
		b.Fatal(err)
	}
	batch := &flowlog.Batch{Source: "flows", Partition: "p/0"}
	o := &flowlog.Origin{Name: "flows.log"}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		r := flowlog.Record{Raw: append([]byte(nil), sc.Bytes()...), Origin: o}
		if err := parse.Default().Parse(&r); err != nil {
			b.Fatal(err)
		}
		batch.Records = append(batch.Records, r)
	}
	return batch
}

// go test -run '^$' -bench Codec -benchmem ./internal/sinkbuf/
//
// encode and decode are S2-compressed frames (a backlog past an eighth of
// max_bytes); encode_raw and decode_raw the uncompressed frames stored
// below that.
func BenchmarkCodec(b *testing.B) {
	batch := parsedBatch(b)
	var scratch, out, raw []byte
	b.Run("encode_raw", func(b *testing.B) {
		cpu0 := testkit.CPUTime()
		for b.Loop() {
			raw, scratch = encodeBatchAs(raw[:0], scratch, batch, false)
		}
		b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N*len(batch.Records)), "cpu-ns/record")
		b.ReportMetric(float64(len(raw))/float64(len(batch.Records)), "bytes/record")
	})
	b.Run("decode_raw", func(b *testing.B) {
		var into *flowlog.Batch
		cpu0 := testkit.CPUTime()
		for b.Loop() {
			var err error
			if into, err = decodeBatchAs(raw, into, codecNone); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N*len(batch.Records)), "cpu-ns/record")
	})
	b.Run("encode", func(b *testing.B) {
		cpu0 := testkit.CPUTime()
		for b.Loop() {
			out, scratch = encodeBatch(out[:0], scratch, batch)
		}
		b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N*len(batch.Records)), "cpu-ns/record")
		b.ReportMetric(float64(len(out))/float64(len(batch.Records)), "bytes/record")
		b.ReportMetric(float64(len(scratch))/float64(len(batch.Records)), "raw-bytes/record")
	})
	b.Run("decode", func(b *testing.B) {
		var into *flowlog.Batch
		cpu0 := testkit.CPUTime()
		for b.Loop() {
			var err error
			if into, err = decodeBatch(out, into); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((testkit.CPUTime()-cpu0).Nanoseconds())/float64(b.N*len(batch.Records)), "cpu-ns/record")
	})
}
