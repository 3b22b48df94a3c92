package main

import (
	"bytes"
	"encoding"
	"flag"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor"
	"go.yaml.in/yaml/v3"
)

// update is named like the flag of the other golden-file tests: a second
// declaration in this package is then a compile error, not a flag panic.
var update = flag.Bool("update", false, "rewrite docs/config-reference.md from the component configs")

const (
	referenceFile  = "../../docs/config-reference.md"
	moduleRoot     = "../.."
	regenerateHint = "go test ./cmd/vpcflow -run TestConfigReference -update"
)

// TestConfigReference keeps docs/config-reference.md equal to what the
// component configs say: keys from the yaml tags, defaults from
// NewDefaultConfig, descriptions from the fields' doc comments.
func TestConfigReference(t *testing.T) {
	got, notes, err := generateReference(factories())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		t.Log(n)
	}
	if *update {
		if err := os.WriteFile(referenceFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v (create it with: %s)", err, regenerateHint)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/config-reference.md is out of date with the component configs; regenerate it with:\n\t%s\nfirst difference:\n%s",
			regenerateHint, firstDifference(want, got))
	}
}

// TestConfigReferenceDefaultsRoundTrip checks that every default printed in
// the reference is valid YAML for its key and decodes (with KnownFields,
// as the engine does) to exactly NewDefaultConfig's value.
func TestConfigReferenceDefaultsRoundTrip(t *testing.T) {
	comps, err := referenceComponents(factories())
	if err != nil {
		t.Fatal(err)
	}
	g := newRefGen()
	for _, c := range comps {
		t.Run(c.section+"/"+c.typ, func(t *testing.T) {
			def := c.newDefault()
			rows := g.structRows(reflect.TypeOf(def).Elem(), reflect.ValueOf(def).Elem(), "")
			root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for _, r := range rows {
				if r.yaml == "" {
					continue
				}
				var v yaml.Node
				if err := yaml.Unmarshal([]byte(r.yaml), &v); err != nil {
					t.Fatalf("%s: default %q is not YAML: %v", r.key, r.yaml, err)
				}
				setPath(root, strings.Split(r.key, "."), v.Content[0])
			}
			text, err := yaml.Marshal(root)
			if err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(def).Elem())
			dec := yaml.NewDecoder(bytes.NewReader(text))
			dec.KnownFields(true)
			if err := dec.Decode(got.Interface()); err != nil {
				t.Fatalf("the documented defaults do not decode: %v\n%s", err, text)
			}
			want := reflect.ValueOf(c.newDefault())
			normalizeEmpty(got.Elem())
			normalizeEmpty(want.Elem())
			if !reflect.DeepEqual(got.Interface(), want.Interface()) {
				t.Errorf("the documented defaults decode to\n%#v\nwant NewDefaultConfig's\n%#v\nYAML:\n%s", got.Interface(), want.Interface(), text)
			}
		})
	}
}

