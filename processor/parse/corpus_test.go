package parse

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// corpusFile is one file of testdata/flowlogs: its format (from its
// header line, or the default) and its data lines.
type corpusFile struct {
	name   string
	format *Format
	lines  [][]byte
}

func loadCorpus(tb testing.TB) []corpusFile {
	tb.Helper()
	paths, err := filepath.Glob("testdata/flowlogs/*.log")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	var out []corpusFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		cf := corpusFile{name: filepath.Base(p), format: Default()}
		for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if i == 0 && IsHeader(l) {
				if cf.format, err = ParseHeader(l); err != nil {
					tb.Fatalf("%s: %v", p, err)
				}
				continue
			}
			cf.lines = append(cf.lines, l)
		}
		out = append(out, cf)
	}
	return out
}

func corpusOf(tb testing.TB, name string) corpusFile {
	for _, cf := range loadCorpus(tb) {
		if cf.name == name {
			return cf
		}
	}
	tb.Fatalf("no corpus file %s", name)
	return corpusFile{}
}

func TestCorpusParses(t *testing.T) {
	for _, cf := range loadCorpus(t) {
		for i, l := range cf.lines {
			r := &flowlog.Record{Raw: l}
			if err := cf.format.Parse(r); err != nil {
				t.Errorf("%s:%d: %v", cf.name, i+1, err)
				continue
			}
			if out := cf.format.Append(nil, r); !bytes.Equal(out, l) {
				t.Errorf("%s:%d: Append wrote\n%s\nwant\n%s", cf.name, i+1, out, l)
			}
		}
	}
}

// fuzzFormats are the formats FuzzParse picks from by its first argument.
var fuzzFormats = []string{"default", fmtV5, fmtTGW, fmtNAT, fmtV7, fmtV8}

// FuzzParse checks that Parse never panics, returns either a record or a
// *ParseError (never both), and that Append(Parse(x)) re-parses to the
// same record.
func FuzzParse(f *testing.F) {
	formats := make([]*Format, len(fuzzFormats))
	for i, s := range fuzzFormats {
		formats[i] = mustFormat(f, s)
	}
	for _, cf := range loadCorpus(f) {
		k := uint8(0)
		for i, ff := range formats {
			if ff.String() == cf.format.String() || ff.Header() == cf.format.Header() {
				k = uint8(i)
			}
		}
		for i, l := range cf.lines {
			if i%50 == 0 || len(cf.lines) < 50 {
				f.Add(k, l)
			}
		}
	}
	for _, s := range []string{
		"", " ", "-", "2 - - - - - - - - - - - - -", "\x00", "2 1 eni-1 1.2.3.4 ::1 1 2 3 4 5 6 7 A B\r\n",
		"2 1 eni-1 1.2.3.4 5.6.7.8 99999999999999999999999 2 3 4 5 6 7 A B",
		"version account-id interface-id",
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, k uint8, line []byte) {
		ff := formats[int(k)%len(formats)]
		_ = IsHeader(line)
		r := &flowlog.Record{Raw: line}
		err := ff.Parse(r)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if r.Present != 0 {
				t.Fatalf("error %v and a record %b", err, r.Present)
			}
			if reasonOf(err) == "other" {
				t.Fatalf("error %v has no reason", err)
			}
			return
		}
		out := ff.Append(nil, r)
		r2 := &flowlog.Record{Raw: out}
		if err := ff.Parse(r2); err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", out, line, err)
		}
		if d := diffRecords(ff, r, r2); d != "" {
			t.Fatalf("round trip of %q via %q: %s", line, out, d)
		}
		if ff.fast {
			if got, want := ff.Append(nil, r), appendGeneric(ff, r); !bytes.Equal(got, want) {
				t.Fatalf("fast Append %q, generic %q", got, want)
			}
			g := &flowlog.Record{Raw: line}
			if err := generic(ff).Parse(g); err != nil || !sameRecord(g, r) {
				t.Fatalf("fast and generic paths differ on %q: %v", line, err)
			}
		}
	})
}

// The parse benchmarks run over the generated corpus. Compare runs with
//
//	go test -run '^$' -bench Parse -benchmem -count 6 ./processor/parse/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkParseDefault(b *testing.B) {
	benchParse(b, corpusOf(b, "default.log"))
}

func BenchmarkParseCustomV5(b *testing.B) {
	benchParse(b, corpusOf(b, "s3-v5-header.log"))
}

func BenchmarkParseTGW(b *testing.B) {
	benchParse(b, corpusOf(b, "tgw-header.log"))
}

// benchParse parses one line per op into one reused record, cycling
// through the corpus (BenchmarkStage covers whole batches of records).
func benchParse(b *testing.B, cf corpusFile) {
	n := 0
	for _, l := range cf.lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(cf.lines)))
	b.ReportAllocs()
	var r flowlog.Record
	i := 0
	for b.Loop() {
		r.Raw = cf.lines[i]
		if err := cf.format.Parse(&r); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(cf.lines) {
			i = 0
		}
	}
}

func BenchmarkIsHeader(b *testing.B) {
	cf := corpusOf(b, "default.log")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if IsHeader(cf.lines[i]) {
			b.Fatal("data line taken for a header")
		}
		if i++; i == len(cf.lines) {
			i = 0
		}
	}
}

