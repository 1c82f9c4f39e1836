package models

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func loadErr(t *testing.T, files map[string]string) error {
	t.Helper()
	_, err := Load(mapProject(files))
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	return err
}

func TestTemplateErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  TemplateError
	}{
		{
			name: "typo in ref",
			files: map[string]string{
				"models/stg_events.sql": "select 1 as id\n",
				"models/dim.sql":        "select *\nfrom {{ ref('stg_evnts') }}\n",
			},
			want: TemplateError{File: "models/dim.sql", Line: 2, Col: 9,
				Msg: `ref("stg_evnts"): no model or seed named "stg_evnts" (did you mean "stg_events"?)`},
		},
		{
			name: "unknown source",
			files: map[string]string{
				"models/sources.yml": "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: events\n",
				"models/s.sql":       "select 1\n-- x\nfrom {{ source('shop', 'event') }}\n",
			},
			want: TemplateError{File: "models/s.sql", Line: 3, Col: 9,
				Msg: `source("shop", "event"): no such source table (did you mean "shop.events"?)`},
		},
		{
			name:  "syntax error",
			files: map[string]string{"models/m.sql": "select\n  {{ ref('a' }}\n"},
			want:  TemplateError{File: "models/m.sql", Line: 2, Col: 14, Msg: `syntax error: expected either a number, string, keyword or identifier. (near "}}")`},
		},
		{
			name:  "unclosed block",
			files: map[string]string{"models/m.sql": "select 1\n{% if true %}\nwhere 1 = 1\n"},
			want:  TemplateError{File: "models/m.sql", Line: 4, Col: 1, Msg: "syntax error: Unexpected EOF, expected tag elif or else or endif."},
		},
		{
			name:  "undefined name",
			files: map[string]string{"models/m.sql": "select 1\nfrom {{ reff('a') }}\n"},
			want:  TemplateError{File: "models/m.sql", Line: 2, Col: 6, Msg: "reff is not callable"},
		},
		{
			name:  "bad macro argument",
			files: map[string]string{"models/m.sql": "select\n  {{ dbt.datediff('a', 'b', 'fortnight') }}\n"},
			want:  TemplateError{File: "models/m.sql", Line: 2, Col: 3, Msg: `dbt.datediff: unknown date part "fortnight" (want year, quarter, month, week, day, hour, minute, second, millisecond or microsecond)`},
		},
		{
			name:  "missing var",
			files: map[string]string{"models/m.sql": "select {{ var('days') }}\n"},
			want:  TemplateError{File: "models/m.sql", Line: 1, Col: 8, Msg: `required variable "days" is not set (set it under vars: in dbt_project.yml or pass it with --vars)`},
		},
		{
			name: "bad ref in a relationships test",
			files: map[string]string{
				"models/a.sql":      "select 1 as id\n",
				"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests:\n          - relationships:\n              to: ref('b')\n              field: id\n",
			},
			want: TemplateError{File: "models/schema.yml#relationships_a_id__id__ref_b_", Line: 7, Msg: `ref("b"): no model or seed named "b" (did you mean "a"?)`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := loadErr(t, c.files)
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("%T %v, want a *TemplateError", err, err)
			}
			if te.File != c.want.File || te.Line != c.want.Line || (c.want.Col != 0 && te.Col != c.want.Col) || (c.want.Msg != "" && te.Msg != c.want.Msg) {
				t.Errorf("got  %s (col %d)\nwant %s (col %d)", te, te.Col, &c.want, c.want.Col)
			}
		})
	}
}

func TestCycleError(t *testing.T) {
	err := loadErr(t, map[string]string{
		"models/a.sql": "select * from {{ ref('c') }}",
		"models/b.sql": "select * from {{ ref('a') }}",
		"models/c.sql": "select * from {{ ref('b') }}",
		"models/d.sql": "select * from {{ ref('a') }}",
	})
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("%T %v, want a *CycleError", err, err)
	}
	if got := err.Error(); got != "dependency cycle: a -> c -> b -> a" {
		t.Errorf("error %q", got)
	}
	// A model that refs itself.
	err = loadErr(t, map[string]string{"models/a.sql": "select * from {{ ref('a') }}"})
	if err.Error() != "dependency cycle: a -> a" {
		t.Errorf("error %q", err)
	}
}

func TestProjectFileErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"bad YAML", map[string]string{
			"models/a.sql":      "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n     description: oops\n",
		}, "models/schema.yml:6: invalid YAML: did not find expected key"},
		{"wrong YAML type", map[string]string{
			"models/a.sql":      "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns: id\n",
		}, "models/schema.yml:4: invalid YAML: cannot unmarshal !!str `id` into []models.columnProps"},
		{"bad dbt_project.yml", map[string]string{
			"dbt_project.yml": "name: [t\n",
		}, "dbt_project.yml:1: invalid YAML: did not find expected ',' or ']'"},
		{"unknown model in properties", map[string]string{
			"models/orders.sql": "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: order\n    description: x\n",
		}, `models/schema.yml:3: model "order" is described here but there is no such model (did you mean "orders"?)`},
		{"unknown test", map[string]string{
			"models/a.sql":      "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [uniq]\n",
		}, "models/schema.yml:6: test uniq on a: unknown test (want not_null, unique, accepted_values or relationships; write other checks as singular tests in tests/)"},
		{"bad materialization", map[string]string{
			"models/a.sql": "{{ config(materialized='tabel') }}select 1",
		}, `models/a.sql: a: unknown materialization "tabel" (want view, table, incremental or ephemeral)`},
		{"incremental merge without key", map[string]string{
			"models/a.sql": "{{ config(materialized='incremental', incremental_strategy='merge') }}select 1",
		}, `models/a.sql: a: incremental_strategy "merge" needs a unique_key`},
		{"bad severity", map[string]string{
			"models/a.sql":      "select 1 as id",
			"models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests:\n          - unique:\n              severity: fatal\n",
		}, `models/schema.yml:7: unique_a_id: severity must be warn or error, got "fatal"`},
		{"duplicate names", map[string]string{
			"models/x/a.sql": "select 1", "models/y/a.sql": "select 2",
		}, `models/y/a.sql: two nodes are named "a" (the other is models/x/a.sql)`},
		{"bad seed", map[string]string{
			"seeds/s.csv": "a,b\n1,\"2\n",
		}, "seeds/s.csv:2: invalid CSV: extraneous or missing \" in quoted-field"},
		{"ref to a disabled model", map[string]string{
			"models/a.sql": "{{ config(enabled=false) }}select 1", "models/b.sql": "select * from {{ ref('a') }}",
		}, "models/b.sql: b depends on model.t.a, which is disabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := loadErr(t, c.files)
			if err.Error() != c.want {
				t.Errorf("got  %s\nwant %s", err, c.want)
			}
		})
	}
}

// Several errors are reported together, one per line.
func TestLoadReportsEveryError(t *testing.T) {
	err := loadErr(t, map[string]string{
		"models/a.sql": "select * from {{ ref('x') }}",
		"models/b.sql": "select * from {{ ref('y') }}",
	})
	if n := strings.Count(err.Error(), "\n"); n != 1 {
		t.Errorf("want two lines:\n%s", err)
	}
}

func TestInjectCTEs(t *testing.T) {
	c := []cte{{name: "e", sql: "select 1 as x"}}
	cases := map[string]string{
		"select * from e":                               "with e as (\nselect 1 as x\n)\nselect * from e",
		"WITH a AS (select 2) select * from a, e":       "WITH\ne as (\nselect 1 as x\n), a AS (select 2) select * from a, e",
		"-- c\nwith recursive r as (select 1) select 1": "-- c\nwith recursive\ne as (\nselect 1 as x\n), r as (select 1) select 1",
		"/* x */ withdrawals_view":                      "/* x */ with e as (\nselect 1 as x\n)\nwithdrawals_view",
		"-- c\rwith r as (select 1) select 1":           "-- c\rwith\ne as (\nselect 1 as x\n), r as (select 1) select 1",
	}
	for in, want := range cases {
		if got := injectCTEs(in, c); got != want {
			t.Errorf("injectCTEs(%q) =\n%s\nwant\n%s", in, got, want)
		}
	}
}

// Project macros are global (no import), can call each other, the
// cross-database macros and ref.
func TestProjectMacros(t *testing.T) {
	p := load(t, map[string]string{
		"macros/a.sql":    "{% macro cents(x) %}cast({{ x }} * 100 as {{ dbt.type_bigint() }}){% endmacro %}",
		"macros/b.sql":    "{% macro total(col) %}sum({{ cents(col) }}) from {{ ref('base') }}{% endmacro %}",
		"models/base.sql": "select 1.25 as amount",
		"models/sum.sql":  "select {{ total('amount') }}",
	})
	sql, err := Compile(context.Background(), nil, p, "sum")
	if err != nil {
		t.Fatal(err)
	}
	if sql != "select sum(cast(amount * 100 as BIGINT)) from base\n" {
		t.Errorf("compiled %q", sql)
	}
	if deps := p.Node("sum").DependsOn; len(deps) != 1 || deps[0] != "model.t.base" {
		t.Errorf("a ref inside a macro is a dependency: %v", deps)
	}
}
