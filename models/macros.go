package models

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// The cross-database macros. Each one renders SQL for one dialect; models
// call them as {{ dbt.datediff("a", "b", "second") }} so that the same model
// SQL runs on DuckDB, PostgreSQL and Redshift. Arguments are SQL text, as in
// dbt: column names and expressions are passed as strings.

// param is a macro parameter; a parameter with a default is optional.
type param struct {
	name string
	def  *string
}

func req(name string) param                 { return param{name: name} }
func opt(name, def string) param            { return param{name: name, def: &def} }
func optNone(name string) param             { return param{name: name, def: new(string)} }
func params(ps ...param) []param            { return ps }
func ident(s string) string                 { return strings.ToLower(strings.Trim(strings.TrimSpace(s), `'"`)) }
func literal(s string) string               { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func paren(s string) string                 { return "(" + s + ")" }
func castAs(x, typ string) string           { return "CAST(" + x + " AS " + typ + ")" }
func unsupported(d warehouse.Dialect) error { return fmt.Errorf("not supported on %s", d) }

// macroArgs are the bound arguments of one call.
type macroArgs struct {
	vals map[string]*exec.Value
	has  map[string]bool
}

func (a macroArgs) str(name string) string {
	v := a.vals[name]
	if v == nil || v.IsNil() {
		return ""
	}
	return v.String()
}

// list returns a list argument (or a single value as a one-element list).
func (a macroArgs) list(name string) []string {
	v := a.vals[name]
	if v == nil || v.IsNil() {
		return nil
	}
	if v.IsList() {
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, v.Index(i).String())
		}
		return out
	}
	return []string{v.String()}
}

type macro struct {
	params []param
	doc    string
	render func(d warehouse.Dialect, a macroArgs) (string, error)
}

// bind matches a call's positional and keyword arguments to the parameters.
func (m *macro) bind(name string, va *exec.VarArgs) (macroArgs, error) {
	a := macroArgs{vals: map[string]*exec.Value{}, has: map[string]bool{}}
	if len(va.Args) > len(m.params) {
		return a, fmt.Errorf("%s takes at most %d arguments, got %d", name, len(m.params), len(va.Args))
	}
	for i, v := range va.Args {
		a.vals[m.params[i].name] = v
		a.has[m.params[i].name] = true
	}
	for k, v := range va.KwArgs {
		i := slices.IndexFunc(m.params, func(p param) bool { return p.name == k })
		if i < 0 {
			return a, fmt.Errorf("%s has no argument %q", name, k)
		}
		if a.has[k] {
			return a, fmt.Errorf("%s got argument %q twice", name, k)
		}
		a.vals[k] = v
		a.has[k] = true
	}
	for _, p := range m.params {
		if a.has[p.name] {
			continue
		}
		if p.def == nil {
			return a, fmt.Errorf("%s: missing argument %q", name, p.name)
		}
		if *p.def != "" {
			a.vals[p.name] = exec.AsValue(*p.def)
		}
	}
	return a, nil
}

// namespace is the object behind `dbt` and `cartwheel` in templates.
type namespace struct {
	name    string
	dialect warehouse.Dialect
	macros  map[string]*macro
	// onError records a failing call for the error message (the template
	// engine keeps only its text).
	onError func(error)
}

// GetAttribute implements exec.AttributeGetter.
func (ns *namespace) GetAttribute(attr string) (*exec.Value, bool) {
	m, ok := ns.macros[attr]
	if !ok {
		return nil, false
	}
	full := ns.name + "." + attr
	return exec.AsValue(func(va *exec.VarArgs) (string, error) {
		a, err := m.bind(full, va)
		if err == nil {
			var sql string
			sql, err = m.render(ns.dialect, a)
			if err == nil {
				return sql, nil
			}
			err = fmt.Errorf("%s: %w", full, err)
		}
		if ns.onError != nil {
			ns.onError(err)
		}
		return "", err
	}), true
}

func (ns *namespace) String() string { return ns.name }

