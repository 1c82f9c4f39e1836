package models

import (
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/project"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// fuzzProject is the built-in project, loaded once per fuzzing process:
// loading parses every template, which would dominate each input's cost.
var fuzzProject = sync.OnceValues(func() (*Project, error) { return Load(project.FS) })

func loadFuzzProject(t *testing.T) *Project {
	t.Helper()
	p, err := fuzzProject()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzSelector feeds selector strings (`-s`/`--exclude`) to the selection
// parser. Properties, on the built-in project's graph: it never panics; it
// selects only nodes of the project; a space-separated list is the union
// of its terms and a comma-separated term the intersection of its atoms;
// "+x" and "x+" contain x; --exclude removes exactly what it matches;
// and the same selector selects the same nodes every time.
func FuzzSelector(f *testing.F) {
	for _, s := range []string{
		"", "fct_daily_revenue", "+fct_daily_revenue", "stg_events+", "+dim_users+", "2+fct_conversion_funnel+1",
		"@stg_sessions", "tag:daily", "tag:*", "path:models/staging", "models/marts/fct_daily_revenue.sql",
		"source:cartwheel", "source:cartwheel.events", "resource_type:test", "test_type:generic", "test_type:singular",
		"test_name:not_null", "config.materialized:incremental", "stg_*", "stg_events,tag:staging",
		"stg_events dim_users", "+", "++", "@", "@+x+", "1+", "+1", "99999999999999999999+stg_events", ",", "a,,b",
		"unknown:x", "path:", "path:../..", "name:[", "tag:[a-", "fqn:*", "file:stg_events.sql", "source:*.*",
	} {
		f.Add(s, "")
		f.Add(s, "tag:staging")
	}
	f.Fuzz(func(t *testing.T, sel, excl string) {
		p := loadFuzzProject(t)
		got, excluded, _, err := p.selectNodes([]string{sel}, []string{excl})
		again, _, _, err2 := p.selectNodes([]string{sel}, []string{excl})
		if (err == nil) != (err2 == nil) || !maps.Equal(got, again) {
			t.Fatalf("selectNodes(%q, %q) is not deterministic: %v, %v / %v, %v", sel, excl, got, err, again, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("selectNodes(%q): empty error", sel)
			}
			return
		}
		for id := range got {
			if p.Nodes[id] == nil {
				t.Fatalf("selectNodes(%q) selected %q, not a node of the project", sel, id)
			}
			if excluded[id] {
				t.Fatalf("selectNodes(%q, %q) kept excluded node %q", sel, excl, id)
			}
		}
		terms := strings.Fields(sel)
		if len(terms) == 0 {
			return
		}
		// Without excludes: the union of the terms, each the intersection
		// of its atoms.
		all, _, _, err := p.selectNodes([]string{sel}, nil)
		if err != nil {
			t.Fatalf("selectNodes(%q) failed only without excludes: %v", sel, err)
		}
		union := map[string]bool{}
		for _, term := range terms {
			m, err := p.term(term)
			if err != nil {
				t.Fatalf("selectNodes(%q) succeeded but its term %q fails: %v", sel, term, err)
			}
			maps.Copy(union, m)
			atoms := strings.Split(term, ",")
			inter, _ := p.atom(atoms[0])
			for _, a := range atoms[1:] {
				m, _ := p.atom(a)
				for id := range inter {
					if !m[id] {
						delete(inter, id)
					}
				}
			}
			if !maps.Equal(inter, m) {
				t.Fatalf("term %q = %v, not the intersection of its atoms %v", term, m, inter)
			}
		}
		if !maps.Equal(all, union) {
			t.Fatalf("selectNodes(%q) = %v, not the union of its terms %v", sel, all, union)
		}
		// A graph operator only adds to what the bare selector matches.
		if len(terms) == 1 && !strings.ContainsAny(sel, "+@,") {
			base, term := all, terms[0] // the term without the blanks around it
			for _, op := range []string{"+" + term, term + "+", "@" + term} {
				m, err := p.term(op)
				if err != nil {
					continue
				}
				for id := range base {
					if !m[id] {
						t.Fatalf("%q lacks %q, which %q selects", op, id, sel)
					}
				}
			}
		}
	})
}

// templateSeeds are model bodies: the built-in project's constructs, and
// broken ones.
var templateSeeds = []string{
	"SELECT 1",
	"{{ config(materialized='table') }} SELECT * FROM {{ ref('stg_events') }}",
	"SELECT * FROM {{ source('cartwheel', 'events') }} WHERE event_time < {{ var('snapshot_at', 'now()') }}",
	"{% if is_incremental() %} WHERE x > (SELECT max(x) FROM {{ this }}) {% endif %}",
	"{% for t in ['a', 'b'] %}{{ t }}{% if not loop.last %}, {% endif %}{% endfor %}",
	"{% set xs = {'a': 1, 'b': 2, 'c': 3} %}{% for k, v in xs.items() %}{{ k }}={{ v }};{% endfor %}",
	"{{ dateadd('day', 1, 'event_time') }} {{ date_trunc('day', 'event_time') }} {{ safe_divide('a', 'b') }}",
	"{{ target.name }} {{ target.schema }} {{ project_name }} {{ model.name }}",
	"{{ ref('stg_evnts') }}", "{{ ref() }}", "{{ var('nope') }}", "{{ exceptions.raise_compiler_error('no') }}",
	"{{ undefined_thing }}", "{{ 1 / 0 }}", "{% if %}", "{% for %}", "{{", "}}", "{% endif %}", "{# unclosed",
	"{% macro m(x) %}{{ x }}{% endmacro %}{{ m(1) }}", "{{ 'a' ~ 1 ~ none }}", "{{ [1,2,3] | join(',') }}",
	"{{ env_var('CARTWHEEL_FUZZ_UNSET', 'd') }}", "{{ log('x') }}{{ exceptions.warn('w') }}",
	"{% raw %}{{ not rendered }}{% endraw %}", "{{ \"\\u00e9\" | upper }}", "{{ {'a': [1, {'b': none}]} }}",
}

// FuzzTemplate parses and renders model templates as a model of the
// built-in project, for each dialect. Properties: no panic (an error is an
// error, with a message); a template that renders renders the same SQL
// every time.
func FuzzTemplate(f *testing.F) {
	for _, s := range templateSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		// Templates are the project author's code, not user input: a loop
		// over range(10**9) or a string repeated a billion times is a slow
		// template, not a bug, so such inputs are out of scope, and so is
		// recursion (a macro calling itself), which Go cannot bound.
		if len(src) > 2048 || strings.Contains(src, "range") || strings.Contains(src, "*") || strings.Contains(src, "macro") ||
			strings.Contains(src, "call") || strings.Contains(src, "recursive") || strings.Contains(src, "include") ||
			strings.Contains(src, "import") || strings.Contains(src, "extends") || strings.Contains(src, "batch") ||
			strings.Contains(src, "center") || strings.Contains(src, "indent") || strings.Contains(src, "format") {
			return
		}
		p := loadFuzzProject(t)
		n := p.byName["fct_daily_revenue"]
		if n == nil {
			t.Fatal("the built-in project has no fct_daily_revenue")
		}
		// A fixed virtual file name: parse records the source under it.
		const file = "models/fuzz/fuzz_input.sql"
		tpl, err := p.eng.parse(file, src)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("parse(%q): empty error", src)
			}
			return
		}
		for _, d := range []warehouse.Dialect{warehouse.DuckDB, warehouse.Postgres, warehouse.Redshift} {
			var outs [2]string
			var errs [2]error
			for i := range outs {
				st := &renderState{p: p, node: n, dialect: d, vars: map[string]any{"snapshot_at": nil}}
				outs[i], errs[i] = p.eng.render(st, tpl, file, src)
			}
			if (errs[0] == nil) != (errs[1] == nil) || outs[0] != outs[1] {
				t.Fatalf("rendering %q for %s twice differs: %q (%v) / %q (%v)", src, d, outs[0], errs[0], outs[1], errs[1])
			}
			if errs[0] != nil && errs[0].Error() == "" {
				t.Fatalf("render(%q): empty error", src)
			}
		}
	})
}
