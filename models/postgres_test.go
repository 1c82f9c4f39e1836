package models

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestGoldenMartsOnPostgres runs the golden fixture unchanged on PostgreSQL
// (see internal/pgtest for where the server comes from).
func TestGoldenMartsOnPostgres(t *testing.T) {
	dsn := pgtest.Get(t).NewDatabase(t)
	ctx := context.Background()
	db, err := warehouse.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{"DELETE FROM events", "DELETE FROM sessions"} {
		if err := db.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	execFile(t, db, "testdata/golden/fixture.sql")
	p := builtin(t)
	var out bytes.Buffer
	if _, err := Build(ctx, db, p, WithOutput(&out), WithFullRefresh(true)); err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	for _, m := range append([]string{"stg_sessionized_events"}, marts...) {
		compareTable(t, db, m, filepath.Join("testdata/golden", m+".csv"))
	}
	// An incremental run on the same data changes nothing.
	if _, err := Build(ctx, db, p, WithOutput(&out)); err != nil {
		t.Fatalf("incremental build: %v\n%s", err, out.String())
	}
	compareTable(t, db, "fact_user_sessions", "testdata/golden/fact_user_sessions.csv")
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Terminate()
	os.Exit(code)
}
