package grafana_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/grafana"
	"github.com/cartwheel-analytics/cartwheel/grafana/grafanatest"
)

func TestTranslate(t *testing.T) {
	for _, c := range []struct {
		name, chart, sql, want string
	}{
		{"range filter", "stat",
			"SELECT 1 FROM t WHERE x = 1 AND c >= CAST($1 AS TIMESTAMP) AND c < CAST($2 AS TIMESTAMP)",
			"SELECT 1 FROM t WHERE x = 1 AND $__timeFilter(c) AND c < CAST($__timeTo() AS TIMESTAMP)"},
		{"keywords in any case, line breaks", "stat",
			"select 1 from t where c >=\n cast( $1 as timestamp )\n and c < Cast($2 AS Timestamp) group by 1",
			"select 1 from t where $__timeFilter(c) AND c < CAST($__timeTo() AS TIMESTAMP) group by 1"},
		{"qualified and quoted column", "stat",
			`SELECT 1 FROM t WHERE (t."c" >= CAST($1 AS TIMESTAMP) AND t."c" < CAST($2 AS TIMESTAMP))`,
			`SELECT 1 FROM t WHERE ($__timeFilter(t."c") AND t."c" < CAST($__timeTo() AS TIMESTAMP))`},
		{"two columns: not a range", "stat",
			"SELECT 1 FROM t WHERE a >= CAST($1 AS TIMESTAMP) AND b < CAST($2 AS TIMESTAMP)",
			"SELECT 1 FROM t WHERE a >= CAST($__timeFrom() AS TIMESTAMP) AND b < CAST($__timeTo() AS TIMESTAMP)"},
		{"after NOT: not fused", "stat",
			"SELECT 1 FROM t WHERE NOT c >= CAST($1 AS TIMESTAMP) AND c < CAST($2 AS TIMESTAMP)",
			"SELECT 1 FROM t WHERE NOT c >= CAST($__timeFrom() AS TIMESTAMP) AND c < CAST($__timeTo() AS TIMESTAMP)"},
		{"arithmetic after: not fused", "stat",
			"SELECT 1 FROM t WHERE c >= CAST($1 AS TIMESTAMP) AND c < CAST($2 AS TIMESTAMP) + INTERVAL '1 day'",
			"SELECT 1 FROM t WHERE c >= CAST($__timeFrom() AS TIMESTAMP) AND c < CAST($__timeTo() AS TIMESTAMP) + INTERVAL '1 day'"},
		{"step", "stat",
			"SELECT CAST($3 AS BIGINT) AS s, CAST($1 AS TIMESTAMP) AS f, CAST($2 AS TIMESTAMP) AS t",
			"SELECT CAST(GREATEST(FLOOR($__interval_ms / 1000), 1) AS BIGINT) AS s, CAST($__timeFrom() AS TIMESTAMP) AS f, CAST($__timeTo() AS TIMESTAMP) AS t"},
		{"comments dropped, strings kept", "table",
			"-- $1 from\nSELECT '--not a comment' AS a /* $2 */, 'it''s' AS b -- end\n;\n",
			"SELECT '--not a comment' AS a  , 'it''s' AS b"},
		{"a line comment ends at a carriage return", "stat",
			"-- from\rSELECT CAST($1 AS TIMESTAMP) AS f",
			"SELECT CAST($__timeFrom() AS TIMESTAMP) AS f"},
		{"time series wrapped", "timeseries",
			"SELECT CAST($1 AS TIMESTAMP) AS bucket, 1 AS n",
			"SELECT * FROM (\n  SELECT CAST($__timeFrom() AS TIMESTAMP) AS bucket, 1 AS n\n) AS panel (\"time\")\nORDER BY 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, err := grafana.Translate(&dashboard.Panel{Name: "p", Chart: c.chart, SQL: c.sql})
			if err != nil {
				t.Fatal(err)
			}
			if q.SQL != c.want {
				t.Errorf("got\n%s\nwant\n%s", q.SQL, c.want)
			}
		})
	}
}

