// Package deploy holds the deployment files of vpcflow (container image,
// Helm chart, dashboards, alert rules, AWS templates). Its test checks that
// they name only metrics the code exports.
package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var (
	metricName = regexp.MustCompile(`vpcflow_[a-z0-9_]*[a-z0-9]`)
	// A metric defined in Go code is a string literal.
	metricLiteral = regexp.MustCompile(`"(vpcflow_[a-z0-9_]+)"`)
)

// exported returns the metric names defined in the module's Go code
// outside deploy/ and tests.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "deploy", ".git", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricLiteral.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestMetricNamesExist fails when a dashboard, alert rule or chart template
// names a metric that no code exports: a typo, or a metric renamed in the
// code but not here.
func TestMetricNamesExist(t *testing.T) {
	known := exported(t)
	if !known["vpcflow_flows_total"] || !known["vpcflow_source_records_in_total"] {
		t.Fatalf("found only %d metric names in the code; is the test run from deploy/?", len(known))
	}
	var files []string
	for _, pattern := range []string{
		"grafana/dashboards/*.json",
		"prometheus/*.yaml",
		"helm/vpcflow/templates/*.yaml",
		"helm/vpcflow/templates/_helpers.tpl",
		"helm/vpcflow/values.yaml",
		"helm/vpcflow/ci/*.yaml",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d deployment files", len(files))
	}
	used := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, name := range metricName.FindAllString(string(src), -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
					base = b
				}
			}
			if known[base] || seen[name] {
				used++
				continue
			}
			seen[name] = true
			t.Errorf("%s: metric %s is not exported by any component", f, name)
		}
	}
	if t.Failed() {
		var k []string
		for n := range known {
			k = append(k, n)
		}
		sort.Strings(k)
		t.Logf("exported metrics: %s", strings.Join(k, " "))
	}
	if used < 50 {
		t.Errorf("only %d metric references found in %d files", used, len(files))
	}
}
