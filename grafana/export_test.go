package grafana_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/grafana"
	"github.com/cartwheel-analytics/cartwheel/grafana/grafanatest"
)

func goldenProject(t *testing.T) *dashboard.Dashboard {
	t.Helper()
	d, err := dashboard.Load(os.DirFS("testdata/project"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func export(t *testing.T, d *dashboard.Dashboard, dsn string, opts ...grafana.Option) map[string][]byte {
	t.Helper()
	ds, err := grafana.DataSourceFor(dsn, grafana.Endpoint{Addr: grafana.DefaultEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	files, err := grafana.Export(d, ds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		out[f.Path] = f.Data
	}
	if len(out) != 3 || out[grafana.DataSourceFile] == nil || out[grafana.ProviderFile] == nil || out[grafana.DashboardFile] == nil {
		t.Fatalf("files %v", keys(out))
	}
	return out
}

func keys(m map[string][]byte) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// TestGolden: the three files of a project with a panel of every chart
// kind, over DuckDB (the appliance's endpoint), and the data source over
// PostgreSQL and Redshift.
func TestGolden(t *testing.T) {
	d := goldenProject(t)
	files := export(t, d, "duckdb://data/cartwheel.duckdb")
	for path, data := range files {
		golden(t, filepath.Join("export", path), data)
	}
	if problems := checkExport(files); len(problems) > 0 {
		t.Errorf("the golden export breaks Grafana's model:\n%s", strings.Join(problems, "\n"))
	}
	pg := export(t, d, "postgres://grafana_reader:s3cret@db.internal:6432/analytics?sslmode=verify-full")
	golden(t, "datasource-postgres.yaml", pg[grafana.DataSourceFile])
	rs := export(t, d, "redshift://reader:s3cret@cluster.abc.eu-west-1.redshift.amazonaws.com/dev?s3_bucket=cartwheel-staging&iam_role=arn:aws:iam::123456789012:role/R")
	golden(t, "datasource-redshift.yaml", rs[grafana.DataSourceFile])
}

// TestModelBuiltIn: the export of the project's own dashboards, as they
// are now, passes the model checker, has every visible panel, and none of
// the hidden ones.
func TestModelBuiltIn(t *testing.T) {
	d := builtIn(t)
	for _, dsn := range []string{"duckdb://data/cartwheel.duckdb", "postgres://u@db/analytics"} {
		files := export(t, d, dsn)
		if problems := checkExport(files); len(problems) > 0 {
			t.Errorf("%s: the export breaks Grafana's model:\n%s", dsn, strings.Join(problems, "\n"))
		}
		var m grafana.DashboardModel
		if err := json.Unmarshal(files[grafana.DashboardFile], &m); err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, p := range d.Panels {
			if !p.Hidden {
				want = append(want, p.Title)
			}
		}
		for _, p := range m.Panels {
			got = append(got, p.Title)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("panels (-want +got):\n%s", diff)
		}
		if m.Title != d.Title {
			t.Errorf("title %q, want %q", m.Title, d.Title)
		}
	}
	// Exporting twice gives the same bytes (stable uids, ids, layout).
	a, b := export(t, d, "duckdb://x.duckdb"), export(t, d, "duckdb://x.duckdb")
	for p := range a {
		if !bytes.Equal(a[p], b[p]) {
			t.Errorf("%s differs between two exports", p)
		}
	}
}

// Units and panel types as the dashboard asks.
func TestPanelTypesAndUnits(t *testing.T) {
	files := export(t, goldenProject(t), "duckdb://x.duckdb")
	var m grafana.DashboardModel
	if err := json.Unmarshal(files[grafana.DashboardFile], &m); err != nil {
		t.Fatal(err)
	}
	byTitle := map[string]grafana.PanelModel{}
	for _, p := range m.Panels {
		byTitle[p.Title] = p
	}
	unitOf := func(p grafana.PanelModel, col string) any {
		for _, o := range p.FieldConfig.Overrides {
			if o.Matcher.Options == col {
				return o.Properties[0].Value
			}
		}
		return nil
	}
	for _, c := range []struct {
		panel, typ, format, col string
		unit                    any
	}{
		{"Revenue", "stat", "table", "revenue", "currencyEUR"},
		{"Revenue", "stat", "table", "orders", "short"},
		{"Users over time", "timeseries", "time_series", "users", "short"},
		{"Orders per day", "timeseries", "time_series", "share_pct", "percent"},
		{"Funnel", "bargauge", "table", "sessions", "short"},
		{"Health", "stat", "table", "lag_s", "s"},
		{"Health", "stat", "table", "events_per_s", "ops"},
		{"extra table", "table", "table", "", nil},
	} {
		p, ok := byTitle[c.panel]
		if !ok {
			t.Errorf("no panel %q", c.panel)
			continue
		}
		if p.Type != c.typ || p.Targets[0].Format != c.format {
			t.Errorf("%s: type %s format %s, want %s %s", c.panel, p.Type, p.Targets[0].Format, c.typ, c.format)
		}
		if c.col != "" && unitOf(p, c.col) != c.unit {
			t.Errorf("%s.%s: unit %v, want %v", c.panel, c.col, unitOf(p, c.col), c.unit)
		}
	}
	if _, ok := byTitle["Revenue over time"]; ok {
		t.Error("the hidden panel was exported")
	}
	if p := byTitle["Orders per day"]; p.FieldConfig.Defaults["custom"].(map[string]any)["drawStyle"] != "bars" {
		t.Errorf("bars: %v", p.FieldConfig.Defaults)
	}
	if p := byTitle["Health"]; !strings.Contains(p.Description, "live figures") {
		t.Errorf("the health panel does not say its live figures are missing: %q", p.Description)
	}
	if p := byTitle["Users over time"]; p.Interval != "1s" || p.MaxDataPoints != dashboard.TargetPoints {
		t.Errorf("a panel with a bucket width: interval %q maxDataPoints %d", p.Interval, p.MaxDataPoints)
	}
}

// checkExport checks the three files against Grafana's models: the
// dashboard's required fields, panels, grid and queries, and that every
// panel names the provisioned data source. It returns the problems.
func checkExport(files map[string][]byte) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var dsFile struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, URL, User, Access string
			JSONData                           map[string]any    `yaml:"jsonData"`
			SecureJSONData                     map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(files[grafana.DataSourceFile], &dsFile); err != nil {
		bad("data source YAML: %v", err)
	}
	if dsFile.APIVersion != 1 || len(dsFile.Datasources) != 1 {
		bad("data source file: apiVersion %d, %d data sources", dsFile.APIVersion, len(dsFile.Datasources))
		return problems
	}
	src := dsFile.Datasources[0]
	if src.Type != "grafana-postgresql-datasource" && src.Type != "postgres" {
		bad("data source type %q", src.Type)
	}
	if src.Name == "" || src.UID == "" || src.URL == "" || src.User == "" || src.Access != "proxy" {
		bad("data source %+v lacks name, uid, url, user or access: proxy", src)
	}
	if db, _ := src.JSONData["database"].(string); db == "" {
		bad("data source without jsonData.database (Grafana 12 reads only that)")
	}
	if m, _ := src.JSONData["sslmode"].(string); !regexp.MustCompile(`^(disable|require|verify-ca|verify-full)$`).MatchString(m) {
		bad("data source sslmode %q", m)
	}
	if p, ok := src.SecureJSONData["password"]; ok && p != "$"+grafana.PasswordEnv {
		bad("data source password %q is not the environment variable", p)
	}

	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    map[string]string
		}
	}
	if err := yaml.Unmarshal(files[grafana.ProviderFile], &prov); err != nil {
		bad("provider YAML: %v", err)
	}
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || !strings.HasPrefix(prov.Providers[0].Options["path"], "/") {
		bad("dashboards provider %+v: want apiVersion 1 and one file provider with an absolute options.path", prov)
	}

	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(files[grafana.DashboardFile]))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return append(problems, "dashboard JSON: "+err.Error())
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	num := func(m map[string]any, k string) (int64, bool) {
		n, ok := m[k].(json.Number)
		if !ok {
			return 0, false
		}
		i, err := n.Int64()
		return i, err == nil
	}
	if str(d, "title") == "" {
		bad("dashboard without a title")
	}
	if uid := str(d, "uid"); !regexp.MustCompile(`^[A-Za-z0-9_-]{8,40}$`).MatchString(uid) {
		bad("dashboard uid %q: want 8-40 of [A-Za-z0-9_-]", uid)
	}
	if v, ok := num(d, "schemaVersion"); !ok || v < 36 {
		bad("schemaVersion %v", d["schemaVersion"])
	}
	if _, ok := num(d, "version"); !ok {
		bad("no version")
	}
	if tr, _ := d["time"].(map[string]any); tr == nil || str(tr, "from") == "" || str(tr, "to") == "" {
		bad("time %v: want from and to", d["time"])
	}
	if _, ok := d["refresh"].(string); !ok {
		bad("refresh %v", d["refresh"])
	}
	if str(d, "timezone") != "utc" {
		bad("timezone %q, want utc", str(d, "timezone"))
	}
	for _, k := range []string{"templating", "annotations"} {
		if m, _ := d[k].(map[string]any); m == nil {
			bad("%s missing", k)
		} else if _, ok := m["list"].([]any); !ok {
			bad("%s.list is not a list", k)
		}
	}
	panels, ok := d["panels"].([]any)
	if !ok || len(panels) == 0 {
		return append(problems, "no panels")
	}
	ids := map[int64]bool{}
	type rect struct{ x, y, w, h int64 }
	var placed []rect
	types := map[string]bool{"stat": true, "timeseries": true, "barchart": true, "bargauge": true, "table": true}
	from := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for i, raw := range panels {
		p, _ := raw.(map[string]any)
		name := fmt.Sprintf("panel %d (%s)", i, str(p, "title"))
		id, ok := num(p, "id")
		if !ok || id < 1 || ids[id] {
			bad("%s: id %v missing or repeated", name, p["id"])
		}
		ids[id] = true
		if !types[str(p, "type")] {
			bad("%s: type %q", name, str(p, "type"))
		}
		if str(p, "title") == "" {
			bad("%s: no title", name)
		}
		g, _ := p["gridPos"].(map[string]any)
		var r rect
		var okX, okY, okW, okH bool
		r.x, okX = num(g, "x")
		r.y, okY = num(g, "y")
		r.w, okW = num(g, "w")
		r.h, okH = num(g, "h")
		if !okX || !okY || !okW || !okH || r.w < 1 || r.h < 1 || r.x < 0 || r.y < 0 || r.x+r.w > 24 {
			bad("%s: gridPos %v: want h, w, x, y with x+w <= 24", name, g)
		}
		for _, o := range placed {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				bad("%s: gridPos %v overlaps another panel", name, g)
			}
		}
		placed = append(placed, r)
		ref, _ := p["datasource"].(map[string]any)
		if str(ref, "type") != src.Type || str(ref, "uid") != src.UID {
			bad("%s: datasource %v is not the provisioned %s/%s", name, ref, src.Type, src.UID)
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			bad("%s: no targets", name)
		}
		refIDs := map[string]bool{}
		for _, rt := range targets {
			tg, _ := rt.(map[string]any)
			if id := str(tg, "refId"); id == "" || refIDs[id] {
				bad("%s: refId %q missing or repeated", name, id)
			} else {
				refIDs[id] = true
			}
			if f := str(tg, "format"); f != "table" && f != "time_series" {
				bad("%s: format %q", name, f)
			}
			if tg["rawQuery"] != true || str(tg, "editorMode") != "code" {
				bad("%s: want rawQuery true and editorMode code (else Grafana's builder rewrites the SQL)", name)
			}
			tref, _ := tg["datasource"].(map[string]any)
			if str(tref, "uid") != src.UID {
				bad("%s: target datasource %v", name, tref)
			}
			sql := str(tg, "rawSql")
			if strings.TrimSpace(sql) == "" {
				bad("%s: empty rawSql", name)
				continue
			}
			expanded, err := grafanatest.Expand(sql, from, from.Add(time.Hour), 5*time.Second)
			if err != nil {
				bad("%s: Grafana would refuse the SQL: %v", name, err)
			} else if strings.Contains(expanded, "$") {
				bad("%s: a '$' survives Grafana's expansion:\n%s", name, expanded)
			}
			if str(tg, "format") == "time_series" && !strings.Contains(sql, `"time"`) {
				bad("%s: a time series without a time column", name)
			}
		}
	}
	return problems
}

