package pgwire

// This file is the endpoint's whole knowledge of what PostgreSQL clients
// send besides user SQL: session commands (SET, SHOW, BEGIN), COPY … TO
// STDOUT, and the catalog queries of psql, drivers and Grafana. DuckDB
// emulates much of pg_catalog and information_schema itself; what it
// cannot parse or lacks is rewritten here, each rewrite with the client
// query that needs it (catalog_test.go runs them). Rewriting only ever
// produces SQL for the warehouse's read-only guard, which checks it like
// any user SQL: nothing here decides what may run.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

type stmtKind int

const (
	kindQuery   stmtKind = iota // run sql through the warehouse guard
	kindEmpty                   // only blanks and comments
	kindCommand                 // accepted without effect (SET, BEGIN, …): tag
	kindShow                    // SHOW of a session setting: name, value
	kindCopyOut                 // COPY (query) TO STDOUT: sql and the copy options
	kindError                   // refused before the warehouse: err
	kindDeclare                 // DECLARE name CURSOR FOR query: name, sql, hold
	kindFetch                   // FETCH or MOVE (move) of count rows (-1: all) from cursor name
	kindClose                   // CLOSE cursor name ("" with all: CLOSE ALL)
)

type txChange int

const (
	txNone txChange = iota
	txBegin
	txEnd
)

// statement is a classified client statement.
type statement struct {
	kind        stmtKind
	sql         string
	tag         string
	tx          txChange
	name, value string
	err         error
	copyCSV     bool
	copyHeader  bool
	copyDelim   byte
	copyNull    string
	// setting: the name of a SHOW the endpoint does not answer itself.
	setting string
	// empty: the query reads a catalog of objects the warehouse never
	// has; if the warehouse cannot run it, it has no rows.
	empty bool
	// SQL cursors (DECLARE, FETCH, MOVE, CLOSE).
	hold, move, all bool
	count           int64
}

// settings are the values SHOW and current_setting report. The endpoint
// runs with UTC, ISO dates and UTF-8, and is always read-only.
var settings = map[string]string{
	"server_version":                serverVersion,
	"server_version_num":            "150000",
	"server_encoding":               "UTF8",
	"client_encoding":               "UTF8",
	"datestyle":                     "ISO, MDY",
	"intervalstyle":                 "postgres",
	"timezone":                      "UTC",
	"integer_datetimes":             "on",
	"standard_conforming_strings":   "on",
	"transaction_isolation":         "read committed",
	"default_transaction_isolation": "read committed",
	"transaction_read_only":         "on",
	"default_transaction_read_only": "on",
	"search_path":                   "main",
	"max_identifier_length":         "63",
	"lc_collate":                    "C",
	"lc_ctype":                      "C",
	"is_superuser":                  "off",
	"statement_timeout":             "0",
	"extra_float_digits":            "1",
	"max_index_keys":                "32",
	"block_size":                    "8192",
}

// pgSettings is pg_settings for the shims: the settings SHOW answers,
// with the columns psql and drivers read. A SET of one of the "user"
// context is accepted (and has no effect); the others are fixed. The
// session's application_name is put in by sessionValues.
var pgSettings = func() string {
	internal := map[string]bool{"server_version": true, "server_version_num": true, "server_encoding": true,
		"integer_datetimes": true, "lc_collate": true, "lc_ctype": true, "max_identifier_length": true,
		"max_index_keys": true, "block_size": true, "is_superuser": true}
	names := append(slices.Collect(maps.Keys(settings)), "application_name")
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("SELECT * FROM (VALUES ")
	for i, n := range names {
		ctx := "user"
		if internal[n] {
			ctx = "internal"
		}
		if i > 0 {
			b.WriteString(", ")
		}
		v := quote(settings[n])
		if n == "application_name" {
			v = applicationNameMark
		}
		fmt.Fprintf(&b, "(%s, %s, NULL::VARCHAR, 'Cartwheel', %s, '%s', 'string', 'default')",
			quote(n), v, quote("Fixed by the Cartwheel endpoint."), ctx)
	}
	b.WriteString(") AS s(name, setting, unit, category, short_desc, context, vartype, source)")
	return b.String()
}()

// applicationNameMark stands in pgSettings for the session's
// application_name until sessionValues puts it in: the rewrites run on
// the shim's text, and client text must not be what they look into. A
// NUL byte never survives mapCode, so the mark cannot come from a client.
const applicationNameMark = "\x00application_name\x00"

// sessionValues puts the session's values in place of their marks.
func sessionValues(sql string, params map[string]string) string {
	return strings.ReplaceAll(sql, applicationNameMark, quote(params["application_name"]))
}

// setting returns a session setting's value (application_name, user
// from the startup message).
func setting(name string, params map[string]string) (string, bool) {
	n := strings.ToLower(strings.Trim(name, `" `))
	switch n {
	case "application_name":
		return params["application_name"], true
	case "session_authorization":
		return params["user"], true
	}
	v, ok := settings[n]
	return v, ok
}

