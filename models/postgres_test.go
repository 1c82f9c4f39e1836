package models

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestGoldenMartsOnPostgres runs the golden fixture on PostgreSQL (or
// Redshift) when CARTWHEEL_TEST_POSTGRES names a scratch database, e.g.
// postgres://user:pass@127.0.0.1:5432/scratch. It empties the streaming
// tables first.
func TestGoldenMartsOnPostgres(t *testing.T) {
	dsn := os.Getenv("CARTWHEEL_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set CARTWHEEL_TEST_POSTGRES to a scratch PostgreSQL database to run the models there")
	}
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
