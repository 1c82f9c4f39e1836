package models

import (
	"regexp"
	"strings"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// redshiftLacks lists constructs that PostgreSQL or DuckDB accept and
// Amazon Redshift rejects (or runs only on the leader node).
var redshiftLacks = []struct{ name, pattern string }{
	{"ON CONFLICT", `(?i)\bON\s+CONFLICT\b`},
	{"FILTER (WHERE …)", `(?i)\bFILTER\s*\(\s*WHERE\b`},
	{"arrays", `(?i)\bARRAY\s*\[|\[\s*\]|\bunnest\s*\(|\barray_agg\s*\(`},
	{"GENERATED columns", `(?i)\bGENERATED\s+(ALWAYS|BY)\b`},
	{"COPY … FROM STDIN", `(?i)\bFROM\s+STDIN\b`},
	{"CREATE OR REPLACE TABLE", `(?i)\bCREATE\s+OR\s+REPLACE\s+TABLE\b`},
	{"generate_series (leader node only)", `(?i)\bgenerate_series\s*\(`},
	{"DuckDB's ASOF JOIN", `(?i)\bASOF\b`},
	{"DuckDB's EXCLUDE / REPLACE star", `(?i)\*\s*(EXCLUDE|REPLACE)\s*\(`},
	{"DISTINCT ON", `(?i)\bDISTINCT\s+ON\b`},
	{"LATERAL", `(?i)\bLATERAL\b`},
	{"string_agg (Redshift: LISTAGG)", `(?i)\bstring_agg\s*\(`},
	{"DuckDB's date_diff / epoch", `(?i)\b(date_diff|epoch|epoch_ms|list_\w+|struct_pack)\s*\(`},
	{"range window frames with intervals", `(?i)\bRANGE\s+BETWEEN\s+INTERVAL\b`},
	{"SERIAL", `(?i)\bSERIAL\b`},
	{"TIMESTAMPTZ casts of text", `(?i)::\s*timestamptz\b`},
}

// TestRedshiftGuard renders every model and test of the built-in project for
// Redshift — first runs and incremental runs, with and without a snapshot —
// and checks the SQL against the constructs Redshift lacks.
func TestRedshiftGuard(t *testing.T) {
	p := builtin(t)
	rendered := 0
	for _, n := range p.Nodes {
		if n.tpl == nil {
			continue
		}
		for _, vars := range []map[string]any{nil, {SnapshotVar: "2026-03-02 12:00:00.000000"}} {
			for _, incr := range []bool{false, true} {
				c, err := p.compileNode(n, warehouse.Redshift, vars, incr)
				if err != nil {
					t.Fatalf("%s: %v", n.UniqueID, err)
				}
				rendered++
				for _, bad := range redshiftLacks {
					if loc := regexp.MustCompile(bad.pattern).FindStringIndex(c.sql); loc != nil {
						t.Errorf("%s (incremental=%v, vars %v) uses %s, which Redshift lacks: …%s…", n.UniqueID, incr, vars, bad.name,
							strings.TrimSpace(c.sql[max(0, loc[0]-40):min(len(c.sql), loc[1]+40)]))
					}
				}
			}
		}
	}
	if rendered < 20 {
		t.Fatalf("only %d nodes rendered", rendered)
	}
}

// TestRedshiftGuardCatches makes sure the guard is not blind.
func TestRedshiftGuardCatches(t *testing.T) {
	for _, sql := range []string{"insert into t values (1) on conflict do nothing", "count(*) filter (where x)",
		"select array[1,2]", "create or replace table t as select 1", "select * from generate_series(1, 3)"} {
		hit := false
		for _, bad := range redshiftLacks {
			hit = hit || regexp.MustCompile(bad.pattern).MatchString(sql)
		}
		if !hit {
			t.Errorf("the guard misses %q", sql)
		}
	}
}
