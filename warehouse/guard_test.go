package warehouse

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/result"
)

// hostileQueries are user SQL that must not reach the file system, the
// network or the settings (SPEC §7), each with what its error must say.
func hostileQueries(dir string) map[string]string {
	secret := filepath.Join(dir, "secret.txt")
	return map[string]string{
		"SELECT content FROM read_text('" + secret + "')":        "disabled by configuration",
		"SELECT * FROM read_csv('" + secret + "')":               "disabled by configuration",
		"SELECT * FROM read_parquet('" + secret + "')":           "disabled by configuration",
		"SELECT * FROM glob('" + dir + "/*')":                    "disabled by configuration",
		"SELECT * FROM '" + secret + "'":                         "",
		"ATTACH '" + filepath.Join(dir, "other.duckdb") + "'":    "read-only",
		"COPY events TO '" + filepath.Join(dir, "out.csv") + "'": "",
		"INSTALL httpfs":                                      "read-only",
		"LOAD httpfs":                                         "read-only",
		"SET enable_external_access = true":                   "read-only",
		"RESET enable_external_access":                        "read-only",
		"SET lock_configuration = false":                      "read-only",
		"PRAGMA enable_external_access = true":                "",
		"SELECT 1; SET enable_external_access = true":         "read-only",
		"SELECT 1; SELECT * FROM read_text('" + secret + "')": "read-only",
		"SELECT set_config('enable_external_access', 'true')": "",
	}
}

// TestDuckDBUserSQLCannotReachFiles runs each hostile query as user SQL and
// checks that it fails, that nothing was read or written, and that the
// appliance's own writes still work afterwards.
func TestDuckDBUserSQLCannotReachFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("root:x:0:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, "duckdb://"+filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q, want := range hostileQueries(dir) {
		res, err := db.QueryReadOnly(ctx, q)
		if err == nil {
			t.Errorf("%s: ran, returned %v", q, res.Rows)
			continue
		}
		if want != "" && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q, want it to say %q", q, err, want)
		}
		if want == "disabled by configuration" && !errors.Is(err, result.ErrExternalAccess) {
			t.Errorf("%s: error %q is not ErrExternalAccess", q, err)
		}
	}
	// The appliance's own statements are not user SQL, yet external access
	// is off for them too: the setting is the database's.
	if err := db.Exec(ctx, "SET enable_external_access = true"); err == nil {
		t.Error("SET enable_external_access = true succeeded outside QueryReadOnly")
	}
	for _, name := range []string{"out.csv", "other.duckdb"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was written", name)
		}
	}
	if err := db.Exec(ctx, "CREATE TABLE t AS SELECT 1 AS x"); err != nil {
		t.Errorf("the appliance's own write: %v", err)
	}
	if err := db.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Errorf("checkpoint: %v", err)
	}
}

// A read-only open (`cartwheel query` without an appliance) is locked down
// the same way.
func TestDuckDBReadOnlyOpenIsLockedDown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "w.duckdb")
	db, err := Open(ctx, "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := Open(ctx, "duckdb://"+path, ReadOnlyAccess())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.QueryReadOnly(ctx, "SELECT * FROM glob('/*')"); err == nil || !strings.Contains(err.Error(), "disabled by configuration") {
		t.Errorf("glob on a read-only open: %v", err)
	}
}

func TestQueryLimits(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "duckdb://:memory:", QueryLimits(Limits{Timeout: 300 * time.Millisecond, MaxRows: 3}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	res, err := db.QueryReadOnly(ctx, "SELECT range AS x FROM range(10)")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || !res.Truncated || res.RowLimit != 3 {
		t.Errorf("10 rows under a limit of 3: %d rows, truncated %v, limit %d", len(res.Rows), res.Truncated, res.RowLimit)
	}
	res, err = db.QueryReadOnly(ctx, "SELECT range AS x FROM range(3)")
	if err != nil || len(res.Rows) != 3 || res.Truncated {
		t.Errorf("3 rows under a limit of 3: %v, truncated %v", err, res != nil && res.Truncated)
	}
	// The appliance's own queries have no limit.
	if res, err := db.Query(ctx, "SELECT range FROM range(10)"); err != nil || len(res.Rows) != 10 || res.Truncated {
		t.Errorf("Query: %v", err)
	}

	start := time.Now()
	_, err = db.QueryReadOnly(ctx, "SELECT count(*) FROM range(1000000000000) a")
	if !errors.Is(err, result.ErrTimeLimit) {
		t.Fatalf("an hour-long query: %v, want ErrTimeLimit", err)
	}
	if !strings.Contains(err.Error(), "300ms") {
		t.Errorf("error %q does not name the limit", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the query ran %v past its 300 ms limit", took)
	}
	// The database is usable afterwards.
	if _, err := db.QueryReadOnly(ctx, "SELECT 1"); err != nil {
		t.Errorf("after a timeout: %v", err)
	}
}

func TestPostgresUserSQLGuard(t *testing.T) {
	ctx := context.Background()
	db := openTestPostgres(t)
	db.limits = Limits{Timeout: 500 * time.Millisecond, MaxRows: 2}
	for _, q := range []string{
		"SELECT pg_read_file('/etc/passwd')",
		"select * from PG_LS_DIR('/')",
		"SELECT lo_import('/etc/passwd')",
		"COPY (SELECT 1) TO '/tmp/cartwheel-guard-test.csv'",
		"COPY events TO PROGRAM 'id'",
		"SET default_transaction_read_only = off",
		"SELECT 1; DROP TABLE events",
	} {
		if _, err := db.QueryReadOnly(ctx, q); !errors.Is(err, result.ErrReadOnly) {
			t.Errorf("%s: %v, want ErrReadOnly", q, err)
		}
	}
	res, err := db.QueryReadOnly(ctx, "-- a comment\n(SELECT generate_series(1, 5) AS x)")
	if err != nil || len(res.Rows) != 2 || !res.Truncated {
		t.Errorf("5 rows under a limit of 2: %v", err)
	}
	if _, err := db.QueryReadOnly(ctx, "SELECT pg_sleep(3600)"); !errors.Is(err, result.ErrTimeLimit) {
		t.Errorf("an hour-long query: %v, want ErrTimeLimit", err)
	}
	if _, err := db.QueryReadOnly(ctx, "SELECT 1"); err != nil {
		t.Errorf("after a timeout: %v", err)
	}
}
