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
