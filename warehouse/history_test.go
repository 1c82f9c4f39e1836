package warehouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDuckDBStreamHistory(t *testing.T)   { testStreamHistory(t, openTestDuckDB(t)) }
func TestPostgresStreamHistory(t *testing.T) { testStreamHistory(t, openTestPostgres(t)) }

// testStreamHistory covers LatestEventTime and UsersSeenSince. The stream
// and user names carry quotes, and since comes in another time zone: the
// values are bound, never spliced into the SQL.
func testStreamHistory(t *testing.T, db *DB) {
	ctx := context.Background()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC()
	}
	const live, other = `it's "live"`, "other"
	stream := func(name string) int32 {
		id, err := db.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	liveID, otherID := stream(live), stream(other)
	var offset int64
	event := func(stream int32, user, when string) {
		offset++
		if err := db.Exec(ctx, `INSERT INTO events (event_id, event_type, user_id, event_time, quantity, revenue, is_late,
				stream_id, kafka_partition, kafka_offset, ingested_at)
			VALUES ($1::VARCHAR, 'page_view', $2::VARCHAR, $3::TIMESTAMP, 1, 0, false, $4::INTEGER, 0, $5::BIGINT, $3::TIMESTAMP)`,
			fmt.Sprintf("e%d", offset), user, at(when), stream, offset); err != nil {
			t.Fatal(err)
		}
	}
	event(liveID, "o'brien", "2026-11-01T10:00:00Z")
	event(liveID, "o'brien", "2026-11-01T11:00:00.000001Z")
	event(liveID, "bob", "2026-11-01T09:00:00Z")
	event(liveID, "carol", "2026-11-01T10:30:00Z")
	event(otherID, "dave", "2026-11-01T12:00:00Z")

	latest := func(name string) time.Time {
		tm, err := db.LatestEventTime(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	if got, want := latest(live), at("2026-11-01T11:00:00.000001Z"); !got.Equal(want) {
		t.Errorf("LatestEventTime(live) = %v, want the latest event, %v", got, want)
	}
	if got := latest("nothing"); !got.IsZero() {
		t.Errorf("LatestEventTime of an unknown stream = %v, want the zero time", got)
	}
	// The checkpoints' latest event time counts too.
	if err := db.Exec(ctx, `INSERT INTO stream_checkpoints (stream_id, kafka_partition, next_offset, max_event_time,
			open_from, dedupe_gen, dedupe_start_0, dedupe_start_1, dedupe_start_2, updated_at)
		VALUES ($1::INTEGER, 0, 10, $2::TIMESTAMP, NULL, 0, 0, 0, 0, $2::TIMESTAMP)`, liveID, at("2026-11-01T11:45:00Z")); err != nil {
		t.Fatal(err)
	}
	if got, want := latest(live), at("2026-11-01T11:45:00Z"); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("LatestEventTime(live) = %v, want the checkpoint's %v in UTC", got, want)
	}
	if got, want := latest(other), at("2026-11-01T12:00:00Z"); !got.Equal(want) {
		t.Errorf("LatestEventTime(other) = %v, want %v", got, want)
	}

	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		since time.Time
		want  map[string]time.Time
	}{
		{at("2026-11-01T10:30:00Z").In(paris), map[string]time.Time{
			"o'brien": at("2026-11-01T11:00:00.000001Z"), "carol": at("2026-11-01T10:30:00Z")}},
		{at("2026-11-01T11:00:00.000001Z"), map[string]time.Time{"o'brien": at("2026-11-01T11:00:00.000001Z")}},
		{at("2026-11-01T11:00:00.000002Z"), map[string]time.Time{}},
		{time.Time{}, map[string]time.Time{
			"o'brien": at("2026-11-01T11:00:00.000001Z"), "carol": at("2026-11-01T10:30:00Z"), "bob": at("2026-11-01T09:00:00Z")}},
	} {
		got, err := db.UsersSeenSince(ctx, live, tc.since)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("UsersSeenSince(%v) (-want +got):\n%s", tc.since, diff)
		}
	}
}