// classify tells what one client statement (no trailing semicolon) asks
// for.
func classify(q string, params map[string]string) statement {
	body := q[skipBlanks(q, 0):]
	if body == "" {
		return statement{kind: kindEmpty}
	}
	words := strings.Fields(strings.ToUpper(firstWords(body, 3)))
	first := ""
	if len(words) > 0 {
		first = words[0]
	}
	switch first {
	case "SET", "RESET":
		// Session settings are accepted and have no effect: the endpoint's
		// time zone, encoding and date style are fixed, and DuckDB's own
		// configuration is locked (a SET never reaches it).
		return statement{kind: kindCommand, tag: first}
	case "DISCARD":
		return statement{kind: kindCommand, tag: "DISCARD ALL"}
	case "DEALLOCATE":
		return statement{kind: kindCommand, tag: "DEALLOCATE"}
	case "UNLISTEN", "LISTEN":
		return statement{kind: kindCommand, tag: first}
	case "BEGIN", "START":
		return statement{kind: kindCommand, tag: "BEGIN", tx: txBegin}
	case "COMMIT", "END":
		return statement{kind: kindCommand, tag: "COMMIT", tx: txEnd}
	case "ROLLBACK", "ABORT":
		if len(words) > 1 && words[1] == "TO" { // ROLLBACK TO SAVEPOINT
			return statement{kind: kindCommand, tag: "ROLLBACK"}
		}
		return statement{kind: kindCommand, tag: "ROLLBACK", tx: txEnd}
	case "SAVEPOINT", "RELEASE":
		return statement{kind: kindCommand, tag: first}
	case "SHOW":
		if len(words) > 1 {
			name := body[len("SHOW"):]
			for _, sp := range literalSpans(name) {
				if c := name[sp[0]:]; strings.HasPrefix(c, "--") || strings.HasPrefix(c, "/*") {
					name = name[:sp[0]] // a trailing comment
					break
				}
			}
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "transaction isolation level":
				name = "transaction_isolation"
			case "all":
				// PostgreSQL's SHOW ALL: every setting the endpoint answers.
				return statement{kind: kindQuery, sql: sessionValues("SELECT name, setting, short_desc AS description FROM ("+pgSettings+") ORDER BY name", params)}
			}
			if v, ok := setting(name, params); ok {
				return statement{kind: kindShow, name: strings.Trim(name, `"`), value: v}
			}
			// DuckDB's SHOW of a table or of TABLES runs as it is; one of a
			// setting the endpoint does not have is PostgreSQL's error.
			return statement{kind: kindQuery, sql: rewrite(body, params), setting: strings.Trim(name, `"`)}
		}
	case "COPY":
		if st, ok := copyOut(body); ok {
			return st
		}
		// COPY FROM or to a file: the guard refuses it.
	case "DECLARE", "FETCH", "MOVE", "CLOSE":
		return cursorStatement(body, params)
	}
	if m := settingSelect.FindStringSubmatch(body); m != nil {
		// current_setting('name') alone: answered here so that the column
		// is named current_setting, as PostgreSQL names it.
		if v, ok := setting(m[2], params); ok {
			name := strings.Trim(m[4], `"`)
			if name == "" {
				name = "current_setting"
			}
			return statement{kind: kindShow, name: name, value: v, tag: "SELECT 1"}
		}
	}
	if m := sessionSelect.FindStringSubmatch(body); m != nil {
		// Answered here so that the column has PostgreSQL's name.
		fn, name := strings.ToLower(m[2]), strings.Trim(m[5], `"`)
		if name == "" {
			name = fn
		}
		v := params["user"]
		switch fn {
		case "version":
			v = versionString()
		case "current_database", "current_catalog":
			v = "cartwheel"
		case "current_schema":
			v = "main"
		}
		return statement{kind: kindShow, name: name, value: v, tag: "SELECT 1"}
	}
	return statement{kind: kindQuery, sql: rewrite(body, params), empty: emptyCatalog.MatchString(body)}
}

// sessionSelect is a query of one session function: SELECT version(),
// current_database(), current_schema(), current_user.
var sessionSelect = regexp.MustCompile(`(?is)^SELECT\s+(pg_catalog\s*\.\s*)?(version|current_database|current_catalog|current_schema|current_user|session_user|user)\s*(\(\s*\))?\s*(AS\s+(\w+|"[^"]*"))?\s*$`)

// unknownSetting is PostgreSQL's error for a SHOW of a setting the
// endpoint does not have, where DuckDB's SHOW found no table of that name.
func unknownSetting(st statement, err error) error {
	if st.setting != "" && warehouse.SQLState(err) == "42P01" {
		return &pgError{code: "42704", msg: fmt.Sprintf("unrecognized configuration parameter %q", st.setting)}
	}
	return err
}

// settingSelect is a query of one setting: SELECT current_setting('name').
var settingSelect = regexp.MustCompile(`(?is)^SELECT\s+(pg_catalog\s*\.\s*)?current_setting\s*\(\s*'([^']*)'\s*(,\s*(?:true|false)\s*)?\)\s*(?:AS\s+(\w+|"[^"]*"))?\s*$`)

