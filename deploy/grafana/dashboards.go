// Package grafana builds vpcflow's Grafana dashboards. The JSON files in
// dashboards/ are generated from this code and checked in; rewrite them
// with
//
//	go test ./deploy/grafana/ -run TestDashboardsUpToDate -update
//
// The three flow dashboards rebuild those of Sumo Logic's Amazon VPC Flow
// Logs app (Security Monitoring Overview, Accepts & Rejects, Traffic
// Direction Monitoring) on the counters of the flow_metrics stage; the
// fourth shows the pipeline's own health.
package grafana

import (
	"encoding/json"
	"fmt"
)

// Dashboard is a Grafana dashboard (schema version 39).
type Dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Tags          []string   `json:"tags"`
	Timezone      string     `json:"timezone"`
	SchemaVersion int        `json:"schemaVersion"`
	Version       int        `json:"version"`
	Editable      bool       `json:"editable"`
	GraphTooltip  int        `json:"graphTooltip"`
	Refresh       string     `json:"refresh"`
	Time          TimeRange  `json:"time"`
	Templating    Templating `json:"templating"`
	Links         []Link     `json:"links"`
	Panels        []*Panel   `json:"panels"`
}

type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type Templating struct {
	List []Variable `json:"list"`
}

type Variable struct {
	Name       string      `json:"name"`
	Label      string      `json:"label"`
	Type       string      `json:"type"`
	Query      any         `json:"query"`
	Datasource *Datasource `json:"datasource,omitempty"`
	Refresh    int         `json:"refresh,omitempty"`
	IncludeAll bool        `json:"includeAll"`
	Multi      bool        `json:"multi"`
	AllValue   string      `json:"allValue,omitempty"`
	Current    any         `json:"current"`
	Sort       int         `json:"sort,omitempty"`
	Hide       int         `json:"hide"`
}

type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Instant      bool        `json:"instant,omitempty"`
	Range        bool        `json:"range"`
	Format       string      `json:"format,omitempty"`
}