// BenchmarkStage runs the parse_flowlog stage over batches of 1000
// default-format records; ns/record is the figure to compare with
// BenchmarkParseDefault.
func BenchmarkStage(b *testing.B) {
	cf := corpusOf(b, "default.log")
	const size = 1000
	st, err := NewStage(*NewDefaultConfig(), component.Settings{ID: "parse"})
	if err != nil {
		b.Fatal(err)
	}
	o := &flowlog.Origin{Name: "bench"}
	batch := &flowlog.Batch{Records: make([]flowlog.Record, 0, size)}
	bytesPer := 0
	for _, l := range cf.lines[:size] {
		bytesPer += len(l)
	}
	b.SetBytes(int64(bytesPer))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer() // refilling the batch is the source's work
		batch.Records = batch.Records[:size]
		for i := range batch.Records {
			batch.Records[i] = flowlog.Record{Raw: cf.lines[i], Origin: o}
		}
		b.StartTimer()
		if err := st.Process(context.Background(), batch); err != nil || len(batch.Records) != size {
			b.Fatal(err, len(batch.Records))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/record")
}

// generic returns a copy of f that never takes the default-format fast
// path.
func generic(f *Format) *Format {
	g := *f
	g.fast = false
	return &g
}

func TestFastPathMatchesGeneric(t *testing.T) {
	f := Default()
	if !f.fast {
		t.Fatal("default format does not use the fast path")
	}
	g := generic(f)
	lines := corpusOf(t, "default.log").lines
	for _, s := range []string{
		lineA, lineND, " " + lineA, lineA + "\r", strings.Replace(lineA, " 22 ", " 00022 ", 1),
		strings.Replace(lineA, "172.31.16.139", "2001:db8::1", 1), strings.Replace(lineA, " 6 ", "  6 ", 1),
		strings.Replace(lineA, "ACCEPT", "ACC\x00EPT", 1), strings.Replace(lineA, " 22 ", " 65536 ", 1),
		strings.Replace(lineA, "eni-1235b8ca123456789", "eni-\xff\xfe", 1), lineA + " ",
		"- - - - - - - - - - - - - -", "- - - - - - - - - - - - - - -", "2 1 eni-1 ::1 - 1 2 3 4 5 6 7 - -",
		"2 1 eni-1 fe80::1%eth0 ::1 1 2 3 4 5 6 7 A B", "2 1 eni-1 ::1 ::2 -1 2 3 4 5 6 7 A B",
		"2 1 eni-1 1.2.3.4 ::ffff:1.2.3.4 1 2 3 4 5 6 7 A -", "2 1 eni-1 1.2.3.4 1.2.3.4 1 2 3 4 5 6 7 A - ",
		"2 1 eni-1 1.2.3.4 1.2.3.4 1 2 3 4 5 6 7 -- B", "2 1 eni-1 1.2.3.4 1.2.3.4 1 2 3 4 5 6 7 A",
		"2 1 eni-1 01.2.3.4 1.2.3.4 1 2 3 4 5 6 7 A B", "2 1 eni-1 1.2.3.4 1.2.3.4 1 2 3 4 5 6 99999999999999999999 A B",
	} {
		lines = append(lines, []byte(s))
	}
	for _, l := range lines {
		a, b := &flowlog.Record{Raw: l}, &flowlog.Record{Raw: l}
		ea, eb := f.Parse(a), g.Parse(b)
		if (ea == nil) != (eb == nil) || ea != nil && ea.Error() != eb.Error() {
			t.Fatalf("%q: fast %v, generic %v", l, ea, eb)
		}
		if !sameRecord(a, b) {
			t.Fatalf("%q: fast and generic records differ:\n%+v\n%+v", l, a, b)
		}
	}
}

func BenchmarkParseDefaultGeneric(b *testing.B) {
	cf := corpusOf(b, "default.log")
	cf.format = generic(cf.format)
	benchParse(b, cf)
}

// sameRecord compares every parsed field of two records, spans as text.
func sameRecord(a, b *flowlog.Record) bool {
	if a.Present != b.Present || a.Version != b.Version || a.Protocol != b.Protocol || a.TrafficPath != b.TrafficPath ||
		a.SrcPort != b.SrcPort || a.DstPort != b.DstPort || a.TCPFlags != b.TCPFlags || a.Packets != b.Packets ||
		a.Bytes != b.Bytes || a.Start != b.Start || a.End != b.End || a.PacketsLost != b.PacketsLost ||
		a.SrcAddr != b.SrcAddr || a.DstAddr != b.DstAddr || a.PktSrcAddr != b.PktSrcAddr || a.PktDstAddr != b.PktDstAddr {
		return false
	}
	for fl := range flowlog.NumFields {
		if !bytes.Equal(a.Text(fl), b.Text(fl)) {
			return false
		}
	}
	return true
}

var sinkInt int

// BenchmarkBaselineCountSpaces is a yardstick, not a parser: it counts the
// spaces of each corpus line with a plain byte loop. On a shared or busy
// machine, compare BenchmarkParseDefault with it rather than with absolute
// targets.
func BenchmarkBaselineCountSpaces(b *testing.B) {
	cf := corpusOf(b, "default.log")
	n := 0
	for _, l := range cf.lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(cf.lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := 0
		for _, ch := range cf.lines[i] {
			if ch == ' ' {
				c++
			}
		}
		sinkInt += c
		if i++; i == len(cf.lines) {
			i = 0
		}
	}
}

// appendGeneric is Append without the default-format fast path.
func appendGeneric(f *Format, r *flowlog.Record) []byte {
	return generic(f).Append(nil, r)
}

func TestFastAppendMatchesGeneric(t *testing.T) {
	f := Default()
	for _, l := range append(corpusOf(t, "default.log").lines, []byte(lineND), []byte("- - - - - - - - - - - - - -")) {
		r := &flowlog.Record{Raw: l}
		if err := f.Parse(r); err != nil {
			t.Fatal(err)
		}
		if got, want := f.Append(nil, r), appendGeneric(f, r); !bytes.Equal(got, want) {
			t.Fatalf("fast Append %q, generic %q", got, want)
		}
	}
}
