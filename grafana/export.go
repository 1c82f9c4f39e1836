package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cartwheel-analytics/cartwheel/dashboard"
)

// The paths of the exported files, relative to the output folder.
const (
	DataSourceFile = "provisioning/datasources/cartwheel.yaml"
	ProviderFile   = "provisioning/dashboards/cartwheel.yaml"
	DashboardFile  = "dashboards/cartwheel.json"
)

// Stable identities: a re-export updates the same data source and
// dashboard in Grafana (provisioning upserts by uid).
const (
	DataSourceUID  = "cartwheel-warehouse"
	DataSourceName = "Cartwheel"
	DashboardUID   = "cartwheel-live"
)

// DefaultDashboardsPath is where the provider reads dashboards/ inside
// Grafana's container (mount DIR/dashboards there).
const DefaultDashboardsPath = "/var/lib/grafana/dashboards/cartwheel"

// SchemaVersion is the dashboard schema written: Grafana 10.4's, which
// Grafana 11 and 12 migrate forward when they load it.
const SchemaVersion = 39

// File is one exported file.
type File struct {
	Path string // relative, slash-separated
	Data []byte
}

type options struct {
	dashboardsPath string
}

// Option configures Export.
type Option func(*options)

// WithDashboardsPath sets the folder the dashboards provider reads, as
// Grafana sees it (default DefaultDashboardsPath).
func WithDashboardsPath(p string) Option { return func(o *options) { o.dashboardsPath = p } }