// emptyCatalog finds the catalog tables of objects the warehouse never
// has (publications, policies, triggers, statistics objects, rules,
// inheritance). psql's queries of them use PostgreSQL idioms DuckDB
// cannot bind (`FROM generate_series(…) s` with s a column); when such a
// query fails in the warehouse, its answer is no rows, which is the
// truth.
var emptyCatalog = regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?(pg_publication|pg_publication_rel|pg_publication_namespace|pg_statistic_ext|pg_statistic_ext_data|pg_policy|pg_trigger|pg_rewrite|pg_inherits|pg_partitioned_table|pg_foreign_table)\b`)

// firstWords returns the start of s up to its first n words.
func firstWords(s string, n int) string {
	i := 0
	for w := 0; w < n && i < len(s); w++ {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		for i < len(s) && isWordByte(s[i]) {
			i++
		}
		if i < len(s) && !isWordByte(s[i]) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
			break
		}
	}
	return s[:i]
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// copyOutPattern matches COPY (query) TO STDOUT [WITH] [(options)] and
// COPY table [(columns)] TO STDOUT …, which psql's \copy … TO STDOUT
// sends.
var (
	copyQueryPattern = regexp.MustCompile(`(?is)^COPY\s*\((.*)\)\s*TO\s+STDOUT\s*(.*)$`)
	copyTablePattern = regexp.MustCompile(`(?is)^COPY\s+([A-Za-z_][\w.]*|"[^"]+")\s*(\([^)]*\))?\s*TO\s+STDOUT\s*(.*)$`)
)

func copyOut(q string) (statement, bool) {
	var sql, opts string
	if m := copyQueryPattern.FindStringSubmatch(q); m != nil {
		sql, opts = m[1], m[2]
	} else if m := copyTablePattern.FindStringSubmatch(q); m != nil {
		cols := "*"
		if m[2] != "" {
			cols = strings.Trim(m[2], "()")
		}
		sql, opts = fmt.Sprintf("SELECT %s FROM %s", cols, m[1]), m[3]
	} else {
		return statement{}, false
	}
	st := statement{kind: kindCopyOut, sql: sql, copyDelim: '\t', copyNull: `\N`}
	o := strings.ToUpper(opts)
	o = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(o), "WITH"))
	o = strings.Trim(o, "() ")
	nullSet, delimSet := false, false
	for _, opt := range splitOptions(o) {
		f := strings.Fields(opt)
		if len(f) == 0 {
			continue
		}
		val := ""
		if len(f) > 1 {
			val = strings.Trim(strings.Join(f[1:], " "), "'")
		}
		switch f[0] {
		case "CSV":
			st.copyCSV = true
		case "FORMAT":
			st.copyCSV = strings.EqualFold(val, "CSV")
			if !st.copyCSV && !strings.EqualFold(val, "TEXT") {
				return statement{kind: kindError, err: &pgError{code: "0A000", msg: "COPY TO STDOUT supports the text and csv formats"}}, true
			}
		case "HEADER":
			st.copyHeader = val == "" || val == "TRUE" || val == "ON" || val == "1"
		case "DELIMITER":
			if len(val) == 1 {
				st.copyDelim, delimSet = val[0], true
			}
		case "NULL":
			// The original case of the null string.
			st.copyNull, nullSet = originalOption(opts, "NULL"), true
		}
	}
	if st.copyCSV {
		if !delimSet {
			st.copyDelim = ','
		}
		if !nullSet {
			st.copyNull = ""
		}
	}
	return st, true
}

// splitOptions splits COPY options on commas, or on blanks between
// old-style options (CSV HEADER).
func splitOptions(o string) []string {
	if strings.Contains(o, ",") {
		return strings.Split(o, ",")
	}
	var out []string
	f := strings.Fields(o)
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "FORMAT", "DELIMITER", "NULL", "HEADER", "QUOTE", "ESCAPE", "ENCODING":
			if i+1 < len(f) && f[i] != "HEADER" {
				out = append(out, f[i]+" "+f[i+1])
				i++
				continue
			}
		}
		out = append(out, f[i])
	}
	return out
}

// originalOption returns the quoted value after option name in opts,
// with its case kept.
func originalOption(opts, name string) string {
	i := strings.Index(strings.ToUpper(opts), name)
	if i < 0 {
		return ""
	}
	rest := opts[i+len(name):]
	a := strings.IndexByte(rest, '\'')
	if a < 0 {
		return ""
	}
	b := strings.IndexByte(rest[a+1:], '\'')
	if b < 0 {
		return ""
	}
	return rest[a+1 : a+1+b]
}

