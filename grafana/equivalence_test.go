package grafana_test

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/grafana"
	"github.com/cartwheel-analytics/cartwheel/grafana/grafanatest"
	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/project"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// The fixture of dashboard/panels_test.go, UTC, a few times moved off the
// minute: u4's purchase is late, u3's session crosses midnight, 2026-11-03
// has a session but no purchase.
var fixture = []string{
	`INSERT INTO events (event_id, event_type, user_id, event_time, product_id, price, quantity, revenue, is_late, stream_id, kafka_partition, kafka_offset, ingested_at) VALUES
	 ('e1', 'page_view',   'u1', TIMESTAMP '2026-11-01 10:00:07', 'p1', 10.00, 1,   0.00, false, 1, 0, 0, TIMESTAMP '2026-11-01 10:00:08'),
	 ('e2', 'add_to_cart', 'u1', TIMESTAMP '2026-11-01 10:05:00', 'p1', 10.00, 3,   0.00, false, 1, 0, 1, TIMESTAMP '2026-11-01 10:05:01'),
	 ('e3', 'purchase',    'u1', TIMESTAMP '2026-11-01 10:10:00', 'p1', 10.00, 3,  30.00, false, 1, 0, 2, TIMESTAMP '2026-11-01 10:10:01'),
	 ('e4', 'page_view',   'u2', TIMESTAMP '2026-11-01 10:20:00', 'p2', 20.00, 1,   0.00, false, 1, 1, 0, TIMESTAMP '2026-11-01 10:20:01'),
	 ('e5', 'purchase',    'u2', TIMESTAMP '2026-11-01 10:30:00', 'p2', 20.00, 1,  20.00, false, 1, 1, 1, TIMESTAMP '2026-11-01 10:30:01'),
	 ('e6', 'page_view',   'u3', TIMESTAMP '2026-11-01 23:50:00', 'p3', 50.00, 1,   0.00, false, 1, 2, 0, TIMESTAMP '2026-11-01 23:50:01'),
	 ('e7', 'purchase',    'u3', TIMESTAMP '2026-11-02 00:10:00', 'p3', 50.00, 1,  50.00, false, 1, 2, 1, TIMESTAMP '2026-11-02 00:10:01'),
	 ('e8', 'purchase',    'u4', TIMESTAMP '2026-11-01 09:00:03', 'p4',  5.00, 1,   5.00, true,  1, 3, 0, TIMESTAMP '2026-11-01 12:00:03'),
	 ('e9', 'page_view',   'u5', TIMESTAMP '2026-11-03 12:00:09', 'p5', 100.00, 1,  0.00, false, 1, 4, 0, TIMESTAMP '2026-11-03 12:00:10'),
	 ('e10', 'purchase',   'u5', TIMESTAMP '2026-11-04 08:00:11', 'p5', 100.00, 1, 100.00, false, 1, 4, 1, TIMESTAMP '2026-11-04 08:00:12')`,
	`INSERT INTO sessions (session_id, user_id, session_start, session_end, event_count, page_views, add_to_carts, purchases, revenue, stream_id, kafka_partition, closed_at) VALUES
	 ('s1',  'u1', TIMESTAMP '2026-11-01 10:00:07', TIMESTAMP '2026-11-01 10:10:00', 3, 1, 1, 1,  30.00, 1, 0, TIMESTAMP '2026-11-01 11:00:00'),
	 ('s2',  'u2', TIMESTAMP '2026-11-01 10:20:00', TIMESTAMP '2026-11-01 10:30:00', 2, 1, 0, 1,  20.00, 1, 1, TIMESTAMP '2026-11-01 11:10:00'),
	 ('s3',  'u3', TIMESTAMP '2026-11-01 23:50:00', TIMESTAMP '2026-11-02 00:10:00', 2, 1, 0, 1,  50.00, 1, 2, TIMESTAMP '2026-11-02 00:50:00'),
	 ('s5a', 'u5', TIMESTAMP '2026-11-03 12:00:09', TIMESTAMP '2026-11-03 12:00:09', 1, 1, 0, 0,   0.00, 1, 4, TIMESTAMP '2026-11-03 12:40:00'),
	 ('s5b', 'u5', TIMESTAMP '2026-11-04 08:00:11', TIMESTAMP '2026-11-04 08:00:11', 1, 0, 0, 1, 100.00, 1, 4, TIMESTAMP '2026-11-04 08:40:00')`,
	`INSERT INTO rejected_events (payload, reason, detail, stream_id, kafka_partition, kafka_offset, received_at) VALUES
	 ('{oops', 'malformed_json', 'x', 1, 0, 9, TIMESTAMP '2026-11-01 11:00:05'),
	 ('{"event_id":"e1"}', 'duplicate', 'x', 1, 0, 10, TIMESTAMP '2026-11-01 12:00:05'),
	 ('{}', 'missing_field', 'x', 1, 0, 11, TIMESTAMP '2026-11-03 12:00:05')`,
}

