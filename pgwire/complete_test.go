package pgwire

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestPsqlCompletion runs the queries psql 15's tab completion sends
// (captured with log_statement=all against PostgreSQL 15) and checks their
// answers, which psql shows as completions: an error or an empty answer
// is silently no completion. Each failed before the endpoint named
// DuckDB's system schemas, hid its system views from pg_table_is_visible,
// escaped LIKE with a backslash, matched ~ anywhere in the text, and had a
// pg_settings of its own.
func TestPsqlCompletion(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	_, addr := serve(t, db)
	conn := connect(t, addr)
	for _, tc := range []struct {
		typed, query string
		want         []string
	}{
		{"SELECT * FROM sess", `SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE 'sess%' AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')
	UNION ALL
	SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname LIKE 'sess%' AND n.nspname NOT LIKE E'pg\\_%'
	LIMIT 1000`, []string{"session_events", "sessions"}},
		// Every relation a user can select from: the warehouse's, not
		// DuckDB's system views (duckdb_columns, information_schema's).
		{"SELECT * FROM ", `SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE '%' AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')
	UNION ALL
	SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname LIKE '%' AND n.nspname NOT LIKE E'pg\\_%'
	LIMIT 1000`, []string{"cartwheel_meta", "events", "information_schema", "main", "rejected_events", "session_events", "sessions", "stream_checkpoints", "streams", "user_activity"}},
		{"SELECT * FROM events WHERE event_ty", `SELECT a.attname, NULL::pg_catalog.text FROM pg_catalog.pg_attribute a, pg_catalog.pg_class c WHERE c.oid = a.attrelid and a.attnum > 0 and not a.attisdropped AND (a.attname) LIKE 'event\_ty%' AND c.relname = 'events' AND pg_catalog.pg_table_is_visible(c.oid)
	LIMIT 1000`, []string{"event_type"}},
		{"SELECT * FROM main.se", `SELECT c.relname, n.nspname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE 'se%' AND n.nspname = 'main'
	LIMIT 1000`, []string{"main", "session_events", "sessions"}},
		{"SELECT * FROM pg_catalog.pg_cla", `SELECT c.relname, n.nspname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE 'pg\_cla%' AND n.nspname = 'pg_catalog'
	LIMIT 1000`, []string{"pg_catalog", "pg_class"}},
		{"SET time", `SELECT pg_catalog.lower(name) FROM pg_catalog.pg_settings  WHERE context IN ('user', 'superuser')    AND pg_catalog.lower(name) LIKE pg_catalog.lower('time%')
	LIMIT 1000`, []string{"timezone"}},
		{"SHOW server_v", `SELECT pg_catalog.lower(name) FROM pg_catalog.pg_settings  WHERE pg_catalog.lower(name) LIKE pg_catalog.lower('server_v%')
	LIMIT 1000`, []string{"server_version", "server_version_num"}},
		{`\c `, `SELECT datname FROM pg_catalog.pg_database  WHERE datname LIKE '%'
	LIMIT 1000`, []string{"cartwheel"}},
		// psql \dn
		{`\dn`, `SELECT n.nspname AS "Name",
  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;`, []string{"cartwheel", "main"}},
	} {
		rows, err := conn.Query(context.Background(), strings.TrimSuffix(tc.query, ";"), pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Errorf("%q: %v", tc.typed, err)
			continue
		}
		var got []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if s, ok := v.(string); ok {
					got = append(got, s)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Errorf("%q: %v", tc.typed, err)
			continue
		}
		got = sortedUnique(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("completion of %q (-want +got):\n%s", tc.typed, diff)
		}
	}
}

func sortedUnique(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
