package warehouse

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFigureCheckpointStall measures what sets the freshness p99 (issue
// 11): a DuckDB checkpoint, and whether commits wait for it. Freshness p99
// ≤ 50 ms at R events/s needs the checkpoints to hold commits less than
// 1% of the time, so each row may cost a checkpoint at most 0.01/R s
// (0.5 µs at 20K rows/s), however often it runs. The figure writes the
// events table as it is today (VARCHAR ids and low-cardinality strings),
// with integer codes for the low-cardinality columns only, with a UUID
// event_id only, and typed throughout (UUID, codes, integer keys for user,
// product and client session), in commits of
// 1,000 rows with no automatic checkpoint, then times one CHECKPOINT of
// 4 row groups, and the commits made meanwhile from a second connection:
// on DuckDB 1.5.6 they wait for it, although they only insert into a table
// without indexes. CARTWHEEL_FIGURES=1; `make bench` runs it.
func TestFigureCheckpointStall(t *testing.T) {
	if os.Getenv("CARTWHEEL_FIGURES") == "" {
		t.Skip("set CARTWHEEL_FIGURES=1")
	}
	const rows = 4 * 122_880 // DuckDB's row group size
	shapes := []struct{ name, ddl, insert string }{
		{"today's VARCHAR columns", `CREATE TABLE events (event_id VARCHAR, event_type VARCHAR, user_id VARCHAR,
			event_time TIMESTAMP, product_id VARCHAR, price DECIMAL(12,2), quantity INTEGER, revenue DECIMAL(12,2),
			client_session_id VARCHAR, device VARCHAR, country VARCHAR, category VARCHAR, referrer VARCHAR,
			is_late BOOLEAN, stream_id INTEGER, kafka_partition INTEGER, kafka_offset BIGINT, ingested_at TIMESTAMP)`,
			todaysInsert},
		{"codes, VARCHAR ids", `CREATE TABLE events (event_id VARCHAR, event_type UTINYINT, user_id VARCHAR,
			event_time TIMESTAMP, product_id VARCHAR, price DECIMAL(12,2), quantity INTEGER, revenue DECIMAL(12,2),
			client_session_id VARCHAR, device UTINYINT, country USMALLINT, category USMALLINT, referrer USMALLINT,
			is_late BOOLEAN, stream_id INTEGER, kafka_partition INTEGER, kafka_offset BIGINT, ingested_at TIMESTAMP)`,
			`INSERT INTO events SELECT uuid()::VARCHAR, i % 4,
			'user-' || (hash(i) % 100000), TIMESTAMP '2026-12-01' + to_microseconds(i * 50000), 'prod-' || (i % 500),
			9.99, 1, 9.99, 'cs-' || (hash(i + 7) % 1000000), i % 3, i % 8, i % 5, i % 4, false, 1, i % 8, i, now()
			FROM range(?::BIGINT, ?::BIGINT) AS r(i)`},
		{"UUID id only", `CREATE TABLE events (event_id UUID, event_type VARCHAR, user_id VARCHAR,
			event_time TIMESTAMP, product_id VARCHAR, price DECIMAL(12,2), quantity INTEGER, revenue DECIMAL(12,2),
			client_session_id VARCHAR, device VARCHAR, country VARCHAR, category VARCHAR, referrer VARCHAR,
			is_late BOOLEAN, stream_id INTEGER, kafka_partition INTEGER, kafka_offset BIGINT, ingested_at TIMESTAMP)`,
			`INSERT INTO events SELECT uuid(), ['page_view','add_to_cart','purchase','search'][1 + i % 4],
			'user-' || (hash(i) % 100000), TIMESTAMP '2026-12-01' + to_microseconds(i * 50000), 'prod-' || (i % 500),
			9.99, 1, 9.99, 'cs-' || (hash(i + 7) % 1000000), ['mobile','desktop','tablet'][1 + i % 3],
			['DE','FR','US','GB','NL','ES','IT','PL'][1 + i % 8], ['shoes','books','garden','toys','games'][1 + i % 5],
			['google','direct','newsletter','ads'][1 + i % 4], false, 1, i % 8, i, now()
			FROM range(?::BIGINT, ?::BIGINT) AS r(i)`},
		{"typed columns", `CREATE TABLE events (event_id UUID, event_type UTINYINT, user_key BIGINT,
			event_time TIMESTAMP, product_id INTEGER, price DECIMAL(12,2), quantity INTEGER, revenue DECIMAL(12,2),
			client_session_key BIGINT, device UTINYINT, country USMALLINT, category USMALLINT, referrer USMALLINT,
			is_late BOOLEAN, stream_id INTEGER, kafka_partition INTEGER, kafka_offset BIGINT, ingested_at TIMESTAMP)`,
			`INSERT INTO events SELECT uuid(), i % 4, hash(i) % 100000, TIMESTAMP '2026-12-01' + to_microseconds(i * 50000),
			i % 500, 9.99, 1, 9.99, hash(i + 7) % 1000000, i % 3, i % 8, i % 5, i % 4, false, 1, i % 8, i, now()
			FROM range(?::BIGINT, ?::BIGINT) AS r(i)`},
	}
	for _, shape := range shapes {
		var perRow, stalls, checkpoints []float64
		for range 3 {
			cp, stall := checkpointStall(t, shape.ddl, shape.insert, rows)
			checkpoints = append(checkpoints, float64(cp.Milliseconds()))
			perRow = append(perRow, float64(cp.Microseconds())/rows)
			stalls = append(stalls, float64(stall.Milliseconds()))
		}
		t.Logf("FIGURE checkpoint of %d rows, %s: %.0f ms (%.2f µs per row; 1%% of the time at %.0fK rows/s), longest commit meanwhile %.0f ms (medians of 3)",
			rows, shape.name, median(checkpoints), median(perRow), 10/median(perRow), median(stalls))
	}
}

// checkpointStall writes rows in commits of 1,000, then runs a CHECKPOINT
// on one connection while a second keeps committing 1,000-row inserts: it
// returns how long the checkpoint took and the longest of those commits.
func checkpointStall(t *testing.T, ddl, insert string, rows int) (checkpoint, longest time.Duration) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "f.db")+"?threads=1&checkpoint_threshold=100GB")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	write, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer write.Close()
	next := 0
	commit := func() time.Duration {
		begin := time.Now()
		if _, err := write.ExecContext(ctx, insert, next, next+1000); err != nil {
			t.Fatal(err)
		}
		next += 1000
		return time.Since(begin)
	}
	for next < rows {
		commit()
	}
	done := make(chan time.Duration)
	go func() {
		begin := time.Now()
		_, err := db.ExecContext(ctx, "CHECKPOINT")
		if err != nil {
			t.Error(err)
		}
		done <- time.Since(begin)
	}()
	for {
		select {
		case checkpoint = <-done:
			return checkpoint, longest
		case <-time.After(5 * time.Millisecond):
			longest = max(longest, commit())
		}
	}
}

