package models

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

var marts = []string{"fact_user_sessions", "dim_users", "dim_time", "fct_conversion_funnel", "fct_daily_revenue", "fct_active_users"}

// TestIncrementalEqualsFullRefresh loads the golden fixture in two steps:
// a build on the first part, then the rest arrives (including a session
// that closed before the newest one already loaded, as when partitions
// commit out of step) and an incremental build must give the same marts as
// a full refresh, and as the hand-written golden rows.
func TestIncrementalEqualsFullRefresh(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	execFile(t, db, "testdata/golden/fixture.sql")
	// Hold back everything committed after 2026-03-02 12:00, and bob's
	// first session and its events, which closed at 00:46 but commit late.
	for _, s := range []string{
		`CREATE TABLE later_events AS SELECT * FROM events WHERE ingested_at > TIMESTAMP '2026-03-02 12:00:00' OR user_id = 'bob'`,
		`DELETE FROM events WHERE ingested_at > TIMESTAMP '2026-03-02 12:00:00' OR user_id = 'bob'`,
		`CREATE TABLE later_sessions AS SELECT * FROM sessions WHERE closed_at > TIMESTAMP '2026-03-02 12:00:00' OR user_id = 'bob'`,
		`DELETE FROM sessions WHERE closed_at > TIMESTAMP '2026-03-02 12:00:00' OR user_id = 'bob'`,
	} {
		if err := db.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	p := builtin(t)
	// A look-back of a day covers bob's late commit.
	vars := WithVars(map[string]any{"session_lookback_minutes": 24 * 60})
	var out bytes.Buffer
	rep, err := Build(ctx, db, p, vars, WithOutput(&out))
	if err != nil {
		t.Fatalf("first build: %v\n%s", err, out.String())
	}
	if res, _ := rep.Result("fact_user_sessions"); res.Rows != 2 {
		t.Fatalf("first build loaded %d sessions, want 2 (alice-1, chloe-1)", res.Rows)
	}
	for _, s := range []string{`INSERT INTO events SELECT * FROM later_events`, `INSERT INTO sessions SELECT * FROM later_sessions`} {
		if err := db.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	rep, err = Run(ctx, db, p, vars, WithOutput(&out))
	if err != nil {
		t.Fatalf("incremental run: %v\n%s", err, out.String())
	}
	// Re-read: chloe-1 (within the look-back of the newest, 03-02 11:06);
	// new: bob-1, erin-1, alice-2, erin-2. Not alice-1 (03-01 10:41).
	if res, _ := rep.Result("fact_user_sessions"); res.Rows != 5 {
		t.Errorf("incremental run applied %d sessions, want 5\n%s", res.Rows, out.String())
	}
	incremental := map[string][][]string{}
	for _, m := range marts {
		incremental[m] = queryRows(t, db, "SELECT * FROM "+m+" ORDER BY 1")
		compareTable(t, db, m, filepath.Join("testdata/golden", m+".csv"))
	}
	out.Reset()
	rep, err = Run(ctx, db, p, vars, WithFullRefresh(true), WithOutput(&out))
	if err != nil {
		t.Fatalf("full refresh: %v\n%s", err, out.String())
	}
	if res, _ := rep.Result("fact_user_sessions"); res.Rows != 6 {
		t.Errorf("full refresh built %d sessions, want 6", res.Rows)
	}
	for _, m := range marts {
		full := queryRows(t, db, "SELECT * FROM "+m+" ORDER BY 1")
		if d := diffRows(incremental[m], full); d != "" {
			t.Errorf("%s: incremental differs from full refresh:\n%s", m, d)
		}
	}
	// A run with nothing new re-reads the look-back window only and
	// changes nothing.
	if _, err := Run(ctx, db, p, vars, WithSelect("fact_user_sessions")); err != nil {
		t.Fatal(err)
	}
	compareTable(t, db, "fact_user_sessions", "testdata/golden/fact_user_sessions.csv")
}
