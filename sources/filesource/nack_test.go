package filesource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

var errNack = errors.New("sink failed")

func numbered(prefix string, n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("%s line %04d", prefix, i)
	}
	return l
}

func text(lines []string) string { return strings.Join(lines, "\n") + "\n" }

// readNacking reads s to its end, acknowledging at once, and nacks the
// batches whose number (from 1, in reading order) nack says.
func readNacking(t *testing.T, s *Source, nack func(n int, b *flowlog.Batch) bool) []string {
	t.Helper()
	ctx := context.Background()
	var got []string
	for n := 1; ; n++ {
		b, ack, err := s.Read(ctx)
		if errors.Is(err, component.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			got = append(got, string(r.Raw))
		}
		var aerr error
		if nack(n, b) {
			aerr = errNack
		}
		if err := ack(ctx, aerr); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestNackRereadsFromTheBatch: a nacked middle batch comes again from its
// first line, then the rest follows; plain, gzip and across files.
func TestNackRereadsFromTheBatch(t *testing.T) {
	a, b := numbered("a", 150), numbered("b", 1000)
	for _, tc := range []struct {
		name  string
		files map[string]string
		nack  int // the batch nacked
		want  []string
	}{
		{"plain", map[string]string{"b.log": text(b)}, 4, slices.Concat(b[:400], b[300:])},
		{"gzip", map[string]string{"b.log.gz": string(gzipBytes(t, text(b[:550]), text(b[550:])))}, 7, slices.Concat(b[:700], b[600:])},
		// The producer has gone on into the next file when a batch of the
		// first one is nacked.
		{"across files", map[string]string{"1.log": text(a), "2.log.gz": string(gzipBytes(t, text(b)))}, 2, slices.Concat(a, a[100:], b)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := newSource(t, filepath.Join(dir, "*"), 100)
			nacked := false
			got := readNacking(t, s, func(n int, _ *flowlog.Batch) bool {
				if n == tc.nack && !nacked {
					nacked = true
					return true
				}
				return false
			})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("read %d lines, want %d: %s", len(got), len(tc.want), firstDiff(got, tc.want))
			}
		})
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d is %q, want %q", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// TestNackWithBatchesInFlight: batches held by slow sinks, a middle one
// nacked and the later ones acknowledged: every line is read at least
// once, and the nacked batch's lines and all after them come again.
func TestNackWithBatchesInFlight(t *testing.T) {
	lines := numbered("x", 1000)
	path := filepath.Join(t.TempDir(), "x.log.gz")
	if err := os.WriteFile(path, gzipBytes(t, text(lines)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, path, 100)
	ctx := context.Background()
	var got []string
	var acks []flowlog.AckFunc
	for range 5 {
		b, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			got = append(got, string(r.Raw))
		}
		acks = append(acks, ack)
	}
	for i, ack := range acks {
		var err error
		if i == 2 {
			err = errNack
		}
		if err := ack(ctx, err); err != nil {
			t.Fatal(err)
		}
	}
	got = append(got, readNacking(t, s, func(int, *flowlog.Batch) bool { return false })...)
	if want := slices.Concat(lines[:500], lines[200:]); !slices.Equal(got, want) {
		t.Fatalf("read %d lines, want %d: %s", len(got), len(want), firstDiff(got, want))
	}
}

// TestNackStdinFails: standard input cannot be read again: a nack fails
// the run with an error naming stdin and the batch's first line.
func TestNackStdinFails(t *testing.T) {
	s := newSource(t, "-", 10)
	s.SetStdin(strings.NewReader(text(numbered("s", 35))))
	ctx := context.Background()
	var acks []flowlog.AckFunc
	for range 2 {
		_, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	if err := acks[0](ctx, nil); err != nil {
		t.Fatal(err)
	}
	const want = "stdin: the batch from line 11 was not delivered (sink failed) and stdin cannot be read again"
	if err := acks[1](ctx, errNack); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("nack = %v, want %q", err, want)
	}
	if _, _, err := s.Read(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Read after the nack = %v, want %q", err, want)
	}
	if err := s.Close(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Close = %v, want %q", err, want)
	}
}

// TestNackFileGone: a file that cannot be read again (truncated since)
// fails the run naming it and the line.
func TestNackFileGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.log.gz")
	if err := os.WriteFile(path, gzipBytes(t, text(numbered("t", 500))), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, path, 100)
	ctx := context.Background()
	var acks []flowlog.AckFunc
	for range 3 {
		_, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	if err := os.WriteFile(path, gzipBytes(t, text(numbered("t", 50))), 0o644); err != nil {
		t.Fatal(err)
	}
	acks[0](ctx, nil)
	acks[2](ctx, nil)
	if err := acks[1](ctx, errNack); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		var ack flowlog.AckFunc
		if _, ack, err = s.Read(ctx); err == nil {
			ack(ctx, nil)
		}
	}
	if want := path + ": cannot be read again from line 101"; !strings.Contains(err.Error(), want) {
		t.Fatalf("Read = %v, want %q", err, want)
	}
	if cerr := s.Close(ctx); cerr == nil {
		t.Fatal("Close = nil after the run failed")
	}
}
