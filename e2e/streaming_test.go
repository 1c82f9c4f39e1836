package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/streaming"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// golden compares got with testdata/fixture/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", "fixture", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

// TestFixture replays the hand-worked fixture (testdata/fixture/README.md)
// and compares sessions, rejections and late events with the golden files.
func TestFixture(t *testing.T) {
	dir := t.TempDir()
	dsn := "duckdb://" + filepath.Join(dir, "w.duckdb")
	cfg := filepath.Join("..", "testdata", "fixture", "config.yaml")
	cartwheel(t, "replay", "--config", cfg, "--events", filepath.Join("..", "testdata", "fixture", "events.jsonl"), "--warehouse", dsn, "--no-models")
	q := func(sql string) string {
		return cartwheel(t, "query", "--warehouse", dsn, "--format", "csv", sql)
	}
	golden(t, "sessions.golden.csv", q(`SELECT user_id, session_start, session_end, event_count, page_views, add_to_carts,
		purchases, revenue FROM sessions ORDER BY user_id, session_start`))
	golden(t, "rejected.golden.csv", q(`SELECT kafka_offset, reason FROM rejected_events ORDER BY kafka_offset`))
	golden(t, "late.golden.csv", q(`SELECT event_id, is_late FROM events WHERE is_late ORDER BY event_id`))

	// Replaying the same file again loads nothing twice.
	cartwheel(t, "replay", "--config", cfg, "--events", filepath.Join("..", "testdata", "fixture", "events.jsonl"), "--warehouse", dsn, "--no-models")
	if got := q(`SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM rejected_events) AS r, (SELECT count(*) FROM sessions) AS s`); got != "e,r,s\n13,7,8\n" {
		t.Errorf("after a second replay: %q, want 13 events, 7 rejected, 8 sessions", got)
	}
}

// countLines counts the non-empty lines of a file.
func countLines(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var n int64
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			n++
		}
	}
	return n
}

// TestAccounting: every input record ends in exactly one place, for a
// stream with every kind of bad record.
func TestAccounting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "11", "--events", "200000", "--out", file,
		"--out-of-order", "0.02", "--late", "0.01", "--duplicate", "0.01", "--malformed", "0.01")
	// The generator's clock is simulated: add what only a wall clock makes
	// bad, and a few hand-made records of every reason.
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{
		`{"event_id":"x1","event_type":"page_view","user_id":"u","event_time":"2999-01-01T00:00:00Z"}`,
		`{"event_id":"x2","event_type":"checkout","user_id":"u","event_time":"2026-11-01T00:00:00Z"}`,
		`{"event_id":"x3","event_type":"purchase","user_id":"u","event_time":"2026-11-01T00:00:00Z","price":3}`,
		`{"event_id":"x4","event_type":"page_view","user_id":"u","event_time":"yesterday"}`,
		`{"event_id":"x5","event_type":"page_view","user_id":"u","event_time":"2026-11-01T00:00:00Z"}`,
		`{"event_id":"x5","event_type":"page_view","user_id":"u","event_time":"2026-11-01T00:00:00Z"}`,
		`{"event_id":`,
	}
	fmt.Fprintln(f, strings.Join(extra, "\n"))
	f.Close()
	lines := countLines(t, file)

	dsn := "duckdb://" + filepath.Join(dir, "w.duckdb")
	cartwheel(t, "replay", "--events", file, "--warehouse", dsn, "--no-models")
	db := openDB(t, dsn)
	accepted := count(t, db, "SELECT count(*) FROM events")
	rejected := count(t, db, "SELECT count(*) FROM rejected_events")
	if accepted+rejected != lines {
		t.Fatalf("%d accepted + %d rejected = %d, want %d input records", accepted, rejected, accepted+rejected, lines)
	}
	reasons := map[string]int64{}
	for _, r := range query(t, db, "SELECT reason, count(*) FROM rejected_events GROUP BY reason") {
		reasons[r[0].(string)] = r[1].(int64)
	}
	for _, want := range []string{"malformed_json", "missing_field", "invalid_value", "unknown_event_type", "future_event_time", "duplicate"} {
		if reasons[want] == 0 {
			t.Errorf("no record rejected as %s (got %v)", want, reasons)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM events WHERE is_late"); n == 0 {
		t.Errorf("no late events in a stream with late records")
	}
	// Offsets are dense per partition: nothing skipped, nothing twice.
	gaps := query(t, db, `SELECT kafka_partition, count(*), max(kafka_offset) + 1 FROM
		(SELECT kafka_partition, kafka_offset FROM events UNION ALL SELECT kafka_partition, kafka_offset FROM rejected_events)
		GROUP BY kafka_partition HAVING count(*) <> max(kafka_offset) + 1 OR count(DISTINCT kafka_offset) <> count(*)`)
	if len(gaps) > 0 {
		t.Errorf("partitions with missing or repeated offsets: %v", gaps)
	}
}

