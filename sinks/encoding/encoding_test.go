package encoding

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/encoding/encodingtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var testENI = &flowlog.ENI{
	InterfaceID:      "eni-057e0bd0",
	AccountID:        "123456789012",
	Region:           "us-east-1",
	VPCID:            "vpc-3d4e5f60",
	SubnetID:         "subnet-e81c1aad",
	AvailabilityZone: "us-east-1a",
	InstanceID:       "i-0123456789abcdef0",
	InterfaceType:    "interface",
	SecurityGroupIDs: []string{"sg-d821df99", "sg-931db925"},
	Addresses:        []netip.Addr{netip.MustParseAddr("192.168.3.98")},
}

var taggedENI = func() *flowlog.ENI {
	e := *testENI
	e.Tags = map[string]string{"Name": "web-1", "Team": `a "quoted" team`, "Env": "prod"}
	return &e
}()

var (
	cwlOrigin = &flowlog.Origin{Name: "kinesis flows/shard-0", LogGroup: "/vpc/flow-logs", LogStream: "eni-057e0bd0-all"}
	s3Origin  = &flowlog.Origin{Name: "s3://bucket/key.log.gz", Account: "210987654321", Region: "eu-west-1"}
)

var v5Format = []flowlog.Field{
	flowlog.FVersion, flowlog.FVPCID, flowlog.FSubnetID, flowlog.FInstanceID, flowlog.FInterfaceID,
	flowlog.FAccountID, flowlog.FType, flowlog.FSrcAddr, flowlog.FDstAddr, flowlog.FSrcPort,
	flowlog.FDstPort, flowlog.FPktSrcAddr, flowlog.FPktDstAddr, flowlog.FProtocol, flowlog.FBytes,
	flowlog.FPackets, flowlog.FStart, flowlog.FEnd, flowlog.FAction, flowlog.FTCPFlags,
	flowlog.FLogStatus, flowlog.FRegion, flowlog.FAZID, flowlog.FPktSrcAWSService,
	flowlog.FPktDstAWSService, flowlog.FFlowDirection, flowlog.FTrafficPath,
}

var tgwFormat = []flowlog.Field{
	flowlog.FVersion, flowlog.FResourceType, flowlog.FAccountID, flowlog.FTGWID, flowlog.FTGWAttachmentID,
	flowlog.FSrcAddr, flowlog.FDstAddr, flowlog.FPackets, flowlog.FBytes,
	flowlog.FPacketsLostNoRoute, flowlog.FPacketsLostBlackhole, flowlog.FPacketsLostMTUExceeded,
	flowlog.FPacketsLostTTLExpired,
}

type goldenCase struct {
	name   string
	line   string
	format []flowlog.Field
	origin *flowlog.Origin
	eni    *flowlog.ENI
	dir    flowlog.Direction
}

var goldenCases = []goldenCase{
	{name: "default", line: "2 123456789012 eni-057e0bd0 52.1.2.3 192.168.3.98 50000 443 6 10 1000 1718000000 1718000060 ACCEPT OK"},
	{name: "default-enriched", line: "2 123456789012 eni-057e0bd0 52.1.2.3 192.168.3.98 50000 443 6 10 1000 1718000000 1718000060 ACCEPT OK",
		eni: testENI, dir: flowlog.DirInbound},
	{name: "cwl-enriched", line: "2 123456789012 eni-057e0bd0 192.168.3.98 52.1.2.3 443 50000 6 10 1000 1718000000 1718000060 ACCEPT OK",
		origin: cwlOrigin, eni: testENI, dir: flowlog.DirOutbound},
	{name: "cwl-enriched-no-direction", line: "2 123456789012 eni-057e0bd0 192.168.3.98 192.168.3.99 443 50000 6 10 1000 1718000000 1718000060 ACCEPT OK",
		origin: cwlOrigin, eni: &flowlog.ENI{SubnetID: "subnet-1", VPCID: "vpc-1"}},
	{name: "nodata", line: "2 123456789012 eni-057e0bd0 - - - - - - - 1718000000 1718000060 - NODATA", origin: cwlOrigin},
	{name: "ipv6", line: "2 123456789012 eni-057e0bd0 2600:1f18:0:0:0:0:0:1 2600:1f18::2 443 50000 17 1 76 1718000000 1718000060 REJECT OK",
		eni: testENI, dir: flowlog.DirInternal},
	{name: "s3-origin-fills", line: "3 vpc-1 - eni-1 - - 10.0.0.1 10.0.0.2 1 2 6 18446744073709551615 1 1718000000 1718000060 ACCEPT OK",
		format: []flowlog.Field{flowlog.FVersion, flowlog.FVPCID, flowlog.FSubnetID, flowlog.FInterfaceID, flowlog.FAccountID,
			flowlog.FType, flowlog.FSrcAddr, flowlog.FDstAddr, flowlog.FSrcPort, flowlog.FDstPort, flowlog.FProtocol,
			flowlog.FBytes, flowlog.FPackets, flowlog.FStart, flowlog.FEnd, flowlog.FAction, flowlog.FLogStatus},
		origin: s3Origin},
	{name: "v5-custom-order", line: "5 vpc-0aa1 subnet-0bb2 i-0cc3 eni-0dd4 123456789012 IPv4 10.40.1.175 10.40.2.236 39812 80 10.40.1.175 10.40.2.236 6 3726 28 1718000000 1718000060 ACCEPT 19 OK us-east-1 use1-az4 - AMAZON ingress 1",
		format: v5Format, eni: taggedENI, dir: flowlog.DirInternal},
	{name: "tgw", line: "6 TransitGateway 123456789012 tgw-0a1b tgw-attach-0c2d 10.0.1.1 10.0.2.2 5 500 1 0 2 0", format: tgwFormat},
	{name: "trailing-spaces", line: "  2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1718000000 1718000060 ACCEPT OK  "},
	{name: "escapes", line: `2 "quoted" eni-\back 10.0.0.1 10.0.0.2 1 2 6 1 40 1718000000 1718000060 A` + "\x01\x1f\t" + ` OK`},
}

