package kinesissource

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/kinesissource/kpl"
)

// FuzzDecode: any record data decodes without panic, into records or
// failures that name the stream, shard and sequence number.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(flowLine(1)+"\n"+flowLine(2)), uint8(0))
	f.Add(cwEnvelope(f, "DATA_MESSAGE", "/g", "s", flowLine(1)), uint8(1))
	f.Add(kpl.Aggregate("pk", [][]byte{[]byte(flowLine(1)), cwEnvelope(f, "DATA_MESSAGE", "/g", "s", flowLine(2))}), uint8(2))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0}, uint8(3))
	payloads := []string{PayloadLines, PayloadCloudWatchLogs, PayloadKPL, PayloadAuto}
	f.Fuzz(func(t *testing.T, data []byte, p uint8) {
		d := decoder{payload: payloads[int(p)%len(payloads)], source: "flows", stream: "st"}
		b := &flowlog.Batch{}
		res := d.add(b, "shardId-1", types.Record{SequenceNumber: aws.String("42"), Data: data}, nil)
		if res.lastSub < -1 {
			t.Fatalf("lastSub %d", res.lastSub)
		}
		for _, fl := range b.Failed {
			if msg := fl.Err.Error(); !strings.Contains(msg, "st") || !strings.Contains(msg, "shardId-1") || !strings.Contains(msg, "42") {
				t.Fatalf("failure %q does not say where", msg)
			}
		}
		for _, r := range b.Records {
			if r.Origin == nil {
				t.Fatal("record without origin")
			}
		}
	})
}

func TestDecodeSkipsCheckpointedUserRecords(t *testing.T) {
	agg := kpl.Aggregate("pk", [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	for _, tc := range []struct {
		skip *position
		want string
	}{
		{nil, "abc"},
		{&position{Seq: "7", Sub: 0}, "bc"},
		{&position{Seq: "7", Sub: 2}, ""},
		{&position{Seq: "6", Sub: 2}, "abc"},
	} {
		d := decoder{payload: PayloadKPL, source: "flows", stream: "st"}
		b := &flowlog.Batch{}
		res := d.add(b, "s", types.Record{SequenceNumber: aws.String("7"), Data: agg}, tc.skip)
		var got string
		for _, r := range b.Records {
			got += string(r.Raw)
		}
		if got != tc.want || res.lastSub != 2 || res.skipped != (tc.want == "") {
			t.Errorf("skip %v: got %q (lastSub %d, skipped %v), want %q", tc.skip, got, res.lastSub, res.skipped, tc.want)
		}
	}
}
