package models

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// fillSynthetic fills events and sessions with n synthetic events of the
// given number of users, by SQL (DuckDB): sessions of five events (one
// minute and a half apart, the first a page view), each user's sessions an
// hour apart, 20% add_to_cart and 10% purchase after the first event, and
// 1% late events (in no session).
func fillSynthetic(ctx context.Context, db DB, n, users int) error {
	stmts := []string{
		fmt.Sprintf(`INSERT INTO events
		SELECT
			'evt-' || e AS event_id,
			CASE WHEN e %% 5 = 0 OR hash(e) %% 100 < 70 THEN 'page_view'
			     WHEN hash(e) %% 100 < 90 THEN 'add_to_cart' ELSE 'purchase' END AS event_type,
			'user-' || (s %% %[2]d) AS user_id,
			TIMESTAMP '2026-11-01 00:00:00' + to_seconds(CAST((s // %[2]d) * 3600 + hash(s) %% 600 + (e %% 5) * 90 AS BIGINT))
				- CASE WHEN e %% 100 = 99 THEN INTERVAL 20 MINUTE ELSE INTERVAL 0 MINUTE END AS event_time,
			'prod-' || (hash(e) %% 500) AS product_id,
			CAST((100 + hash(e) %% 20000) / 100.0 AS DECIMAL(12,2)) AS price,
			CAST(1 + hash(e * 7) %% 3 AS INTEGER) AS quantity,
			CAST(0 AS DECIMAL(12,2)) AS revenue,
			NULL AS client_session_id,
			['desktop', 'mobile', 'tablet'][CAST(1 + hash(s %% %[2]d) %% 3 AS BIGINT)] AS device,
			['US', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', 'CA'][CAST(1 + hash(s %% %[2]d + 1) %% 8 AS BIGINT)] AS country,
			['books', 'electronics', 'home', 'fashion', 'sports', 'toys'][CAST(1 + hash(e) %% 6 AS BIGINT)] AS category,
			NULL AS referrer,
			e %% 100 = 99 AS is_late,
			1 AS stream_id,
			CAST((s %% %[2]d) %% 8 AS INTEGER) AS kafka_partition,
			e AS kafka_offset,
			TIMESTAMP '2026-11-01 00:00:00' AS ingested_at
		FROM (SELECT range AS e, range // 5 AS s FROM range(%[1]d))`, n, users),
		`UPDATE events SET revenue = price * quantity WHERE event_type = 'purchase'`,
		`INSERT INTO sessions
		SELECT md5(user_id || CAST(min(event_time) AS VARCHAR)), user_id, min(event_time), max(event_time), count(*),
			count(*) FILTER (WHERE event_type = 'page_view'), count(*) FILTER (WHERE event_type = 'add_to_cart'),
			count(*) FILTER (WHERE event_type = 'purchase'), sum(revenue), 1, min(kafka_partition),
			max(event_time) + INTERVAL 30 MINUTE
		FROM events WHERE NOT is_late GROUP BY kafka_offset // 5, user_id`,
		`CHECKPOINT`,
	}
	for _, s := range stmts {
		if err := db.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// benchBuild times a full build (seeds, models, tests) and prints the
// seconds of every node.
func benchBuild(tb testing.TB, events, users int) time.Duration {
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := warehouse.Open(ctx, "duckdb://"+dir+"/bench.duckdb")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	t0 := time.Now()
	if err := fillSynthetic(ctx, db, events, users); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("filled %d events of %d users in %.1fs", events, users, time.Since(t0).Seconds())
	p := builtin(tb)
	var out strings.Builder
	t0 = time.Now()
	rep, err := Build(ctx, db, p, WithOutput(&out), WithRunHistory(false), WithThreads(envInt("CARTWHEEL_BENCH_THREADS", 4)))
	total := time.Since(t0)
	if err != nil {
		tb.Fatalf("build: %v\n%s", err, out.String())
	}
	results := slices.Clone(rep.Results)
	slices.SortFunc(results, func(a, b NodeResult) int { return int(b.Duration - a.Duration) })
	var lines []string
	for _, r := range results {
		lines = append(lines, fmt.Sprintf("%7.3fs  %-6s %-8s %s", r.Duration.Seconds(), r.Node.ResourceType, r.Status, r.Node.Name))
	}
	tb.Logf("build of %d events: %.2fs total\n%s", events, total.Seconds(), strings.Join(lines, "\n"))
	return total
}

// BenchmarkBuild10M: go test ./models -run '^$' -bench Build10M -benchtime 1x
// (CARTWHEEL_BENCH_EVENTS and CARTWHEEL_BENCH_USERS change the size).
func BenchmarkBuild10M(b *testing.B) {
	events, users := envInt("CARTWHEEL_BENCH_EVENTS", 10_000_000), envInt("CARTWHEEL_BENCH_USERS", 10_000)
	for b.Loop() {
		b.StopTimer()
		d := benchBuild(b, events, users)
		b.ReportMetric(d.Seconds(), "build-s")
		b.StartTimer()
	}
}

// TestBuildFigures prints the same figures as BenchmarkBuild10M when
// CARTWHEEL_BENCH=1 (with -v): seconds per node and in total.
func TestBuildFigures(t *testing.T) {
	if os.Getenv("CARTWHEEL_BENCH") == "" {
		t.Skip("set CARTWHEEL_BENCH=1 to run the 10M-event build")
	}
	benchBuild(t, envInt("CARTWHEEL_BENCH_EVENTS", 10_000_000), envInt("CARTWHEEL_BENCH_USERS", 10_000))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
