package warehouse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
)

// TestPostgresConcurrentOpen: processes started at once against one empty
// database all come up with one schema (issue 13). CREATE TABLE IF NOT
// EXISTS alone lets the loser of a race fail on the catalog's unique index
// (23505 on pg_type_typname_nsp_index).
func TestPostgresConcurrentOpen(t *testing.T) {
	srv := pgtest.Get(t)
	ctx := context.Background()
	const rounds, starts = 3, 8
	for round := range rounds {
		dsn := srv.NewDatabase(t)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		ready := make(chan struct{})
		for i := range starts {
			wg.Go(func() {
				<-ready
				db, err := Open(ctx, dsn)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("round %d, start %d: %w", round, i, err))
					mu.Unlock()
					return
				}
				db.Close()
			})
		}
		close(ready)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("%d of %d concurrent starts failed:\n%v", len(errs), starts, err)
		}

		db, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.Query(ctx, `SELECT table_name, table_type FROM information_schema.tables
			WHERE table_schema = current_schema() ORDER BY table_name`)
		if err != nil {
			t.Fatal(err)
		}
		want := [][]any{{"cartwheel_meta", "BASE TABLE"}, {"events", "BASE TABLE"}, {"rejected_events", "BASE TABLE"},
			{"session_events", "VIEW"}, {"sessions", "BASE TABLE"}, {"stream_checkpoints", "BASE TABLE"}, {"streams", "BASE TABLE"},
			{"user_activity", "BASE TABLE"}}
		if fmt.Sprint(r.Rows) != fmt.Sprint(want) {
			t.Errorf("tables %v, want %v", r.Rows, want)
		}
		r, err = db.Query(ctx, `SELECT key, value FROM cartwheel_meta`)
		if err != nil {
			t.Fatal(err)
		}
		if want := [][]any{{"schema_version", SchemaVersion}}; fmt.Sprint(r.Rows) != fmt.Sprint(want) {
			t.Errorf("cartwheel_meta %v, want %v", r.Rows, want)
		}
		r, err = db.Query(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
			AND indexname IN ('events_stream_partition_offset', 'sessions_stream_partition_user', 'events_event_time')
			ORDER BY indexname`)
		if err != nil {
			t.Fatal(err)
		}
		if want := [][]any{{"events_event_time"}, {"events_stream_partition_offset"}, {"sessions_stream_partition_user"}}; fmt.Sprint(r.Rows) != fmt.Sprint(want) {
			t.Errorf("indexes %v, want %v", r.Rows, want)
		}
		db.Close()
	}
}

func TestRetryCreateRace(t *testing.T) {
	ctx := context.Background()
	race := &pgconn.PgError{Code: "23505", Message: `duplicate key value violates unique constraint "pg_type_typname_nsp_index"`}
	calls := 0
	err := retryCreateRace(ctx, func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("create schema: %w", race)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("a race twice, then success: err %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	other := &pgconn.PgError{Code: "42501", Message: "permission denied for schema public"}
	if err := retryCreateRace(ctx, func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Errorf("another error: err %v after %d calls, want it at once", err, calls)
	}

	for _, tc := range []struct {
		err  error
		race bool
	}{
		{race, true},
		{&pgconn.PgError{Code: "42P07", Message: `relation "events" already exists`}, true},
		{&pgconn.PgError{Code: "42710"}, true},
		{classify(&pgconn.PgError{Code: "40001"}), true},
		{&pgconn.PgError{Code: "XX000", Message: "1023: Serializable isolation violation on table - 123, transactions forming the cycle are: 1, 2"}, true},
		{other, false},
		{errors.New("connection refused"), false},
	} {
		if got := isCreateRace(tc.err); got != tc.race {
			t.Errorf("isCreateRace(%v) = %v, want %v", tc.err, got, tc.race)
		}
	}
}

// TestPostgresConcurrentStream: instances started at once register their
// streams at once. The loser of the race for the next stream_id or for the
// name retries, and every instance gets the same id for the same name
// (three instances started together exited on streams_pkey in
// TestTortureScaleOut).
func TestPostgresConcurrentStream(t *testing.T) {
	srv := pgtest.Get(t)
	ctx := context.Background()
	const rounds, starts = 3, 6
	for round := range rounds {
		dsn := srv.NewDatabase(t)
		dbs := make([]*DB, starts)
		for i := range dbs {
			db, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			dbs[i] = db
		}
		ids := make([]int32, starts)
		errs := make([]error, starts)
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for i, db := range dbs {
			wg.Go(func() {
				<-ready
				// Two names, so that both the id and the name race.
				ids[i], errs[i] = db.Stream(ctx, fmt.Sprintf("orders-%d", i%2))
			})
		}
		close(ready)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: concurrent registrations failed: %v", round, err)
		}
		for i := range ids {
			if ids[i] != ids[i%2] || ids[0] == ids[1] {
				t.Fatalf("round %d: ids %v: want one id per name, two names", round, ids)
			}
		}
	}
}
