package kinesissource

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sources/kinesissource/kpl"
)

// What one GetRecords response of a busy shard carries, decoded into a
// batch as readShard does, then (Parse variants) parsed with the default
// format as the parse_flowlog stage does.
//
//	go test -run '^$' -bench . -benchtime=1s -count=3 ./sources/kinesissource/
//
// The CloudWatch Logs records hold 200 log events each (subscription
// filters batch events up to ~1 MB); the KPL records 200 user records of
// one line each.

const (
	benchKinesisRecords = 50
	benchLinesPerRecord = 200
)

func benchLine(i int) string {
	return fmt.Sprintf("2 123456789012 eni-0a1b2c3d%08d 10.%d.%d.%d 172.31.16.139 %d 443 6 %d %d 1700000000 1700000060 ACCEPT OK",
		i, i>>16&255, i>>8&255, i&255, 1024+i%60000, 1+i%50, 40+i%1500)
}

func cloudWatchRecords(b *testing.B) []types.Record {
	var recs []types.Record
	for r := range benchKinesisRecords {
		var msgs []string
		for i := range benchLinesPerRecord {
			msgs = append(msgs, benchLine(r*benchLinesPerRecord+i))
		}
		recs = append(recs, types.Record{
			SequenceNumber: aws.String(fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", r)),
			Data:           cwEnvelope(b, "DATA_MESSAGE", "/vpc/flow-logs", "eni-0a1b2c3d-all", msgs...),
		})
	}
	return recs
}

func kplRecords() []types.Record {
	var recs []types.Record
	for r := range benchKinesisRecords {
		var users [][]byte
		for i := range benchLinesPerRecord {
			users = append(users, []byte(benchLine(r*benchLinesPerRecord+i)))
		}
		recs = append(recs, types.Record{
			SequenceNumber: aws.String(fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", r)),
			Data:           kpl.Aggregate("pk", users),
		})
	}
	return recs
}

func reportRates(b *testing.B, cpu0 time.Duration) {
	n := float64(b.N) * benchKinesisRecords * benchLinesPerRecord
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(n/(testkit.CPUTime()-cpu0).Seconds(), "records/cpu-s")
}

func benchDecode(b *testing.B, payload string, recs []types.Record, doParse bool) {
	d := decoder{payload: payload, source: "flows", stream: "flows"}
	var size int64
	for _, r := range recs {
		size += int64(len(r.Data))
	}
	f := parse.Default()
	batch := &flowlog.Batch{}
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := testkit.CPUTime()
	for b.Loop() {
		batch.Reset()
		for _, r := range recs {
			d.add(batch, "shardId-000000000000", r, nil)
		}
		if len(batch.Records) != benchKinesisRecords*benchLinesPerRecord || len(batch.Failed) != 0 {
			b.Fatalf("%d records, %d failures", len(batch.Records), len(batch.Failed))
		}
		if doParse {
			for i := range batch.Records {
				if err := f.Parse(&batch.Records[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	reportRates(b, cpu0)
}

func BenchmarkDecodeCloudWatch(b *testing.B) {
	benchDecode(b, PayloadCloudWatchLogs, cloudWatchRecords(b), false)
}

func BenchmarkDecodeCloudWatchParse(b *testing.B) {
	benchDecode(b, PayloadAuto, cloudWatchRecords(b), true)
}

func BenchmarkDecodeKPL(b *testing.B) {
	benchDecode(b, PayloadKPL, kplRecords(), false)
}

func BenchmarkDecodeKPLParse(b *testing.B) {
	benchDecode(b, PayloadAuto, kplRecords(), true)
}