// Export returns the provisioning files of a dashboard over a data source,
// in the order DataSourceFile, ProviderFile, DashboardFile.
func Export(d *dashboard.Dashboard, ds DataSource, opts ...Option) ([]File, error) {
	o := options{dashboardsPath: DefaultDashboardsPath}
	for _, opt := range opts {
		opt(&o)
	}
	if strings.ContainsAny(o.dashboardsPath, "$\n") || o.dashboardsPath == "" {
		return nil, fmt.Errorf("dashboards path %q: want a path without '$' or line breaks", o.dashboardsPath)
	}
	model, err := Model(d, ds)
	if err != nil {
		return nil, err
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(model); err != nil {
		return nil, err
	}
	dsYAML, err := dataSourceYAML(ds)
	if err != nil {
		return nil, err
	}
	provYAML, err := providerYAML(o.dashboardsPath)
	if err != nil {
		return nil, err
	}
	return []File{{DataSourceFile, dsYAML}, {ProviderFile, provYAML}, {DashboardFile, js.Bytes()}}, nil
}

// dataSourceYAML is provisioning/datasources/cartwheel.yaml.
func dataSourceYAML(ds DataSource) ([]byte, error) {
	type jsonData struct {
		Database        string `yaml:"database"`
		SSLMode         string `yaml:"sslmode"`
		PostgresVersion int    `yaml:"postgresVersion"`
		TimeInterval    string `yaml:"timeInterval"`
		MaxOpenConns    int    `yaml:"maxOpenConns"`
	}
	type source struct {
		Name           string            `yaml:"name"`
		Type           string            `yaml:"type"`
		UID            string            `yaml:"uid"`
		Access         string            `yaml:"access"`
		URL            string            `yaml:"url"`
		User           string            `yaml:"user"`
		IsDefault      bool              `yaml:"isDefault"`
		Editable       bool              `yaml:"editable"`
		JSONData       jsonData          `yaml:"jsonData"`
		SecureJSONData map[string]string `yaml:"secureJsonData,omitempty"`
	}
	src := source{
		Name: DataSourceName, Type: PluginType, UID: DataSourceUID, Access: "proxy",
		URL: ds.URL(), User: ds.User, Editable: false,
		// 1500 is PostgreSQL 15, what the endpoint reports; only the
		// query editor's hints use it.
		JSONData: jsonData{Database: ds.Database, SSLMode: ds.SSLMode, PostgresVersion: 1500, TimeInterval: "1s", MaxOpenConns: 10},
	}
	if ds.Password {
		src.SecureJSONData = map[string]string{"password": "$" + PasswordEnv}
	}
	var head strings.Builder
	head.WriteString("# Grafana data source for Cartwheel, written by `cartwheel grafana export`.\n")
	if ds.Appliance {
		head.WriteString("# The appliance's Postgres endpoint (`cartwheel run`, pg: in its config): only the\n" +
			"# running appliance can read its DuckDB warehouse. Read-only, under the API's limits.\n")
	} else {
		fmt.Fprintf(&head, "# The %s warehouse itself. Give Grafana a read-only user.\n", ds.Dialect)
	}
	if ds.Password {
		fmt.Fprintf(&head, "# The password is not in this file: Grafana reads it from its environment\n"+
			"# variable %s when it loads its provisioning.\n", PasswordEnv)
		if ds.Appliance {
			head.WriteString("# Off loopback the endpoint takes the appliance's token as the password.\n")
		}
	}
	body, err := marshalYAML(map[string]any{"apiVersion": 1, "datasources": []source{src}})
	if err != nil {
		return nil, err
	}
	return append([]byte(head.String()), body...), nil
}

// providerYAML is provisioning/dashboards/cartwheel.yaml.
func providerYAML(path string) ([]byte, error) {
	type provider struct {
		Name                  string            `yaml:"name"`
		OrgID                 int               `yaml:"orgId"`
		Folder                string            `yaml:"folder"`
		Type                  string            `yaml:"type"`
		DisableDeletion       bool              `yaml:"disableDeletion"`
		AllowUIUpdates        bool              `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int               `yaml:"updateIntervalSeconds"`
		Options               map[string]string `yaml:"options"`
	}
	body, err := marshalYAML(map[string]any{"apiVersion": 1, "providers": []provider{{
		Name: "cartwheel", OrgID: 1, Folder: "Cartwheel", Type: "file", DisableDeletion: false,
		AllowUIUpdates: false, UpdateIntervalSeconds: 30, Options: map[string]string{"path": path},
	}}})
	if err != nil {
		return nil, err
	}
	head := "# Grafana dashboards provider for Cartwheel, written by `cartwheel grafana export`.\n" +
		"# options.path is the exported dashboards/ folder as Grafana sees it: mount it there.\n"
	return append([]byte(head), body...), nil
}

func marshalYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// The dashboard model (Grafana's classic JSON model, the fields this
// export uses).

// DashboardModel is dashboards/cartwheel.json.
type DashboardModel struct {
	ID            *int         `json:"id"`
	UID           string       `json:"uid"`
	Title         string       `json:"title"`
	Description   string       `json:"description,omitempty"`
	Tags          []string     `json:"tags"`
	Timezone      string       `json:"timezone"`
	Editable      bool         `json:"editable"`
	GraphTooltip  int          `json:"graphTooltip"`
	Time          TimeRange    `json:"time"`
	Refresh       string       `json:"refresh"`
	SchemaVersion int          `json:"schemaVersion"`
	Version       int          `json:"version"`
	Links         []any        `json:"links"`
	Templating    List         `json:"templating"`
	Annotations   List         `json:"annotations"`
	Timepicker    Timepicker   `json:"timepicker"`
	Panels        []PanelModel `json:"panels"`
}

// TimeRange is the dashboard's default range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// List is templating and annotations: {"list": [...]}.
type List struct {
	List []any `json:"list"`
}

// Timepicker holds the refresh intervals offered.
type Timepicker struct {
	RefreshIntervals []string `json:"refresh_intervals"`
}

// PanelModel is one panel.
type PanelModel struct {
	ID            int            `json:"id"`
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Description   string         `json:"description,omitempty"`
	GridPos       GridPos        `json:"gridPos"`
	Datasource    DataSourceRef  `json:"datasource"`
	Interval      string         `json:"interval,omitempty"`
	MaxDataPoints int            `json:"maxDataPoints,omitempty"`
	Targets       []Target       `json:"targets"`
	FieldConfig   FieldConfig    `json:"fieldConfig"`
	Options       map[string]any `json:"options"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// DataSourceRef names the provisioned data source.
type DataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is a panel's query.
type Target struct {
	RefID      string        `json:"refId"`
	Datasource DataSourceRef `json:"datasource"`
	EditorMode string        `json:"editorMode"`
	RawQuery   bool          `json:"rawQuery"`
	Format     string        `json:"format"`
	RawSQL     string        `json:"rawSql"`
}

// FieldConfig holds units: a default and one override per column.
type FieldConfig struct {
	Defaults  map[string]any `json:"defaults"`
	Overrides []Override     `json:"overrides"`
}

// Override sets properties of the field a matcher names.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher names a field.
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one field property.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// grafanaCurrencies are the ISO 4217 codes with a Grafana unit of their
// own; another currency is the custom unit "currency:CODE".
var grafanaCurrencies = []string{"USD", "GBP", "EUR", "JPY", "RUB", "UAH", "BRL", "DKK", "ISK", "NOK", "SEK", "CZK", "CHF", "PLN", "ZAR", "INR", "KRW"}

// unit maps a panel column's unit to Grafana's.
func unit(u, currency string) string {
	switch u {
	case "currency":
		if slices.Contains(grafanaCurrencies, currency) {
			return "currency" + currency
		}
		return "currency:" + currency
	case "percent":
		return "percent" // the panels' percentages are 0-100
	case "seconds":
		return "s"
	case "rate":
		return "ops"
	case "count", "records":
		return "short"
	case "text":
		return "string"
	}
	return "none"
}

// Model builds the dashboard: the visible panels of d, in order, each
// with its SQL translated (a panel that cannot be is an error naming it).
func Model(d *dashboard.Dashboard, ds DataSource) (*DashboardModel, error) {
	ref := DataSourceRef{Type: PluginType, UID: DataSourceUID}
	refresh := "5s" // as the built-in page
	if !ds.Appliance {
		refresh = "1m" // every viewer's refresh is a warehouse query
	}
	m := &DashboardModel{
		UID: DashboardUID, Title: d.Title, Tags: []string{"cartwheel"}, Timezone: "utc", Editable: true,
		Description:   "Exported by `cartwheel grafana export` from the project's dashboards/: the same SQL as the built-in page, with Grafana's macros for its time range.",
		GraphTooltip:  1,
		Time:          TimeRange{From: "now-1h", To: "now"},
		Refresh:       refresh,
		SchemaVersion: SchemaVersion, Version: 1, Links: []any{},
		Templating:  List{List: []any{}},
		Annotations: List{List: []any{}},
		Timepicker:  Timepicker{RefreshIntervals: []string{"5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h"}},
		Panels:      []PanelModel{},
	}
	var problems []error
	lay := layout{}
	for _, p := range d.Panels {
		if p.Hidden {
			continue // drawn by another panel on the built-in page
		}
		q, err := Translate(p)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		pm := PanelModel{
			ID: len(m.Panels) + 1, Title: p.Title, Description: p.Description, Datasource: ref,
			Targets: []Target{{RefID: "A", Datasource: ref, EditorMode: "code", RawQuery: true, Format: "table", RawSQL: q.SQL}},
		}
		if q.TimeSeries {
			pm.Targets[0].Format = "time_series"
		}
		if q.UsesInterval {
			// At least whole seconds, at most as many buckets as the
			// built-in page draws.
			pm.Interval = "1s"
			pm.MaxDataPoints = dashboard.TargetPoints
		}
		pm.FieldConfig = fieldConfig(p, d.Currency)
		var w, h int
		pm.Type, pm.Options, w, h = visual(p, &pm.FieldConfig)
		if p.Live == "pipeline" {
			pm.Description = strings.TrimSpace(pm.Description + " In Grafana this panel shows what the warehouse knows (the SQL's columns); " +
				"the running pipeline's live figures (events/s, consumer lag, watermark delay, age of the last commit, last DAG run) " +
				"are on the appliance's own page and its /metrics.")
		}
		pm.GridPos = lay.place(w, h)
		m.Panels = append(m.Panels, pm)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if len(m.Panels) == 0 {
		return nil, errors.New("the project has no visible panel to export (dashboards/*.sql)")
	}
	fillRows(m.Panels)
	return m, nil
}

// fieldConfig sets each column's unit.
func fieldConfig(p *dashboard.Panel, currency string) FieldConfig {
	fc := FieldConfig{Defaults: map[string]any{"unit": "short"}, Overrides: []Override{}}
	cols := make([]string, 0, len(p.Units))
	for c := range p.Units {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	for _, c := range cols {
		props := []Property{{ID: "unit", Value: unit(p.Units[c], currency)}}
		if p.Units[c] == "currency" {
			props = append(props, Property{ID: "decimals", Value: 2})
		}
		fc.Overrides = append(fc.Overrides, Override{Matcher: Matcher{ID: "byName", Options: c}, Properties: props})
	}
	return fc
}

// visual returns a chart kind's Grafana panel type, options and size.
func visual(p *dashboard.Panel, fc *FieldConfig) (typ string, opts map[string]any, w, h int) {
	legend := map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []string{}}
	tooltip := map[string]any{"mode": "multi", "sort": "none"}
	stat := func() map[string]any {
		return map[string]any{
			"reduceOptions": map[string]any{"values": false, "calcs": []string{"lastNotNull"}, "fields": ""},
			"orientation":   "auto", "textMode": "value_and_name", "colorMode": "none", "graphMode": "none",
			"justifyMode": "auto", "wideLayout": true, "showPercentChange": false,
		}
	}
	switch p.Chart {
	case "stat":
		return "stat", stat(), 8, 5
	case "health":
		return "stat", stat(), 24, 5
	case "timeseries":
		fc.Defaults["custom"] = map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false}
		return "timeseries", map[string]any{"legend": legend, "tooltip": tooltip}, 12, 9
	case "bars":
		fc.Defaults["custom"] = map[string]any{"drawStyle": "bars", "lineWidth": 1, "fillOpacity": 80, "showPoints": "never", "spanNulls": false}
		return "timeseries", map[string]any{"legend": legend, "tooltip": tooltip}, 12, 9
	case "funnel":
		return "bargauge", map[string]any{
			// One bar per row (stage), named by the row's text column.
			"reduceOptions": map[string]any{"values": true, "calcs": []string{"lastNotNull"}, "fields": ""},
			"orientation":   "horizontal", "displayMode": "basic", "showUnfilled": true, "valueMode": "color",
			"namePlacement": "auto", "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
		}, 12, 9
	}
	return "table", map[string]any{"showHeader": true, "cellHeight": "sm"}, 24, 8
}

// layout places panels left to right in rows of the 24-column grid; a
// panel of another height than the row's, or one that does not fit,
// starts a new row.
type layout struct{ x, y, rowH int }

func (l *layout) place(w, h int) GridPos {
	if l.x+w > 24 || (l.x > 0 && h != l.rowH) {
		l.x, l.y, l.rowH = 0, l.y+l.rowH, 0
	}
	g := GridPos{H: h, W: w, X: l.x, Y: l.y}
	l.x += w
	l.rowH = max(l.rowH, h)
	return g
}

// fillRows widens the last panel of each row to the grid's right edge.
func fillRows(panels []PanelModel) {
	for i := range panels {
		last := true
		for j := range panels {
			if panels[j].GridPos.Y == panels[i].GridPos.Y && panels[j].GridPos.X > panels[i].GridPos.X {
				last = false
			}
		}
		if last {
			panels[i].GridPos.W = 24 - panels[i].GridPos.X
		}
	}
}
