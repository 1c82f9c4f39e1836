package pgwire_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/pgwire"
	"github.com/cartwheel-analytics/cartwheel/project"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestPgwireFigures measures, per panel SQL over a 7-day range at 10M
// events, the p95 latency in process (QueryReadOnly), over HTTP
// (/api/panels/NAME) and over the Postgres endpoint (pgx, bound
// parameters), and the rows per second psql receives for a 1M-row
// result. Figures, not assertions:
//
//	CARTWHEEL_BENCH=1 go test -tags duckdb_arrow -count=1 -run '^TestPgwireFigures$' -v ./pgwire/
//
// CARTWHEEL_BENCH_EVENTS changes the size; CARTWHEEL_BENCH_WAREHOUSE=FILE
// reuses (or keeps) the DuckDB file, as dashboard's TestPanelFigures does.
func TestPgwireFigures(t *testing.T) {
	if os.Getenv("CARTWHEEL_BENCH") == "" {
		t.Skip("set CARTWHEEL_BENCH=1 to measure the Postgres endpoint")
	}
	ctx := context.Background()
	events := envInt("CARTWHEEL_BENCH_EVENTS", 10_000_000)
	path := os.Getenv("CARTWHEEL_BENCH_WAREHOUSE")
	if path == "" {
		path = filepath.Join(t.TempDir(), "bench.duckdb")
	}
	if _, err := os.Stat(path); err != nil {
		buildWarehouse(t, path, events)
	}
	db, err := warehouse.Open(ctx, "duckdb://"+path, warehouse.QueryLimits(warehouse.Limits{Timeout: time.Minute, MaxRows: 2_000_000}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(ctx, "SELECT MAX(event_time), COUNT(*) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	last, _ := res.Rows[0][0].(time.Time)
	nEvents := res.Rows[0][1]

	d, err := dashboard.Load(project.FS)
	if err != nil {
		t.Fatal(err)
	}
	var aopts []api.Option
	for p, h := range dashboard.New(d, db).Routes() {
		aopts = append(aopts, api.WithGET(p, h))
	}
	// Served on loopback as `cartwheel run` serves it: no token needed.
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpCtx, stopHTTP := context.WithCancel(ctx)
	defer stopHTTP()
	go api.New(db, aopts...).Serve(httpCtx, httpLn)
	httpURL := "http://" + httpLn.Addr().String()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg := pgwire.New(db, pgwire.WithLogger(slog.New(slog.DiscardHandler)))
	go pg.Serve(ctx, ln)
	defer pg.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://bench@%s:%s/cartwheel?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	runs := envInt("CARTWHEEL_BENCH_RUNS", 40)
	span := 7 * 24 * time.Hour
	step := dashboard.AutoStep(span)
	to := last.Truncate(step).Add(step)
	from := to.Add(-span)
	const layout = "2006-01-02 15:04:05"
	for _, p := range d.Panels {
		args := []any{from, to, int64(step / time.Second)}[:p.Params]
		pgArgs := []any{from.Format(layout), to.Format(layout), strconv.FormatInt(int64(step/time.Second), 10)}[:p.Params]
		q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "step": {strconv.FormatInt(int64(step/time.Second), 10)}}
		var inproc, overHTTP, overPG []float64
		for i := -3; i < runs; i++ {
			start := time.Now()
			if _, err := db.QueryReadOnly(ctx, p.SQL, args...); err != nil {
				t.Fatalf("%s in process: %v", p.Name, err)
			}
			a := ms(start)
			start = time.Now()
			resp, err := http.Get(httpURL + "/api/panels/" + p.Name + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Rows [][]any }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s over HTTP: %d", p.Name, resp.StatusCode)
			}
			b := ms(start)
			start = time.Now()
			rows, err := conn.Query(ctx, p.SQL, pgArgs...)
			if err != nil {
				t.Fatalf("%s over Postgres: %v", p.Name, err)
			}
			for rows.Next() {
				if _, err := rows.Values(); err != nil {
					t.Fatal(err)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%s over Postgres: %v", p.Name, err)
			}
			c := ms(start)
			if i >= 0 {
				inproc, overHTTP, overPG = append(inproc, a), append(overHTTP, b), append(overPG, c)
			}
		}
		ip, hp, pp := p95(inproc), p95(overHTTP), p95(overPG)
		fmt.Printf("FIGURE pgwire panel %-18s 7d p95: Postgres %6.1f ms, HTTP %6.1f ms, in-process %6.1f ms; Postgres/HTTP %+5.1f %% (target within 10 %%), %d events\n",
			p.Name, pp, hp, ip, (pp/hp-1)*100, nEvents)
	}

	// Rows per second streamed to psql (text protocol, output discarded).
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Log("psql not installed: no streaming figure")
		return
	}
	q := "SELECT event_id, user_id, event_time, revenue FROM events LIMIT 1000000"
	start := time.Now()
	cmd := exec.Command(psql, "-h", host, "-p", port, "-X", "-At", "-U", "bench", "-c", q, "cartwheel")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n++
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("FIGURE pgwire psql streams %d rows (4 columns) in %.2f s: %.0f rows/s\n", n, secs, float64(n)/secs)
}

func ms(start time.Time) float64 { return float64(time.Since(start).Microseconds()) / 1000 }

func p95(v []float64) float64 {
	slices.Sort(v)
	return v[min(len(v)-1, int(float64(len(v))*0.95))]
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// buildWarehouse generates and replays N events as dashboard's panel
// benchmark does (generator defaults, seed 1, starting a year ago).
func buildWarehouse(t *testing.T, path string, events int) {
	t.Helper()
	gc := generator.DefaultConfig()
	gc.Seed = 1
	gc.Start = time.Now().UTC().Truncate(24*time.Hour).AddDate(-1, 0, 0)
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
	if _, err := gen.WriteJSONL(w, events); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	cfg := appliance.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Warehouse = "duckdb://" + path
	if _, err := appliance.Replay(context.Background(), cfg, file, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	os.Remove(file)
}
