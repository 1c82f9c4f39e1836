package warehouse

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/streaming"
)

// *DB is the pipeline's store; warehouse itself does not import streaming.
var (
	_ streaming.Store    = (*DB)(nil)
	_ streaming.Preparer = (*DB)(nil)
)

func openTestDuckDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), "duckdb://"+filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func micro(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

// testStore runs the Store contract against a warehouse; the PostgreSQL
// suite runs it too.
func testStore(t *testing.T, db *DB) {
	ctx := context.Background()
	id, err := db.Stream(ctx, "kafka:events/test")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := db.Stream(ctx, "kafka:events/test"); err != nil || again != id {
		t.Fatalf("Stream again = %d, %v; want %d", again, err, id)
	}
	if other, _ := db.Stream(ctx, "replay:abc"); other == id {
		t.Fatalf("two streams share id %d", id)
	}
	snap, err := db.LoadPartition(ctx, id, 3)
	if err != nil || snap.Checkpoint != nil {
		t.Fatalf("fresh partition: %+v, %v", snap, err)
	}

	ev := func(id, user, at string, typ event.EventType, off int64, late bool) event.Event {
		e := event.Event{EventID: id, UserID: user, Time: micro(at), Type: typ, Quantity: 2, Partition: 3, Offset: off, Late: late}
		if typ != event.PageView {
			e.ProductID, e.Price, e.Has = "p1", 1999, event.HasProductID|event.HasPrice
		}
		return e
	}
	batch := &event.Batch{
		Stream:     id,
		IngestedAt: micro("2026-11-01T12:00:00Z"),
		Events: []event.Event{
			ev("e1", `bob, "the builder"`, "2026-11-01T10:00:00Z", event.PageView, 0, false),
			ev("e2", `bob, "the builder"`, "2026-11-01T10:05:00.123456Z", event.Purchase, 1, false),
			ev("e3", "alice", "2026-11-01T11:00:00Z", event.AddToCart, 2, false),
			ev("e4", "alice", "2026-11-01T09:00:00Z", event.Purchase, 3, true),
		},
		Rejected: []event.Rejected{{Payload: []byte("not json \xff\x00"), Reason: event.MalformedJSON, Detail: "x", Partition: 3, Offset: 4}},
		Sessions: []event.Session{{SessionID: event.SessionID(`bob, "the builder"`, micro("2026-11-01T10:00:00Z")),
			UserID: `bob, "the builder"`, Start: micro("2026-11-01T10:00:00Z"), End: micro("2026-11-01T10:05:00.123456Z"),
			PageViews: 1, Purchases: 1, Revenue: 3998, Partition: 3}},
		Checkpoints: []event.Checkpoint{{Partition: 3, PrevOffset: -1, NextOffset: 5, MaxEventTime: micro("2026-11-01T11:00:00Z"),
			OpenFrom: micro("2026-11-01T11:00:00Z"), DedupeGen: 7, DedupeStarts: [3]int64{0, 0, 2}}},
	}
	// As the pipeline does: Prepare on the consuming goroutine, then Commit.
	db.Prepare(batch)
	if err := db.Commit(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The same checkpoint again is fenced: the store moved on.
	if err := db.Commit(ctx, batch); !event.IsFenced(err) {
		t.Fatalf("second commit: %v, want fenced", err)
	}
	var n int64
	r, err := db.Query(ctx, "SELECT count(*) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	if n = r.Rows[0][0].(int64); n != 4 {
		t.Fatalf("%d events after a fenced commit, want 4", n)
	}
	// user_activity: each user in each 1- and 5-minute bucket of an
	// accepted event, the late one included, once.
	r, err = db.Query(ctx, `SELECT width_s, bucket, user_key FROM user_activity ORDER BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	bob, alice := UserKey(`bob, "the builder"`), UserKey("alice")
	at := func(s string) time.Time { return time.UnixMicro(micro(s)).UTC() }
	wantActivity := [][]any{
		{int32(60), at("2026-11-01T09:00:00Z"), alice}, {int32(60), at("2026-11-01T10:00:00Z"), bob},
		{int32(60), at("2026-11-01T10:05:00Z"), bob}, {int32(60), at("2026-11-01T11:00:00Z"), alice},
		{int32(300), at("2026-11-01T09:00:00Z"), alice}, {int32(300), at("2026-11-01T10:00:00Z"), bob},
		{int32(300), at("2026-11-01T10:05:00Z"), bob}, {int32(300), at("2026-11-01T11:00:00Z"), alice},
	}
	if got := fmt.Sprint(r.Rows); got != fmt.Sprint(wantActivity) {
		t.Fatalf("user_activity\n got %v\nwant %v", got, wantActivity)
	}

	snap, err = db.LoadPartition(ctx, id, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := &event.Snapshot{
		Checkpoint: &event.Checkpoint{Partition: 3, PrevOffset: 5, NextOffset: 5, MaxEventTime: micro("2026-11-01T11:00:00Z"),
			OpenFrom: micro("2026-11-01T11:00:00Z"), DedupeGen: 7, DedupeStarts: [3]int64{0, 0, 2}},
		OpenEvents:     []event.StoredEvent{{UserID: "alice", Time: micro("2026-11-01T11:00:00Z"), Type: event.AddToCart}},
		ClosedSessions: nil,
		RecentIDs:      []event.StoredID{{EventID: "e1", Offset: 0}, {EventID: "e2", Offset: 1}, {EventID: "e3", Offset: 2}, {EventID: "e4", Offset: 3}},
	}
	if diff := cmp.Diff(want, snap); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}

	r, err = db.Query(ctx, `SELECT user_id, session_start, session_end, event_count, revenue FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := [][]any{{`bob, "the builder"`, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 10, 5, 0, 123456000, time.UTC), int64(2), result.Decimal("39.98")}}
	if diff := cmp.Diff(wantRows, r.Rows); diff != "" {
		t.Errorf("sessions (-want +got):\n%s", diff)
	}
	r, err = db.Query(ctx, `SELECT event_id, session_id FROM session_events ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	sid := event.SessionID(`bob, "the builder"`, micro("2026-11-01T10:00:00Z"))
	if diff := cmp.Diff([][]any{{"e1", sid}, {"e2", sid}}, r.Rows); diff != "" {
		t.Errorf("session_events (-want +got):\n%s", diff)
	}
	r, err = db.Query(ctx, `SELECT payload, reason, price, revenue FROM rejected_events, events WHERE event_id = 'e2'`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]any{{"not json \uFFFD\uFFFD", "malformed_json", result.Decimal("19.99"), result.Decimal("39.98")}}, r.Rows); diff != "" {
		t.Errorf("rejected/events (-want +got):\n%s", diff)
	}

	// Checkpoints of several partitions move on in one commit (DuckDB
	// writes them in one statement); one stale among them fences the
	// commit on that partition, and nothing of it is written.
	cp := func(p int32, prev, next int64) event.Checkpoint {
		return event.Checkpoint{Partition: p, PrevOffset: prev, NextOffset: next, MaxEventTime: event.NoTime, OpenFrom: event.NoTime}
	}
	year0 := func(c event.Checkpoint) event.Checkpoint {
		c.MaxEventTime = micro("0000-01-01T00:00:00.000001Z")
		return c
	}
	for i, b := range []*event.Batch{
		{Checkpoints: []event.Checkpoint{cp(4, -1, 2)}},
		{Events: []event.Event{ev("e5", "carol", "2026-11-01T11:30:00Z", event.PageView, 5, false)},
			Checkpoints: []event.Checkpoint{cp(3, 5, 6), year0(cp(4, 2, 3))}},
	} {
		b.Stream, b.IngestedAt = id, micro("2026-11-01T12:01:00Z")
		if err := db.Commit(ctx, b); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	stale := &event.Batch{Stream: id, IngestedAt: micro("2026-11-01T12:02:00Z"),
		Events:      []event.Event{ev("e6", "carol", "2026-11-01T11:31:00Z", event.PageView, 6, false)},
		Checkpoints: []event.Checkpoint{cp(3, 6, 7), cp(4, 2, 4)}}
	var fenced *event.FencedError
	if err := db.Commit(ctx, stale); !errors.As(err, &fenced) || fenced.Partition != 4 {
		t.Fatalf("stale commit: %v, want fenced on partition 4", err)
	}
	// The one-statement update keeps times exactly, a year-0 one too.
	snap4, err := db.LoadPartition(ctx, id, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap4.Checkpoint; got == nil || got.MaxEventTime != micro("0000-01-01T00:00:00.000001Z") || got.OpenFrom != event.NoTime {
		t.Errorf("partition 4's checkpoint after the update: %+v", got)
	}
	offsets, err := db.StreamOffsets(ctx, "kafka:events/test")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int32]int64{3: 6, 4: 3}, offsets); diff != "" {
		t.Errorf("offsets after a fenced commit (-want +got):\n%s", diff)
	}
	r, err = db.Query(ctx, "SELECT count(*) FROM events WHERE user_id = 'carol'")
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Rows[0][0].(int64); n != 1 {
		t.Errorf("%d events of carol, want 1 (the fenced commit's is not written)", n)
	}
}

func TestDuckDBStore(t *testing.T) { testStore(t, openTestDuckDB(t)) }

func TestQueryReadOnly(t *testing.T) {
	db := openTestDuckDB(t)
	ctx := context.Background()
	if _, err := db.QueryReadOnly(ctx, "SELECT 1 AS x"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DELETE FROM events", "DROP TABLE events", "INSERT INTO streams VALUES (9, 'x', now())", "CREATE TABLE t (x int)"} {
		if _, err := db.QueryReadOnly(ctx, q); err != result.ErrReadOnly {
			t.Errorf("%s: err %v, want ErrReadOnly", q, err)
		}
	}
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"events.duckdb", "mysql://x", "postgres://user:secret@127.0.0.1:1/db?connect_timeout=1"} {
		_, err := Open(context.Background(), dsn)
		if err == nil {
			t.Errorf("%s: no error", dsn)
			continue
		}
		if got := err.Error(); strings.Contains(got, "secret") {
			t.Errorf("error leaks the password: %s", got)
		}
	}
}