// ranges are the time ranges each panel is compared over; some end
// exactly on a row (to is exclusive on both sides).
var ranges = []struct {
	name     string
	from, to string
	step     time.Duration
}{
	{"all days, hourly", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", time.Hour},
	{"all days, daily", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", 24 * time.Hour},
	{"Nov 1, 5 min", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", 5 * time.Minute},
	{"cut through u1's session, 20 s", "2026-11-01T10:05:00Z", "2026-11-01T10:25:00Z", 20 * time.Second},
	{"unaligned start, 30 min", "2026-11-01T09:17:31.5Z", "2026-11-01T23:55:00Z", 30 * time.Minute},
	{"across midnight, 1 h", "2026-11-01T23:00:00Z", "2026-11-02T01:00:00Z", time.Hour},
	{"ends on e5's purchase, 1 min", "2026-11-01T09:00:00Z", "2026-11-01T10:30:00Z", time.Minute},
	{"ends on user_activity buckets, 5 min", "2026-11-01T10:00:00Z", "2026-11-01T10:20:00Z", 5 * time.Minute},
	{"ends on a rejected record, 1 s", "2026-11-01T11:00:00Z", "2026-11-01T12:00:05Z", time.Second},
	{"empty", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", time.Minute},
}

func openDuckDB(t *testing.T) *warehouse.DB {
	t.Helper()
	db, err := warehouse.Open(context.Background(), "duckdb://"+filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func load(t *testing.T, db *warehouse.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range fixture {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}
	// The pipeline writes user_activity with the events; SQL does not.
	if err := db.BackfillActivity(ctx); err != nil {
		t.Fatalf("user_activity: %v", err)
	}
}

// builtIn loads the project's dashboards as they are now (the panel SQL
// may change; the comparison holds for whatever it is).
func builtIn(t *testing.T) *dashboard.Dashboard {
	t.Helper()
	d, err := dashboard.Load(project.FS)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// normal turns a result into comparable text: numbers as exact decimals
// to 6 places, times in RFC 3339.
func normal(res *result.Set) (cols []string, rows [][]string) {
	for _, c := range res.Columns {
		cols = append(cols, c.Name)
	}
	rows = [][]string{}
	for _, r := range res.Rows {
		var out []string
		for _, v := range r {
			out = append(out, valueText(v))
		}
		rows = append(rows, out)
	}
	return cols, rows
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64, float32, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		r, _ := new(big.Rat).SetString(fmt.Sprint(x))
		if r == nil {
			return fmt.Sprint(x)
		}
		return r.FloatString(6)
	case result.Decimal:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return string(x)
		}
		return r.FloatString(6)
	}
	s := fmt.Sprint(v)
	if r, ok := new(big.Rat).SetString(s); ok {
		return r.FloatString(6)
	}
	return s
}

// testEquivalence runs every exported panel's SQL, expanded as Grafana
// expands it, against the panel's own SQL with bound parameters over the
// same ranges: the same columns (the bucket renamed "time" in time
// series) and the same rows.
func testEquivalence(t *testing.T, db *warehouse.DB, d *dashboard.Dashboard) {
	ctx := context.Background()
	exported := 0
	for _, p := range d.Panels {
		if p.Hidden {
			continue
		}
		exported++
		q, err := grafana.Translate(p)
		if err != nil {
			t.Fatalf("panel %s: %v", p.Name, err)
		}
		nonZero := false
		for _, r := range ranges {
			t.Run(p.Name+"/"+r.name, func(t *testing.T) {
				from, _ := time.Parse(time.RFC3339Nano, r.from)
				to, _ := time.Parse(time.RFC3339Nano, r.to)
				args := []any{from, to, int64(r.step / time.Second)}[:p.Params]
				want, err := db.QueryReadOnly(ctx, p.SQL, args...)
				if err != nil {
					t.Fatalf("panel SQL: %v", err)
				}
				sql, err := grafanatest.Expand(q.SQL, from, to, r.step)
				if err != nil {
					t.Fatalf("expand: %v", err)
				}
				if strings.Contains(sql, "$") {
					t.Fatalf("expanded SQL still has a '$':\n%s", sql)
				}
				got, err := db.QueryReadOnly(ctx, sql)
				if err != nil {
					t.Fatalf("Grafana SQL: %v\n%s", err, sql)
				}
				wantCols, wantRows := normal(want)
				gotCols, gotRows := normal(got)
				if q.TimeSeries {
					if len(wantCols) == 0 || gotCols[0] != "time" {
						t.Fatalf("time series columns %v: the first must be time", gotCols)
					}
					if k := got.Columns[0].Kind; k != result.KindTimestamp && k != result.KindDate {
						t.Errorf("the time column is %v, want a timestamp or date", k)
					}
					wantCols[0] = "time"
				}
				if diff := cmp.Diff(wantCols, gotCols); diff != "" {
					t.Errorf("columns (-panel +grafana):\n%s", diff)
				}
				if diff := cmp.Diff(wantRows, gotRows); diff != "" {
					t.Errorf("rows (-panel +grafana):\n%s\nGrafana SQL:\n%s", diff, sql)
				}
				for _, row := range gotRows {
					for _, v := range row {
						if v != "null" && v != "0.000000" && !strings.HasPrefix(v, "20") && v != "sessions" {
							nonZero = true
						}
					}
				}
			})
		}
		if !nonZero {
			t.Errorf("panel %s: no range gave a non-zero value; the comparison proves nothing", p.Name)
		}
	}
	if exported < 4 {
		t.Errorf("only %d panels exported", exported)
	}
}

func TestGrafanaSQLDuckDB(t *testing.T) {
	db := openDuckDB(t)
	load(t, db)
	t.Run("built-in", func(t *testing.T) { testEquivalence(t, db, builtIn(t)) })
	// The golden project: a qualified column, a filter in parentheses, one
	// that cannot be fused (after NOT), a trailing semicolon.
	t.Run("golden project", func(t *testing.T) { testEquivalence(t, db, goldenProject(t)) })
}

// On PostgreSQL the data source is the warehouse itself.
func TestGrafanaSQLPostgres(t *testing.T) {
	dsn := pgtest.Get(t).NewDatabase(t)
	db, err := warehouse.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	load(t, db)
	testEquivalence(t, db, builtIn(t))
}