// TestConfigReferenceStableKeys checks that the keys DESIGN.md promises
// (deployment files, dashboards and scripts rely on them) still exist.
func TestConfigReferenceStableKeys(t *testing.T) {
	stable := map[string][]string{
		"source kafka":        {"brokers", "topic", "group", "start_from", "payload"},
		"source kinesis":      {"stream", "lease_table", "start_from", "payload", "region", "endpoint"},
		"source s3_sqs":       {"queue_url", "region", "force_path_style", "max_in_flight_objects", "visibility_timeout"},
		"source file":         {"path"},
		"stage eni_enrich":    {"inputs", "cache_size", "ttl", "negative_ttl", "role_arn", "region", "max_wait"},
		"stage parse_flowlog": {"inputs", "format"},
		"stage cidr_filter":   {"inputs", "drop_when_both_in"},
		"sink http":           {"inputs", "url", "encoding", "compression", "headers", "batch.max_bytes", "preset", "dead_letter"},
		"sink file":           {"inputs", "path", "encoding"},
		"top-level":           {"sources", "stages", "sinks", "telemetry.listen", "telemetry.log_level", "telemetry.tracing.exporter", "telemetry.tracing.sample_ratio", "telemetry.tap"},
	}
	comps, err := referenceComponents(factories())
	if err != nil {
		t.Fatal(err)
	}
	g := newRefGen()
	have := map[string]map[string]bool{}
	for _, c := range comps {
		def := c.newDefault()
		rows := append(componentRows(c.section, c.typ), g.structRows(reflect.TypeOf(def).Elem(), reflect.ValueOf(def).Elem(), "")...)
		keys := map[string]bool{}
		for _, r := range rows {
			keys[r.key] = true
		}
		have[c.section+" "+c.typ] = keys
	}
	engine, err := g.engineRows()
	if err != nil {
		t.Fatal(err)
	}
	have["top-level"] = map[string]bool{}
	for _, r := range engine {
		have["top-level"][r.key] = true
	}
	for comp, keys := range stable {
		if have[comp] == nil {
			t.Errorf("%s: not registered in components.go", comp)
			continue
		}
		for _, k := range keys {
			if !have[comp][k] {
				t.Errorf("%s: key %s is gone, but DESIGN.md says it does not change", comp, k)
			}
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Millisecond:               "10ms",
		time.Second:                         "1s",
		90 * time.Second:                    "1m30s",
		5 * time.Minute:                     "5m",
		time.Hour:                           "1h",
		time.Hour + 30*time.Minute:          "1h30m",
		time.Hour + 30*time.Second:          "1h0m30s",
		2*time.Hour + 1500*time.Millisecond: "2h0m1.5s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("formatDuration(%v) = %q parses back as %v, %v", d, formatDuration(d), back, err)
		}
	}
}