// datepart validates and normalises a date part name.
func datepart(s string) (string, error) {
	p := ident(s)
	switch p {
	case "year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond":
		return p, nil
	}
	return "", fmt.Errorf("unknown date part %q (want year, quarter, month, week, day, hour, minute, second, millisecond or microsecond)", s)
}

func typeFor(d warehouse.Dialect, duck, pg, rs string) string {
	switch d {
	case warehouse.Postgres:
		return pg
	case warehouse.Redshift:
		return rs
	}
	return duck
}

func constant(duck, pg, rs, doc string) *macro {
	return &macro{doc: doc, render: func(d warehouse.Dialect, _ macroArgs) (string, error) {
		return typeFor(d, duck, pg, rs), nil
	}}
}

// dbtMacros are named and behave as dbt's cross-database macros (plus
// dbt_utils' date_spine and generate_series).
var dbtMacros = map[string]*macro{
	"type_string":    constant("VARCHAR", "TEXT", "VARCHAR(65535)", "the text type"),
	"type_timestamp": constant("TIMESTAMP", "TIMESTAMP", "TIMESTAMP", "the timestamp (without time zone) type"),
	"type_numeric":   constant("DECIMAL(28,6)", "NUMERIC(28,6)", "NUMERIC(28,6)", "an exact numeric type"),
	"type_int":       constant("INTEGER", "INTEGER", "INTEGER", "the 32-bit integer type"),
	"type_bigint":    constant("BIGINT", "BIGINT", "BIGINT", "the 64-bit integer type"),
	"type_float":     constant("DOUBLE", "DOUBLE PRECISION", "DOUBLE PRECISION", "the 64-bit float type"),
	"type_boolean":   constant("BOOLEAN", "BOOLEAN", "BOOLEAN", "the boolean type"),
	"current_timestamp": constant("CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)", "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)", "GETDATE()",
		"the current time, UTC, as a TIMESTAMP"),

	"dateadd": {
		params: params(req("datepart"), req("interval"), req("from_date_or_timestamp")),
		doc:    "from_date_or_timestamp plus interval dateparts (a TIMESTAMP)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			p, err := datepart(a.str("datepart"))
			if err != nil {
				return "", err
			}
			return dateaddSQL(d, p, a.str("interval"), a.str("from_date_or_timestamp")), nil
		},
	},
	"datediff": {
		params: params(req("first_date"), req("second_date"), req("datepart")),
		doc:    "the number of datepart boundaries crossed from first_date to second_date (a BIGINT)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			p, err := datepart(a.str("datepart"))
			if err != nil {
				return "", err
			}
			first, second := a.str("first_date"), a.str("second_date")
			switch d {
			case warehouse.Postgres:
				return castAs(pgDatediff(first, second, p), "BIGINT"), nil
			case warehouse.Redshift:
				return fmt.Sprintf("DATEDIFF(%s, %s, %s)", p, first, second), nil
			}
			if p == "week" {
				// DuckDB counts whole 7-day spans; count week boundaries
				// like the other dialects.
				return fmt.Sprintf("date_diff('week', date_trunc('week', %s), date_trunc('week', %s))", first, second), nil
			}
			return fmt.Sprintf("date_diff('%s', %s, %s)", p, first, second), nil
		},
	},
	"date_trunc": {
		params: params(req("datepart"), req("date")),
		doc:    "date truncated to the datepart (a TIMESTAMP)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			p, err := datepart(a.str("datepart"))
			if err != nil {
				return "", err
			}
			return dateTruncSQL(d, p, a.str("date")), nil
		},
	},
	"last_day": {
		params: params(req("date"), req("datepart")),
		doc:    "the last day of the datepart (month, quarter, year) that contains date (a DATE)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			p, err := datepart(a.str("datepart"))
			if err != nil {
				return "", err
			}
			next := dateaddSQL(d, p, "1", dateTruncSQL(d, p, a.str("date")))
			return castAs(dateaddSQL(d, "day", "-1", next), "DATE"), nil
		},
	},
	"safe_divide": {
		params: params(req("numerator"), req("denominator")),
		doc:    "numerator / denominator, NULL when the denominator is 0",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return fmt.Sprintf("(%s) / NULLIF(%s, 0)", a.str("numerator"), a.str("denominator")), nil
		},
	},
	"cast": {
		params: params(req("field"), req("type")),
		doc:    "CAST(field AS type)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return castAs(a.str("field"), a.str("type")), nil
		},
	},
	"cast_bool_to_text": {
		params: params(req("field")),
		doc:    "a boolean as 'true' or 'false'",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			f := a.str("field")
			if d == warehouse.Redshift {
				// Redshift cannot cast a boolean to text.
				return fmt.Sprintf("CASE WHEN %s THEN 'true' WHEN NOT %s THEN 'false' END", f, f), nil
			}
			return castAs(f, typeFor(d, "VARCHAR", "TEXT", "")), nil
		},
	},
	"string_literal": {
		params: params(req("value")),
		doc:    "value as a quoted SQL string literal",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) { return literal(a.str("value")), nil },
	},
	"escape_single_quotes": {
		params: params(req("expression")),
		doc:    "expression with single quotes doubled",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return strings.ReplaceAll(a.str("expression"), "'", "''"), nil
		},
	},
	"concat": {
		params: params(req("fields")),
		doc:    "the fields (a list) concatenated with ||",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			fs := a.list("fields")
			if len(fs) == 0 {
				return "", fmt.Errorf("no fields")
			}
			return paren(strings.Join(fs, " || ")), nil
		},
	},
	"hash": {
		params: params(req("field")),
		doc:    "the MD5 of field as text (32 hex digits)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return "md5(" + castAs(a.str("field"), typeFor(d, "VARCHAR", "TEXT", "VARCHAR")) + ")", nil
		},
	},
	"listagg": {
		params: params(req("measure"), opt("delimiter_text", "','"), optNone("order_by_clause"), optNone("limit_num")),
		doc:    "the values of measure joined with delimiter_text (a SQL string literal), optionally ordered",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			if a.str("limit_num") != "" {
				return "", fmt.Errorf("limit_num is not supported")
			}
			m, delim, order := a.str("measure"), a.str("delimiter_text"), a.str("order_by_clause")
			if d == warehouse.Redshift {
				s := fmt.Sprintf("LISTAGG(%s, %s)", m, delim)
				if order != "" {
					s += " WITHIN GROUP (" + order + ")"
				}
				return s, nil
			}
			if order != "" {
				return fmt.Sprintf("string_agg(%s, %s %s)", m, delim, order), nil
			}
			return fmt.Sprintf("string_agg(%s, %s)", m, delim), nil
		},
	},
	"any_value": {
		params: params(req("expression")),
		doc:    "any one value of expression in the group",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			if d == warehouse.Postgres {
				return "min(" + a.str("expression") + ")", nil
			}
			return "any_value(" + a.str("expression") + ")", nil
		},
	},
	"bool_or": {
		params: params(req("expression")),
		doc:    "true when expression is true for any row of the group",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return "bool_or(" + a.str("expression") + ")", nil
		},
	},
	"split_part": {
		params: params(req("string_text"), req("delimiter_text"), req("part_number")),
		doc:    "the part_number-th (1-based) part of string_text split on delimiter_text",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return fmt.Sprintf("split_part(%s, %s, %s)", a.str("string_text"), a.str("delimiter_text"), a.str("part_number")), nil
		},
	},
	"replace": {
		params: params(req("field"), req("old_chars"), req("new_chars")),
		doc:    "field with every old_chars replaced by new_chars",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return fmt.Sprintf("replace(%s, %s, %s)", a.str("field"), a.str("old_chars"), a.str("new_chars")), nil
		},
	},
	"length": {
		params: params(req("expression")),
		doc:    "the length of a string in characters",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return "length(" + a.str("expression") + ")", nil
		},
	},
	"position": {
		params: params(req("substring_text"), req("string_text")),
		doc:    "the 1-based position of substring_text in string_text, 0 when absent",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return fmt.Sprintf("position(%s IN %s)", a.str("substring_text"), a.str("string_text")), nil
		},
	},
	"right": {
		params: params(req("string_text"), req("length_expression")),
		doc:    "the last length_expression characters of string_text",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return fmt.Sprintf("right(%s, %s)", a.str("string_text"), a.str("length_expression")), nil
		},
	},
	"date_spine": dateSpine,
	"generate_series": {
		params: params(req("upper_bound")),
		doc:    "a query of generated_number from 1 to upper_bound (Redshift: at most 1,000,000)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			n := a.str("upper_bound")
			switch d {
			case warehouse.Postgres:
				return fmt.Sprintf("SELECT generate_series(1, %s) AS generated_number", n), nil
			case warehouse.Redshift:
				return fmt.Sprintf("SELECT n.n + 1 AS generated_number FROM %s AS n WHERE n.n < %s", redshiftNumbers(), n), nil
			}
			return fmt.Sprintf("SELECT range AS generated_number FROM range(1, (%s) + 1)", n), nil
		},
	},
}

