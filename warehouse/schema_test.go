package warehouse

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestDuckDBColumnCompression(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "duckdb://"+filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Commit(ctx, benchBatch(150_000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	r, err := db.Query(ctx, `SELECT column_name, list(DISTINCT compression ORDER BY compression)::VARCHAR
		FROM pragma_storage_info('events') WHERE segment_type = 'VARCHAR' GROUP BY ALL ORDER BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, row := range r.Rows {
		got[row[0].(string)] = row[1].(string)
	}
	t.Log(got)
	for col, method := range duckCompression["events"] {
		if !strings.Contains(strings.ToLower(got[col]), strings.ToLower(method)) {
			t.Errorf("events.%s is stored as %s, want %s", col, got[col], method)
		}
	}
	for _, d := range []Dialect{Postgres, Redshift} {
		for _, s := range ddl(d) {
			if strings.Contains(s, "USING COMPRESSION") {
				t.Errorf("%s DDL has DuckDB's USING COMPRESSION:\n%s", d, s)
			}
		}
	}
}

func TestDuckDBThreads(t *testing.T) {
	ctx := context.Background()
	threads := func(dsn string) (int64, error) {
		db, err := Open(ctx, dsn)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		r, err := db.Query(ctx, "SELECT current_setting('threads')::BIGINT")
		if err != nil {
			return 0, err
		}
		return r.Rows[0][0].(int64), nil
	}
	if got, err := threads("duckdb://:memory:"); err != nil || got != int64(duckThreads()) {
		t.Errorf("default threads = %d, %v; want %d", got, err, duckThreads())
	}
	if got, err := threads("duckdb://" + filepath.Join(t.TempDir(), "w.duckdb") + "?threads=3"); err != nil || got != 3 {
		t.Errorf("threads=3 gives %d, %v", got, err)
	}
	for _, bad := range []string{"duckdb://:memory:?threads=0", "duckdb://:memory:?threads=x", "duckdb://:memory:?thread=2"} {
		if _, err := threads(bad); err == nil {
			t.Errorf("Open(%q) accepted it", bad)
		}
	}
}

// A start skips the schema statements when the warehouse records this
// build's digest, but not when a table or view was dropped since, nor when
// the digest is another build's.
func TestSchemaDigest(t *testing.T) {
	ctx := context.Background()
	dsn := "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
	reopen := func(stmts ...string) *DB {
		t.Helper()
		db, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if err := db.Exec(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		db, err = Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	viewSQL := func(db *DB) string {
		t.Helper()
		r, err := db.Query(ctx, `SELECT sql FROM duckdb_views() WHERE view_name = 'session_events'`)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Rows) == 0 {
			return ""
		}
		return r.Rows[0][0].(string)
	}

	// A view replaced by hand stays as it is while the digest matches:
	// proof that the statements did not run again.
	db := reopen(`CREATE OR REPLACE VIEW session_events AS SELECT 1 AS by_hand`)
	if got := viewSQL(db); !strings.Contains(got, "by_hand") {
		t.Errorf("the schema statements ran at a start with this build's digest: session_events is %q", got)
	}
	db.Close()

	db = reopen(`DROP VIEW session_events`)
	if got := viewSQL(db); !strings.Contains(got, "ASOF") {
		t.Errorf("a dropped view was not made again: session_events is %q", got)
	}
	db.Close()

	db = reopen(`CREATE OR REPLACE VIEW session_events AS SELECT 1 AS by_hand`,
		`UPDATE cartwheel_meta SET value = 'another build' WHERE key = 'schema_ddl'`)
	defer db.Close()
	if got := viewSQL(db); !strings.Contains(got, "ASOF") {
		t.Errorf("another build's digest did not run the statements: session_events is %q", got)
	}
	checkDigest(t, db, DuckDB)
}

// checkDigest fails t unless db records the digest of d's schema
// statements.
func checkDigest(t *testing.T, db *DB, d Dialect) {
	t.Helper()
	r, err := db.Query(context.Background(), `SELECT value FROM cartwheel_meta WHERE key = 'schema_ddl'`)
	if err != nil {
		t.Fatal(err)
	}
	if want := schemaDigest(ddl(d)); len(r.Rows) != 1 || r.Rows[0][0] != want {
		t.Errorf("schema digest %v, want %s", r.Rows, want)
	}
}
