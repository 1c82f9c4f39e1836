package models

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocs builds the project on the fixture, writes the docs and checks
// the manifest and that index.html draws every model, seed and source in
// its lineage SVG and documents every node.
// fixtureDocs builds the built-in project on the golden fixture, writes its
// docs to a new directory and returns the directory, the manifest read back
// and the project.
func fixtureDocs(ctx context.Context, t *testing.T) (string, Manifest, *Project) {
	t.Helper()
	db := openDuckDB(t)
	execFile(t, db, "testdata/golden/fixture.sql")
	p := builtin(t)
	if _, err := Build(ctx, db, p); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Docs(ctx, db, p, dir, WithClock(fixedClock)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return dir, m, p
}

func TestDocs(t *testing.T) {
	ctx := context.Background()
	dir, m, p := fixtureDocs(ctx, t)
	if len(m.Nodes)+len(m.Sources) != len(p.Nodes) {
		t.Errorf("manifest has %d nodes and %d sources, the project %d", len(m.Nodes), len(m.Sources), len(p.Nodes))
	}
	fact := m.Nodes["model.cartwheel.fact_user_sessions"]
	if fact == nil {
		t.Fatal("no fact_user_sessions in the manifest")
	}
	if fact.Config.Materialized != "incremental" || strings.Join(fact.Config.UniqueKey, ",") != "session_id" {
		t.Errorf("fact config %+v", fact.Config)
	}
	if got := strings.Join(fact.DependsOn.Nodes, ","); got != "model.cartwheel.stg_sessions" {
		t.Errorf("fact depends on %s", got)
	}
	// The table exists, so the docs show the incremental SQL.
	if !strings.Contains(fact.CompiledCode, "from stg_sessions") || !strings.Contains(fact.CompiledCode, "max(closed_at)") {
		t.Errorf("fact compiled SQL:\n%s", fact.CompiledCode)
	}
	// With a warehouse, the staging SQL is bound to the snapshot a run
	// would fix now: the newest batch of the fixture.
	if sql := m.Nodes["model.cartwheel.stg_events"].CompiledCode; !strings.Contains(sql, "where ingested_at <= cast('2026-03-04 23:59:01.000000' as TIMESTAMP)") {
		t.Errorf("stg_events compiled SQL:\n%s", sql)
	}
	if src := m.Sources["source.cartwheel.cartwheel.sessions"]; src == nil || src.LoadedAtField != "closed_at" {
		t.Errorf("sessions source: %+v", src)
	}
	if c := fact.Columns["converted"]; c == nil || !strings.Contains(c.Description, "purchases > 0") || c.DataType != "BOOLEAN" {
		t.Errorf("fact.converted: %+v", c)
	}
	if got := strings.Join(m.ChildMap["model.cartwheel.dim_time"], ","); !strings.Contains(got, "model.cartwheel.fct_daily_revenue") {
		t.Errorf("dim_time children: %s", got)
	}
	for id, n := range m.Nodes {
		if n.ResourceType == ModelType && n.Description == "" {
			t.Errorf("%s has no description", id)
		}
		if n.CompileError != "" {
			t.Errorf("%s: %s", id, n.CompileError)
		}
		for name, c := range n.Columns {
			if n.ResourceType == ModelType && !c.Documented {
				t.Errorf("%s.%s is not documented", id, name)
			}
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	svg := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindString(html)
	for id, n := range p.Nodes {
		if n.ResourceType != TestType && !strings.Contains(svg, `data-id="`+id+`"`) {
			t.Errorf("the lineage SVG lacks %s", id)
		}
		if !strings.Contains(html, `<section class="node-doc" id="`+id+`"`) {
			t.Errorf("index.html does not document %s", id)
		}
	}
	if n := strings.Count(svg, `class="edge"`); n < 10 {
		t.Errorf("%d edges", n)
	}
	for _, bad := range []string{"http://", "https://"} {
		for _, l := range strings.Split(html, "\n") {
			if strings.Contains(l, bad) && !strings.Contains(l, "http://www.w3.org/2000/svg") {
				t.Errorf("index.html refers to the network: %s", l)
			}
		}
	}
}

// Without a warehouse, docs compile for the chosen dialect.
func TestDocsWithoutWarehouse(t *testing.T) {
	dir := t.TempDir()
	m, err := Docs(context.Background(), nil, builtin(t), dir, WithDialect("redshift"))
	if err != nil {
		t.Fatal(err)
	}
	sql := m.Nodes["model.cartwheel.dim_time"].CompiledCode
	if !strings.Contains(sql, "DATEADD(day, n.n,") || strings.Contains(sql, "generate_series") {
		t.Errorf("dim_time for Redshift:\n%s", sql)
	}
	// No warehouse, no snapshot: the staging SQL reads the live sources.
	if sql := m.Nodes["model.cartwheel.stg_sessions"].CompiledCode; !strings.Contains(sql, "where 1 = 1") {
		t.Errorf("stg_sessions without a warehouse:\n%s", sql)
	}
}