// rewrites turn what clients send into what DuckDB runs. Each names the
// client query that needs it.
var rewrites = []struct {
	re   *regexp.Regexp
	with string
}{
	// psql \d, \dt: `c.relname OPERATOR(pg_catalog.~) '^(sessions)$'`.
	{regexp.MustCompile(`(?i)OPERATOR\s*\(\s*pg_catalog\s*\.\s*(~|!~|~\*|!~\*|=|<>|<|>|<=|>=)\s*\)`), "$1"},
	// psql \sv, \ef: `'session_events'::pg_catalog.regclass::pg_catalog.oid`,
	// the oid of a relation named by a literal (before the rules below
	// make regclass text).
	{regexp.MustCompile(`(?i)(\x00[0-9]+\x00)\s*::\s*(pg_catalog\s*\.\s*)?regclass\s*::\s*(pg_catalog\s*\.\s*)?oid\b`), "(SELECT oid FROM pg_catalog.pg_class WHERE relname = $1 LIMIT 1)"},
	// psql \d+ TABLE: the table's storage options and its TOAST table's,
	// `c.reloptions || array(select 'toast.' || x from unnest(tc.reloptions) x)`;
	// DuckDB has neither.
	{regexp.MustCompile(`(?is)\|\|\s*array\s*\(\s*select\s+\x00[0-9]+\x00\s*\|\|\s*x\s+from\s+(pg_catalog\s*\.\s*)?unnest\s*\(\s*tc\s*\.\s*reloptions\s*\)\s*x\s*\)`), ""},
	// psql \sv: a view's options without its check option,
	// `array_remove(array_remove(c.reloptions, …), …)`; a view here has none.
	{regexp.MustCompile(`(?i)(pg_catalog\s*\.\s*)?array_remove\s*\(\s*(pg_catalog\s*\.\s*)?array_remove\s*\(\s*c\s*\.\s*reloptions\s*,[^()]*\)\s*,[^()]*\)`), "c.reloptions"},
	// SQLAlchemy's unique constraints: `join pg_attribute a on … AND
	// a.attnum = ANY(cons.conkey)`; DuckDB plans ANY over a list column as
	// a subquery, which a join condition cannot hold.
	{regexp.MustCompile(`(?i)\b(\w+\s*\.\s*\w+)\s*=\s*ANY\s*\(\s*(\w+\s*\.\s*\w+)\s*\)`), "list_contains($2, $1)"},
	// SQLAlchemy's columns: json_build_object(…), json_object in DuckDB.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?json_build_object\s*\(`), "json_object("},
	// psql: `… COLLATE pg_catalog.default`.
	{regexp.MustCompile(`(?i)\s+COLLATE\s+pg_catalog\s*\.\s*"?default"?`), ""},
	// psql \d: `c.reloftype::pg_catalog.regtype::pg_catalog.text`; casts
	// name their types without the schema for DuckDB.
	{regexp.MustCompile(`(?i)::\s*pg_catalog\s*\.\s*`), "::"},
	// psql \d, JDBC: DuckDB has no reg* types; their text is what
	// clients print.
	{regexp.MustCompile(`(?i)::\s*(regclass|regtype|regproc|regprocedure|regnamespace|regrole|regoper)\b`), "::VARCHAR"},
	// psql \d: `pg_catalog.array_to_string(…)`: DuckDB finds its own
	// functions and its pg_catalog macros by their bare names.
	{regexp.MustCompile(`(?i)\bpg_catalog\s*\.\s*(\w+)\s*\(`), "$1("},
	// psql \d: `pg_get_expr(d.adbin, d.adrelid, true)`; DuckDB's takes
	// two arguments (pretty-printing is all the third one does).
	{regexp.MustCompile(`(?i)\b(pg_get_expr|pg_get_constraintdef|pg_get_indexdef|pg_get_viewdef)\s*\(([^()]*?),\s*(true|false)\s*\)`), "$1($2)"},
	// psql \d: `array_upper(pr.prattrs::int2[], 1)`; DuckDB's lists are
	// one-dimensional, numbered from 1.
	{regexp.MustCompile(`(?i)\barray_upper\s*\(([^()]*?(\([^()]*\))?[^()]*?),\s*1\s*\)`), "len($1)"},
	// Grafana's table list: the schemas of the search path, computed
	// with generate_series(…) AS i over string_to_array(…) s (i and s are
	// columns in PostgreSQL, tables in DuckDB). The warehouse's tables
	// are in main.
	{regexp.MustCompile(`(?is)\(\s*SELECT\s+CASE\s+WHEN\s+trim\s*\(\s*s\s*\[\s*i\s*\]\s*\).*?\bs\s*\)`), "('main')"},
	// Grafana's table and column lists: quote_ident(table_name), which
	// quotes a name only when it needs it.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?quote_ident\s*\(([^()]*)\)`), `(CASE WHEN regexp_full_match(($2), '[a-z_][a-z0-9_$]*') THEN ($2) ELSE '"' || replace(($2), '"', '""') || '"' END)`},
	// psql \d: `a.attidentity = ''::"char"`.
	{regexp.MustCompile(`(?i)::\s*"char"`), "::VARCHAR"},
}