func TestFieldDocsOfGroupedFields(t *testing.T) {
	src := `package p

type C struct {
	// A and B are both bounds.
	A int
	B int

	C int
	// D has its own comment.
	D int
	E int // E is trailing.
	F int
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	st := f.Decls[0].(*ast.GenDecl).Specs[0].(*ast.TypeSpec).Type.(*ast.StructType)
	got := fieldDocs(fset, st)
	want := map[string]string{"A": "A and B are both bounds.", "B": "A and B are both bounds.", "D": "D has its own comment.", "E": "E is trailing."}
	for k, v := range want {
		if strings.TrimSpace(got[k]) != v {
			t.Errorf("doc of %s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"C", "F"} {
		if got[k] != "" {
			t.Errorf("doc of %s = %q, want none", k, got[k])
		}
	}
}

func TestGoNamesToKeys(t *testing.T) {
	keys := map[string]string{"Name": "sumologic.name", "RateBurst": "rate_burst", "QueueURL": "queue_url", "MaxLineLen": "max_line_len"}
	for in, want := range map[string]string{
		"Name is X-Sumo-Name, {Name} by default.":       "`sumologic.name` is X-Sumo-Name, {Name} by default.",
		"a token bucket of RateBurst.":                  "a token bucket of `rate_burst`.",
		"taken from QueueURL's host":                    "taken from `queue_url`'s host",
		"at most flowlog.MaxLineLen (see MaxLineLen)":   "at most flowlog.MaxLineLen (see `max_line_len`)",
		"Names and RateBurstiness are other words":      "Names and RateBurstiness are other words",
		"`Name` stays code; NameX is not Name, é Name.": "`Name` stays code; NameX is not `sumologic.name`, é `sumologic.name`.",
	} {
		if got := goNamesToKeys(in, keys); got != want {
			t.Errorf("goNamesToKeys(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

// factoryInfo is one factory of the binary.
type factoryInfo struct {
	section    string // source, stage or sink
	typ        string
	newDefault func() any
}

var sectionOrder = map[string]int{"source": 0, "stage": 1, "sink": 2}

func referenceComponents(f processor.Factories) ([]factoryInfo, error) {
	var out []factoryInfo
	for typ, x := range f.Sources {
		out = append(out, factoryInfo{"source", typ, x.NewDefaultConfig})
	}
	for typ, x := range f.Stages {
		out = append(out, factoryInfo{"stage", typ, x.NewDefaultConfig})
	}
	for typ, x := range f.Sinks {
		out = append(out, factoryInfo{"sink", typ, x.NewDefaultConfig})
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := sectionOrder[out[i].section], sectionOrder[out[j].section]; a != b {
			return a < b
		}
		return out[i].typ < out[j].typ
	})
	for _, c := range out {
		if c.newDefault == nil {
			return nil, fmt.Errorf("%s %q: factory has no NewDefaultConfig", c.section, c.typ)
		}
		t := reflect.TypeOf(c.newDefault())
		if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			return nil, fmt.Errorf("%s %q: NewDefaultConfig returns %v, want a pointer to a struct", c.section, c.typ, t)
		}
	}
	return out, nil
}

// row is one key of the reference.
type row struct {
	key     string
	typ     string
	display string // Markdown for the default column
	yaml    string // the default as YAML; empty when zero
	doc     string
}

// pkgSource is what the parsed sources of one package directory say.
type pkgSource struct {
	dir       string
	typeDocs  map[string]string            // type name -> doc
	typeFile  map[string]string            // type name -> file (relative to the module root)
	fieldDocs map[string]map[string]string // type name -> field name -> doc
	funcDocs  map[string]string            // top-level func name -> doc
}

type refGen struct {
	module string
	pkgs   map[string]*pkgSource // import path -> parsed sources
	notes  []string
	noted  map[string]bool
}

func newRefGen() *refGen {
	return &refGen{module: modulePath(), pkgs: map[string]*pkgSource{}, noted: map[string]bool{}}
}

func (g *refGen) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !g.noted[n] {
		g.noted[n] = true
		g.notes = append(g.notes, n)
	}
}

func modulePath() string {
	data, err := os.ReadFile(filepath.Join(moduleRoot, "go.mod"))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// pkg parses the non-test Go files of the package at import path p.
func (g *refGen) pkg(p string) *pkgSource {
	if s, ok := g.pkgs[p]; ok {
		return s
	}
	s := &pkgSource{typeDocs: map[string]string{}, typeFile: map[string]string{}, fieldDocs: map[string]map[string]string{}, funcDocs: map[string]string{}}
	g.pkgs[p] = s
	rel, ok := strings.CutPrefix(p, g.module)
	if g.module == "" || !ok || (rel != "" && rel[0] != '/') {
		g.note("%s: not in module %s; no doc comments", p, g.module)
		return s
	}
	s.dir = strings.TrimPrefix(rel, "/")
	dir := filepath.Join(moduleRoot, filepath.FromSlash(s.dir))
	entries, err := os.ReadDir(dir)
	if err != nil {
		g.note("%s: %v", p, err)
		return s
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			g.note("%s: %v", p, err)
			continue
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Doc != nil {
					s.funcDocs[d.Name.Name] = d.Doc.Text()
				}
			case *ast.GenDecl:
				if d.Tok != token.TYPE {
					continue
				}
				for _, spec := range d.Specs {
					ts := spec.(*ast.TypeSpec)
					doc := ts.Doc
					if doc == nil && len(d.Specs) == 1 {
						doc = d.Doc
					}
					if doc != nil {
						s.typeDocs[ts.Name.Name] = doc.Text()
					}
					s.typeFile[ts.Name.Name] = path.Join(s.dir, name)
					if st, ok := ts.Type.(*ast.StructType); ok {
						s.fieldDocs[ts.Name.Name] = fieldDocs(fset, st)
					}
				}
			}
		}
	}
	return s
}

// fieldDocs returns the doc comment of each field of st. A field without
// one takes the comment of the field just above it (no blank line between)
// when that comment names it: "// SessionTimeout and RebalanceTimeout are
// …" documents both fields that follow.
func fieldDocs(fset *token.FileSet, st *ast.StructType) map[string]string {
	docs := map[string]string{}
	prevDoc, prevEnd := "", -1
	for _, f := range st.Fields.List {
		names := make([]string, 0, len(f.Names))
		for _, n := range f.Names {
			names = append(names, n.Name)
		}
		if len(names) == 0 { // embedded
			names = append(names, embeddedName(f.Type))
		}
		doc := ""
		switch {
		case f.Doc != nil:
			doc = f.Doc.Text()
		case f.Comment != nil:
			doc = f.Comment.Text()
		case prevDoc != "" && fset.Position(f.Pos()).Line == prevEnd+1 && mentionsAny(prevDoc, names):
			doc = prevDoc
		}
		for _, n := range names {
			docs[n] = doc
		}
		prevDoc, prevEnd = doc, fset.Position(f.End()).Line
	}
	return docs
}

func embeddedName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return embeddedName(e.X)
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.Ident:
		return e.Name
	case *ast.IndexExpr:
		return embeddedName(e.X)
	}
	return ""
}

func mentionsAny(doc string, names []string) bool {
	for _, n := range names {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `\b`).MatchString(doc) {
			return true
		}
	}
	return false
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	timeType            = reflect.TypeFor[time.Time]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isLeaf reports whether t is decoded as one value rather than as a
// mapping of its fields.
func isLeaf(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || t == timeType {
		return true
	}
	pt := reflect.PointerTo(t)
	return pt.Implements(yamlUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// structRows walks the yaml-visible fields of struct type t (v holds its
// defaults; v may be invalid, meaning zero values).
func (g *refGen) structRows(t reflect.Type, v reflect.Value, prefix string) []row {
	var src *pkgSource
	var docs map[string]string
	if t.Name() != "" {
		src = g.pkg(t.PkgPath())
		docs = src.fieldDocs[t.Name()]
		if docs == nil && src.dir != "" {
			g.note("%s.%s: struct declaration not found in %s", t.PkgPath(), t.Name(), src.dir)
		}
	}
	keys := yamlKeys(t, prefix)
	var rows []row
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag, hasTag := f.Tag.Lookup("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		where := t.String() + "." + f.Name
		if strings.Contains(","+opts+",", ",inline,") {
			ft, fvv := derefType(f.Type, fv)
			if ft.Kind() == reflect.Struct {
				rows = append(rows, g.structRows(ft, fvv, prefix)...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if !hasTag || name == "" {
			name = strings.ToLower(f.Name)
			g.note("%s: no yaml tag; yaml.v3 reads it as key %q", where, prefix+name)
		}
		key := prefix + name
		doc := docs[f.Name]
		ft, fvv := derefType(f.Type, fv)
		if !isLeaf(ft) {
			rows = append(rows, g.structRows(ft, fvv, key+".")...)
			continue
		}
		if strings.TrimSpace(doc) == "" {
			g.note("%s (key %s): no doc comment", where, key)
		}
		r := row{key: key, typ: typeName(f.Type), doc: oneLine(goNamesToKeys(doc, keys))}
		r.display, r.yaml = defaultValue(key, fv)
		rows = append(rows, r)
		if el := elemStruct(ft); el != nil {
			sub := key + "[]."
			if ft.Kind() == reflect.Map {
				sub = key + ".<name>."
			}
			rows = append(rows, g.structRows(el, reflect.Value{}, sub)...)
		}
	}
	return rows
}

// yamlKeys maps the Go names of t's fields to their keys (with prefix).
func yamlKeys(t reflect.Type, prefix string) map[string]string {
	keys := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		keys[f.Name] = prefix + name
	}
	return keys
}

// goNamesToKeys writes the Go field names a doc comment speaks of as the
// keys users write: "RateBurst" becomes "`rate_burst`". Names inside a
// longer token (X-Sumo-Name, flowlog.MaxLineLen) are left alone.
func goNamesToKeys(doc string, keys map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(doc); {
		j := i
		for j < len(doc) && isIdentByte(doc[j]) {
			j++
		}
		if j == i {
			b.WriteByte(doc[i])
			i++
			continue
		}
		word := doc[i:j]
		key, ok := keys[word]
		if ok && (i == 0 || !strings.ContainsRune("-./`$'{", rune(doc[i-1]))) && (j == len(doc) || !strings.ContainsRune("-`}(", rune(doc[j]))) {
			b.WriteString("`" + key + "`")
		} else {
			b.WriteString(word)
		}
		i = j
	}
	return b.String()
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// elemStruct returns the struct element type of a list or map of objects.
func elemStruct(t reflect.Type) reflect.Type {
	if t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
		return nil
	}
	e := t.Elem()
	for e.Kind() == reflect.Pointer {
		e = e.Elem()
	}
	if e.Kind() == reflect.Struct && !isLeaf(e) {
		return e
	}
	return nil
}

