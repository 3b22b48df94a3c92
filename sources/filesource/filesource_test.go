package filesource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type readResult struct {
	lines    []string
	failures []string
	batches  int
}

func readAll(t *testing.T, s *Source) readResult {
	t.Helper()
	var r readResult
	ctx := context.Background()
	for {
		b, ack, err := s.Read(ctx)
		if errors.Is(err, component.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r.batches++
		if len(b.Records) > s.cfg.BatchMaxRecords {
			t.Fatalf("batch of %d records, batch_max_records is %d", len(b.Records), s.cfg.BatchMaxRecords)
		}
		for _, rec := range b.Records {
			if rec.Origin == nil || rec.Origin.Name == "" {
				t.Fatal("record without origin")
			}
			r.lines = append(r.lines, string(rec.Raw))
		}
		for _, f := range b.Failed {
			r.failures = append(r.failures, f.Err.Error())
		}
		if err := ack(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func newSource(t *testing.T, path string, batch int) *Source {
	t.Helper()
	cfg := NewDefaultConfig()
	cfg.Path = path
	cfg.BatchMaxRecords = batch
	cfg.MaxLineBytes = 4096
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(*cfg, component.Settings{ID: "in"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func gzipBytes(t *testing.T, members ...string) []byte {
	var buf bytes.Buffer
	for _, m := range members {
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(m))
		zw.Close()
	}
	return buf.Bytes()
}

func TestLinesPlainAndGzipAcrossBatches(t *testing.T) {
	var want []string
	var text strings.Builder
	for i := range 5000 {
		l := fmt.Sprintf("2 123456789010 eni-%017d 10.0.0.%d 10.0.1.1 443 %d 6 1 40 1 2 ACCEPT OK", i, i%250, 1024+i)
		want = append(want, l)
		// Mixed line endings and surrounding spaces are trimmed.
		switch i % 3 {
		case 0:
			text.WriteString(l + "\n")
		case 1:
			text.WriteString("  " + l + " \r\n")
		case 2:
			text.WriteString(l + "\n\n")
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.log"), []byte(text.String()), 0o644)
	half := len(text.String()) / 2
	cut := strings.Index(text.String()[half:], "\n") + half + 1
	// Two gzip members, split mid-file: one stream to the reader.
	os.WriteFile(filepath.Join(dir, "b.log.gz"), gzipBytes(t, text.String()[:cut], text.String()[cut:]), 0o644)
	for _, batch := range []int{1, 7, 1000, 4096} {
		r := readAll(t, newSource(t, filepath.Join(dir, "*"), batch))
		if len(r.failures) > 0 {
			t.Fatalf("failures: %v", r.failures)
		}
		if len(r.lines) != 2*len(want) {
			t.Fatalf("batch %d: %d lines, want %d", batch, len(r.lines), 2*len(want))
		}
		for i, l := range r.lines {
			if l != want[i%len(want)] {
				t.Fatalf("batch %d: line %d = %q, want %q", batch, i, l, want[i%len(want)])
			}
		}
	}
}

func TestLongLineIsReportedAndTheFileGoesOn(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 1<<20)
	os.WriteFile(filepath.Join(dir, "a.log"), []byte("first\n"+long+"\nlast\n"), 0o644)
	r := readAll(t, newSource(t, filepath.Join(dir, "a.log"), 100))
	if strings.Join(r.lines, ",") != "first,last" {
		t.Fatalf("lines %v", r.lines)
	}
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "a.log:2: line longer than max_line_bytes") {
		t.Fatalf("failures %v", r.failures)
	}
}

func TestCorruptGzipNamesTheFileAndKeepsWhatCameBefore(t *testing.T) {
	dir := t.TempDir()
	var text strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&text, "line %d with some padding to make the stream longer than one block\n", i)
	}
	data := gzipBytes(t, text.String())
	os.WriteFile(filepath.Join(dir, "a.gz"), data[:len(data)/2], 0o644)
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	os.WriteFile(filepath.Join(dir, "b.gz"), bad, 0o644)
	os.WriteFile(filepath.Join(dir, "c.log"), []byte("after\n"), 0o644)
	r := readAll(t, newSource(t, filepath.Join(dir, "*"), 512))
	if len(r.failures) != 2 || !strings.Contains(r.failures[0], "a.gz") || !strings.Contains(r.failures[1], "b.gz") {
		t.Fatalf("failures %v", r.failures)
	}
	if len(r.lines) < 10000 || r.lines[len(r.lines)-1] != "after" || r.lines[0] != "line 0 with some padding to make the stream longer than one block" {
		t.Fatalf("%d lines, last %q", len(r.lines), r.lines[len(r.lines)-1])
	}
}

func TestMissingFileIsAConfigTimeError(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "nope.log")
	if _, err := New(*cfg, component.Settings{}); err == nil {
		t.Fatal("no error for a missing file")
	}
	cfg.Path = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "path must be set") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestStdinAndCloseWhileBlocked(t *testing.T) {
	s := newSource(t, "-", 10)
	s.SetStdin(strings.NewReader("a\nb\n"))
	r := readAll(t, s)
	if strings.Join(r.lines, ",") != "a,b" {
		t.Fatalf("lines %v", r.lines)
	}
	// A read blocked on an idle stdin returns when ctx ends.
	s = newSource(t, "-", 10)
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	s.SetStdin(pr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v", err)
	}
	pw.Close() // lets the reader goroutine finish
	s.Close(context.Background())
	pr.Close()
}

// TestDeprecatedBatchRecords: the former key batch_records still sizes the
// batches, with a warning naming batch_max_records.
func TestDeprecatedBatchRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.log")
	var lines []string
	for i := range 25 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := NewDefaultConfig()
	cfg.Path = path
	cfg.BatchRecords = 10
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs testkit.Buffer
	s, err := New(*cfg, component.Settings{ID: "in", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := readAll(t, s)
	if r.batches != 3 || len(r.lines) != 25 {
		t.Errorf("%d batches of %d lines, want 3 of at most 10", r.batches, len(r.lines))
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "batch_max_records") {
		t.Errorf("no deprecation warning naming batch_max_records: %q", logs.String())
	}
	cfg.BatchRecords = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "batch_records") {
		t.Errorf("Validate(batch_records: -1) = %v", err)
	}
}
