package streamfilter

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestKeepsOnlyMatchingStreams(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{LogStreamPrefixes: []string{"eni-0a", "ENI-0B"}}, component.Settings{ID: "streams", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	a := &flowlog.Origin{LogGroup: "/vpc/flows", LogStream: "eni-0abc-all"}
	b := &flowlog.Origin{LogGroup: "/vpc/flows", LogStream: "Eni-0Bcd-all"}
	c := &flowlog.Origin{LogGroup: "/vpc/flows", LogStream: "eni-0cde-all"}
	file := &flowlog.Origin{Name: "flows.log"}
	batch := &flowlog.Batch{}
	for _, o := range []*flowlog.Origin{a, a, c, b, c, file} {
		batch.Records = append(batch.Records, flowlog.Record{Raw: []byte(o.LogStream + "|" + o.Name), Origin: o})
	}
	if err := s.Process(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range batch.Records {
		got = append(got, string(r.Raw))
	}
	if strings.Join(got, ",") != "eni-0abc-all|,eni-0abc-all|,Eni-0Bcd-all|,|flows.log" {
		t.Fatalf("kept %v", got)
	}
	if n := testutil.ToFloat64(s.dropped.WithLabelValues("stream")); n != 2 {
		t.Fatalf("dropped{reason=stream} = %v", n)
	}
}

func TestGroupsAndRecordsWithoutStream(t *testing.T) {
	s, err := New(Config{LogGroupPrefixes: []string{"/prod/"}, DropWithoutStream: true}, component.Settings{ID: "g"})
	if err != nil {
		t.Fatal(err)
	}
	batch := &flowlog.Batch{Records: []flowlog.Record{
		{Raw: []byte("1"), Origin: &flowlog.Origin{LogGroup: "/PROD/vpc", LogStream: "x"}},
		{Raw: []byte("2"), Origin: &flowlog.Origin{LogGroup: "/dev/vpc", LogStream: "x"}},
		{Raw: []byte("3"), Origin: &flowlog.Origin{Name: "s3://b/k"}},
	}}
	s.Process(context.Background(), batch)
	if len(batch.Records) != 1 || string(batch.Records[0].Raw) != "1" {
		t.Fatalf("kept %d records", len(batch.Records))
	}
}

func TestValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "at least one prefix") {
		t.Fatalf("Validate = %v", err)
	}
	if err := (&Config{LogStreamPrefixes: []string{""}}).Validate(); err == nil || !strings.Contains(err.Error(), "log_stream_prefixes[0]") {
		t.Fatalf("Validate = %v", err)
	}
}