func derefType(t reflect.Type, v reflect.Value) (reflect.Type, reflect.Value) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsValid() {
			if v.IsNil() {
				v = reflect.Value{}
			} else {
				v = v.Elem()
			}
		}
	}
	return t, v
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == timeType:
		return "timestamp (RFC 3339)"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice, reflect.Array:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Struct:
		if isLeaf(t) {
			return t.String()
		}
		return "object"
	case reflect.Interface:
		return "any"
	}
	return t.String()
}

// defaultValue renders v for the default column (Markdown) and as YAML;
// zero and empty values are "—" and "".
func defaultValue(key string, v reflect.Value) (display, y string) {
	if !v.IsValid() || v.IsZero() || ((v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0) {
		return "—", ""
	}
	y = yamlValue(v, false)
	display = "`" + y + "`"
	last := key[strings.LastIndex(key, ".")+1:]
	if strings.Contains(last, "bytes") && v.CanInt() {
		display += sizeNote(v.Int())
	}
	return display, y
}

// sizeNote spells a byte count in binary units when it is a whole number
// of them: " (4 MiB)".
func sizeNote(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	unit := ""
	for _, u := range units {
		if n < 1024 || n%1024 != 0 {
			break
		}
		n /= 1024
		unit = u
	}
	if unit == "" {
		return ""
	}
	return fmt.Sprintf(" (%d %s)", n, unit)
}

var flowUnsafe = regexp.MustCompile(`[,\[\]{}:#"'\s]`)

// yamlValue renders v as a YAML flow value; inFlow is true inside a list or
// map, where more strings need quotes.
func yamlValue(v reflect.Value, inFlow bool) string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "null"
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		return formatDuration(time.Duration(v.Int()))
	case v.Type() == timeType:
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		out, err := yaml.Marshal(s)
		if err == nil && strings.TrimSuffix(string(out), "\n") == s && !(inFlow && flowUnsafe.MatchString(s)) && s != "" {
			return s
		}
		return strconv.Quote(s)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = yamlValue(v.Index(i), true)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		parts := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			parts = append(parts, yamlValue(k, true)+": "+yamlValue(v.MapIndex(k), true))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Struct:
		out, err := yaml.Marshal(v.Interface())
		if err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration is time.Duration's String without the trailing zero
// units: 5m, 1h30m, 1m30s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var spaces = regexp.MustCompile(`\s+`)

// oneLine joins a doc comment into one table cell.
func oneLine(doc string) string {
	s := strings.TrimSpace(spaces.ReplaceAllString(doc, " "))
	return escapeCell(s)
}

// escapeCell keeps text from breaking a Markdown table or being read as
// HTML or emphasis.
// Inside `code spans` only "|" is escaped.
func escapeCell(s string) string {
	parts := strings.Split(s, "`")
	for i, p := range parts {
		if i%2 == 0 || i == len(parts)-1 {
			p = textEscaper.Replace(p)
		}
		parts[i] = strings.ReplaceAll(p, "|", `\|`)
	}
	return strings.Join(parts, "`")
}

var textEscaper = strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`)

// engineDefaults are the defaults the engine applies outside ParseConfig
// (cmd/vpcflow/telemetry.go) or that depend on the machine.
var engineDefaults = map[string]string{
	"workers":                        "GOMAXPROCS (the CPUs available)",
	"telemetry.log_level":            "`info`",
	"telemetry.log_format":           "`json`",
	"telemetry.tracing.exporter":     "`none`",
	"telemetry.tracing.sample_ratio": "`0.01`",
	"telemetry.tracing.service_name": "`vpcflow`",
}

var sectionDocs = map[string]string{
	"sources": "The sources, keyed by id (letters, digits, `_` and `-`). Each has a `type` and the keys of its type below.",
	"stages":  "The stages, keyed by id. Each has a `type`, `inputs` and the keys of its type below.",
	"sinks":   "The sinks, keyed by id. Each has a `type`, `inputs`, an optional `dead_letter` and the keys of its type below.",
}

// engineRows are the top-level keys: those of processor's fileConfig (the
// shape of the file), typed and documented by processor.Config's fields of
// the same name, with ParseConfig's defaults.
func (g *refGen) engineRows() ([]row, error) {
	cfg, err := processor.ParseConfig([]byte("{}\n"), nil)
	if err != nil {
		return nil, fmt.Errorf("parse an empty config: %w", err)
	}
	cv := reflect.ValueOf(cfg).Elem()
	ct := cv.Type()
	src := g.pkg(ct.PkgPath())
	fileDocs, ok := src.fieldDocs["fileConfig"]
	if !ok {
		return nil, fmt.Errorf("type fileConfig not found in %s", src.dir)
	}
	keys, err := fileConfigKeys(src)
	if err != nil {
		return nil, err
	}
	cfgDocs := src.fieldDocs[ct.Name()]
	names := map[string]string{}
	for _, k := range keys {
		names[k.field] = k.key
	}
	var rows []row
	for _, k := range keys {
		if d, ok := sectionDocs[k.key]; ok {
			rows = append(rows, row{key: k.key, typ: "map of id to component", display: "—", doc: d})
			continue
		}
		f, ok := ct.FieldByName(k.field)
		if !ok {
			g.note("processor.fileConfig.%s (key %s): no field of that name in processor.Config", k.field, k.key)
			continue
		}
		doc := fileDocs[k.field]
		if strings.TrimSpace(doc) == "" {
			doc = cfgDocs[k.field]
		}
		fv := cv.FieldByIndex(f.Index)
		if ft, fvv := derefType(f.Type, fv); !isLeaf(ft) {
			rows = append(rows, g.structRows(ft, fvv, k.key+".")...)
			continue
		}
		if strings.TrimSpace(doc) == "" {
			g.note("processor.Config.%s (key %s): no doc comment", k.field, k.key)
		}
		r := row{key: k.key, typ: typeName(f.Type), doc: oneLine(goNamesToKeys(doc, names))}
		r.display, r.yaml = defaultValue(k.key, fv)
		rows = append(rows, r)
	}
	for i := range rows {
		if d, ok := engineDefaults[rows[i].key]; ok {
			rows[i].display = d
		}
	}
	if cfg.Workers != runtime.GOMAXPROCS(0) {
		return nil, fmt.Errorf("workers defaults to %d, not GOMAXPROCS (%d): update engineDefaults", cfg.Workers, runtime.GOMAXPROCS(0))
	}
	return rows, nil
}

type fileKey struct{ key, field string }

// fileConfigKeys reads the yaml keys of processor's unexported fileConfig
// from its source, in declaration order.
func fileConfigKeys(src *pkgSource) ([]fileKey, error) {
	fset := token.NewFileSet()
	file := filepath.Join(moduleRoot, filepath.FromSlash(src.typeFile["fileConfig"]))
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var keys []fileKey
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "fileConfig" {
			return true
		}
		for _, fl := range ts.Type.(*ast.StructType).Fields.List {
			tag := ""
			if fl.Tag != nil {
				tag, _ = strconv.Unquote(fl.Tag.Value)
			}
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			for _, id := range fl.Names {
				k := name
				if k == "" {
					k = strings.ToLower(id.Name)
				}
				if k != "-" {
					keys = append(keys, fileKey{k, id.Name})
				}
			}
		}
		return false
	})
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: fileConfig has no keys", file)
	}
	return keys, nil
}

// componentRows are the keys every component of a section has, read by
// the engine rather than by the component.
func componentRows(section, typ string) []row {
	rows := []row{{key: "type", typ: "string", display: "—",
		doc: escapeCell(fmt.Sprintf("`%s` selects this component. Required.", typ))}}
	switch section {
	case "stage":
		rows = append(rows, row{key: "inputs", typ: "list of string", display: "—",
			doc: escapeCell("The ids of the sources and stages whose output this stage reads. Required.")})
	case "sink":
		rows = append(rows,
			row{key: "inputs", typ: "list of string", display: "—",
				doc: escapeCell("The ids of the sources and stages whose output this sink writes. Listing `<id>.errors` of a source or stage makes it a dead-letter sink for the records that component could not handle. Required.")},
			row{key: "dead_letter", typ: "string", display: "—",
				doc: escapeCell("The id of another sink, without a `dead_letter` of its own, that receives the records this sink's destination refused for what they are (HTTP 400 or 422, found by halving the request down to the record; 413 for a record too large alone), and batches whose retries ran out when `max_retry_duration` is set. Errors about the destination (401, 403, 404, other 4xx, 5xx, network) are never sent here: they are retried.")},
			row{key: "on_rejected", typ: "string", display: "block",
				doc: escapeCell("What a sink without `dead_letter` does with records its destination refused: `block` retries them with capped backoff, reports the sink blocked (`vpcflow_sink_blocked`, `/healthz` after `stuck_after`) and commits nothing past them; `drop` counts them in `vpcflow_sink_records_failed_total`, logs them (rate limited) and lets them go.")},
			row{key: "buffer.type", typ: "string", display: "—",
				doc: escapeCell("`memory` or `disk`: a buffer in front of this sink, so that it being slow or down does not hold the other sinks back. None by default (backpressure). `disk`: a batch counts as delivered to this sink once written and fsynced into the buffer (group commit), so the source commits and the other sinks go on; the buffer survives SIGKILL and restarts, is delivered in order, at least once, with the sink's retries and dead letter, and a torn or corrupt tail (CRC-32C) is logged and skipped. `memory`: absorbs bursts and lets the other sinks go on past `max_in_flight` batches, but a batch is acknowledged only once this sink delivered it; nothing survives a restart.")},
			row{key: "buffer.max_bytes", typ: "size", display: "64MiB (memory), 1GiB (disk)",
				doc: escapeCell("The most the buffer holds: ready copies and frames in memory (frames compressed once the backlog passes an eighth of it), segment files on disk (an http sink's finished requests: about 36 bytes a sumo_vpc_json flow, gzipped; other sinks' records: about 140 bytes a flow uncompressed, 80 compressed; of synthetic data). An integer or a size such as `512MiB`, `2GB`; at least 1MiB; a disk buffer may not exceed its file system.")},
			row{key: "buffer.path", typ: "string", display: "—",
				doc: escapeCell("The directory of a disk buffer (required for `disk`); this sink's buffer lives in `<path>/<id>`, so sinks may share one volume. Created if missing; `vpcflow validate` checks it is writable.")},
			row{key: "buffer.when_full", typ: "string", display: "block",
				doc: escapeCell("`block` waits for room (backpressure, as without a buffer); `drop_newest` drops the batch that does not fit, counted in `vpcflow_sink_buffer_dropped_records_total` and logged.")})
	}
	return rows
}

// generateReference renders docs/config-reference.md. notes lists what
// looks wrong in the configs (missing doc comments, keys without yaml tags).
func generateReference(f processor.Factories) ([]byte, []string, error) {
	comps, err := referenceComponents(f)
	if err != nil {
		return nil, nil, err
	}
	g := newRefGen()
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!-- Code generated by `%s`; DO NOT EDIT. -->\n\n", regenerateHint)
	b.WriteString(`# Configuration reference

Every key of the pipeline file (see the README and ` + "`vpcflow validate --config FILE`" + `), with its
type, its default and its meaning. It is generated from the code: keys from the yaml tags
of each component's ` + "`Config`" + `, defaults from its ` + "`NewDefaultConfig`" + `, descriptions from the
fields' doc comments.

- ` + "`${NAME}`" + ` (upper-case NAME) anywhere in the file is replaced from the environment;
  ` + "`$${`" + ` stands for a literal ` + "`${`" + `.
- Nested keys are written with dots here: ` + "`batch.max_bytes`" + ` is ` + "`max_bytes:`" + ` under ` + "`batch:`" + `.
- Durations are Go durations: ` + "`250ms`, `10s`, `1m30s`, `2h`" + `.
- — means no default: empty, zero or false.
- Every source and stage also has a second output, ` + "`<id>.errors`" + `, carrying the records it
  could not handle; a sink (not a stage) lists it in its ` + "`inputs`" + ` to receive them.

`)
	engine, err := g.engineRows()
	if err != nil {
		return nil, nil, err
	}
	b.WriteString("## Top-level keys\n\n")
	writeTable(&b, engine)

	b.WriteString("## Components\n\n")
	for _, sec := range []string{"source", "stage", "sink"} {
		var links []string
		for _, c := range comps {
			if c.section == sec {
				links = append(links, fmt.Sprintf("[`%s`](#%s-%s)", c.typ, sec, anchor(c.typ)))
			}
		}
		if len(links) > 0 {
			fmt.Fprintf(&b, "- %ss: %s\n", sec, strings.Join(links, ", "))
		}
	}
	b.WriteString("\n")

	for _, c := range comps {
		def := c.newDefault()
		t := reflect.TypeOf(def).Elem()
		src := g.pkg(t.PkgPath())
		fmt.Fprintf(&b, "### %s `%s`\n\n", c.section, c.typ)
		if file := src.typeFile[t.Name()]; file != "" {
			fmt.Fprintf(&b, "Package `%s`, type `%s` in [%s](../%s).\n\n", t.PkgPath(), t.String(), file, file)
		} else {
			fmt.Fprintf(&b, "Package `%s`, type `%s`.\n\n", t.PkgPath(), t.String())
		}
		if d := src.typeDocs[t.Name()]; d != "" {
			b.WriteString(docMarkdown(d))
		} else {
			g.note("%s: no doc comment", t)
		}
		if d := src.funcDocs["NewDefaultConfig"]; len(strings.TrimSpace(d)) > 60 {
			b.WriteString(docMarkdown(d))
		}
		rows := append(componentRows(c.section, c.typ), g.structRows(t, reflect.ValueOf(def).Elem(), "")...)
		seen := map[string]bool{}
		for _, r := range rows {
			if seen[r.key] {
				return nil, nil, fmt.Errorf("%s %q: key %s appears twice", c.section, c.typ, r.key)
			}
			seen[r.key] = true
		}
		writeTable(&b, rows)
	}
	return b.Bytes(), g.notes, nil
}

func writeTable(b *bytes.Buffer, rows []row) {
	b.WriteString("| key | type | default | description |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", r.key, escapeCell(r.typ), strings.ReplaceAll(r.display, "|", `\|`), r.doc)
	}
	b.WriteString("\n")
}

// docMarkdown renders a Go doc comment as Markdown paragraphs and lists.
func docMarkdown(text string) string {
	var p comment.Parser
	pr := comment.Printer{HeadingLevel: 4}
	return string(pr.Markdown(p.Parse(text))) + "\n"
}

func anchor(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		switch {
		case r == ' ':
			return '-'
		case r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			return r
		}
		return -1
	}, s))
}

func firstDifference(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d\n  file:      %s\n  generated: %s", i+1, w, g)
		}
	}
	return "(none)"
}

// setPath sets root's key path to v, creating mappings on the way.
func setPath(root *yaml.Node, path []string, v *yaml.Node) {
	for i, k := range path {
		var next *yaml.Node
		for j := 0; j+1 < len(root.Content); j += 2 {
			if root.Content[j].Value == k {
				next = root.Content[j+1]
			}
		}
		if i == len(path)-1 {
			if next != nil {
				*next = *v
			} else {
				root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
			}
			return
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, next)
		}
		root = next
	}
}

// normalizeEmpty sets empty slices and maps to nil, as "—" decodes.
func normalizeEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalizeEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				normalizeEmpty(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 && !v.IsNil() && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}
