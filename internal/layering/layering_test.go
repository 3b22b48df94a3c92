package layering

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vpcflow/vpcflow"

// pkgDeps lists, for every package of the module, its transitive
// non-test dependencies inside the module, from `go list -deps`.
func pkgDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		p := strings.TrimPrefix(f[0], module+"/")
		var own []string
		for _, d := range f[1:] {
			if strings.HasPrefix(d, module+"/") {
				own = append(own, strings.TrimPrefix(d, module+"/"))
			}
		}
		deps[p] = own
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(deps) < 20 {
		t.Fatalf("go list found only %d packages: %v", len(deps), deps)
	}
	return deps
}

func under(p string, roots ...string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// contract packages every plug-in may use.
func isContract(p string) bool {
	return under(p, "processor/component", "processor/flowlog")
}

// isPlugin reports whether p is a source, stage, sink or enrichment package
// (or a helper below one).
func isPlugin(p string) bool {
	if under(p, "sources", "sinks", "enrich") {
		return true
	}
	return strings.HasPrefix(p, "processor/") && !isContract(p)
}

func violations(deps map[string][]string) []string {
	var bad []string
	for p, ds := range deps {
		for _, d := range ds {
			switch {
			case isPlugin(p) && d == "processor":
				bad = append(bad, p+" depends on the engine package processor")
			case p == "processor" && isPlugin(d):
				bad = append(bad, "the engine package processor depends on plug-in "+d)
			case under(p, "processor/flowlog") && !under(d, "processor/flowlog"):
				bad = append(bad, p+" (the record model, a leaf) depends on "+d)
			case isContract(p) && !isContract(d):
				bad = append(bad, p+" (a contract package) depends on "+d)
			}
		}
	}
	return bad
}

func TestLayering(t *testing.T) {
	deps := pkgDeps(t)
	for _, want := range []string{"processor", "processor/component", "sources/kafkasource", "sinks/httpsink", "enrich/eni"} {
		if _, ok := deps[want]; !ok {
			t.Fatalf("package %s not listed; the check would be blind", want)
		}
	}
	for _, v := range violations(deps) {
		t.Error(v)
	}
}

// TestViolationsDetected checks the rules on made-up graphs, so a rule that
// matches nothing cannot pass unnoticed.
func TestViolationsDetected(t *testing.T) {
	for _, c := range []struct {
		deps map[string][]string
		want string
	}{
		{map[string][]string{"sources/kafkasource": {"processor/component", "processor"}}, "sources/kafkasource depends on the engine"},
		{map[string][]string{"processor/parse": {"processor"}}, "processor/parse depends on the engine"},
		{map[string][]string{"enrich/eni": {"processor"}}, "enrich/eni depends on the engine"},
		{map[string][]string{"processor": {"processor/component", "sinks/httpsink"}}, "depends on plug-in sinks/httpsink"},
		{map[string][]string{"processor/flowlog": {"processor/component"}}, "a leaf"},
		{map[string][]string{"processor/component": {"processor"}}, "a contract package"},
	} {
		got := violations(c.deps)
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("violations(%v) = %q, want one containing %q", c.deps, got, c.want)
		}
	}
	if got := violations(map[string][]string{"cmd/vpcflow": {"processor", "sources/kafkasource"}, "processor": {"processor/component", "processor/flowlog"}}); len(got) != 0 {
		t.Errorf("allowed graph reported: %q", got)
	}
}