type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	Datasource  *Datasource    `json:"datasource,omitempty"`
	Targets     []Target       `json:"targets,omitempty"`
	FieldConfig map[string]any `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Panels      []*Panel       `json:"panels,omitempty"`
}

// ds is the data source of every panel: the dashboard's datasource
// variable, so the dashboards import into any Grafana.
var ds = &Datasource{Type: "prometheus", UID: "${datasource}"}

// q is a query with its legend.
type q struct{ expr, legend string }

// builder lays panels out left to right in rows of 24 columns.
type builder struct {
	panels []*Panel
	x, y   int
	rowH   int
	nextID int
}

func (b *builder) add(p *Panel, w, h int) {
	if b.x+w > 24 {
		b.x, b.y, b.rowH = 0, b.y+b.rowH, 0
	}
	b.nextID++
	p.ID = b.nextID
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	b.x += w
	b.rowH = max(b.rowH, h)
	b.panels = append(b.panels, p)
}

// row starts a new row with a title.
func (b *builder) row(title string) {
	if b.x != 0 {
		b.x, b.y, b.rowH = 0, b.y+b.rowH, 0
	}
	f := false
	b.nextID++
	b.panels = append(b.panels, &Panel{ID: b.nextID, Type: "row", Title: title, Collapsed: &f, GridPos: GridPos{H: 1, W: 24, X: 0, Y: b.y}})
	b.y++
}

func targets(qs []q, instant bool) []Target {
	t := make([]Target, len(qs))
	for i, x := range qs {
		t[i] = Target{RefID: string(rune('A' + i)), Datasource: ds, Expr: x.expr, LegendFormat: x.legend, Range: !instant, Instant: instant}
		if instant {
			t[i].Format = "time_series"
		}
	}
	return t
}

func fieldConfig(unit string, extra map[string]any) map[string]any {
	d := map[string]any{"unit": unit}
	for k, v := range extra {
		d[k] = v
	}
	return map[string]any{"defaults": d, "overrides": []any{}}
}

// timeseries is a graph over time.
func (b *builder) timeseries(title, desc, unit string, w int, stack bool, qs ...q) {
	custom := map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false}
	if stack {
		custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
		custom["fillOpacity"] = 40
	}
	b.add(&Panel{
		Type: "timeseries", Title: title, Description: desc, Datasource: ds, Targets: targets(qs, false),
		FieldConfig: fieldConfig(unit, map[string]any{"custom": custom, "min": 0}),
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": []string{"mean", "max"}},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}, w, 8)
}

// stat is a single number over the dashboard's time range.
func (b *builder) stat(title, desc, unit string, thresholds []any, qs ...q) {
	fc := map[string]any{}
	if thresholds != nil {
		fc["thresholds"] = map[string]any{"mode": "absolute", "steps": thresholds}
		fc["color"] = map[string]any{"mode": "thresholds"}
	}
	b.add(&Panel{
		Type: "stat", Title: title, Description: desc, Datasource: ds, Targets: targets(qs, true),
		FieldConfig: fieldConfig(unit, fc),
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "value", "graphMode": "none", "textMode": "auto", "justifyMode": "auto", "orientation": "auto",
		},
	}, 4, 4)
}

// bars ranks the series of an instant query (top N lists).
func (b *builder) bars(title, desc, unit string, w int, qs ...q) {
	b.add(&Panel{
		Type: "bargauge", Title: title, Description: desc, Datasource: ds, Targets: targets(qs, true),
		FieldConfig: fieldConfig(unit, map[string]any{"min": 0, "color": map[string]any{"mode": "continuous-BlYlRd"}}),
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"orientation":   "horizontal", "displayMode": "gradient", "showUnfilled": true, "valueMode": "color", "namePlacement": "left",
		},
	}, w, 9)
}

// pie shows shares of an instant query.
func (b *builder) pie(title, desc, unit string, w int, qs ...q) {
	b.add(&Panel{
		Type: "piechart", Title: title, Description: desc, Datasource: ds, Targets: targets(qs, true),
		FieldConfig: fieldConfig(unit, nil),
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"pieType":       "donut", "displayLabels": []string{"percent"},
			"legend":  map[string]any{"displayMode": "table", "placement": "right", "showLegend": true, "values": []string{"value", "percent"}},
			"tooltip": map[string]any{"mode": "single"},
		},
	}, w, 9)
}

// Thresholds for stats: green, then amber and red from the given values.
func steps(amber, red float64) []any {
	return []any{
		map[string]any{"color": "green", "value": nil},
		map[string]any{"color": "orange", "value": amber},
		map[string]any{"color": "red", "value": red},
	}
}

func newDashboard(uid, title, desc string, tags []string, vars []Variable, panels []*Panel) *Dashboard {
	return &Dashboard{
		UID: uid, Title: title, Description: desc, Tags: append([]string{"vpcflow"}, tags...),
		Timezone: "browser", SchemaVersion: 39, Version: 1, Editable: true, GraphTooltip: 1, Refresh: "1m",
		Time:       TimeRange{From: "now-6h", To: "now"},
		Templating: Templating{List: vars},
		Links:      []Link{{Title: "vpcflow dashboards", Type: "dashboards", Tags: []string{"vpcflow"}, AsDropdown: true, IncludeVars: true, KeepTime: true}},
		Panels:     panels,
	}
}

func datasourceVar() Variable {
	return Variable{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus", Current: map[string]any{}}
}

// queryVar is a multi-valued label filter; All matches every value.
func queryVar(name, label, query string) Variable {
	return Variable{
		Name: name, Label: label, Type: "query", Datasource: ds, Refresh: 2, Sort: 1,
		Query:      map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
		IncludeAll: true, Multi: true, AllValue: ".*",
		Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
	}
}

// Dashboards returns every dashboard by file name.
func Dashboards() map[string]*Dashboard {
	return map[string]*Dashboard{
		"vpc-flow-security-overview.json": securityOverview(),
		"vpc-flow-accepts-rejects.json":   acceptsRejects(),
		"vpc-flow-traffic-direction.json": trafficDirection(),
		"vpcflow-pipeline-health.json":    pipelineHealth(),
	}
}

// Marshal renders d as indented JSON with a final newline.
func Marshal(d *Dashboard) ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return append(b, '\n'), nil
}
