package grafana

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite dashboards/*.json from the code")

func TestDashboardsUpToDate(t *testing.T) {
	for name, d := range Dashboards() {
		want, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("dashboards", name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./deploy/grafana/ -run TestDashboardsUpToDate -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the code generates: run go test ./deploy/grafana/ -run TestDashboardsUpToDate -update", path)
		}
	}
	files, _ := filepath.Glob("dashboards/*.json")
	if len(files) != len(Dashboards()) {
		t.Errorf("dashboards/ holds %d files, the code generates %d", len(files), len(Dashboards()))
	}
}

// panel is what the checks read from the JSON files, independently of the
// generator's types.
type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

var varRef = regexp.MustCompile(`\$\{?([a-z_]+)`)

// builtins are Grafana's own variables.
var builtins = map[string]bool{"__rate_interval": true, "__range": true, "__interval": true, "__all": true}

func TestDashboardFiles(t *testing.T) {
	files, err := filepath.Glob("dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	uids, titles := map[string]string{}, map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", f, err)
		}
		if d.UID == "" || len(d.UID) > 40 || d.Title == "" || d.SchemaVersion < 36 {
			t.Errorf("%s: uid %q (1-40 chars), title %q, schemaVersion %d", f, d.UID, d.Title, d.SchemaVersion)
		}
		if prev, ok := uids[d.UID]; ok {
			t.Errorf("%s: uid %q already used by %s", f, d.UID, prev)
		}
		if prev, ok := titles[d.Title]; ok {
			t.Errorf("%s: title %q already used by %s", f, d.Title, prev)
		}
		uids[d.UID], titles[d.Title] = f, f
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		if !vars["datasource"] {
			t.Errorf("%s: no datasource variable", f)
		}
		checkPanels(t, f, d.Panels, vars)
	}
}

func checkPanels(t *testing.T, file string, panels []panel, vars map[string]bool) {
	t.Helper()
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	queries := 0
	for _, p := range panels {
		where := file + ": panel " + p.Title
		if ids[p.ID] {
			t.Errorf("%s: duplicate id %d", where, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside 24 columns", where, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("%s overlaps %s at (%d,%d)", where, other, x, y)
					x, y = g.X+g.W, g.Y+g.H // one report per panel
				} else {
					used[cell{x, y}] = p.Title
				}
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource is not the ${datasource} variable", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, q := range p.Targets {
			queries++
			if err := balanced(q.Expr); err != "" {
				t.Errorf("%s: query %s: %s: %s", where, q.RefID, err, q.Expr)
			}
			if !strings.Contains(q.Expr, `job=~"$job"`) {
				t.Errorf("%s: query %s does not filter on $job: %s", where, q.RefID, q.Expr)
			}
			for _, m := range varRef.FindAllStringSubmatch(q.Expr, -1) {
				if !vars[m[1]] && !builtins[m[1]] {
					t.Errorf("%s: query %s uses undefined variable $%s", where, q.RefID, m[1])
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("%s: only %d queries", file, queries)
	}
}

// balanced reports unbalanced brackets or quotes in a PromQL expression.
func balanced(expr string) string {
	var stack []rune
	inStr := false
	for _, r := range expr {
		if inStr {
			if r == '"' {
				inStr = false
			}
			continue
		}
		switch r {
		case '"':
			inStr = true
		case '(', '{', '[':
			stack = append(stack, r)
		case ')', '}', ']':
			open := map[rune]rune{')': '(', '}': '{', ']': '['}[r]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return "unbalanced " + string(r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inStr {
		return "unterminated string"
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack[len(stack)-1])
	}
	return ""
}
