package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/project"
	"github.com/cartwheel-analytics/cartwheel/streaming"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// The fixture, UTC. Sessions and events agree; u4's purchase is late (it
// arrived at 12:00 behind the watermark), u3's session crosses midnight,
// 2026-11-03 has a session but no purchase.
var fixture = []string{
	`INSERT INTO events (event_id, event_type, user_id, event_time, product_id, price, quantity, revenue, is_late, stream_id, kafka_partition, kafka_offset, ingested_at) VALUES
	 ('e1', 'page_view',   'u1', TIMESTAMP '2026-11-01 10:00:00', 'p1', 10.00, 1,   0.00, false, 1, 0, 0, TIMESTAMP '2026-11-01 10:00:01'),
	 ('e2', 'add_to_cart', 'u1', TIMESTAMP '2026-11-01 10:05:00', 'p1', 10.00, 3,   0.00, false, 1, 0, 1, TIMESTAMP '2026-11-01 10:05:01'),
	 ('e3', 'purchase',    'u1', TIMESTAMP '2026-11-01 10:10:00', 'p1', 10.00, 3,  30.00, false, 1, 0, 2, TIMESTAMP '2026-11-01 10:10:01'),
	 ('e4', 'page_view',   'u2', TIMESTAMP '2026-11-01 10:20:00', 'p2', 20.00, 1,   0.00, false, 1, 1, 0, TIMESTAMP '2026-11-01 10:20:01'),
	 ('e5', 'purchase',    'u2', TIMESTAMP '2026-11-01 10:30:00', 'p2', 20.00, 1,  20.00, false, 1, 1, 1, TIMESTAMP '2026-11-01 10:30:01'),
	 ('e6', 'page_view',   'u3', TIMESTAMP '2026-11-01 23:50:00', 'p3', 50.00, 1,   0.00, false, 1, 2, 0, TIMESTAMP '2026-11-01 23:50:01'),
	 ('e7', 'purchase',    'u3', TIMESTAMP '2026-11-02 00:10:00', 'p3', 50.00, 1,  50.00, false, 1, 2, 1, TIMESTAMP '2026-11-02 00:10:01'),
	 ('e8', 'purchase',    'u4', TIMESTAMP '2026-11-01 09:00:00', 'p4',  5.00, 1,   5.00, true,  1, 3, 0, TIMESTAMP '2026-11-01 12:00:00'),
	 ('e9', 'page_view',   'u5', TIMESTAMP '2026-11-03 12:00:00', 'p5', 100.00, 1,  0.00, false, 1, 4, 0, TIMESTAMP '2026-11-03 12:00:01'),
	 ('e10', 'purchase',   'u5', TIMESTAMP '2026-11-04 08:00:00', 'p5', 100.00, 1, 100.00, false, 1, 4, 1, TIMESTAMP '2026-11-04 08:00:01')`,
	`INSERT INTO sessions (session_id, user_id, session_start, session_end, event_count, page_views, add_to_carts, purchases, revenue, stream_id, kafka_partition, closed_at) VALUES
	 ('s1',  'u1', TIMESTAMP '2026-11-01 10:00:00', TIMESTAMP '2026-11-01 10:10:00', 3, 1, 1, 1,  30.00, 1, 0, TIMESTAMP '2026-11-01 11:00:00'),
	 ('s2',  'u2', TIMESTAMP '2026-11-01 10:20:00', TIMESTAMP '2026-11-01 10:30:00', 2, 1, 0, 1,  20.00, 1, 1, TIMESTAMP '2026-11-01 11:10:00'),
	 ('s3',  'u3', TIMESTAMP '2026-11-01 23:50:00', TIMESTAMP '2026-11-02 00:10:00', 2, 1, 0, 1,  50.00, 1, 2, TIMESTAMP '2026-11-02 00:50:00'),
	 ('s5a', 'u5', TIMESTAMP '2026-11-03 12:00:00', TIMESTAMP '2026-11-03 12:00:00', 1, 1, 0, 0,   0.00, 1, 4, TIMESTAMP '2026-11-03 12:40:00'),
	 ('s5b', 'u5', TIMESTAMP '2026-11-04 08:00:00', TIMESTAMP '2026-11-04 08:00:00', 1, 0, 0, 1, 100.00, 1, 4, TIMESTAMP '2026-11-04 08:40:00')`,
	`INSERT INTO rejected_events (payload, reason, detail, stream_id, kafka_partition, kafka_offset, received_at) VALUES
	 ('{oops', 'malformed_json', 'x', 1, 0, 9, TIMESTAMP '2026-11-01 11:00:00'),
	 ('{"event_id":"e1"}', 'duplicate', 'x', 1, 0, 10, TIMESTAMP '2026-11-01 12:00:00'),
	 ('{}', 'missing_field', 'x', 1, 0, 11, TIMESTAMP '2026-11-03 12:00:00')`,
}