// functions answers the session functions clients call before anything
// else, with the endpoint's values rather than DuckDB's.
var functions = []struct {
	re   *regexp.Regexp
	with func(m []string, env rewriteEnv) string
}{
	// psql's tab completion and \d: pg_table_is_visible(c.oid). DuckDB
	// finds every relation visible, its system views too (duckdb_columns,
	// information_schema's); PostgreSQL, those of the search path: the
	// warehouse's main schema, and pg_catalog.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_table_is_visible\s*\(\s*([\w.]+)\s*\)`), func(m []string, _ rewriteEnv) string {
		return "(" + m[2] + " IN (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace IN (SELECT oid FROM pg_catalog.pg_namespace" +
			" UNION ALL SELECT oid FROM duckdb_schemas() WHERE database_name = 'system' AND schema_name = 'pg_catalog')))"
	}},
	// psql \dn, \dt with a pattern, SQLAlchemy: `n.nspname !~ '^pg_'`.
	// PostgreSQL's ~ finds the pattern anywhere in the text; DuckDB's must
	// match all of it, and has no ~* or !~*.
	{regexp.MustCompile(`(^|[^~!])(!?~)(\*?)\s*(\x00[0-9]+\x00)`), func(m []string, _ rewriteEnv) string {
		flags := "(?s)"
		if m[3] != "" {
			flags = "(?is)"
		}
		return m[1] + m[2] + " ('" + flags + ".*(?:' || " + m[4] + " || ').*')"
	}},
	// psql's tab completion, SQLAlchemy: `a.attname LIKE 'event\_ty%'`.
	// PostgreSQL's LIKE escapes with a backslash by default; DuckDB's has
	// no escape character unless told.
	{regexp.MustCompile(`(?i)\b((?:NOT\s+)?I?LIKE\s+)\x00([0-9]+)\x00(\s*ESCAPE\b)?`), func(m []string, env rewriteEnv) string {
		if m[3] != "" || !strings.Contains(env.literal(m[2]), `\`) {
			return m[0]
		}
		return m[1] + "\x00" + m[2] + "\x00 ESCAPE '\\'"
	}},
	// psql \dt, \d, \l: pg_get_userbyid(c.relowner), the owner's name.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_get_userbyid\s*\(\s*[\w.]+\s*\)`), func([]string, rewriteEnv) string {
		return "'cartwheel'"
	}},
	// psql \d: definitions of objects DuckDB does not have (statistics
	// objects, partitions, triggers, rules) are NULL.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?(pg_get_statisticsobjdef_columns|pg_get_partkeydef|pg_get_triggerdef|pg_get_ruledef|pg_get_partition_constraintdef)\s*\([^()]*\)`), func([]string, rewriteEnv) string {
		return "NULL"
	}},
	// psql \dt+, \dv+, \d+, \l+: sizes. DuckDB keeps no per-table byte
	// counts (pragma_storage_info would read every segment of a table for
	// a listing), so the Size column is empty rather than wrong.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?(pg_table_size|pg_relation_size|pg_total_relation_size|pg_indexes_size|pg_database_size)\s*\([^()]*\)`), func([]string, rewriteEnv) string {
		return "NULL::BIGINT"
	}},
	// psql \d+ VIEW, \sv: pg_get_viewdef is the view's query; DuckDB's
	// is its whole CREATE VIEW statement.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_get_viewdef\s*\(([^()]*)\)`), func(m []string, _ rewriteEnv) string {
		return `regexp_replace(regexp_replace(pg_get_viewdef(` + m[2] + `), '^\s*CREATE\s+(OR\s+REPLACE\s+)?(TEMP\w*\s+)?VIEW\s+.*?\s+AS\s+', '', 'is'), ';\s*$', '')`
	}},
	// SQLAlchemy's columns: an identity column's sequence,
	// `pg_get_serial_sequence(…)::regclass::oid`; the warehouse has none.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_get_serial_sequence\s*\([^()]*\)(\s*::\s*\w+)*`), func([]string, rewriteEnv) string {
		return "NULL::BIGINT"
	}},
	// psql \d, SQLAlchemy's columns: format_type(…) names types as
	// PostgreSQL does (`integer`, `character varying`), which drivers map
	// to their types; DuckDB's pg_catalog macro gives the short names
	// (`int4`, `varchar`).
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?format_type\s*\(([^()]*)\)`), func(m []string, _ rewriteEnv) string {
		ft := "format_type(" + m[2] + ")"
		return "CASE " + ft + pgTypeNames + " ELSE " + ft + " END"
	}},
	// psql \d+ TABLE: the definitions of its indexes; the warehouse's
	// DuckDB tables have none.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_get_indexdef\s*\([^()]*\)`), func([]string, rewriteEnv) string {
		return "NULL"
	}},
	// psql \l: the database's encoding.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_encoding_to_char\s*\([^()]*\)`), func([]string, rewriteEnv) string {
		return "'UTF8'"
	}},
	// psql \d: no table is published.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?pg_relation_is_publishable\s*\([^()]*\)`), func([]string, rewriteEnv) string {
		return "false"
	}},
	// Grafana, JDBC, psql \conninfo: version().
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?version\s*\(\s*\)`), func([]string, rewriteEnv) string {
		return quote(versionString())
	}},
	// Grafana, JDBC: current_setting('server_version_num') and friends.
	{regexp.MustCompile("(?i)\\b(pg_catalog\\s*\\.\\s*)?current_setting\\s*\\(\\s*\x00([0-9]+)\x00\\s*(,\\s*(true|false)\\s*)?\\)"), func(m []string, env rewriteEnv) string {
		if v, ok := setting(env.literal(m[2]), env.params); ok {
			return quote(v)
		}
		return m[0] // DuckDB's own setting, or its error
	}},
	// psql, pgAdmin, DBeaver: current_database(), current_user.
	{regexp.MustCompile(`(?i)\b(pg_catalog\s*\.\s*)?current_database\s*\(\s*\)`), func([]string, rewriteEnv) string {
		return "'cartwheel'"
	}},
}

// pgTypeNames are the WHEN clauses that turn DuckDB's short type names
// into format_type's PostgreSQL names.
var pgTypeNames = func() string {
	var b strings.Builder
	for _, p := range [][2]string{
		{"int2", "smallint"}, {"int4", "integer"}, {"int8", "bigint"},
		{"float4", "real"}, {"float8", "double precision"}, {"bool", "boolean"},
		{"varchar", "character varying"}, {"bpchar", "character"},
		{"timestamp", "timestamp without time zone"}, {"timestamptz", "timestamp with time zone"},
		{"time", "time without time zone"}, {"timetz", "time with time zone"},
	} {
		fmt.Fprintf(&b, " WHEN '%s' THEN '%s'", p[0], p[1])
	}
	return b.String()
}()

// shims stand in for pg_catalog tables DuckDB lacks, or completes those
// it has with the columns clients read: empty tables where the warehouse
// has nothing of the kind (no roles, triggers, policies, inheritance,
// publications), with the columns psql and drivers select.
var shims = map[string]string{
	// psql \d: relforcerowsecurity; \d+: the default replica identity
	// (DuckDB leaves it empty, which psql prints as ???).
	"pg_class": `SELECT * REPLACE ('d' AS relreplident), false AS relforcerowsecurity FROM pg_catalog.pg_class`,
	// psql's tab completion leaves out `relnamespace <> (SELECT oid FROM
	// pg_namespace WHERE nspname = 'pg_catalog')`: DuckDB lists no
	// pg_catalog schema, so that was NULL and completed no table.
	// DuckDB's pg_class also holds its system views, in schemas its
	// pg_namespace leaves out; they are named here, as PostgreSQL names its
	// own.
	"pg_namespace": `SELECT * FROM pg_catalog.pg_namespace UNION ALL SELECT oid, schema_name, 10, NULL::INTEGER FROM duckdb_schemas() WHERE database_name = 'system' AND schema_name IN ('pg_catalog', 'information_schema')`,
	// psql's completion of SET and SHOW, JDBC, pgAdmin: the settings SHOW
	// answers (DuckDB's own are locked and no SET reaches them).
	"pg_settings": pgSettings,
	// psql \d+: a column's storage; DuckDB stores every value in its
	// column segments, which psql calls plain (empty prints as ???).
	"pg_attribute": `SELECT * REPLACE ('p' AS attstorage) FROM pg_catalog.pg_attribute`,
	// psql \l, JDBC, Grafana: one database, named as current_database()
	// names it (DuckDB lists its file's catalog and its own system and
	// temp), with the columns PostgreSQL has and DuckDB's pg_database lacks.
	"pg_database": `SELECT * REPLACE ('cartwheel' AS datname), 10::BIGINT AS datdba, 6 AS encoding, 'C' AS datcollate, 'C' AS datctype, NULL::VARCHAR AS daticulocale, 'c' AS datlocprovider, NULL::VARCHAR[] AS datacl, -1 AS datconnlimit, 0::BIGINT AS dattablespace FROM pg_catalog.pg_database WHERE datname NOT IN ('system', 'temp')`,
	// psql \d (version 10+): inheritance and partitions.
	"pg_inherits":          `SELECT 0::BIGINT AS inhrelid, 0::BIGINT AS inhparent, 0 AS inhseqno, false AS inhdetachpending WHERE false`,
	"pg_partitioned_table": `SELECT 0::BIGINT AS partrelid, ''::VARCHAR AS partstrat, 0 AS partnatts WHERE false`,
	// psql \d: triggers, row security, rewrite rules, statistics objects,
	// publications.
	"pg_trigger":               `SELECT 0::BIGINT AS oid, 0::BIGINT AS tgrelid, 0::BIGINT AS tgparentid, ''::VARCHAR AS tgname, ''::VARCHAR AS tgenabled, false AS tgisinternal WHERE false`,
	"pg_policy":                `SELECT 0::BIGINT AS oid, ''::VARCHAR AS polname, 0::BIGINT AS polrelid, ''::VARCHAR AS polcmd, true AS polpermissive, NULL::BIGINT[] AS polroles, NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck WHERE false`,
	"pg_rewrite":               `SELECT 0::BIGINT AS oid, ''::VARCHAR AS rulename, 0::BIGINT AS ev_class, ''::VARCHAR AS ev_type, ''::VARCHAR AS ev_enabled WHERE false`,
	"pg_statistic_ext":         `SELECT 0::BIGINT AS oid, 0::BIGINT AS stxrelid, ''::VARCHAR AS stxname, 0::BIGINT AS stxnamespace, NULL::INTEGER[] AS stxkeys, NULL::VARCHAR[] AS stxkind, -1 AS stxstattarget WHERE false`,
	"pg_publication":           `SELECT 0::BIGINT AS oid, ''::VARCHAR AS pubname, false AS puballtables, false AS pubinsert, false AS pubupdate, false AS pubdelete, false AS pubtruncate, false AS pubviaroot WHERE false`,
	"pg_publication_rel":       `SELECT 0::BIGINT AS oid, 0::BIGINT AS prpubid, 0::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::SMALLINT[] AS prattrs WHERE false`,
	"pg_publication_namespace": `SELECT 0::BIGINT AS oid, 0::BIGINT AS pnpubid, 0::BIGINT AS pnnspid WHERE false`,
	"pg_foreign_table":         `SELECT 0::BIGINT AS ftrelid, 0::BIGINT AS ftserver WHERE false`,
	// psql \du, JDBC, Grafana: one role, the endpoint's only user.
	"pg_roles":        `SELECT 10::BIGINT AS oid, 'cartwheel' AS rolname, false AS rolsuper, false AS rolinherit, false AS rolcreaterole, false AS rolcreatedb, true AS rolcanlogin, false AS rolreplication, false AS rolbypassrls, -1 AS rolconnlimit, NULL::TIMESTAMPTZ AS rolvaliduntil`,
	"pg_user":         `SELECT 'cartwheel' AS usename, 10::BIGINT AS usesysid, false AS usecreatedb, false AS usesuper, false AS userepl, false AS usebypassrls`,
	"pg_auth_members": `SELECT 0::BIGINT AS roleid, 0::BIGINT AS member, 0::BIGINT AS grantor, false AS admin_option WHERE false`,
	// Grafana (TimescaleDB probe), JDBC: no extensions.
	"pg_extension": `SELECT 0::BIGINT AS oid, ''::VARCHAR AS extname, 10::BIGINT AS extowner, 0::BIGINT AS extnamespace, false AS extrelocatable, ''::VARCHAR AS extversion WHERE false`,
	"pg_range":     `SELECT 0::BIGINT AS rngtypid, 0::BIGINT AS rngsubtype WHERE false`,
}

