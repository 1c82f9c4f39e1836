package dashboard_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestPanelFigures prints the latency of every panel's query at 10M events
// in DuckDB (SPEC §6: p95 ≤ 50 ms), through the API's own path — GET
// /api/panels/{name} over HTTP, the read-only guard, bound parameters —
// as `make bench` does:
//
//	CARTWHEEL_BENCH=1 go test -tags duckdb_arrow -count=1 -run '^TestPanelFigures$' -v ./dashboard/
//
// The warehouse is the generator's clickstream (seed 1, with late,
// duplicate, out-of-order and malformed records) replayed through the
// pipeline, as `cartwheel generate` and `cartwheel replay` make it. With
// CARTWHEEL_BENCH_WAREHOUSE=FILE.duckdb the file is reused when it exists
// (and kept when it is built); CARTWHEEL_BENCH_EVENTS and
// CARTWHEEL_BENCH_USERS change the size. DuckDB runs with the appliance's
// thread count. Figures, never assertions: the machines are noisy.
func TestPanelFigures(t *testing.T) {
	if os.Getenv("CARTWHEEL_BENCH") == "" {
		t.Skip("set CARTWHEEL_BENCH=1 to measure the panels at 10M events")
	}
	ctx := context.Background()
	events := envInt("CARTWHEEL_BENCH_EVENTS", 10_000_000)
	users := envInt("CARTWHEEL_BENCH_USERS", generator.DefaultConfig().Users)
	path := os.Getenv("CARTWHEEL_BENCH_WAREHOUSE")
	if path == "" {
		path = filepath.Join(t.TempDir(), "bench.duckdb")
	}
	if _, err := os.Stat(path); err != nil {
		buildBenchWarehouse(t, path, events, users)
	}
	db, err := warehouse.Open(ctx, "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int64 {
		res, err := db.Query(ctx, q)
		if err != nil || len(res.Rows) != 1 {
			t.Fatalf("%s: %v", q, err)
		}
		n, _ := strconv.ParseInt(fmt.Sprint(res.Rows[0][0]), 10, 64)
		return n
	}
	nEvents, nSessions := count("SELECT COUNT(*) FROM events"), count("SELECT COUNT(*) FROM sessions")
	res, err := db.Query(ctx, "SELECT MAX(event_time) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	last, ok := res.Rows[0][0].(time.Time)
	if !ok {
		t.Fatalf("no events in %s", path)
	}
	// The ranges end where the data's event times end, as the live
	// dashboard's end at now; each request moves them on by the page's
	// refresh interval (5 s).
	end := last.Truncate(time.Minute).Add(time.Minute)
	srv, d := server(t, db)
	if dir := os.Getenv("CARTWHEEL_BENCH_PROJECT"); dir != "" {
		// Another project's panels (say, a copy of dashboards/ to compare
		// a rewrite with).
		srv, d = serverOf(t, db, os.DirFS(dir))
	}
	runs := envInt("CARTWHEEL_BENCH_RUNS", 40)
	type row struct {
		panel string
		figs  []string
	}
	spans := []struct {
		name string
		d    time.Duration
	}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}
	var table []row
	for _, p := range d.Panels {
		r := row{panel: p.Name}
		for _, sp := range spans {
			var query, total []float64
			var rows int
			anchor := end
			if p.Live == "pipeline" {
				// Late and rejected records by arrival: the replay's
				// arrivals are the last minutes of the wall clock.
				anchor = time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
			}
			step := dashboard.AutoStep(sp.d)
			for i := -3; i < runs; i++ { // three to warm up
				// The page's request: the range ends at the next step
				// boundary after now and the step is explicit, so the
				// buckets stay put between refreshes.
				now := anchor.Add(time.Duration(i) * 5 * time.Second)
				to := now.Truncate(step)
				if !to.Equal(now) {
					to = to.Add(step)
				}
				q := url.Values{"from": {to.Add(-sp.d).Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)},
					"step": {strconv.FormatInt(int64(step/time.Second), 10)}}
				start := time.Now()
				resp, body := get(t, srv, "/api/panels/"+p.Name+"?"+q.Encode())
				took := time.Since(start)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s over %s: %d %s", p.Name, sp.name, resp.StatusCode, body.Error)
				}
				if i < 0 {
					continue
				}
				query = append(query, serverTiming(t, resp.Header.Get("Server-Timing")))
				total = append(total, float64(took.Microseconds())/1000)
				rows = len(body.Rows)
			}
			slices.Sort(query)
			slices.Sort(total)
			q50, q95 := pct(query, 0.50), pct(query, 0.95)
			fmt.Printf("FIGURE panel %-18s %-3s (step %-5s) query p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms; HTTP p50 %6.1f ms  p95 %6.1f ms; %d rows\n",
				p.Name, sp.name, dashboardStep(sp.d), q50, q95, query[len(query)-1], pct(total, 0.50), pct(total, 0.95), rows)
			r.figs = append(r.figs, fmt.Sprintf("%.1f / %.1f ms", q50, q95))
		}
		table = append(table, r)
	}
	fmt.Printf("\nPanel queries at %d events, %d sessions (DuckDB, %d requests per cell, ranges ending at the last event time; pipeline_health's at now, the arrivals of the replay)\n\n", nEvents, nSessions, runs)
	fmt.Println("| panel | 24 h, p50 / p95 | 7 d, p50 / p95 | target |")
	fmt.Println("|---|---|---|---|")
	for _, r := range table {
		fmt.Printf("| `%s` | %s | %s | p95 ≤ 50 ms |\n", r.panel, r.figs[0], r.figs[1])
	}
}