// The checker finds what it checks: each broken model is caught.
func TestCheckerCatches(t *testing.T) {
	good := export(t, goldenProject(t), "duckdb://x.duckdb")
	for name, c := range map[string]struct {
		file   string
		breaks func(m map[string]any)
		want   string
	}{
		"no uid":         {grafana.DashboardFile, func(m map[string]any) { delete(m, "uid") }, "uid"},
		"short uid":      {grafana.DashboardFile, func(m map[string]any) { m["uid"] = "abc" }, "uid"},
		"no time":        {grafana.DashboardFile, func(m map[string]any) { delete(m, "time") }, "time"},
		"browser time":   {grafana.DashboardFile, func(m map[string]any) { m["timezone"] = "browser" }, "timezone"},
		"no templating":  {grafana.DashboardFile, func(m map[string]any) { delete(m, "templating") }, "templating"},
		"no refresh":     {grafana.DashboardFile, func(m map[string]any) { delete(m, "refresh") }, "refresh"},
		"no schema":      {grafana.DashboardFile, func(m map[string]any) { delete(m, "schemaVersion") }, "schemaVersion"},
		"overlap":        {grafana.DashboardFile, func(m map[string]any) { panel(m, 1)["gridPos"] = panel(m, 0)["gridPos"] }, "overlaps"},
		"too wide":       {grafana.DashboardFile, func(m map[string]any) { panel(m, 0)["gridPos"].(map[string]any)["x"] = 20 }, "x+w"},
		"repeated id":    {grafana.DashboardFile, func(m map[string]any) { panel(m, 1)["id"] = panel(m, 0)["id"] }, "id"},
		"other source":   {grafana.DashboardFile, func(m map[string]any) { panel(m, 0)["datasource"] = map[string]any{"type": "postgres", "uid": "x"} }, "provisioned"},
		"no refId":       {grafana.DashboardFile, func(m map[string]any) { target(m, 0)["refId"] = "" }, "refId"},
		"builder":        {grafana.DashboardFile, func(m map[string]any) { target(m, 0)["editorMode"] = "builder" }, "editorMode"},
		"bad format":     {grafana.DashboardFile, func(m map[string]any) { target(m, 0)["format"] = "logs" }, "format"},
		"unknown macro":  {grafana.DashboardFile, func(m map[string]any) { target(m, 0)["rawSql"] = "SELECT $__nope(x)" }, "unknown macro"},
		"leftover param": {grafana.DashboardFile, func(m map[string]any) { target(m, 0)["rawSql"] = "SELECT $1" }, "survives"},
		"no time column": {grafana.DashboardFile, func(m map[string]any) { target(m, 1)["rawSql"] = "SELECT 1" }, "time column"},
		"wrong ds uid":   {grafana.DataSourceFile, func(m map[string]any) { source(m)["uid"] = "other" }, "provisioned"},
		"top-level db":   {grafana.DataSourceFile, func(m map[string]any) { delete(source(m)["jsonData"].(map[string]any), "database") }, "jsonData.database"},
		"literal secret": {grafana.DataSourceFile, func(m map[string]any) { source(m)["secureJsonData"] = map[string]any{"password": "hunter2"} }, "environment"},
		"relative path": {grafana.ProviderFile, func(m map[string]any) {
			m["providers"].([]any)[0].(map[string]any)["options"] = map[string]any{"path": "dashboards"}
		}, "options.path"},
		"sslmode prefer":  {grafana.DataSourceFile, func(m map[string]any) { source(m)["jsonData"].(map[string]any)["sslmode"] = "prefer" }, "sslmode"},
		"no panels":       {grafana.DashboardFile, func(m map[string]any) { m["panels"] = []any{} }, "no panels"},
		"no title":        {grafana.DashboardFile, func(m map[string]any) { delete(m, "title") }, "title"},
		"annotations map": {grafana.DashboardFile, func(m map[string]any) { m["annotations"] = map[string]any{} }, "annotations.list"},
	} {
		t.Run(name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range good {
				files[k] = v
			}
			var m map[string]any
			var err error
			if strings.HasSuffix(c.file, ".json") {
				err = json.Unmarshal(files[c.file], &m)
			} else {
				err = yaml.Unmarshal(files[c.file], &m)
			}
			if err != nil {
				t.Fatal(err)
			}
			c.breaks(m)
			if strings.HasSuffix(c.file, ".json") {
				files[c.file], err = json.Marshal(m)
			} else {
				files[c.file], err = yaml.Marshal(m)
			}
			if err != nil {
				t.Fatal(err)
			}
			problems := strings.Join(checkExport(files), "\n")
			if !strings.Contains(problems, c.want) {
				t.Errorf("problems %q, want one about %q", problems, c.want)
			}
		})
	}
	if p := checkExport(good); len(p) > 0 {
		t.Errorf("the good export: %v", p)
	}
}

func panel(m map[string]any, i int) map[string]any { return m["panels"].([]any)[i].(map[string]any) }

func target(m map[string]any, i int) map[string]any {
	return panel(m, i)["targets"].([]any)[0].(map[string]any)
}

func source(m map[string]any) map[string]any { return m["datasources"].([]any)[0].(map[string]any) }
