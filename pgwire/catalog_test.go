package pgwire

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestClientQueries runs every catalog and session query of the clients
// in testdata/clients (psql, Grafana, drivers) through the endpoint: each
// must succeed.
func TestClientQueries(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	_, addr := serve(t, db)
	conn := connect(t, addr)
	var oid int64
	if err := conn.QueryRow(context.Background(), "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(sessions)$' COLLATE pg_catalog.default",
		pgx.QueryExecModeSimpleProtocol).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/clients/*.sql")
	if len(files) == 0 {
		t.Fatal("no client queries")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range strings.Split(string(b), "\n-- END\n") {
			q = strings.ReplaceAll(q, "{{OID}}", strconv.FormatInt(oid, 10))
			if strings.TrimSpace(stripComments(q)) == "" {
				continue
			}
			rows, err := conn.Query(context.Background(), q, pgx.QueryExecModeSimpleProtocol)
			if err == nil {
				for rows.Next() {
				}
				rows.Close()
				err = rows.Err()
			}
			if err != nil {
				t.Errorf("%s #%d: %v\n%s", filepath.Base(f), i+1, err, q)
			}
		}
	}
}

func stripComments(q string) string {
	var out []string
	for _, l := range strings.Split(q, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestClassify checks what each kind of client statement becomes.
func TestClassify(t *testing.T) {
	params := map[string]string{"user": "ann", "application_name": "psql"}
	for _, tc := range []struct {
		in   string
		want statement
	}{
		{"SET extra_float_digits = 3", statement{kind: kindCommand, tag: "SET"}},
		{"  -- hi\n BEGIN", statement{kind: kindCommand, tag: "BEGIN", tx: txBegin}},
		{"COMMIT", statement{kind: kindCommand, tag: "COMMIT", tx: txEnd}},
		{"SHOW server_version", statement{kind: kindShow, name: "server_version", value: serverVersion}},
		{"SHOW application_name", statement{kind: kindShow, name: "application_name", value: "psql"}},
		{"SELECT current_user", statement{kind: kindShow, name: "current_user", value: "ann", tag: "SELECT 1"}},
		{"COPY (SELECT 1) TO STDOUT", statement{kind: kindCopyOut, sql: "SELECT 1", copyDelim: '\t', copyNull: `\N`}},
		{"COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)", statement{kind: kindCopyOut, sql: "SELECT 1", copyCSV: true, copyHeader: true, copyDelim: ','}},
		{"COPY sessions TO STDOUT CSV HEADER", statement{kind: kindCopyOut, sql: "SELECT * FROM sessions", copyCSV: true, copyHeader: true, copyDelim: ','}},
		{"COPY sessions TO '/tmp/x'", statement{kind: kindQuery, sql: "COPY sessions TO '/tmp/x'"}},
		{"SELECT 'current_setting(''x'')', version()", statement{kind: kindQuery, sql: "SELECT 'current_setting(''x'')', " + quote(versionString())}},
		{"SELECT current_setting('server_version_num')", statement{kind: kindShow, name: "current_setting", value: "150000", tag: "SELECT 1"}},
		{"select pg_catalog.current_setting('application_name', true) AS app", statement{kind: kindShow, name: "app", value: "psql", tag: "SELECT 1"}},
		{"SELECT current_setting('server_version_num')::int", statement{kind: kindQuery, sql: "SELECT '150000'::int"}},
		{"SELECT current_setting('threads')", statement{kind: kindQuery, sql: "SELECT current_setting('threads')"}},
		{"SHOW work_mem", statement{kind: kindQuery, sql: "SHOW work_mem", setting: "work_mem"}},
		{"SHOW TimeZone -- the zone\n", statement{kind: kindShow, name: "timezone", value: "UTC"}},
		{"SHOW a-b /* c */", statement{kind: kindQuery, sql: "SHOW a-b /* c */", setting: "a-b"}},
		{"SHOW all /* every one */", statement{kind: kindQuery, sql: "SELECT name, setting, short_desc AS description FROM (" + strings.ReplaceAll(pgSettings, applicationNameMark, "'psql'") + ") ORDER BY name"}},
		{"SHOW ALL", statement{kind: kindQuery, sql: "SELECT name, setting, short_desc AS description FROM (" + strings.ReplaceAll(pgSettings, applicationNameMark, "'psql'") + ") ORDER BY name"}},
		{"SELECT a FROM t WHERE n OPERATOR(pg_catalog.~) '^x$' COLLATE pg_catalog.default", statement{kind: kindQuery, sql: "SELECT a FROM t WHERE n ~ ('(?s).*(?:' || '^x$' || ').*')"}},
		{"SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_' AND a ~* 'X' AND b ~~ 'y%' AND c LIKE 'event\\_ty%' AND d NOT LIKE E'pg\\\\_%' AND e LIKE 'a\\_' ESCAPE '!'",
			statement{kind: kindQuery, sql: "SELECT n.nspname FROM (" + shims["pg_namespace"] + ") n WHERE n.nspname !~ ('(?s).*(?:' || '^pg_' || ').*') AND a ~ ('(?is).*(?:' || 'X' || ').*') AND b ~~ 'y%' AND c LIKE 'event\\_ty%' ESCAPE '\\' AND d NOT LIKE E'pg\\\\_%' ESCAPE '\\' AND e LIKE 'a\\_' ESCAPE '!'"}},
		{"SELECT x::pg_catalog.regtype::pg_catalog.text", statement{kind: kindQuery, sql: "SELECT x::VARCHAR::text"}},
	} {
		got := classify(tc.in, params)
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(statement{}), cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
			t.Errorf("classify(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	for in, want := range map[string][]string{
		"SELECT 1; SELECT 2;":                 {"SELECT 1", "SELECT 2"},
		"SELECT ';'; -- ;\n":                  {"SELECT ';'"},
		"SELECT $$a;b$$, \"x;y\", E'\\';'; ;": {"SELECT $$a;b$$, \"x;y\", E'\\';'"},
		"/* ; /* ; */ ; */ SELECT 1":          {"/* ; /* ; */ ; */ SELECT 1"},
		"  ;  ; ":                             nil,
		"SELECT 1 -- ;\r; SELECT 2":           {"SELECT 1 -- ;", "SELECT 2"},
	} {
		if diff := cmp.Diff(want, splitStatements(in)); diff != "" {
			t.Errorf("splitStatements(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// FuzzRewrite: classifying and rewriting never panics, never drops or
// changes a string literal, quoted name or comment of the statement, and
// never makes more statements than it was given (the warehouse guard
// counts them again anyway).
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SET x = 1", "SHOW server_version", "COPY (SELECT 1) TO STDOUT WITH CSV HEADER",
		"SELECT current_setting('server_version_num')", "SELECT version(); SELECT 2",
		"SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(s)$' COLLATE pg_catalog.default",
		"SELECT 'a''b', E'\\'', $$x$$, $t$;$t$, \"q\"\"r\" -- c\n/* d */",
		"select quote_ident(table_name) from information_schema.tables",
		"SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_inherits i",
		"SELECT '\x00' ; DROP TABLE x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		stmts := splitStatements(q)
		for _, s := range stmts {
			st := classify(s, map[string]string{"user": "u"})
			if st.kind != kindQuery {
				continue
			}
			if n := len(splitStatements(st.sql)); n > 1 {
				t.Fatalf("rewrite made %d statements of %q: %q", n, s, st.sql)
			}
			if strings.IndexByte(s, 0) >= 0 || strings.Contains(strings.ToLower(s), "current_setting") {
				continue // current_setting('name') is answered, its literal consumed
			}
			body := s[skipBlanks(s, 0):] // leading comments are dropped
			for _, sp := range literalSpans(body) {
				lit := body[sp[0]:sp[1]]
				if !strings.Contains(st.sql, lit) {
					t.Fatalf("rewrite of %q lost the literal %q: %q", s, lit, st.sql)
				}
			}
		}
	})
}