// sessionSQL is DuckDB's own batch sessionization (lag + running sum) of the
// accepted, on-time events: the reference the streaming sessions must equal.
const sessionSQL = `
WITH e AS (
  SELECT stream_id, kafka_partition, user_id, event_time, event_type, revenue FROM events WHERE NOT is_late
), flagged AS (
  SELECT *, CASE WHEN event_time - lag(event_time) OVER w < INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS starts
  FROM e WINDOW w AS (PARTITION BY stream_id, kafka_partition, user_id ORDER BY event_time)
), numbered AS (
  SELECT *, sum(starts) OVER (PARTITION BY stream_id, kafka_partition, user_id ORDER BY event_time
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n
  FROM flagged
)
SELECT user_id, min(event_time) AS session_start, max(event_time) AS session_end, count(*) AS event_count,
  count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
  count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
  count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
  CAST(sum(revenue) AS DECIMAL(18,2)) AS revenue
FROM numbered GROUP BY stream_id, kafka_partition, user_id, n`

// TestDifferentialSessions replays a million generated events with disorder,
// late records and duplicates and checks, row by row, that the streaming
// sessions equal DuckDB's batch sessionization of the same on-time events.
func TestDifferentialSessions(t *testing.T) {
	short(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "42", "--events", "1000000", "--users", "50000", "--out", file,
		"--out-of-order", "0.05", "--late", "0.01", "--duplicate", "0.02")
	dsn := "duckdb://" + filepath.Join(dir, "w.duckdb")
	cartwheel(t, "replay", "--events", file, "--warehouse", dsn, "--no-models")
	db := openDB(t, dsn)

	if n := count(t, db, "SELECT count(*) FROM events"); n < 950_000 {
		t.Fatalf("only %d events accepted", n)
	}
	if n := count(t, db, "SELECT count(*) FROM events WHERE is_late"); n == 0 {
		t.Fatal("no late events: the test would not exercise lateness")
	}
	order := " ORDER BY user_id, session_start"
	want := query(t, db, "SELECT * FROM ("+sessionSQL+")"+order)
	got := query(t, db, `SELECT user_id, session_start, session_end, event_count, page_views, add_to_carts, purchases, revenue
		FROM sessions`+order)
	if len(got) != len(want) {
		t.Errorf("%d streaming sessions, %d from SQL", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if diff := cmp.Diff(want[i], got[i]); diff != "" {
			t.Fatalf("session %d differs (-sql +streaming):\n%s", i, diff)
		}
	}
	// Ids are unique and derived from user and start.
	if n := count(t, db, "SELECT count(*) - count(DISTINCT session_id) FROM sessions"); n != 0 {
		t.Errorf("%d duplicate session ids", n)
	}
}

// TestDeadlineStopCommits: a pipeline whose context ends by a deadline
// (cartwheel run --duration) stops like one that is cancelled — it commits
// what it has read — and reports no error. The deadline comes inside the
// poll that returns the last record, before the pipeline has applied it:
// that poll's records are in the final commit too.
func TestDeadlineStopCommits(t *testing.T) {
	const n = 5_000
	b, _ := preload(t, n, 3)
	db, err := warehouse.Open(context.Background(), "duckdb://"+filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, end := context.WithCancelCause(context.Background())
	defer end(nil)
	// What a parent deadline looks like to the pipeline, when the last
	// record is polled (kgo runs this hook before PollRecords returns).
	polled := &pollCounter{at: n, reached: func() { end(context.DeadlineExceeded) }}
	// Batches are never cut by size or delay: only the final commit can
	// write anything.
	p, err := streaming.New(db, streaming.WithBrokers(b.Addrs()...), streaming.WithBatch(1_000_000, time.Hour),
		streaming.WithKafkaOptions(kgo.WithHooks(polled)),
		streaming.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after the deadline: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("polled %d of %d records in 60 s", polled.n.Load(), n)
	}
	r, err := db.Query(context.Background(), "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM rejected_events)")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Rows[0][0]; got != int64(n) {
		t.Fatalf("committed %v of %d records at the deadline", got, n)
	}
}

// pollCounter counts the records the consumer has polled and calls
// reached at the at-th.
type pollCounter struct {
	n       atomic.Int64
	at      int64
	reached func()
}

func (c *pollCounter) OnFetchRecordUnbuffered(_ *kgo.Record, polled bool) {
	if polled && c.n.Add(1) == c.at {
		c.reached()
	}
}
