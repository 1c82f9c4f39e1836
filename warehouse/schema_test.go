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