// shimPattern finds references to shimmed tables.
var shimPattern = func() *regexp.Regexp {
	names := make([]string, 0, len(shims))
	for n := range shims {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Reverse(names) // longer names first: pg_publication_rel before pg_publication
	return regexp.MustCompile(`(?i)(\bpg_catalog\s*\.\s*|[^.\w]|^)(` + strings.Join(names, "|") + `)\b(\s*(\w+))?`)
}()

// aliasStop are the words after a table that are not its alias.
var aliasStop = map[string]bool{"WHERE": true, "JOIN": true, "LEFT": true, "RIGHT": true, "INNER": true, "OUTER": true,
	"FULL": true, "CROSS": true, "ON": true, "GROUP": true, "ORDER": true, "LIMIT": true, "UNION": true, "USING": true,
	"NATURAL": true, "HAVING": true, "WINDOW": true, "OFFSET": true, "EXCEPT": true, "INTERSECT": true}

// replaceShims puts each shimmed table's query in place of its name.
func replaceShims(code string) string {
	return shimPattern.ReplaceAllStringFunc(code, func(s string) string {
		m := shimPattern.FindStringSubmatch(s)
		prefix, name, after, word := m[1], strings.ToLower(m[2]), m[3], m[4]
		if !strings.Contains(strings.ToLower(prefix), "pg_catalog") {
			// An unqualified name keeps the character before it.
		} else {
			prefix = ""
		}
		sub := "(" + shims[name] + ")"
		if word == "" || aliasStop[strings.ToUpper(word)] {
			sub += " AS " + name
		}
		return prefix + sub + after
	})
}

// rewrite applies rewrites and functions outside string literals and
// quoted names.
func rewrite(q string, params map[string]string) string {
	return sessionValues(mapCode(q, func(code string, lit func(string) string) string {
		env := rewriteEnv{params: params, literal: lit}
		code = replaceShims(code)
		for _, r := range rewrites {
			code = r.re.ReplaceAllString(code, r.with)
		}
		for _, f := range functions {
			code = f.re.ReplaceAllStringFunc(code, func(s string) string {
				return f.with(f.re.FindStringSubmatch(s), env)
			})
		}
		return code
	}), params)
}

// rewriteEnv is what a function's answer may depend on: the session's
// parameters and the text of a string literal given its placeholder
// number (see mapCode).
type rewriteEnv struct {
	params  map[string]string
	literal func(n string) string
}

// quote is a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// mapCode applies f to q with its string literals, quoted names and
// comments set aside: each stands in f's input as a placeholder (a NUL
// byte, its number, a NUL byte), which f's patterns do not look into,
// and is put back after. A NUL in q itself leaves q as it is (PostgreSQL
// refuses such a query anyway).
func mapCode(q string, f func(code string, literal func(n string) string) string) string {
	if strings.IndexByte(q, 0) >= 0 {
		return q
	}
	spans := literalSpans(q)
	var b strings.Builder
	start := 0
	for i, sp := range spans {
		b.WriteString(q[start:sp[0]])
		fmt.Fprintf(&b, "\x00%d\x00", i)
		start = sp[1]
	}
	b.WriteString(q[start:])
	literal := func(n string) string {
		var i int
		if _, err := fmt.Sscanf(n, "%d", &i); err != nil || i < 0 || i >= len(spans) {
			return ""
		}
		l := q[spans[i][0]:spans[i][1]]
		if len(l) >= 3 && (l[0] == 'E' || l[0] == 'e') && l[len(l)-1] == '\'' {
			l = l[1:] // an escape string: its text with the escapes as written
		}
		if len(l) >= 2 && l[0] == '\'' && l[len(l)-1] == '\'' {
			return strings.ReplaceAll(l[1:len(l)-1], "''", "'")
		}
		return ""
	}
	out := f(b.String(), literal)
	return placeholder.ReplaceAllStringFunc(out, func(s string) string {
		var i int
		fmt.Sscanf(s[1:len(s)-1], "%d", &i)
		if i < 0 || i >= len(spans) {
			return s
		}
		return q[spans[i][0]:spans[i][1]]
	})
}

var placeholder = regexp.MustCompile("\x00[0-9]+\x00")

// SQL cursors, as psycopg2's named cursors, psql's FETCH_COUNT and
// SQLAlchemy's stream_results send them: DECLARE, then FETCH FORWARD n
// until a short batch, then CLOSE. They scan forward only.
var (
	declarePattern = regexp.MustCompile(`(?is)^DECLARE\s+(` + identPattern + `)\s+((?:(?:BINARY|ASENSITIVE|INSENSITIVE|NO\s+SCROLL|SCROLL)\s+)*)CURSOR\s+(?:(WITH|WITHOUT)\s+HOLD\s+)?FOR\s+(.*)$`)
	fetchPattern   = regexp.MustCompile(`(?is)^(FETCH|MOVE)(?:\s+(NEXT|FORWARD(?:\s+(?:ALL|\+?\d+))?|ALL|\+?\d+|PRIOR|FIRST|LAST|BACKWARD(?:\s+(?:ALL|\d+))?|ABSOLUTE\s+[+-]?\d+|RELATIVE\s+[+-]?\d+|-\d+))?(?:\s+(?:FROM|IN))?\s+(` + identPattern + `)\s*$`)
	closePattern   = regexp.MustCompile(`(?is)^CLOSE\s+(` + identPattern + `)\s*$`)
)

const identPattern = `"(?:[^"]|"")+"|[A-Za-z_][\w$]*`

// cursorName is an identifier as PostgreSQL folds it: a quoted one as
// written, any other in lower case.
func cursorName(id string) string {
	if strings.HasPrefix(id, `"`) {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
	}
	return strings.ToLower(id)
}

func cursorStatement(q string, params map[string]string) statement {
	syntax := func(what string) statement {
		return statement{kind: kindError, err: &pgError{code: "42601", msg: "syntax error in " + what}}
	}
	switch strings.ToUpper(firstWords(q, 1)) {
	case "DECLARE":
		m := declarePattern.FindStringSubmatch(q)
		if m == nil {
			return syntax("DECLARE: the endpoint takes DECLARE name [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query")
		}
		if strings.Contains(strings.ToUpper(m[2]), "BINARY") {
			return statement{kind: kindError, err: &pgError{code: "0A000", msg: "binary cursors are not supported; fetch in text, or use the extended protocol's binary results"}}
		}
		inner := classify(m[4], params)
		if inner.kind != kindQuery {
			return statement{kind: kindError, err: &pgError{code: "42601", msg: "a cursor is declared for a query (SELECT, WITH, VALUES, TABLE)"}}
		}
		return statement{kind: kindDeclare, name: cursorName(m[1]), sql: inner.sql, hold: strings.EqualFold(m[3], "WITH"), tag: "DECLARE CURSOR"}
	case "CLOSE":
		m := closePattern.FindStringSubmatch(q)
		if m == nil {
			return syntax("CLOSE")
		}
		if strings.EqualFold(m[1], "ALL") {
			return statement{kind: kindClose, all: true, tag: "CLOSE CURSOR"}
		}
		return statement{kind: kindClose, name: cursorName(m[1]), tag: "CLOSE CURSOR"}
	}
	m := fetchPattern.FindStringSubmatch(q)
	if m == nil {
		return syntax(strings.ToUpper(firstWords(q, 1)))
	}
	st := statement{kind: kindFetch, name: cursorName(m[3]), move: strings.EqualFold(m[1], "MOVE"), count: 1, tag: strings.ToUpper(m[1])}
	dir := strings.Fields(strings.ToUpper(m[2]))
	if len(dir) > 0 && dir[0] == "FORWARD" {
		dir = dir[1:]
	}
	switch {
	case len(dir) == 0 || dir[0] == "NEXT":
	case dir[0] == "ALL":
		st.count = -1
	default:
		n, err := strconv.ParseInt(strings.TrimPrefix(dir[0], "+"), 10, 64)
		if err != nil || n < 0 {
			return statement{kind: kindError, err: &pgError{code: "55000", msg: "cursor can only scan forward: the endpoint takes FETCH [FORWARD] [n | ALL | NEXT]"}}
		}
		st.count = n
	}
	return st
}
