package models

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

var update = flag.Bool("update", false, "rewrite the golden SQL of the cross-database macros")

// macroCase is one macro call. want is the value DuckDB computes for it
// (checked by running the rendered SQL); from is the FROM clause an
// aggregate needs; query marks a macro that renders a whole query.
type macroCase struct {
	call  string
	want  string
	from  string
	query bool
}

const ts = `"TIMESTAMP '2026-03-01 10:10:30.5'"`

var macroCases = []macroCase{
	{call: `dbt.type_string()`},
	{call: `dbt.type_timestamp()`},
	{call: `dbt.type_numeric()`},
	{call: `dbt.type_int()`},
	{call: `dbt.type_bigint()`},
	{call: `dbt.type_float()`},
	{call: `dbt.type_boolean()`},
	{call: `cartwheel.type_money()`},
	{call: `dbt.current_timestamp()`},
	{call: `dbt.dateadd('day', 3, ` + ts + `)`, want: "2026-03-04 10:10:30.500000"},
	{call: `dbt.dateadd('minute', -90, ` + ts + `)`, want: "2026-03-01 08:40:30.500000"},
	{call: `dbt.dateadd('month', 1, "DATE '2026-01-31'")`, want: "2026-02-28 00:00:00"},
	{call: `dbt.datediff("TIMESTAMP '2026-03-01 10:00:00'", ` + ts + `, 'second')`, want: "630"},
	{call: `dbt.datediff("TIMESTAMP '2026-03-01 10:59:59.9'", "TIMESTAMP '2026-03-01 11:00:00.1'", 'second')`, want: "1"},
	{call: `dbt.datediff("TIMESTAMP '2026-03-01 23:50:00'", "TIMESTAMP '2026-03-02 00:15:00'", 'hour')`, want: "1"},
	{call: `dbt.datediff("DATE '2026-02-27'", "DATE '2026-03-02'", 'day')`, want: "3"},
	{call: `dbt.datediff("DATE '2026-02-27'", "DATE '2026-03-02'", 'week')`, want: "1"},
	{call: `dbt.datediff("DATE '2025-12-31'", "DATE '2026-03-02'", 'month')`, want: "3"},
	{call: `dbt.datediff("DATE '2025-12-31'", "DATE '2026-03-02'", 'year')`, want: "1"},
	{call: `dbt.date_trunc('day', ` + ts + `)`, want: "2026-03-01 00:00:00"},
	{call: `dbt.date_trunc('hour', ` + ts + `)`, want: "2026-03-01 10:00:00"},
	{call: `dbt.date_trunc('month', "DATE '2026-03-17'")`, want: "2026-03-01 00:00:00"},
	{call: `dbt.last_day("DATE '2026-02-10'", 'month')`, want: "2026-02-28"},
	{call: `dbt.safe_divide('10', '4')`, want: "2.5"},
	{call: `dbt.safe_divide('10', '0')`, want: "NULL"},
	{call: `dbt.cast("'42'", dbt.type_int())`, want: "42"},
	{call: `dbt.cast_bool_to_text('1 < 2')`, want: "true"},
	{call: `dbt.string_literal("it's")`, want: "it's"},
	{call: `dbt.escape_single_quotes("it's")`},
	{call: `dbt.concat(["'a'", "'-'", "'b'"])`, want: "a-b"},
	{call: `dbt.hash("'abc'")`, want: "900150983cd24fb0d6963f7d28e17f72"},
	{call: `dbt.listagg('x', "', '", 'order by x')`, from: "(VALUES ('b'), ('a'), ('c')) AS t(x)", want: "a, b, c"},
	{call: `dbt.any_value('x')`, from: "(VALUES ('a'), ('a')) AS t(x)", want: "a"},
	{call: `dbt.bool_or('x > 2')`, from: "(VALUES (1), (3)) AS t(x)", want: "true"},
	{call: `dbt.split_part("'a,b,c'", "','", 2)`, want: "b"},
	{call: `dbt.replace("'a-b'", "'-'", "'+'")`, want: "a+b"},
	{call: `dbt.length("'héllo'")`, want: "5"},
	{call: `dbt.position("'b'", "'abc'")`, want: "2"},
	{call: `dbt.right("'abcdef'", 2)`, want: "ef"},
	{call: `dbt.date_spine('day', "DATE '2026-03-01'", "DATE '2026-03-04'")`, query: true, want: "2026-03-01 2026-03-02 2026-03-03"},
	{call: `dbt.date_spine('hour', "TIMESTAMP '2026-03-01 22:00:00'", "TIMESTAMP '2026-03-02 00:00:00'")`, query: true, want: "2026-03-01 22:00:00 2026-03-01 23:00:00"},
	{call: `dbt_utils.generate_series(3)`, query: true, want: "1 2 3"},
	{call: `dbt.generate_series(2)`, query: true, want: "1 2"},
	{call: `dbt_utils.date_spine('month', "DATE '2026-01-15'", "DATE '2026-03-01'")`, query: true, want: "2026-01-15 2026-02-15"},
	{call: `cartwheel.to_date(` + ts + `)`, want: "2026-03-01"},
	{call: `cartwheel.date_part('year', "DATE '2026-03-01'")`, want: "2026"},
	{call: `cartwheel.date_part('quarter', "DATE '2026-03-01'")`, want: "1"},
	{call: `cartwheel.date_part('week', "DATE '2026-03-01'")`, want: "9"},
	{call: `cartwheel.date_part('isodow', "DATE '2026-03-01'")`, want: "7"},
	{call: `cartwheel.date_part('dow', "DATE '2026-03-01'")`, want: "0"},
	{call: `cartwheel.percent(1, 3)`, want: "33.33"},
	{call: `cartwheel.percent(2, 3)`, want: "66.67"},
	{call: `cartwheel.percent(1, 8)`, want: "12.50"},
	{call: `cartwheel.percent('29.97 - 40.00', '40.00')`, want: "-25.08"},
	{call: `cartwheel.percent('0.01', '40.00')`, want: "0.03"},
	{call: `cartwheel.percent(3, 20000)`, want: "0.02"},
	{call: `cartwheel.percent(1, 0)`, want: "NULL"},
	{call: `cartwheel.percent('NULL', 5)`, want: "NULL"},
	{call: `cartwheel.latest('d', 't')`, from: "(VALUES ('a', TIMESTAMP '2026-03-01 10:00:00'), (NULL, TIMESTAMP '2026-03-01 12:00:00'), ('c', TIMESTAMP '2026-03-01 11:00:00'), ('b', TIMESTAMP '2026-03-01 11:00:00')) AS v(d, t)", want: "c"},
}

