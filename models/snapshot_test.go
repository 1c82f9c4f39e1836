package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// streamingDB is a warehouse into which the streaming layer keeps
// committing while models run: before each statement that builds a
// relation (CREATE …) and before each data test, one more batch lands, with an event of a new user,
// a purchase, the session they close, and a rejected record, all stamped
// with the batch's commit time, later than anything before.
type streamingDB struct {
	DB
	mu      sync.Mutex
	batches int
	next    time.Time
}

func (s *streamingDB) commitBatch(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	n := s.batches
	at := s.next.Add(time.Duration(n) * time.Second).Format("2006-01-02 15:04:05")
	user := fmt.Sprintf("zoe-%d", n)
	return s.DB.Tx(ctx, func(tx warehouse.Tx) error {
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO events (event_id, event_type, user_id, event_time, product_id, price, quantity, revenue,
				is_late, stream_id, kafka_partition, kafka_offset, ingested_at) VALUES
				('z%d-1', 'page_view', '%s', TIMESTAMP '2026-03-05 10:00:00', NULL, NULL, 1, 0.00, false, 1, 2, %d, TIMESTAMP '%s'),
				('z%d-2', 'purchase', '%s', TIMESTAMP '2026-03-05 10:01:00', 'p9', 7.25, 2, 14.50, false, 1, 2, %d, TIMESTAMP '%s'),
				('z%d-3', 'purchase', 'dave', TIMESTAMP '2026-03-01 09:00:00', 'p9', 1.00, 1, 1.00, true, 1, 2, %d, TIMESTAMP '%s')`,
				n, user, 3*n, at, n, user, 3*n+1, at, n, 3*n+2, at),
			fmt.Sprintf(`INSERT INTO sessions (session_id, user_id, session_start, session_end, event_count, page_views,
				add_to_carts, purchases, revenue, stream_id, kafka_partition, closed_at) VALUES
				('sess-zoe-%d', '%s', TIMESTAMP '2026-03-05 10:00:00', TIMESTAMP '2026-03-05 10:01:00', 2, 1, 0, 1, 14.50, 1, 2, TIMESTAMP '%s')`,
				n, user, at),
			fmt.Sprintf(`INSERT INTO rejected_events (payload, reason, detail, stream_id, kafka_partition, kafka_offset, received_at)
				VALUES ('{', 'malformed_json', 'unexpected end', 1, 2, %d, TIMESTAMP '%s')`, 10000+n, at),
		} {
			if err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *streamingDB) Query(ctx context.Context, q string, args ...any) (*result.Set, error) {
	if strings.HasPrefix(q, "SELECT COUNT(*) FROM (\n") { // a data test
		if err := s.commitBatch(ctx); err != nil {
			return nil, fmt.Errorf("streaming commit: %w", err)
		}
	}
	return s.DB.Query(ctx, q, args...)
}

func (s *streamingDB) Exec(ctx context.Context, q string, args ...any) error {
	if strings.HasPrefix(q, "CREATE") {
		if err := s.commitBatch(ctx); err != nil {
			return fmt.Errorf("streaming commit: %w", err)
		}
	}
	return s.DB.Exec(ctx, q, args...)
}

// TestBuildSeesOneSnapshotWhileStreaming: a build over tables that keep
// growing while it runs sees one snapshot, the newest batch committed when
// it started: every data test passes (the singular tests compare marts
// with staging views), and the marts are exactly the golden rows of the
// fixture. The next build sees the batches that landed meanwhile.
func TestBuildSeesOneSnapshotWhileStreaming(t *testing.T) {
	base := openDuckDB(t)
	execFile(t, base, "testdata/golden/fixture.sql")
	testSnapshotWhileStreaming(t, base)
}

// The same on PostgreSQL (see internal/pgtest for where the server comes
// from).
func TestBuildSeesOneSnapshotWhileStreamingOnPostgres(t *testing.T) {
	dsn := pgtest.Get(t).NewDatabase(t)
	ctx := context.Background()
	base, err := warehouse.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	for _, s := range []string{"DELETE FROM events", "DELETE FROM sessions", "DELETE FROM rejected_events"} {
		if err := base.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	execFile(t, base, "testdata/golden/fixture.sql")
	testSnapshotWhileStreaming(t, base)
}

func testSnapshotWhileStreaming(t *testing.T, base DB) {
	ctx := context.Background()
	db := &streamingDB{DB: base, next: time.Date(2026, 3, 5, 11, 0, 0, 0, time.UTC)}
	p := builtin(t)
	var out bytes.Buffer
	rep, err := Build(ctx, db, p, WithOutput(&out), WithClock(fixedClock))
	if err != nil {
		t.Fatalf("build while streaming: %v\n%s", err, out.String())
	}
	if _, warn, _, _, _ := rep.Counts(); warn != 1 {
		t.Errorf("%d warnings, want 1 (dave's unknown country)\n%s", warn, out.String())
	}
	if db.batches < 10 {
		t.Fatalf("only %d batches landed during the build", db.batches)
	}
	if rep.SnapshotAt != "2026-03-04 23:59:01.000000" {
		t.Errorf("snapshot_at = %q, want the newest ingested_at of the fixture", rep.SnapshotAt)
	}
	if want := "Snapshot: snapshot_at = 2026-03-04 23:59:01.000000 (the latest of events.ingested_at, rejected_events.received_at, sessions.closed_at)"; !strings.Contains(out.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, out.String())
	}
	for _, m := range append([]string{"stg_sessionized_events"}, marts...) {
		compareTable(t, base, m, filepath.Join("testdata/golden", m+".csv"))
	}

	// The next build sees everything committed so far, and while it runs
	// more keeps coming: still consistent.
	landed := db.batches
	out.Reset()
	rep, err = Build(ctx, db, p, WithOutput(&out))
	if err != nil {
		t.Fatalf("second build while streaming: %v\n%s", err, out.String())
	}
	want := time.Date(2026, 3, 5, 11, 0, landed, 0, time.UTC).Format(snapshotLayout)
	if rep.SnapshotAt != want {
		t.Errorf("second snapshot_at = %q, want %q (the last batch before the build)", rep.SnapshotAt, want)
	}
	got := queryRows(t, base, "SELECT count(*), (SELECT count(*) FROM fact_user_sessions), (SELECT sum(orders) FROM fct_daily_revenue) FROM stg_events")
	if g, w := strings.Join(got[1], " "), fmt.Sprintf("%d %d %d", 18+3*landed, 6+landed, 4+2*landed); g != w {
		t.Errorf("after the second build: events, sessions, orders = %s, want %s", g, w)
	}
	if db.batches == landed {
		t.Error("no batch landed during the second build")
	}

	// Without a snapshot (snapshot_at: null), the same build reads the live
	// tables and its tests compare marts with views that have moved on.
	out.Reset()
	rep, err = Build(ctx, db, p, WithOutput(&out), WithVars(map[string]any{"snapshot_at": nil}))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("build without a snapshot while streaming: err = %v, want a failure\n%s", err, out.String())
	}
	if res, _ := rep.Result("assert_daily_revenue_matches_purchases"); res.Status != StatusFail {
		t.Errorf("without a snapshot, assert_daily_revenue_matches_purchases: %s, want fail\n%s", res.Status, out.String())
	}
}

// TestSnapshotVar: snapshot_at passed with --vars pins the snapshot (in
// any usual timestamp form, converted to UTC), null reads the live tables,
// and nonsense is an error before anything runs.
func TestSnapshotVar(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	execFile(t, db, "testdata/golden/fixture.sql")
	p := builtin(t)

	// 2026-03-02 12:00 UTC: e01..e11 and the sessions of alice, bob and
	// chloe (closed by 11:06); not 03-04.
	for _, at := range []any{"2026-03-02 12:00:00", "2026-03-02T13:00:00+01:00", time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)} {
		var out bytes.Buffer
		rep, err := Build(ctx, db, p, WithOutput(&out), WithFullRefresh(true), WithVars(map[string]any{"snapshot_at": at}))
		if err != nil {
			t.Fatalf("build as of %v: %v\n%s", at, err, out.String())
		}
		if rep.SnapshotAt != "2026-03-02 12:00:00.000000" || !strings.Contains(out.String(), "(set with --vars)") {
			t.Errorf("snapshot_at %v: report %q\n%s", at, rep.SnapshotAt, out.String())
		}
		got := queryRows(t, db, `SELECT (SELECT count(*) FROM stg_events), (SELECT count(*) FROM fact_user_sessions),
			(SELECT max(date_day) FROM dim_time), (SELECT sum(revenue) FROM fct_daily_revenue)`)
		if g := strings.Join(got[1], " "); g != "11 3 2026-03-02 69.97" {
			t.Errorf("as of %v: events, sessions, last day, revenue = %s, want 11 3 2026-03-02 69.97", at, g)
		}
	}

	// null: no bound, the staging views read the live tables.
	var out bytes.Buffer
	rep, err := Run(ctx, db, p, WithOutput(&out), WithSelect("stg_events"), WithVars(map[string]any{"snapshot_at": nil}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.SnapshotAt != "" || !strings.Contains(out.String(), "Snapshot: none, the sources are read live") {
		t.Errorf("snapshot_at null: report %q\n%s", rep.SnapshotAt, out.String())
	}
	if res, _ := rep.Result("stg_events"); !strings.Contains(res.SQL, "where 1 = 1") {
		t.Errorf("stg_events without a snapshot:\n%s", res.SQL)
	}

	_, err = Build(ctx, db, p, WithVars(map[string]any{"snapshot_at": "yesterday"}))
	if err == nil || errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "var snapshot_at: want a UTC timestamp") {
		t.Errorf("snapshot_at yesterday: %v", err)
	}
}

// An empty warehouse has a snapshot too, before any batch: rows committed
// while the first build runs are not in it.
func TestSnapshotOfEmptySources(t *testing.T) {
	ctx := context.Background()
	base := openDuckDB(t)
	db := &streamingDB{DB: base, next: time.Date(2026, 3, 5, 11, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	rep, err := Build(ctx, db, builtin(t), WithOutput(&out))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	if rep.SnapshotAt != emptySnapshot || !strings.Contains(out.String(), "are empty)") {
		t.Errorf("snapshot_at = %q\n%s", rep.SnapshotAt, out.String())
	}
	if got := queryRows(t, base, "SELECT (SELECT count(*) FROM stg_events), (SELECT count(*) FROM fact_user_sessions)"); strings.Join(got[1], " ") != "0 0" {
		t.Errorf("events, sessions = %v, want none", got[1])
	}
}

// A project without loaded_at_field has no snapshot: nothing is queried
// and nothing is logged.
func TestNoSnapshotWithoutLoadedAtField(t *testing.T) {
	p := load(t, map[string]string{
		"models/a.sql":       "select {{ var('snapshot_at', 0) }} as x from {{ source('s', 't') }}",
		"models/sources.yml": "version: 2\nsources:\n  - name: s\n    tables:\n      - name: t\n",
	})
	db := openDuckDB(t)
	if err := db.Exec(context.Background(), "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), db, p, WithOutput(&out), WithRunHistory(false))
	if err != nil {
		t.Fatal(err)
	}
	if rep.SnapshotAt != "" || strings.Contains(out.String(), "Snapshot") {
		t.Errorf("report %q\n%s", rep.SnapshotAt, out.String())
	}
	if res, _ := rep.Result("a"); !strings.Contains(res.SQL, "select 0 as x") {
		t.Errorf("SQL:\n%s", res.SQL)
	}
}

// loaded_at_field is inherited from the source and can be turned off per
// table; a source that cannot be read fails the command before it starts.
func TestLoadedAtField(t *testing.T) {
	p := load(t, map[string]string{
		"models/a.sql": "select * from {{ source('s', 't') }} where {{ in_snapshot('loaded') }}",
		"macros/snapshot.sql": "{% macro in_snapshot(c) %}{% set at = var('snapshot_at', None) %}" +
			"{% if at is none %}1 = 1{% else %}{{ c }} <= cast('{{ at }}' as timestamp){% endif %}{% endmacro %}",
		"models/sources.yml": `version: 2
sources:
  - name: s
    loaded_at_field: loaded
    tables:
      - name: t
      - name: u
        loaded_at_field: ""
      - name: v
        identifier: missing
`,
	})
	got := map[string]string{}
	for _, n := range p.snapshotSources() {
		got[n.Name] = n.LoadedAtField
	}
	if fmt.Sprint(got) != "map[t:loaded v:loaded]" {
		t.Errorf("loaded_at_field: %v", got)
	}
	ctx := context.Background()
	db := openDuckDB(t)
	if err := db.Exec(ctx, "CREATE TABLE t AS SELECT 1 AS x, TIMESTAMP '2026-03-01 10:00:00' AS loaded"); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, db, p, WithRunHistory(false))
	if err == nil || !strings.Contains(err.Error(), "fix the snapshot of the sources") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("run with an unreadable source: %v", err)
	}
	if err := db.Exec(ctx, "CREATE TABLE missing AS SELECT TIMESTAMP '2026-03-01 11:00:00' AS loaded"); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, db, p, WithRunHistory(false))
	if err != nil {
		t.Fatal(err)
	}
	if rep.SnapshotAt != "2026-03-01 11:00:00.000000" {
		t.Errorf("snapshot_at = %q", rep.SnapshotAt)
	}
	sql, err := Compile(ctx, nil, p, "a", WithVars(map[string]any{"snapshot_at": "2026-03-01T10:00:00.5Z"}))
	if err != nil || !strings.Contains(sql, "loaded <= cast('2026-03-01 10:00:00.500000' as timestamp)") {
		t.Errorf("compile with snapshot_at: %v\n%s", err, sql)
	}
}