// SQL the export cannot translate faithfully is an error naming the panel
// and the line, never a silently different query.
func TestTranslateRefuses(t *testing.T) {
	for _, c := range []struct{ sql, want string }{
		{"SELECT 1\nFROM t WHERE c >= $1", "line 2): $1 is used outside CAST($1 AS TIMESTAMP)"},
		{"SELECT CAST($1 AS DATE)", "line 1): $1 is used outside CAST($1 AS TIMESTAMP)"},
		{"SELECT $2::TIMESTAMP", "$2 is used outside CAST($2 AS TIMESTAMP)"},
		{"SELECT 60 * $3", "$3 is used outside CAST($3 AS BIGINT)"},
		{"SELECT CAST($4 AS BIGINT)", "only $1 (from), $2 (to) and $3"},
		{"SELECT '$__interval' AS s", "a '$' inside a quoted string"},
		{`SELECT 1 AS "$x"`, "a '$' inside a quoted string or name"},
		{"SELECT $$text$$", "a '$' that is not a parameter"},
		{"SELECT $tag$x$tag$", "a '$' that is not a parameter"},
		{"SELECT price$1 FROM t", "a '$' in a name"},
		{"SELECT '[[var]]'", "'[[' inside a quoted string"},
		{"SELECT 1; SELECT 2", "more than one statement"},
		{"SELECT 'open", "unterminated ' quote"},
		{"SELECT 1 /* open", "unterminated /* comment"},
		{"-- only a comment\n", "the SQL is empty"},
	} {
		_, err := grafana.Translate(&dashboard.Panel{Name: "bad_panel", Chart: "stat", SQL: c.sql})
		if err == nil || !grafana.IsTranslateError(err) || !strings.Contains(err.Error(), c.want) ||
			!strings.HasPrefix(err.Error(), "panel bad_panel") {
			t.Errorf("Translate(%q): %v, want a TranslateError naming bad_panel with %q", c.sql, err, c.want)
		}
	}
}

// An untranslatable panel in a project fails the export, naming it; the
// other panels' problems are listed too.
func TestExportRefusesProject(t *testing.T) {
	d, err := dashboard.Load(fstest.MapFS{
		"dashboards/dashboard.yml": {Data: []byte("panels:\n  - {name: good, chart: stat}\n  - {name: odd, chart: stat}\n  - {name: odder}\n")},
		"dashboards/good.sql":      {Data: []byte("SELECT COUNT(*) AS n FROM events WHERE event_time >= CAST($1 AS TIMESTAMP) AND event_time < CAST($2 AS TIMESTAMP)")},
		"dashboards/odd.sql":       {Data: []byte("SELECT COUNT(*) AS n FROM events\nWHERE event_time >= $1 AND event_time < $2")},
		"dashboards/odder.sql":     {Data: []byte("SELECT '$__range' AS r")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := grafana.DataSourceFor("duckdb://x.duckdb", grafana.Endpoint{Addr: grafana.DefaultEndpoint})
	_, err = grafana.Export(d, ds)
	if err == nil || !grafana.IsTranslateError(err) {
		t.Fatalf("Export: %v, want a TranslateError", err)
	}
	for _, want := range []string{"panel odd (dashboards/odd.sql, line 2): $1 is used outside", "panel odder (dashboards/odder.sql, line 1)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "panel good") {
		t.Errorf("error %q blames the good panel", err)
	}
	// A project without a visible panel has nothing to export.
	d, err = dashboard.Load(fstest.MapFS{
		"dashboards/dashboard.yml": {Data: []byte("panels:\n  - {name: only, hidden: true}\n")},
		"dashboards/only.sql":      {Data: []byte("SELECT 1 AS n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grafana.Export(d, ds); err == nil || !strings.Contains(err.Error(), "no visible panel") {
		t.Errorf("Export of hidden panels only: %v", err)
	}
}

// Grafana's $__timeFilter is BETWEEN, which includes a row exactly at the
// range's end; the export's second bound keeps it out, as the built-in
// panel does (to exclusive).
func TestRangeEndExclusive(t *testing.T) {
	db := openDuckDB(t)
	load(t, db)
	p := builtIn(t).Panel("total_revenue")
	q, err := grafana.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 1, 10, 30, 0, 0, time.UTC) // e5's purchase, 20.00, is at 10:30:00
	run := func(sql string, args ...any) string {
		t.Helper()
		res, err := db.QueryReadOnly(context.Background(), sql, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		_, rows := normal(res)
		return rows[0][0]
	}
	sql, err := grafanatest.Expand(q.SQL, from, to, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if own, graf := run(p.SQL, from, to), run(sql); own != "35.000000" || graf != own {
		t.Errorf("revenue to 10:30: built-in %s, Grafana %s; want 35 for both", own, graf)
	}
	// Grafana's macro alone would count it.
	between := strings.Replace(q.SQL, " AND event_time < CAST($__timeTo() AS TIMESTAMP)", "", 1)
	if between == q.SQL {
		t.Fatalf("no second bound in\n%s", q.SQL)
	}
	sql, _ = grafanatest.Expand(between, from, to, time.Second)
	if got := run(sql); got != "55.000000" {
		t.Errorf("with $__timeFilter alone: %s, want 55 (BETWEEN includes 10:30)", got)
	}
}