func goldenRecord(t testing.TB, c goldenCase) flowlog.Record {
	t.Helper()
	line := c.line
	r, err := encodingtest.Record(line, c.format)
	if err != nil {
		// The escapes case has a tab inside a field: build it by hand.
		r = flowlog.Record{Raw: []byte(line)}
	}
	r.Origin, r.ENI, r.Direction = c.origin, c.eni, c.dir
	return r
}

func TestGolden(t *testing.T) {
	for _, enc := range []struct {
		name string
		opts Options
	}{
		{"json", Options{}}, {"json", Options{IncludeLogInfo: true}},
		{"sumo_vpc_json", Options{}}, {"sumo_vpc_json", Options{IncludeLogInfo: true}},
		{"raw", Options{}},
	} {
		file := enc.name
		if enc.opts.IncludeLogInfo {
			file += "-log-info"
		}
		t.Run(file, func(t *testing.T) {
			e, err := New(enc.name, enc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for _, c := range goldenCases {
				r := goldenRecord(t, c)
				got = append(got, "# "+c.name+"\n"...)
				out := e.AppendRecord(nil, &r)
				if enc.name != "raw" && len(out) > 0 {
					if !json.Valid(bytes.TrimSuffix(out, []byte("\n"))) {
						t.Errorf("%s: invalid JSON %q", c.name, out)
					}
				}
				got = append(got, out...)
			}
			golden := filepath.Join("testdata", file+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestSumoReferenceExample checks the example the reference confirmed by
// running the Lambda.
func TestSumoReferenceExample(t *testing.T) {
	const want = `{"message":"2 123456789012 eni-057e0bd0 52.1.2.3 192.168.3.98 50000 443 6 10 1000 1718000000 1718000060 ACCEPT OK","security-group-ids":["sg-d821df99","sg-931db925"],"direction":"inbound","subnet-id":"subnet-e81c1aad","vpc-id":"vpc-3d4e5f60","aws-region":"us-east-1"}` + "\n"
	r := encodingtest.MustRecord("2 123456789012 eni-057e0bd0 52.1.2.3 192.168.3.98 50000 443 6 10 1000 1718000000 1718000060 ACCEPT OK", nil)
	r.ENI, r.Direction = testENI, flowlog.DirInbound
	e, _ := New(SumoVPCJSON, Options{IncludeLogInfo: true}) // no envelope: no log info
	if got := string(e.AppendRecord(nil, &r)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	r.Origin = cwlOrigin
	want2 := `{"message":"` + string(r.Raw) + `","logStream":"eni-057e0bd0-all","logGroup":"/vpc/flow-logs","security-group-ids":["sg-d821df99","sg-931db925"],"direction":"inbound","subnet-id":"subnet-e81c1aad","vpc-id":"vpc-3d4e5f60","aws-region":"us-east-1"}` + "\n"
	if got := string(e.AppendRecord(nil, &r)); got != want2 {
		t.Fatalf("got  %s\nwant %s", got, want2)
	}
	r.ENI = nil
	want3 := `{"message":"` + string(r.Raw) + `","logStream":"eni-057e0bd0-all","logGroup":"/vpc/flow-logs"}` + "\n"
	if got := string(e.AppendRecord(nil, &r)); got != want3 {
		t.Fatalf("got  %s\nwant %s", got, want3)
	}
}

func TestJSONTypesAllKinds(t *testing.T) {
	r := encodingtest.MustRecord("2 012345678901 eni-1 10.0.0.1 2600:1f18::1 0 65535 255 18446744073709551615 7 1718000000 1718000060 ACCEPT OK", nil)
	e, _ := New(JSON, Options{})
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(e.AppendRecord(nil, &r)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for _, f := range flowlog.DefaultFormat {
		v, ok := m[f.String()]
		if !ok {
			t.Errorf("%s missing", f)
			continue
		}
		switch f.Kind() {
		case flowlog.KindInt:
			if _, ok := v.(json.Number); !ok {
				t.Errorf("%s = %#v, want a number", f, v)
			}
		default:
			if _, ok := v.(string); !ok {
				t.Errorf("%s = %#v, want a string", f, v)
			}
		}
	}
	if m["account-id"] != "012345678901" || m["packets"] != json.Number("18446744073709551615") ||
		m["dstaddr"] != "2600:1f18::1" || m["protocol"] != json.Number("255") {
		t.Errorf("values: %v", m)
	}
}

func TestEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"<>&", `"<>&"`},
		{"é€😀", `"é€😀"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"a\xffb", "\"a\ufffdb\""},
		{"\xe2\x82", "\"\ufffd\ufffd\""},
		{"", `""`},
	} {
		if got := string(appendQuoted(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendQuoted(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\xff\u2028", "2 123 eni-1 - - ACCEPT OK", "é\xe2\x82"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := appendQuoted(nil, in)
		var s string
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("%q -> %q: %v", in, out, err)
		}
		// Expected: in with every invalid byte replaced by U+FFFD.
		var want []byte
		for i := 0; i < len(in); {
			r, n := utf8.DecodeRune(in[i:])
			want = utf8.AppendRune(want, r)
			i += n
		}
		if s != string(want) {
			t.Fatalf("%q: round trip %q, want %q", in, s, want)
		}
	})
}

func TestJSTrim(t *testing.T) {
	for in, want := range map[string]string{
		"  a b \t\r\n":           "a b",
		"\u00a0\ufeffx\u3000":    "x",
		"\u2028\u2029":           "",
		"x\xff":                  "x\xff",
		"\v\fabc\u205f\u202f":    "abc",
		"é":                      "é",
		"\u2000\u200a\u1680end ": "end",
	} {
		if got := string(jsTrim([]byte(in))); got != want {
			t.Errorf("jsTrim(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmptyLine(t *testing.T) {
	r := flowlog.Record{Raw: []byte("   ")}
	for _, n := range []string{SumoVPCJSON, Raw} {
		e, _ := New(n, Options{})
		if got := e.AppendRecord(nil, &r); len(got) != 0 {
			t.Errorf("%s: empty line gave %q", n, got)
		}
	}
	e, _ := New(JSON, Options{})
	if got := string(e.AppendRecord(nil, &r)); got != "{}\n" {
		t.Errorf("json: empty record gave %q", got)
	}
}

func TestAppendFailure(t *testing.T) {
	f := &flowlog.Failure{Stage: "parse", Err: errors.New(`line 3: field "srcport": 70000 > 65535`),
		Raw: []byte("2 123 eni-1 10.0.0.1 10.0.0.2 70000 1 6 1 1 1 1 ACCEPT OK"), Origin: s3Origin}
	want := `{"stage":"parse","error":"line 3: field \"srcport\": 70000 \u003e 65535","raw":"2 123 eni-1 10.0.0.1 10.0.0.2 70000 1 6 1 1 1 1 ACCEPT OK","input":"s3://bucket/key.log.gz"}` + "\n"
	want = strings.Replace(want, `\u003e`, ">", 1)
	for _, n := range []string{JSON, SumoVPCJSON} {
		e, _ := New(n, Options{})
		if got := string(e.AppendFailure(nil, f)); got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", n, got, want)
		}
	}
	e, _ := New(Raw, Options{})
	if got := string(e.AppendFailure(nil, f)); got != string(f.Raw)+"\n" {
		t.Errorf("raw: %q", got)
	}
	bin := &flowlog.Failure{Stage: "flows", Raw: []byte{0x1f, 0x8b, 0xff}}
	e, _ = New(JSON, Options{})
	got := e.AppendFailure(nil, bin)
	var m map[string]string
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if m["raw_base64"] != "H4v/" || m["error"] != "" || m["stage"] != "flows" {
		t.Errorf("binary failure: %s", got)
	}
}

func TestUnknownEncoding(t *testing.T) {
	if _, err := New("xml", Options{}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestZeroAllocs(t *testing.T) {
	r5 := goldenRecord(t, goldenCases[7])
	r5.Origin = cwlOrigin
	for _, n := range Names {
		e, _ := New(n, Options{IncludeLogInfo: true})
		buf := make([]byte, 0, 4096)
		if a := testing.AllocsPerRun(100, func() { buf = e.AppendRecord(buf[:0], &r5) }); a != 0 {
			t.Errorf("%s: %v allocs per record", n, a)
		}
	}
}