func dateaddSQL(d warehouse.Dialect, p, n, from string) string {
	switch d {
	case warehouse.Postgres:
		return fmt.Sprintf("(%s + ((INTERVAL '1 %s') * (%s)))", from, p, n)
	case warehouse.Redshift:
		return fmt.Sprintf("DATEADD(%s, %s, %s)", p, n, from)
	}
	return fmt.Sprintf("(%s + INTERVAL (%s) %s)", from, n, p)
}

func dateTruncSQL(d warehouse.Dialect, p, x string) string {
	if d == warehouse.Postgres {
		// date_trunc(text, date) would go through timestamptz.
		x = castAs(x, "TIMESTAMP")
	}
	return fmt.Sprintf("date_trunc('%s', %s)", p, x)
}

// dateSpine renders dbt_utils.date_spine: one row per datepart from
// start_date (inclusive) to end_date (exclusive), in a column named
// date_<datepart>; DATE for day and longer parts, TIMESTAMP otherwise. The
// bounds may be scalar subqueries.
var dateSpine = &macro{
	params: params(req("datepart"), req("start_date"), req("end_date")),
	doc:    "a query with one row per datepart in [start_date, end_date), column date_<datepart> (Redshift: at most 1,000,000 rows)",
	render: func(d warehouse.Dialect, a macroArgs) (string, error) {
		p, err := datepart(a.str("datepart"))
		if err != nil {
			return "", err
		}
		typ := "DATE"
		switch p {
		case "hour", "minute", "second", "millisecond", "microsecond":
			typ = "TIMESTAMP"
		}
		start, end := castAs(a.str("start_date"), "TIMESTAMP"), castAs(a.str("end_date"), "TIMESTAMP")
		col := "date_" + p
		switch d {
		case warehouse.Postgres:
			return fmt.Sprintf("SELECT CAST(spine.d AS %s) AS %s FROM generate_series(%s, %s, INTERVAL '1 %s') AS spine(d) WHERE spine.d < %s",
				typ, col, start, end, p, end), nil
		case warehouse.Redshift:
			// No generate_series over tables: a cross join of digits.
			at := fmt.Sprintf("DATEADD(%s, n.n, %s)", p, start)
			return fmt.Sprintf("SELECT CAST(%s AS %s) AS %s FROM %s AS n WHERE %s < %s", at, typ, col, redshiftNumbers(), at, end), nil
		}
		return fmt.Sprintf("SELECT CAST(spine.d AS %s) AS %s FROM (SELECT unnest(generate_series(%s, %s, INTERVAL 1 %s)) AS d) AS spine WHERE spine.d < %s",
			typ, col, start, end, p, end), nil
	},
}

