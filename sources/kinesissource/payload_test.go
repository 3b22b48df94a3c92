package kinesissource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/sources/kinesissource/kpl"
)

func cwEnvelope(t testing.TB, msgType, group, stream string, msgs ...string) []byte {
	t.Helper()
	type event struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	doc := map[string]any{
		"messageType": msgType, "owner": "123456789012", "logGroup": group, "logStream": stream,
		"subscriptionFilters": []string{"flows"},
	}
	var evs []event
	for i, m := range msgs {
		evs = append(evs, event{ID: fmt.Sprint(i), Timestamp: 1700000000000, Message: m})
	}
	doc["logEvents"] = evs
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(js)
	zw.Close()
	return buf.Bytes()
}

func flowLine(i int) string {
	return fmt.Sprintf("2 123456789012 eni-%08d 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK", i)
}

func TestPayloads(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	put := func(data []byte) string { return e.putBytes(t, stream, "k", data) }

	put(cwEnvelope(t, "DATA_MESSAGE", "/vpc/flows", "eni-1-all", flowLine(1), flowLine(2)))
	put(cwEnvelope(t, "CONTROL_MESSAGE", "", "", "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."))
	put(kpl.Aggregate("pk", [][]byte{[]byte(flowLine(3)), []byte(flowLine(4) + "\n" + flowLine(5))}))
	put(kpl.Aggregate("pk", [][]byte{cwEnvelope(t, "DATA_MESSAGE", "/vpc/other", "eni-2-all", flowLine(6))}))
	put([]byte(flowLine(7) + "\r\n"))
	badGzip := put([]byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3})
	badKPL := kpl.Aggregate("pk", [][]byte{[]byte(flowLine(8))})
	badKPL[len(badKPL)-1] ^= 1
	badKPLSeq := put(badKPL)

	for _, tc := range []struct {
		payload    string
		wantLines  []int
		wantFailed []string // sequence numbers
	}{
		{payload: PayloadAuto, wantLines: []int{1, 2, 3, 4, 5, 6, 7}, wantFailed: []string{badGzip}},
		{payload: PayloadKPL, wantLines: []int{1, 2, 3, 4, 5, 6, 7}, wantFailed: []string{badGzip, badKPLSeq}},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			cfg := testConfig(stream)
			cfg.Payload = tc.payload
			s := e.source(t, cfg, srcOpts{worker: "w"})
			var c collector
			done := consume(s, &c, nil)
			waitFor(t, 10*time.Second, "records", func() bool {
				_, f := c.snapshot()
				return c.count() >= len(tc.wantLines) && len(f) >= len(tc.wantFailed)
			})
			s.Close(context.Background())
			<-done
			recs, failed := c.snapshot()
			var lines []string
			for _, r := range recs {
				lines = append(lines, r.raw)
			}
			if tc.payload == PayloadAuto {
				// The damaged aggregate is read as plain data, as KPL consumers do.
				if len(lines) <= len(tc.wantLines) || !strings.HasPrefix(lines[len(tc.wantLines)], string(kpl.Magic[:])) {
					t.Fatalf("read %q, want the lines and then the damaged aggregate", lines)
				}
				lines = lines[:len(tc.wantLines)]
			}
			for i, n := range tc.wantLines {
				if i >= len(lines) || lines[i] != flowLine(n) {
					t.Fatalf("records %q, want lines %v", lines, tc.wantLines)
				}
			}
			if g := recs[0].origin; g.LogGroup != "/vpc/flows" || g.LogStream != "eni-1-all" {
				t.Errorf("origin of an envelope record: %+v", g)
			}
			if g := recs[5].origin; g.LogGroup != "/vpc/other" {
				t.Errorf("origin of an envelope in an aggregate: %+v", g)
			}
			if len(failed) != len(tc.wantFailed) {
				t.Fatalf("%d failures, want %d: %v", len(failed), len(tc.wantFailed), failed)
			}
			for i, f := range failed {
				msg := f.Err.Error()
				for _, w := range []string{stream, "shardId-000000000000", tc.wantFailed[i]} {
					if !strings.Contains(msg, w) {
						t.Errorf("failure %q does not name %q", msg, w)
					}
				}
				if f.Stage != "flows" || len(f.Raw) == 0 || f.Origin == nil {
					t.Errorf("failure %+v", f)
				}
			}
		})
	}
}

// A checkpoint inside a KPL aggregate (as the KCL writes after a partial
// checkpoint) resumes at the next user record; a checkpoint after the
// whole aggregate is written with the last sub-sequence number.
func TestKPLSubSequenceCheckpoint(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	var users [][]byte
	for i := range 5 {
		users = append(users, []byte(flowLine(i)))
	}
	seq := e.putBytes(t, stream, "k", kpl.Aggregate("pk", users))
	e.putBytes(t, stream, "k", []byte(flowLine(5)))
	last := e.putBytes(t, stream, "k", kpl.Aggregate("pk", [][]byte{[]byte(flowLine(6)), []byte(flowLine(7))}))

	cfg := testConfig(stream)
	cfg.Payload = PayloadKPL
	lt := &leaseTable{db: e.ddb, name: cfg.LeaseTable, owner: "kcl"}
	ctx := context.Background()
	if err := lt.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lt.create(ctx, lease{Key: "shardId-000000000000", Checkpoint: position{Seq: seq, Sub: 1}}); err != nil {
		t.Fatal(err)
	}
	s := e.source(t, cfg, srcOpts{worker: "w"})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 10*time.Second, "records", func() bool { return c.count() >= 6 })
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	recs, _ := c.snapshot()
	if len(recs) != 6 {
		t.Fatalf("read %d records, want 6", len(recs))
	}
	for i, r := range recs {
		if r.raw != flowLine(i+2) {
			t.Fatalf("record %d = %q, want line %d", i, r.raw, i+2)
		}
	}
	l := e.leases(t, cfg.LeaseTable)["shardId-000000000000"]
	if l.Checkpoint != (position{Seq: last, Sub: 1}) {
		t.Fatalf("checkpoint %+v, want %s/1", l.Checkpoint, last)
	}
}