// buildBenchWarehouse generates the clickstream of `cartwheel generate
// --seed 1 --events N` (with 2 % out-of-order, 0.5 % late, 1 % duplicate
// and 0.1 % malformed records, starting a year ago) and replays it into a
// DuckDB file, as `cartwheel replay --no-models` does.
func buildBenchWarehouse(t *testing.T, path string, events, users int) {
	t.Helper()
	gc := generator.DefaultConfig()
	gc.Seed, gc.Users = 1, users
	// A year back, so that no event is in the future (the pipeline rejects
	// those): 10M events of 10,000 users span about three months.
	gc.Start = time.Now().UTC().Truncate(24*time.Hour).AddDate(-1, 0, 0)
	gc.OutOfOrder, gc.Late, gc.Duplicate, gc.Malformed = 0.02, 0.005, 0.01, 0.001
	gen, err := generator.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "events.jsonl")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Now()
	if _, err := gen.WriteJSONL(w, events); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d records in %.1f s", events, time.Since(start).Seconds())
	cfg := appliance.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Warehouse = "duckdb://" + path
	start = time.Now()
	if _, err := appliance.Replay(context.Background(), cfg, file, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	t.Logf("replayed them into %s in %.1f s", path, time.Since(start).Seconds())
	os.Remove(file)
}

// serverOf is server (panels_test.go) with the panels of another project.
func serverOf(t *testing.T, db dashboard.Querier, fsys fs.FS) (*httptest.Server, *dashboard.Dashboard) {
	t.Helper()
	d, err := dashboard.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var aopts []api.Option
	for p, h := range dashboard.New(d, db).Routes() {
		aopts = append(aopts, api.WithGET(p, h))
	}
	srv := httptest.NewServer(api.New(db, append(aopts, api.WithToken(testToken))...).Handler())
	t.Cleanup(srv.Close)
	srv.Client().Transport = withToken{srv.Client().Transport}
	return srv, d
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// serverTiming reads the query's milliseconds from `query;dur=…`.
func serverTiming(t *testing.T, h string) float64 {
	t.Helper()
	for _, part := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "dur="); ok {
			ms, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return ms
			}
		}
	}
	t.Fatalf("Server-Timing %q", h)
	return 0
}

// pct is the p-th quantile of sorted values (nearest rank).
func pct(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func dashboardStep(span time.Duration) string {
	st := dashboard.AutoStep(span)
	s := st.String()
	if st >= time.Minute {
		s = strings.TrimSuffix(s, "0s")
	}
	if st >= time.Hour {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
