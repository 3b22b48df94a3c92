package kafkasource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/parse"
)

// Benchmarks: an in-process kfake cluster serves a canned record batch of
// flow logs at every offset (kfake.SyntheticFetch), so the source reads
// without end; one op is 4096 flow records read, decoded (and parsed with
// the default format), then acknowledged.
//
//	go test -run '^$' -bench Kafka -benchtime 3s -count 6 -benchmem ./sources/kafkasource/ | tee new.txt
//	benchstat old.txt new.txt

const benchOpRecords = 4096

// syntheticBatch builds a v2 record batch whose records have the given
// values.
func syntheticBatch(values [][]byte) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta: int32(i), Value: v}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	ts := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(values)), Records: recs,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:12], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func benchLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("2 123456789012 eni-%08x 10.%d.%d.%d 172.16.%d.%d %d 443 6 %d %d 1718000000 1718000060 ACCEPT OK",
			i*7919, i%256, (i/7)%256, (i/13)%256, i%200, (i/3)%250, 1024+i%60000, 1+i%50, 40+i*37%100000)
	}
	return out
}

func BenchmarkKafka(b *testing.B) {
	lines := benchLines(1000)
	var lineBytes int
	for _, l := range lines {
		lineBytes += len(l) + 1
	}
	perLine := make([][]byte, len(lines))
	for i, l := range lines {
		perLine[i] = []byte(l)
	}
	// 100 lines per Kafka record, as a shipper batching lines would send
	var multi [][]byte
	for i := 0; i < len(lines); i += 100 {
		multi = append(multi, []byte(strings.Join(lines[i:i+100], "\n")+"\n"))
	}
	// one CloudWatch Logs envelope of 100 events per record
	var cw [][]byte
	for i := 0; i < len(lines); i += 100 {
		var evs []string
		for j, l := range lines[i : i+100] {
			evs = append(evs, fmt.Sprintf(`{"id":"%056d","timestamp":1718000000000,"message":%q}`, i+j, l+"\n"))
		}
		doc := `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/vpc/flow","logStream":"eni-1-all","subscriptionFilters":["f"],"logEvents":[` +
			strings.Join(evs, ",") + `]}`
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write([]byte(doc))
		w.Close()
		cw = append(cw, buf.Bytes())
	}
	for _, tc := range []struct {
		name   string
		values [][]byte
	}{
		{"lines_1_per_record", perLine},
		{"lines_100_per_record", multi},
		{"cloudwatch_100_per_record", cw},
	} {
		for _, withParse := range []bool{false, true} {
			name := tc.name
			if withParse {
				name += "+parse"
			}
			b.Run(name, func(b *testing.B) {
				benchKafka(b, tc.values, withParse, int64(lineBytes*benchOpRecords/len(lines)))
			})
		}
	}
}

func benchKafka(b *testing.B, values [][]byte, withParse bool, opBytes int64) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, topic),
		kfake.SyntheticFetch(kfake.SyntheticBatch{Batch: syntheticBatch(values)}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cfg := *NewDefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.Topic = topic
	cfg.Group = "bench"
	cfg.FetchMaxPartitionBytes = 1 << 20
	s, err := New(context.Background(), cfg, component.Settings{ID: "kafka"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	f, err := parse.Compile("default")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// warm up: join the group and fill the first fetches
	for range 4 {
		if _, ack, err := s.Read(ctx); err != nil {
			b.Fatal(err)
		} else {
			ack(ctx, nil)
		}
	}
	b.SetBytes(opBytes)
	b.ReportAllocs()
	cpu0 := testkit.CPUTime()
	total, owed := 0, 0
	for b.Loop() {
		for owed < benchOpRecords {
			bt, ack, err := s.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if withParse {
				for i := range bt.Records {
					if err := f.Parse(&bt.Records[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			owed += len(bt.Records)
			total += len(bt.Records)
			ack(ctx, nil)
		}
		owed -= benchOpRecords
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
	// CPU time of the whole process (source, client and the in-process
	// kfake broker) per record: steadier than records/s on a shared machine.
	b.ReportMetric(float64(total)/(testkit.CPUTime()-cpu0).Seconds(), "records/cpu-s")
}