// A case: a panel over a range, and its rows as text (numbers with two
// decimals, times in RFC 3339, null as "null").
type panelCase struct {
	name, panel, from, to, step string
	want                        string // rows joined by " | ", values by ","
}

var cases = []panelCase{
	// total_revenue: purchases by event_time, the late one included.
	{"revenue of Nov 1, late purchase included", "total_revenue", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "", "55.00,3.00"},
	{"revenue of all days", "total_revenue", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", "", "205.00,5.00"},
	{"revenue of an empty range", "total_revenue", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "", "0.00,0.00"},
	{"revenue of a range cut through u1's session", "total_revenue", "2026-11-01T10:05:00Z", "2026-11-01T10:25:00Z", "", "30.00,1.00"},
	{"to is exclusive", "total_revenue", "2026-11-01T10:00:00Z", "2026-11-01T10:10:00Z", "", "0.00,0.00"},
	{"from is inclusive", "total_revenue", "2026-11-01T10:10:00Z", "2026-11-01T10:10:00.000001Z", "", "30.00,1.00"},

	// daily_revenue: per UTC day, change against the calendar day before.
	{"daily revenue", "daily_revenue", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", "",
		"2026-11-01T00:00:00Z,3.00,55.00,null | 2026-11-02T00:00:00Z,1.00,50.00,-9.09 | 2026-11-04T00:00:00Z,1.00,100.00,null"},
	{"daily revenue across midnight", "daily_revenue", "2026-11-01T23:00:00Z", "2026-11-02T01:00:00Z", "",
		"2026-11-02T00:00:00Z,1.00,50.00,null"},
	{"daily revenue, empty range", "daily_revenue", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "", ""},

	// active_users: distinct users per bucket, late events included.
	{"active users per hour", "active_users", "2026-11-01T09:00:00Z", "2026-11-01T11:00:00Z", "3600",
		"2026-11-01T09:00:00Z,1.00 | 2026-11-01T10:00:00Z,2.00"},
	{"active users per half hour", "active_users", "2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", "30m",
		"2026-11-01T10:00:00Z,2.00 | 2026-11-01T10:30:00Z,1.00"},
	{"active users across midnight", "active_users", "2026-11-01T23:00:00Z", "2026-11-02T01:00:00Z", "3600",
		"2026-11-01T23:00:00Z,1.00 | 2026-11-02T00:00:00Z,1.00"},
	{"buckets start at from", "active_users", "2026-11-01T09:30:00Z", "2026-11-01T10:30:00Z", "3600",
		"2026-11-01T09:30:00Z,2.00"},
	{"active users, empty range", "active_users", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "", ""},
	// Buckets of whole 5 minutes read user_activity's 5-minute rows (the
	// cases above), of whole minutes its 1-minute rows, others events.
	{"active users per 2 minutes", "active_users", "2026-11-01T10:04:00Z", "2026-11-01T10:12:00Z", "120",
		"2026-11-01T10:04:00Z,1.00 | 2026-11-01T10:10:00Z,1.00"},
	{"active users per 30 s", "active_users", "2026-11-01T10:04:30Z", "2026-11-01T10:06:00Z", "30",
		"2026-11-01T10:05:00Z,1.00"},
	{"active users off the minute", "active_users", "2026-11-01T10:00:30Z", "2026-11-01T10:30:30Z", "600",
		"2026-11-01T10:00:30Z,1.00 | 2026-11-01T10:10:30Z,1.00 | 2026-11-01T10:20:30Z,1.00"},
	{"active users to the minute, not after", "active_users", "2026-11-01T10:00:00Z", "2026-11-01T10:20:00Z", "600",
		"2026-11-01T10:00:00Z,1.00 | 2026-11-01T10:10:00Z,1.00"},

	// conversion_funnel, funnel_efficiency, sessions: closed sessions by
	// session_start.
	{"funnel", "conversion_funnel", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", "",
		"sessions,5.00 | with_view,4.00 | with_cart,1.00 | with_purchase,4.00"},
	{"funnel of a range cut through a session", "conversion_funnel", "2026-11-01T10:05:00Z", "2026-11-01T10:25:00Z", "",
		"sessions,1.00 | with_view,1.00 | with_cart,0.00 | with_purchase,1.00"},
	{"funnel, empty range", "conversion_funnel", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "",
		"sessions,0.00 | with_view,0.00 | with_cart,0.00 | with_purchase,0.00"},
	{"efficiency", "funnel_efficiency", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", "", "25.00,400.00,80.00"},
	{"efficiency of a range cut through a session", "funnel_efficiency", "2026-11-01T10:05:00Z", "2026-11-01T10:25:00Z", "", "0.00,null,100.00"},
	{"efficiency, empty range", "funnel_efficiency", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "", "null,null,null"},
	{"sessions", "sessions", "2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z", "", "5.00,480.00,1.80"},
	{"sessions starting on Nov 1 (s3 ends on Nov 2)", "sessions", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "", "3.00,800.00,2.33"},
	{"sessions, empty range", "sessions", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "", "0.00,null,null"},

	// pipeline_health: late events by arrival, rejected by reason; the
	// live figures are null without a pipeline.
	{"health of Nov 1", "pipeline_health", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "",
		"null,null,null,1.00,2.00,1.00,0.00,0.00,0.00,0.00,1.00,null,null"},
	{"health, empty range", "pipeline_health", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "",
		"null,null,null,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,null,null"},
}

// wantColumns is SPEC §5.3's table, plus pipeline_health's figures.
var wantColumns = map[string]string{
	"total_revenue":     "revenue,orders",
	"daily_revenue":     "day,orders,revenue,change_pct",
	"active_users":      "bucket,users",
	"conversion_funnel": "stage,sessions",
	"funnel_efficiency": "view_to_cart_pct,cart_to_purchase_pct,overall_pct",
	"sessions":          "sessions,avg_duration_s,events_per_session",
	"pipeline_health": "events_per_s,consumer_lag,watermark_delay_s,late,rejected,rejected_malformed_json,rejected_missing_field," +
		"rejected_invalid_value,rejected_unknown_event_type,rejected_future_event_time,rejected_duplicate,last_commit_age_s,last_dag_run",
	"revenue_over_time": "bucket,revenue,orders",
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
	for _, q := range fixture {
		if err := db.Exec(context.Background(), q); err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}
	// The pipeline writes user_activity with the events; SQL does not.
	if err := db.BackfillActivity(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// server serves the built-in project's panels over db behind the API's
// guard, as `cartwheel run` does.
func server(t *testing.T, db dashboard.Querier, opts ...dashboard.Option) (*httptest.Server, *dashboard.Dashboard) {
	t.Helper()
	d, err := dashboard.Load(project.FS)
	if err != nil {
		t.Fatal(err)
	}
	ds := dashboard.New(d, db, opts...)
	var aopts []api.Option
	for p, h := range ds.Routes() {
		aopts = append(aopts, api.WithGET(p, h))
	}
	srv := httptest.NewServer(api.New(db, append(aopts, api.WithToken(testToken))...).Handler())
	t.Cleanup(srv.Close)
	srv.Client().Transport = withToken{srv.Client().Transport}
	return srv, d
}

// testToken is the server's token: a handler not started by Serve takes
// itself for one reachable from other hosts, so every request needs it.
const testToken = "dashboard-test-token"

// withToken sends the token on every request, as a program off loopback
// would.
type withToken struct{ next http.RoundTripper }

func (w withToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+testToken)
	return w.next.RoundTrip(r)
}

type panelResponse struct {
	Columns []struct{ Name, Type string }
	Rows    [][]any
	Error   string
}

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, panelResponse) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body panelResponse
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

func text(rows [][]any) string {
	var out []string
	for _, r := range rows {
		var vals []string
		for _, v := range r {
			switch x := v.(type) {
			case nil:
				vals = append(vals, "null")
			case json.Number:
				f, _ := strconv.ParseFloat(string(x), 64)
				vals = append(vals, strconv.FormatFloat(f, 'f', 2, 64))
			default:
				vals = append(vals, fmt.Sprint(x))
			}
		}
		out = append(out, strings.Join(vals, ","))
	}
	return strings.Join(out, " | ")
}

func panelPath(c panelCase) string {
	q := url.Values{"from": {c.from}, "to": {c.to}}
	if c.step != "" {
		q.Set("step", c.step)
	}
	return "/api/panels/" + c.panel + "?" + q.Encode()
}

func testPanels(t *testing.T, db *warehouse.DB) {
	load(t, db)
	srv, d := server(t, db)
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, srv, panelPath(c))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body.Error)
			}
			var cols []string
			for _, col := range body.Columns {
				cols = append(cols, col.Name)
			}
			if got := strings.Join(cols, ","); got != wantColumns[c.panel] {
				t.Errorf("columns %s, want %s", got, wantColumns[c.panel])
			}
			if got := text(body.Rows); got != c.want {
				t.Errorf("rows\n got %s\nwant %s", got, c.want)
			}
			if st := resp.Header.Get("Server-Timing"); !strings.HasPrefix(st, "query;dur=") {
				t.Errorf("Server-Timing %q", st)
			}
		})
		seen[c.panel] = true
	}
	for _, p := range d.Panels {
		if !seen[p.Name] && !p.Hidden {
			t.Errorf("no case for panel %s", p.Name)
		}
	}
}