// redshiftNumbers is a derived table of n = 0 … 999,999 built from digits.
func redshiftNumbers() string {
	digits := "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
	var sum, from []string
	scale := 1
	for i := range 6 {
		sum = append(sum, fmt.Sprintf("%d * d%d.d", scale, i))
		from = append(from, fmt.Sprintf("%s AS d%d", digits, i))
		scale *= 10
	}
	return "(SELECT " + strings.Join(sum, " + ") + " AS n FROM " + strings.Join(from, " CROSS JOIN ") + ")"
}

// pgDatediff counts datepart boundaries like DuckDB's date_diff and
// Redshift's DATEDIFF (the dbt-postgres implementation).
func pgDatediff(first, second, p string) string {
	dp := func(part, x, typ string) string { return fmt.Sprintf("date_part('%s', (%s)::%s)", part, x, typ) }
	switch p {
	case "year":
		return fmt.Sprintf("(%s - %s)", dp("year", second, "date"), dp("year", first, "date"))
	case "quarter":
		return fmt.Sprintf("(%s * 4 + %s - %s)", pgDatediff(first, second, "year"), dp("quarter", second, "date"), dp("quarter", first, "date"))
	case "month":
		return fmt.Sprintf("(%s * 12 + %s - %s)", pgDatediff(first, second, "year"), dp("month", second, "date"), dp("month", first, "date"))
	case "day":
		return fmt.Sprintf("((%s)::date - (%s)::date)", second, first)
	case "week":
		return fmt.Sprintf("(%s / 7 + CASE WHEN %s <= %s THEN CASE WHEN %s <= %s THEN 0 ELSE -1 END ELSE CASE WHEN %s <= %s THEN 1 ELSE 0 END END)",
			pgDatediff(first, second, "day"), dp("dow", first, "timestamp"), dp("dow", second, "timestamp"), first, second, first, second)
	case "hour":
		return fmt.Sprintf("(%s * 24 + %s - %s)", pgDatediff(first, second, "day"), dp("hour", second, "timestamp"), dp("hour", first, "timestamp"))
	case "minute":
		return fmt.Sprintf("(%s * 60 + %s - %s)", pgDatediff(first, second, "hour"), dp("minute", second, "timestamp"), dp("minute", first, "timestamp"))
	case "second":
		return fmt.Sprintf("(%s * 60 + floor(%s) - floor(%s))", pgDatediff(first, second, "minute"), dp("second", second, "timestamp"), dp("second", first, "timestamp"))
	case "millisecond":
		return fmt.Sprintf("(%s * 1000 + floor(%s) - floor(%s))", pgDatediff(first, second, "minute"), dp("millisecond", second, "timestamp"), dp("millisecond", first, "timestamp"))
	}
	return fmt.Sprintf("(%s * 1000000 + floor(%s) - floor(%s))", pgDatediff(first, second, "minute"), dp("microsecond", second, "timestamp"), dp("microsecond", first, "timestamp"))
}

