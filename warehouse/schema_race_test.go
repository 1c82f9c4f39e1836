package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"

	"github.com/cartwheel-analytics/cartwheel/internal/syncbuf"
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
		r, err = db.Query(ctx, `SELECT key, value FROM cartwheel_meta ORDER BY key`)
		if err != nil {
			t.Fatal(err)
		}
		if want := [][]any{{"schema_ddl", schemaDigest(ddl(Postgres))}, {"schema_version", SchemaVersion}}; fmt.Sprint(r.Rows) != fmt.Sprint(want) {
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

// TestPostgresOpenBesideLongQuery: a start does not queue behind a long
// query on session_events. It used to run CREATE OR REPLACE VIEW at every
// start, whose ACCESS EXCLUSIVE lock waited for the query (a user's, or one
// a SIGKILLed instance left running on the server) without a word. Now a
// start with the schema in place runs no DDL, and one that must change the
// schema says that it waits, and goes on when the query ends.
func TestPostgresOpenBesideLongQuery(t *testing.T) {
	srv := pgtest.Get(t)
	ctx := context.Background()
	dsn := srv.NewDatabase(t)
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// A reader holds session_events (ACCESS SHARE) until release closes.
	reading, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Tx(ctx, func(tx Tx) error {
			if _, err := tx.Query(ctx, `SELECT COUNT(*) FROM session_events`); err != nil {
				return err
			}
			close(reading)
			<-release
			return nil
		})
	}()
	<-reading
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	octx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	again, err := Open(octx, dsn, WithLogger(log))
	if err != nil {
		t.Fatalf("a start beside a long query on session_events: %v", err)
	}
	again.Close()
	if logs.String() != "" {
		t.Errorf("a start with the schema in place logged:\n%s", logs.String())
	}

	// A start that must change the schema (another build's digest) waits
	// for the reader, saying so, and finishes once it is gone.
	if err := db.Exec(ctx, `UPDATE cartwheel_meta SET value = 'another build' WHERE key = 'schema_ddl'`); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { schemaLockTimeout = d }(schemaLockTimeout)
	schemaLockTimeout = 200 * time.Millisecond
	opened := make(chan error, 1)
	go func() {
		d, err := Open(octx, dsn, WithLogger(log))
		if err == nil {
			d.Close()
		}
		opened <- err
	}()
	for !strings.Contains(logs.String(), "waits for a lock") {
		select {
		case err := <-opened:
			t.Fatalf("the schema change finished (%v) while a query held session_events", err)
		case <-octx.Done():
			t.Fatal("no log line says that the start waits")
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(release)
	released = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("the start after the query ended: %v", err)
	}
	checkDigest(t, db, Postgres)
}

// syncBuffer is a log read while it is written.
type syncBuffer = syncbuf.Buffer

// TestPostgresKilledClientQueryEnds: the query of a process that is gone
// without a word (SIGKILL: its socket closes, no Terminate, no cancel)
// ends on the server within about clientCheckInterval, instead of running
// to its end and holding its locks while the restarted process waits.
func TestPostgresKilledClientQueryEnds(t *testing.T) {
	srv := pgtest.Get(t)
	ctx := context.Background()
	dsn := srv.NewDatabase(t)
	defer func(d time.Duration) { clientCheckInterval = d }(clientCheckInterval)
	clientCheckInterval = 200 * time.Millisecond
	d, err := ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := pgConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	victim, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	conn, err := victim.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	// A long query, sent without waiting for its answer; then the socket
	// closes under it, as the kernel closes a killed process's sockets.
	conn.Conn().PgConn().Frontend().SendQuery(&pgproto3.Query{String: "SELECT pg_sleep(60)"})
	if err := conn.Conn().PgConn().Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	running := func() bool {
		t.Helper()
		r, err := db.Query(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1::INTEGER AND state = 'active'`, int64(pid))
		if err != nil {
			t.Fatal(err)
		}
		return r.Rows[0][0].(int64) == 1
	}
	for deadline := time.Now().Add(5 * time.Second); !running(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long query did not start")
		}
	}
	conn.Conn().PgConn().Conn().Close()
	began := time.Now()
	for running() {
		if time.Since(began) > 20*time.Second {
			t.Fatal("the query of a client that is gone still runs after 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the server ended the dead client's query after %v", time.Since(began).Round(10*time.Millisecond))
}
