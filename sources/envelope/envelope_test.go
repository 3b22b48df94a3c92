package envelope

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

const (
	line1 = "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 49152 443 6 10 840 1718000000 1718000060 ACCEPT OK"
	line2 = "2 123456789012 eni-0a1b2c3d 10.0.2.9 10.0.1.5 443 49152 6 12 5120 1718000000 1718000060 ACCEPT OK"
)

type event struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

type cwl struct {
	MessageType         string   `json:"messageType"`
	Owner               string   `json:"owner"`
	LogGroup            string   `json:"logGroup"`
	LogStream           string   `json:"logStream"`
	SubscriptionFilters []string `json:"subscriptionFilters"`
	LogEvents           []event  `json:"logEvents"`
}

func envelopeJSON(t testing.TB, msgType string, msgs ...string) []byte {
	t.Helper()
	env := cwl{
		MessageType: msgType, Owner: "123456789012", LogGroup: "/vpc/flow", LogStream: "eni-0a1b2c3d-all",
		SubscriptionFilters: []string{"to-kinesis"},
	}
	for i, m := range msgs {
		env.LogEvents = append(env.LogEvents, event{ID: strings.Repeat("3", 56), Timestamp: 1718000000000 + int64(i), Message: m})
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts {
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func raws(b *flowlog.Batch) []string {
	var out []string
	for _, r := range b.Records {
		out = append(out, string(r.Raw))
	}
	return out
}

func TestParsePayload(t *testing.T) {
	for _, p := range []Payload{Lines, CloudWatchLogs, Auto} {
		got, err := ParsePayload(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePayload(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePayload("kpl"); err == nil || !strings.Contains(err.Error(), `"kpl"`) {
		t.Errorf("ParsePayload(kpl) error = %v", err)
	}
}

func TestDecodeLines(t *testing.T) {
	data := []byte("  " + line1 + "\r\n\n \t\r\n" + line2 + " \r")
	o := &flowlog.Origin{Name: "t/0@5"}
	for _, p := range []Payload{Lines, Auto} {
		t.Run(p.String(), func(t *testing.T) {
			var b flowlog.Batch
			if err := Decode(&b, data, p, o); err != nil {
				t.Fatal(err)
			}
			if got := raws(&b); len(got) != 2 || got[0] != line1 || got[1] != line2 {
				t.Fatalf("records = %q", got)
			}
			for _, r := range b.Records {
				if r.Origin != o {
					t.Errorf("origin = %p, want the one given", r.Origin)
				}
				if cap(r.Raw) != len(r.Raw) {
					t.Errorf("Raw cap %d != len %d: an append would overwrite the payload", cap(r.Raw), len(r.Raw))
				}
			}
			// Raw aliases data: no copy.
			if &b.Records[0].Raw[0] != &data[2] {
				t.Error("Raw does not point into data")
			}
			if len(b.Buf) != 0 {
				t.Errorf("Buf used for lines: %d bytes", len(b.Buf))
			}
		})
	}
}

func TestDecodeCloudWatch(t *testing.T) {
	doc := envelopeJSON(t, "DATA_MESSAGE", line1+"\n", "", "  "+line2+" \n")
	for _, tc := range []struct {
		name string
		data []byte
		p    Payload
	}{
		{"gzip", gz(t, doc), CloudWatchLogs},
		{"gzip auto", gz(t, doc), Auto},
		{"base64 gzip", []byte(base64.StdEncoding.EncodeToString(gz(t, doc)) + "\n"), CloudWatchLogs},
		{"base64 gzip auto", []byte(base64.StdEncoding.EncodeToString(gz(t, doc))), Auto},
		{"base64 unpadded", []byte(base64.RawStdEncoding.EncodeToString(gz(t, doc))), CloudWatchLogs},
		{"plain json", doc, CloudWatchLogs},
		{"plain json auto", append([]byte(" \n"), doc...), Auto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.data)
			in := &flowlog.Origin{Name: "vpc/3@42", Region: "eu-west-1"}
			b := flowlog.Batch{Buf: []byte("earlier")}
			if err := Decode(&b, tc.data, tc.p, in); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tc.data, orig) {
				t.Error("Decode modified its input")
			}
			if got := raws(&b); len(got) != 2 || got[0] != line1 || got[1] != line2 {
				t.Fatalf("records = %q", got)
			}
			o := b.Records[0].Origin
			if o == in || b.Records[1].Origin != o {
				t.Fatalf("want one new Origin shared by the envelope's records")
			}
			if o.Name != "vpc/3@42" || o.LogGroup != "/vpc/flow" || o.LogStream != "eni-0a1b2c3d-all" ||
				o.Account != "123456789012" || o.Region != "eu-west-1" {
				t.Errorf("origin = %+v", o)
			}
			if string(b.Buf[:7]) != "earlier" {
				t.Error("Buf's earlier content was overwritten")
			}
		})
	}
}

func TestDecodeCloudWatchSeveralDocuments(t *testing.T) {
	d1 := envelopeJSON(t, "DATA_MESSAGE", line1)
	d2 := bytes.Replace(envelopeJSON(t, "DATA_MESSAGE", line2), []byte("/vpc/flow"), []byte("/vpc/other"), 1)
	ctl := envelopeJSON(t, "CONTROL_MESSAGE", "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.")
	for name, data := range map[string][]byte{
		"gzip members": gz(t, d1, ctl, d2),
		"one member":   gz(t, append(append(append(d1, '\n'), ctl...), d2...)),
	} {
		t.Run(name, func(t *testing.T) {
			var b flowlog.Batch
			if err := Decode(&b, data, CloudWatchLogs, nil); err != nil {
				t.Fatal(err)
			}
			if got := raws(&b); len(got) != 2 || got[0] != line1 || got[1] != line2 {
				t.Fatalf("records = %q", got)
			}
			if g0, g1 := b.Records[0].Origin.LogGroup, b.Records[1].Origin.LogGroup; g0 != "/vpc/flow" || g1 != "/vpc/other" {
				t.Errorf("log groups = %q, %q", g0, g1)
			}
		})
	}
}

func TestDecodeControlMessage(t *testing.T) {
	ctl := envelopeJSON(t, "CONTROL_MESSAGE", "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.")
	// messageType after logEvents: the records already appended are dropped.
	late := []byte(`{"logEvents":[{"id":"1","timestamp":1,"message":"x y z"}],"messageType":"CONTROL_MESSAGE"}`)
	for _, data := range [][]byte{gz(t, ctl), gz(t, late), late} {
		var b flowlog.Batch
		if err := Decode(&b, data, Auto, nil); err != nil {
			t.Fatal(err)
		}
		if len(b.Records) != 0 {
			t.Fatalf("records = %q, want none", raws(&b))
		}
	}
}

func TestDecodeEscapes(t *testing.T) {
	msgs := []string{`quote " back \ slash`, "tab\tnew\nline", "é ü ✓ 😀", "</script> & \u2028", "ctl \x01\x1f"}
	doc := envelopeJSON(t, "DATA_MESSAGE", msgs...)
	// also hand-written escapes encoding/json would not produce
	doc = bytes.Replace(doc, []byte(`"logEvents":[`), []byte(`"logEvents":[{"message":"\u0041\/\ud83d\ude00\ud800x\b\f"},`), 1)
	var b flowlog.Batch
	if err := Decode(&b, doc, CloudWatchLogs, nil); err != nil {
		t.Fatal(err)
	}
	want := append([]string{"A/😀\uFFFDx\b\f"}, msgs...)
	want[len(want)-1] = "ctl \x01\x1f"
	got := raws(&b)
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestDecodeGzipLinesAuto(t *testing.T) {
	data := gz(t, []byte(line1+"\n"+line2+"\n"))
	var b flowlog.Batch
	if err := Decode(&b, data, Auto, nil); err != nil {
		t.Fatal(err)
	}
	if got := raws(&b); len(got) != 2 || got[0] != line1 || got[1] != line2 {
		t.Fatalf("records = %q", got)
	}
	// In cloudwatch_logs mode the same payload is an error.
	if err := Decode(&b, data, CloudWatchLogs, nil); err == nil {
		t.Fatal("cloudwatch_logs accepted gzip'd lines")
	}
}

func TestDecodeErrors(t *testing.T) {
	good := gz(t, envelopeJSON(t, "DATA_MESSAGE", line1, line2))
	corrupt := bytes.Clone(good)
	for i := 12; i < len(corrupt)-8; i++ {
		corrupt[i] ^= 0x5a
	}
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-6] ^= 0xff
	for _, tc := range []struct {
		name, want string
		data       []byte
		p          Payload
	}{
		{"corrupt gzip", "gunzip", corrupt, Auto},
		{"bad checksum", "gunzip", badCRC, CloudWatchLogs},
		{"truncated gzip", "truncated", good[:len(good)/2], CloudWatchLogs},
		{"gzip header only", "gunzip", good[:5], CloudWatchLogs},
		{"bad base64", "base64", []byte("H4sI!!!!"), CloudWatchLogs},
		{"not an envelope", "not gzip", []byte(line1), CloudWatchLogs},
		{"invalid json", "invalid JSON", gz(t, []byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a"}`)), Auto},
		{"invalid json value", "invalid JSON", []byte(`{"messageType":"DATA_MESSAGE","x":tru}`), Auto},
		{"bad escape", "bad escape", []byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a\qb"}]}`), Auto},
		{"unknown type", `unknown messageType "FOO"`, []byte(`{"messageType":"FOO","logEvents":[{"message":"a"}]}`), Auto},
		{"no type", "no messageType", gz(t, []byte(`{"logEvents":[{"message":"a"}]}`)), CloudWatchLogs},
		{"second doc bad", "unknown messageType", gz(t, envelopeJSON(t, "DATA_MESSAGE", line1), []byte(`{"messageType":"X"}`)), CloudWatchLogs},
		{"deep nesting", "nested deeper", []byte(`{"messageType":"DATA_MESSAGE","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`), Auto},
		{"empty gzip", "empty document", gz(t, nil), CloudWatchLogs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := flowlog.Batch{Buf: []byte("keep")}
			o := &flowlog.Origin{}
			if err := Decode(&b, []byte(line2), Lines, o); err != nil {
				t.Fatal(err)
			}
			err := Decode(&b, tc.data, tc.p, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if len(b.Records) != 1 || string(b.Records[0].Raw) != line2 || string(b.Buf) != "keep" {
				t.Errorf("batch changed on error: %d records, buf %q", len(b.Records), b.Buf)
			}
		})
	}
}

func TestDecodeGzipBomb(t *testing.T) {
	defer func(n int) { maxDecompressed = n }(maxDecompressed)
	maxDecompressed = 1 << 20
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(make([]byte, maxDecompressed+1))
	w.Close()
	var b flowlog.Batch
	err := Decode(&b, buf.Bytes(), CloudWatchLogs, nil)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("error = %v", err)
	}
}

// TestDecodeMatchesEncodingJSON checks the in-place decoder against
// encoding/json on documents with awkward but valid content.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	docs := []string{
		`{"messageType":"DATA_MESSAGE","logEvents":[]}`,
		`{"messageType":"DATA_MESSAGE","logEvents":null}`,
		` { "owner" : "1" , "extra" : {"a":[1,-2.5e3,true,false,null,{"b":"\"}"}]}, "logEvents" : [ { "extractedFields" : {"k":"v"}, "message" : "a b" , "id":"1" } ] , "messageType" : "DATA_MESSAGE" } `,
		`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"\\\"\\n"},{"message":"\u00e9\u4e2d"}]}`,
	}
	for _, doc := range docs {
		var want struct {
			LogEvents []struct{ Message string } `json:"logEvents"`
		}
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var b flowlog.Batch
		if err := Decode(&b, []byte(doc), CloudWatchLogs, nil); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var wantMsgs []string
		for _, e := range want.LogEvents {
			if m := strings.Trim(e.Message, " \t\r\n"); m != "" {
				wantMsgs = append(wantMsgs, m)
			}
		}
		got := raws(&b)
		if strings.Join(got, "|") != strings.Join(wantMsgs, "|") {
			t.Errorf("%s: got %q, want %q", doc, got, wantMsgs)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(line1+"\n"+line2), uint8(Auto))
	f.Add(envelopeJSON(f, "DATA_MESSAGE", line1, line2), uint8(CloudWatchLogs))
	f.Add(gz(f, envelopeJSON(f, "CONTROL_MESSAGE", "x")), uint8(Auto))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"message":"\ud83d\ude00\u00"}]}`), uint8(Auto))
	f.Fuzz(func(t *testing.T, data []byte, p uint8) {
		in := bytes.Clone(data)
		b := flowlog.Batch{Buf: []byte("x")}
		err := Decode(&b, data, Payload(p%3), nil)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil && (len(b.Records) != 0 || string(b.Buf) != "x") {
			t.Fatal("batch changed on error")
		}
		for _, r := range b.Records {
			if len(r.Raw) == 0 || isSpace(r.Raw[0]) || isSpace(r.Raw[len(r.Raw)-1]) {
				t.Fatalf("untrimmed or empty Raw %q", r.Raw)
			}
		}
	})
}