// cartwheelMacros are Cartwheel's own helpers, used by the built-in models.
var cartwheelMacros = map[string]*macro{
	"type_money": constant("DECIMAL(18,2)", "NUMERIC(18,2)", "DECIMAL(18,2)", "the money type, DECIMAL(18,2)"),
	"to_date": {
		params: params(req("expression")),
		doc:    "expression as a DATE (the UTC calendar day of a timestamp)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			return castAs(a.str("expression"), "DATE"), nil
		},
	},
	"date_part": {
		params: params(req("datepart"), req("expression")),
		doc:    "an INTEGER part of a date or timestamp: year, quarter, month, week (ISO), day, hour, minute, dow (0 = Sunday) or isodow (1 = Monday … 7 = Sunday)",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			p, x := ident(a.str("datepart")), a.str("expression")
			switch p {
			case "year", "quarter", "month", "week", "day", "hour", "minute", "dow", "isodow":
			default:
				return "", fmt.Errorf("unknown date part %q", a.str("datepart"))
			}
			if d == warehouse.Redshift {
				if p == "isodow" {
					return fmt.Sprintf("CAST(CASE DATE_PART(dow, %s) WHEN 0 THEN 7 ELSE DATE_PART(dow, %s) END AS INTEGER)", x, x), nil
				}
				return fmt.Sprintf("CAST(DATE_PART(%s, %s) AS INTEGER)", p, x), nil
			}
			return fmt.Sprintf("CAST(EXTRACT(%s FROM %s) AS INTEGER)", p, x), nil
		},
	},
	"percent": {
		params: params(req("numerator"), req("denominator")),
		doc: "100 × numerator / denominator rounded half away from zero to two decimals, a DECIMAL(18,2); " +
			"NULL when the denominator is 0 or NULL. Exact (integer arithmetic, no floats) for integers and values with at most two decimals",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			num, den := a.str("numerator"), a.str("denominator")
			var n, dd, div string
			switch d {
			case warehouse.Postgres:
				n, dd = castAs(paren(num)+" * 100", "NUMERIC(38,0)"), castAs(paren(den)+" * 100", "NUMERIC(38,0)")
				div = fmt.Sprintf("div(abs(%s) * 20000 + abs(%s), 2 * abs(NULLIF(%s, 0)))", n, dd, dd)
			case warehouse.Redshift:
				n, dd = castAs(paren(num)+" * 100", "BIGINT"), castAs(paren(den)+" * 100", "BIGINT")
				div = fmt.Sprintf("((abs(%s) * 20000 + abs(%s)) / (2 * abs(NULLIF(%s, 0))))", n, dd, dd)
			default:
				n, dd = castAs(paren(num)+" * 100", "HUGEINT"), castAs(paren(den)+" * 100", "HUGEINT")
				div = fmt.Sprintf("((abs(%s) * 20000 + abs(%s)) // (2 * abs(NULLIF(%s, 0))))", n, dd, dd)
			}
			money := typeFor(d, "DECIMAL(18,2)", "NUMERIC(18,2)", "DECIMAL(18,2)")
			whole := typeFor(d, "DECIMAL(18,0)", "NUMERIC(18,0)", "DECIMAL(18,0)")
			return castAs(castAs(fmt.Sprintf("sign(%s) * sign(%s) * %s", n, dd, div), whole)+" * 0.01", money), nil
		},
	},
	"latest": {
		params: params(req("value"), req("order_by")),
		doc: "an aggregate: the value of the row with the greatest order_by (a TIMESTAMP) among the rows where value is not NULL; " +
			"ties go to the greatest value",
		render: func(d warehouse.Dialect, a macroArgs) (string, error) {
			v, o := a.str("value"), a.str("order_by")
			switch d {
			case warehouse.Postgres:
				return fmt.Sprintf("(array_agg(%s ORDER BY %s DESC, %s DESC) FILTER (WHERE %s IS NOT NULL))[1]", v, o, v, v), nil
			case warehouse.Redshift:
				// No arrays: the greatest "<fixed-width time><value>" string.
				return fmt.Sprintf("SUBSTRING(MAX(TO_CHAR(%s, 'YYYY-MM-DD HH24:MI:SS.US') || CAST(%s AS VARCHAR)), 27)", o, v), nil
			}
			return fmt.Sprintf("arg_max(%s, (%s, %s))", v, o, v), nil
		},
	},
}

// MacroNames lists the built-in cross-database macros, e.g. "dbt.datediff".
func MacroNames() []string {
	var out []string
	for n := range dbtMacros {
		out = append(out, "dbt."+n)
	}
	for n := range cartwheelMacros {
		out = append(out, "cartwheel."+n)
	}
	out = append(out, "dbt_utils.date_spine", "dbt_utils.generate_series")
	slices.Sort(out)
	return out
}

// namespaces returns the macro objects a template sees for a dialect.
func namespaces(d warehouse.Dialect, onError func(error)) map[string]any {
	utils := map[string]*macro{"date_spine": dateSpine, "generate_series": dbtMacros["generate_series"]}
	return map[string]any{
		"dbt":       &namespace{name: "dbt", dialect: d, macros: dbtMacros, onError: onError},
		"dbt_utils": &namespace{name: "dbt_utils", dialect: d, macros: utils, onError: onError},
		"cartwheel": &namespace{name: "cartwheel", dialect: d, macros: cartwheelMacros, onError: onError},
	}
}