// renderMacro renders one call for a dialect.
func renderMacro(t *testing.T, p *Project, d warehouse.Dialect, call string) string {
	t.Helper()
	src := "{{ " + call + " }}"
	tpl, err := p.eng.parse("macro_test.sql", src)
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
	out, err := p.eng.render(&renderState{p: p, dialect: d}, tpl, "macro_test.sql", src)
	if err != nil {
		t.Fatalf("%s on %s: %v", call, d, err)
	}
	return out
}

// TestMacrosGolden renders every cross-database macro for DuckDB,
// PostgreSQL and Redshift and compares with testdata/macros/<dialect>.sql
// (go test -run MacrosGolden -update rewrites them).
func TestMacrosGolden(t *testing.T) {
	p := load(t, map[string]string{})
	covered := map[string]bool{}
	for _, d := range []warehouse.Dialect{warehouse.DuckDB, warehouse.Postgres, warehouse.Redshift} {
		var b strings.Builder
		fmt.Fprintf(&b, "-- The cross-database macros rendered for %s (generated by TestMacrosGolden -update).\n", d)
		for _, c := range macroCases {
			fmt.Fprintf(&b, "\n-- {{ %s }}\n%s\n", c.call, renderMacro(t, p, d, c.call))
			covered[strings.SplitN(c.call, "(", 2)[0]] = true
		}
		file := filepath.Join("testdata", "macros", string(d)+".sql")
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if string(want) != b.String() {
			t.Errorf("%s differs from the rendered macros (run with -update after checking):\n%s", file, diffRows([][]string{strings.Split(string(want), "\n")}, [][]string{strings.Split(b.String(), "\n")}))
		}
	}
	for _, name := range MacroNames() {
		if !covered[name] {
			t.Errorf("macro %s has no golden case", name)
		}
	}
}

// TestMacrosRunOnDuckDB runs the DuckDB rendering of every macro and checks
// its value.
func TestMacrosRunOnDuckDB(t *testing.T) {
	p := load(t, map[string]string{})
	db := openDuckDB(t)
	for _, c := range macroCases {
		if c.want == "" {
			continue
		}
		sql := renderMacro(t, p, warehouse.DuckDB, c.call)
		q := "SELECT " + sql
		if c.from != "" {
			q += " FROM " + c.from
		}
		if c.query {
			q = "SELECT * FROM (" + sql + ") AS q ORDER BY 1"
		}
		res, err := db.Query(context.Background(), q)
		if err != nil {
			t.Errorf("%s: %v\n%s", c.call, err, q)
			continue
		}
		var got []string
		for _, r := range res.Rows {
			got = append(got, formatValue(r[0], res.Columns[0].Kind))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s = %q, want %q\n%s", c.call, g, c.want, q)
		}
	}
}