func TestPanelsDuckDB(t *testing.T) { testPanels(t, openDuckDB(t)) }

// The same SQL and the same answers on PostgreSQL (Redshift shares its
// adapter; the SQL keeps to what the three engines share).
func TestPanelsPostgres(t *testing.T) {
	dsn := pgtest.Get(t).NewDatabase(t)
	db, err := warehouse.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testPanels(t, db)
}

func TestRevenueOverTime(t *testing.T) {
	db := openDuckDB(t)
	load(t, db)
	srv, _ := server(t, db)
	_, body := get(t, srv, "/api/panels/revenue_over_time?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&step=3600")
	if got, want := text(body.Rows), "2026-11-01T09:00:00Z,5.00,1.00 | 2026-11-01T10:00:00Z,50.00,2.00"; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
}

// Bad requests are 400 with a message; the list names every panel.
func TestBadRequests(t *testing.T) {
	db := openDuckDB(t)
	srv, d := server(t, db)
	for path, want := range map[string]string{
		"/api/panels/nope?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z":                        "no panel named",
		"/api/panels/total_revenue?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z":               "must be before",
		"/api/panels/total_revenue?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z":               "must be before",
		"/api/panels/total_revenue?from=yesterday&to=2026-11-01T00:00:00Z":                          "RFC 3339",
		"/api/panels/total_revenue?from=2026-11-01T00:00:00Z&to=2026-13-01T00:00:00Z":               "RFC 3339",
		"/api/panels/active_users?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&step=0":         "at least 1",
		"/api/panels/active_users?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&step=1500ms":    "whole number",
		"/api/panels/active_users?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&step=1":         "more than 10000",
		"/api/panels/active_users?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&step=one":       "number of seconds",
		"/api/panels/active_users?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z":                "too long",
		"/api/panels/total_revenue?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&step=-5":       "step=",
		"/api/panels/total_revenue?from=2026-11-01T00:00:00Z%27;DROP%20TABLE%20events;--&to=2026-1": "RFC 3339",
	} {
		resp, body := get(t, srv, path)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.Error, want) {
			t.Errorf("GET %s: %d %q, want 400 with %q", path, resp.StatusCode, body.Error, want)
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/api/panels")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list dashboard.ListResponse
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Panels {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "total_revenue,sessions,funnel_efficiency,active_users,daily_revenue,conversion_funnel,pipeline_health,revenue_over_time" {
		t.Errorf("panels %s", got)
	}
	if len(list.Panels) != len(d.Panels) || list.Currency != "USD" {
		t.Errorf("list %+v", list)
	}
}

// Without from and to a panel covers the last hour; without step the
// buckets are as wide as needed for at most 1,500 points.
func TestDefaultRangeAndStep(t *testing.T) {
	now := time.Date(2026, 11, 1, 10, 40, 0, 0, time.UTC)
	r, err := dashboard.ParseRange(url.Values{}, now)
	if err != nil || !r.To.Equal(now) || !r.From.Equal(now.Add(-time.Hour)) || r.Step != 5*time.Second {
		t.Errorf("default range %+v, %v", r, err)
	}
	for span, want := range map[time.Duration]time.Duration{
		15 * time.Minute: time.Second, time.Hour: 5 * time.Second, 6 * time.Hour: 15 * time.Second,
		24 * time.Hour: time.Minute, 7 * 24 * time.Hour: 10 * time.Minute, 25 * time.Minute: time.Second,
		365 * 24 * time.Hour: 6 * time.Hour, 5 * 365 * 24 * time.Hour: 48 * time.Hour,
	} {
		st := dashboard.AutoStep(span)
		if st != want || int64(span/st) > dashboard.TargetPoints {
			t.Errorf("AutoStep(%v) = %v, want %v", span, st, want)
		}
	}
	db := openDuckDB(t)
	load(t, db)
	srv, _ := server(t, db, dashboard.WithClock(func() time.Time { return now }))
	_, body := get(t, srv, "/api/panels/total_revenue")
	if got := text(body.Rows); got != "50.00,2.00" { // 09:40 to 10:40: e3 and e5; e8 (09:00) is out
		t.Errorf("last hour: %s", got)
	}
}

// pipeline_health adds the running pipeline's figures from its metrics.
func TestPipelineHealthLive(t *testing.T) {
	db := openDuckDB(t)
	load(t, db)
	reg := prometheus.NewRegistry()
	m := streaming.NewMetrics(reg)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	srv, _ := server(t, db, dashboard.WithMetrics(reg), dashboard.WithClock(clock),
		dashboard.WithLag(func(context.Context) (int64, error) { return 42, nil }),
		dashboard.WithLastDAGRun(func() string { return "success" }))
	m.Records.Add(1000)
	m.Watermark.WithLabelValues("0").Set(float64(now.Add(-90*time.Second).Unix()) + 0.5)
	m.Watermark.WithLabelValues("1").Set(float64(now.Add(-30 * time.Second).Unix()))
	m.LastCommit.Set(float64(now.Add(-2 * time.Second).Unix()))
	now = now.Add(10 * time.Second)
	_, body := get(t, srv, "/api/panels/pipeline_health?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z")
	if got, want := text(body.Rows), "100.00,42.00,99.50,1.00,2.00,1.00,0.00,0.00,0.00,0.00,1.00,12.00,success"; got != want {
		t.Errorf("health\n got %s\nwant %s", got, want)
	}
}

// The page, its bundle and the API are behind the API's guard, and the
// page only loads its own code.
func TestGuardAndHeaders(t *testing.T) {
	db := openDuckDB(t)
	srv, _ := server(t, db)
	for _, path := range []string{"/", "/api/panels", "/api/panels/total_revenue", "/ui/app.js"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Host = "attacker.example"
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET %s with a foreign Host: %d, want 421", path, resp.StatusCode)
		}
	}
	// Off loopback the page and its data need the token (SPEC §7).
	for _, path := range []string{"/", "/api/panels", "/api/panels/total_revenue", "/ui/app.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/panels/total_revenue", bytes.NewReader([]byte("{}")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST a panel: %d", resp.StatusCode)
	}
	resp, err = srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") ||
		resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /: %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// A project's panels: order and presentation from dashboard.yml, a .sql
// file it does not name is a table, and mistakes are reported.
func TestLoad(t *testing.T) {
	d, err := dashboard.Load(fstest.MapFS{
		"dashboards/dashboard.yml": {Data: []byte("title: T\npanels:\n  - {name: b, chart: stat, units: {x: currency}}\n")},
		"dashboards/a.sql":         {Data: []byte("SELECT 1 AS x -- $9 in a comment\n")},
		"dashboards/b.sql":         {Data: []byte("SELECT '$5' AS s, \"$7\" FROM t WHERE t >= $1 AND t < $2 /* $3 */")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) != 2 || d.Panels[0].Name != "b" || d.Panels[0].Params != 2 || d.Panels[1].Name != "a" || d.Panels[1].Chart != "table" || d.Panels[1].Params != 0 {
		t.Errorf("panels %+v %+v", d.Panels[0], d.Panels[1])
	}
	for yml, want := range map[string]string{
		"panels:\n  - {name: c}\n":                       "no file dashboards/c.sql",
		"panels:\n  - {name: b, chart: pie}\n":           `chart "pie"`,
		"panels:\n  - {name: b, units: {x: furlongs}}\n": `unit "furlongs"`,
		"panelz: []\n":                            "panelz",
		"currency: dollars\n":                     "ISO 4217",
		"panels:\n  - {name: b}\n  - {name: b}\n": "listed twice",
	} {
		_, err := dashboard.Load(fstest.MapFS{
			"dashboards/dashboard.yml": {Data: []byte(yml)},
			"dashboards/b.sql":         {Data: []byte("SELECT 1")},
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yml, err, want)
		}
	}
	for sql, want := range map[string]string{
		"SELECT $2":             "uses $2 but not $1",
		"SELECT $4":             "only $1",
		"SELECT 1 /* open":      "unterminated",
		"SELECT $1, $3":         "uses $3 but not $2",
		"SELECT price$1 FROM t": "",
		"-- $1\rSELECT $2":      "uses $2 but not $1",
	} {
		_, err := dashboard.Params(sql)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Params(%q): %v, want %q", sql, err, want)
		}
	}
}
