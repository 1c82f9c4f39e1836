package warehouse

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

func TestActivityCache(t *testing.T) {
	c := newActivityCache()
	ev := func(user, at string) event.Event { return event.Event{UserID: user, Time: micro(at)} }
	first := c.rows([]event.Event{ev("u1", "2026-11-01T10:00:01Z"), ev("u1", "2026-11-01T10:00:59Z"), ev("u2", "2026-11-01T10:04:00Z")})
	if len(first) != 4 { // u1 and u2, each in one minute and one 5 minutes
		t.Fatalf("first batch: %d rows, want 4: %v", len(first), first)
	}
	// The commit failed: its retry gets the same rows.
	c.forget(first)
	if again := c.rows([]event.Event{ev("u1", "2026-11-01T10:00:30Z")}); len(again) != 2 {
		t.Fatalf("after a failed commit: %d rows, want 2", len(again))
	}
	c.rows([]event.Event{ev("u2", "2026-11-01T10:04:00Z")})
	// u1 again in the same minute: nothing; in the next minute of the same
	// 5 minutes: the minute only.
	if got := c.rows([]event.Event{ev("u1", "2026-11-01T10:00:30Z")}); len(got) != 0 {
		t.Fatalf("same minute: %v, want none", got)
	}
	if got := c.rows([]event.Event{ev("u1", "2026-11-01T10:01:00Z")}); len(got) != 1 || got[0].width != 60 {
		t.Fatalf("next minute: %v, want its 1-minute row", got)
	}
	// Hours later the old buckets are forgotten (a very late event may
	// store a repeat, which readers tolerate).
	c.rows([]event.Event{ev("u3", "2026-11-01T13:00:00Z")})
	c.sweep()
	if len(c.users) != 1 {
		t.Fatalf("%d users remembered after the window moved, want u3", len(c.users))
	}
}

// A warehouse of schema version 1 (no user_activity) gets the table filled
// from its events when a newer cartwheel opens it.
func TestActivityUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	db, err := Open(ctx, "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO events (event_id, event_type, user_id, event_time, quantity, revenue, is_late, stream_id, kafka_partition, kafka_offset, ingested_at) VALUES
		 ('e1', 'page_view', 'u1', TIMESTAMP '2026-11-01 10:00:10', 1, 0, false, 1, 0, 0, TIMESTAMP '2026-11-01 10:00:11'),
		 ('e2', 'page_view', 'u1', TIMESTAMP '2026-11-01 10:00:50', 1, 0, false, 1, 0, 1, TIMESTAMP '2026-11-01 10:00:51'),
		 ('e3', 'page_view', 'u2', TIMESTAMP '2026-11-02 10:07:00', 1, 0, false, 1, 0, 2, TIMESTAMP '2026-11-02 10:07:01')`,
		`DROP TABLE user_activity`,
		`UPDATE cartwheel_meta SET value = '1' WHERE key = 'schema_version'`,
	} {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = Open(ctx, "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Query(ctx, `SELECT (SELECT value FROM cartwheel_meta WHERE key = 'schema_version'),
		(SELECT COUNT(*) FROM user_activity), (SELECT COUNT(DISTINCT user_key) FROM user_activity)`)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Rows[0]; got[0] != SchemaVersion || got[1] != int64(4) || got[2] != int64(2) {
		t.Fatalf("after the upgrade: version, rows, users = %v, want %s, 4, 2", got, SchemaVersion)
	}
}

// UserKey is FNV-1a as hash/fnv computes it: stored keys must not change.
func TestUserKeyIsFNV1a(t *testing.T) {
	for _, id := range []string{"", "u1", "user-000042", "Zoë 🛒", string([]byte{0, 0xff, 0x80})} {
		h := fnv.New64a()
		h.Write([]byte(id))
		if got, want := UserKey(id), int64(h.Sum64()); got != want {
			t.Errorf("UserKey(%q) = %d, want %d", id, got, want)
		}
	}
}

// BenchmarkActivityRows is Prepare's added work per event: the batch's
// user_activity rows, less those the cache remembers (make bench):
// 10,000 users, each back every 36 s, so that about half the events start
// a new (minute, user) row; the cache in its steady state.
func BenchmarkActivityRows(b *testing.B) {
	const n, step = 100_000, int64(3_600) // µs between events: 6 min per batch
	events := make([]event.Event, n)
	for i := range events {
		events[i] = event.Event{UserID: fmt.Sprintf("user-%06d", i%10_000), Time: micro("2026-11-01T10:00:00Z") + int64(i)*step}
	}
	c := newActivityCache()
	b.ResetTimer()
	for range b.N {
		c.rows(events)
		c.sweep()
		for i := range events {
			events[i].Time += n * step
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// TestActivityCacheNoGaps: whatever the order of the events, the batch
// sizes, failed commits and sweeps, every (width, bucket, user) of an
// accepted event is stored at least once; events in time order store each
// exactly once.
func TestActivityCacheNoGaps(t *testing.T) {
	const minute = int64(time.Minute / time.Microsecond)
	for _, tc := range []struct {
		name      string
		jitter    int64 // how far back an event may lie behind the clock, µs
		failEvery int
	}{
		{"in order", 0, 0},
		{"out of order", 12 * minute, 0},
		{"out of order, failed commits", 12 * minute, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			c := newActivityCache()
			want := map[activity]bool{}
			got := map[activity]int{}
			clock := micro("2026-11-01T10:00:00Z")
			for batch := 0; batch < 400; batch++ {
				events := make([]event.Event, 1+rng.IntN(200))
				for i := range events {
					clock += rng.Int64N(4 * int64(time.Second/time.Microsecond))
					at := clock
					if tc.jitter > 0 && rng.IntN(10) == 0 {
						at -= rng.Int64N(tc.jitter)
					}
					events[i] = event.Event{UserID: fmt.Sprintf("u%d", rng.IntN(60)), Time: at}
					u := UserKey(events[i].UserID)
					want[activity{60, floorDiv(at, minute) * minute, u}] = true
					want[activity{300, floorDiv(at, 5*minute) * 5 * minute, u}] = true
				}
				rows := c.rows(events)
				if tc.failEvery > 0 && batch%tc.failEvery == 0 {
					c.forget(rows)
					rows = c.rows(events) // the batch, prepared again
				}
				for _, a := range rows {
					got[a]++
				}
				c.sweep()
			}
			repeats := 0
			for a := range want {
				if got[a] == 0 {
					t.Fatalf("row %+v never stored", a)
				}
				repeats += got[a] - 1
			}
			if len(got) != len(want) {
				t.Errorf("%d distinct rows stored, want %d", len(got), len(want))
			}
			if tc.jitter == 0 && tc.failEvery == 0 && repeats != 0 {
				t.Errorf("%d repeats of in-order events, want none", repeats)
			}
			t.Logf("%d rows, %d repeats", len(want), repeats)
		})
	}
}