// todaysInsert writes rows [$1, $2) of events as generated: VARCHAR ids and
// low-cardinality strings.
const todaysInsert = `INSERT INTO events SELECT uuid()::VARCHAR, ['page_view','add_to_cart','purchase','search'][1 + i % 4],
			'user-' || (hash(i) % 100000), TIMESTAMP '2026-12-01' + to_microseconds(i * 50000), 'prod-' || (i % 500),
			9.99, 1, 9.99, 'cs-' || (hash(i + 7) % 1000000), ['mobile','desktop','tablet'][1 + i % 3],
			['DE','FR','US','GB','NL','ES','IT','PL'][1 + i % 8], ['shoes','books','garden','toys','games'][1 + i % 5],
			['google','direct','newsletter','ads'][1 + i % 4], false, 1, i % 8, i, now()
			FROM range(?::BIGINT, ?::BIGINT) AS r(i)`

// TestFigureCheckpointInterval measures whether checkpoints that the
// appliance started itself, often and small, would shorten what a commit
// waits for (issue 11). Each row of today's events table is committed in
// 1,000-row inserts, into a table that holds 4 checkpointed row groups,
// and a CHECKPOINT follows every k rows. On DuckDB 1.5.6 a checkpoint
// rewrites the table's partial last row group, so small ones cost many
// times more per row than large ones, and now and then one is as long as
// an automatic checkpoint. CARTWHEEL_FIGURES=1; `make bench` runs it.
func TestFigureCheckpointInterval(t *testing.T) {
	if os.Getenv("CARTWHEEL_FIGURES") == "" {
		t.Skip("set CARTWHEEL_FIGURES=1")
	}
	events := eventsDDL()
	ctx := context.Background()
	for _, every := range []int{1_000, 4_000, 20_000, 100_000} {
		db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "f.db")+"?threads=1&checkpoint_threshold=100GB")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exec := func(q string, args ...any) {
			if _, err := conn.ExecContext(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		exec(events)
		next := 0
		for ; next < 4*122_880; next += 1000 {
			exec(todaysInsert, next, next+1000)
		}
		exec("CHECKPOINT")
		var ms []float64
		var total time.Duration
		rounds := min(60, 2_000_000/every)
		for range rounds {
			for range every / 1000 {
				exec(todaysInsert, next, next+1000)
				next += 1000
			}
			begin := time.Now()
			exec("CHECKPOINT")
			d := time.Since(begin)
			total += d
			ms = append(ms, float64(d.Microseconds())/1000)
		}
		t.Logf("FIGURE checkpoint every %d rows of events (%d of them): median %.1f ms, longest %.0f ms, %.2f µs per row",
			every, rounds, median(ms), slices.Max(ms), float64(total.Microseconds())/float64(rounds*every))
		conn.Close()
		db.Close()
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestFigureCheckpointCompression measures how much of a checkpoint's CPU
// the compression choices of the events table decide (issue 11): the CPU
// time of the one thread that runs a CHECKPOINT of 4 row groups (DuckDB
// with one thread runs it on the caller's), which a busy machine disturbs
// far less than wall time, and the file's bytes per row. It compares
// DuckDB's automatic choice, the appliance's (dictionary for the
// low-cardinality strings, none for ids), every string uncompressed, and
// the numeric columns forced to bitpacking or left uncompressed.
// CARTWHEEL_FIGURES=1; `make bench` runs it.
func TestFigureCheckpointCompression(t *testing.T) {
	if os.Getenv("CARTWHEEL_FIGURES") == "" {
		t.Skip("set CARTWHEEL_FIGURES=1")
	}
	appliance := eventsDDL()
	automatic := strings.ReplaceAll(strings.ReplaceAll(appliance,
		" USING COMPRESSION dictionary", ""), " USING COMPRESSION uncompressed", "")
	numeric := func(method string) string {
		cols := map[string]string{}
		for _, col := range []string{"event_time", "price", "quantity", "revenue", "is_late",
			"stream_id", "kafka_partition", "kafka_offset", "ingested_at"} {
			cols[col] = method
		}
		return compressColumns(appliance, cols)
	}
	shapes := []struct{ name, ddl string }{
		{"DuckDB's automatic choice", automatic},
		{"the appliance's choice", appliance},
		{"every string uncompressed", strings.ReplaceAll(appliance, "COMPRESSION dictionary", "COMPRESSION uncompressed")},
		{"numbers bitpacked", numeric("bitpacking")},
		{"numbers uncompressed", numeric("uncompressed")},
	}
	const rows = 4 * 122_880
	cpu := make([][]float64, len(shapes))
	size := make([]float64, len(shapes))
	for range 3 { // rounds interleave the shapes, so that a noisy moment hits them alike
		for i, shape := range shapes {
			d, bytes := checkpointCPU(t, shape.ddl, rows)
			cpu[i] = append(cpu[i], float64(d.Microseconds())/rows)
			size[i] = float64(bytes) / rows
		}
	}
	for i, shape := range shapes {
		t.Logf("FIGURE checkpoint of %d events rows, %s: %.2f µs CPU per row (median of 3; runs %.2f), file %.1f bytes per row",
			rows, shape.name, median(cpu[i]), cpu[i], size[i])
	}
}

// checkpointCPU writes rows of events in 1,000-row commits with no
// automatic checkpoint, then runs one CHECKPOINT and returns the CPU time
// of the thread that ran it and the database file's size afterwards.
func checkpointCPU(t *testing.T, ddl string, rows int) (time.Duration, int64) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := sql.Open("duckdb", path+"?threads=1&checkpoint_threshold=100GB")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	for next := 0; next < rows; next += 1000 {
		if _, err := conn.ExecContext(ctx, todaysInsert, next, next+1000); err != nil {
			t.Fatal(err)
		}
	}
	// A cgo call runs on the calling goroutine's thread: lock it there so
	// that RUSAGE_THREAD counts the checkpoint and nothing else.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU()
	if _, err := conn.ExecContext(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	used := threadCPU() - before
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return used, st.Size()
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// eventsDDL is the appliance's CREATE TABLE of events for DuckDB, with its
// compression choices.
func eventsDDL() string {
	for _, stmt := range ddl(DuckDB) {
		if strings.Contains(stmt, "TABLE IF NOT EXISTS events (") {
			return stmt
		}
	}
	panic("no events table in the DuckDB schema")
}
