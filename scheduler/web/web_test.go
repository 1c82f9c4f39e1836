package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/scheduler/web"
)

// serve runs the DAG routes behind the api server's guard on a loopback
// port, as the appliance does, and returns its base URL.
func serve(t *testing.T, f *fake) string {
	t.Helper()
	w := web.New(f, web.WithClock(func() time.Time { return f.now }))
	var opts []api.Option
	for p, h := range w.Routes() {
		opts = append(opts, api.WithGET(p, h))
	}
	for p, h := range w.Actions() {
		opts = append(opts, api.WithPOST(p, h))
	}
	srv := api.New(nil, opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

var client = &http.Client{Timeout: 10 * time.Second}

func do(t *testing.T, method, url, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header, b
}

// jsonObject decodes an answer into a generic map to check its shape (the
// field names clients rely on).
func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

func keys(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return sorted(k)
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestAPIReads(t *testing.T) {
	f := newFake()
	base := serve(t, f)

	status, h, b := do(t, "GET", base+"/api/dags", "")
	if status != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/dags: %d %s\n%s", status, h.Get("Content-Type"), b)
	}
	var list web.DAGList
	if err := json.Unmarshal(b, &list); err != nil || len(list.DAGs) != 1 {
		t.Fatalf("GET /api/dags: %v %s", err, b)
	}
	m := jsonObject(t, b)["dags"].([]any)[0].(map[string]any)
	if diff := cmp.Diff([]string{"dag", "last_runs", "next_run", "paused"}, keys(m)); diff != "" {
		t.Errorf("a DAG's fields (-want +got):\n%s", diff)
	}
	d := m["dag"].(map[string]any)
	if d["name"] != "analytics" || d["schedule"] != "*/5 * * * *" || len(d["tasks"].([]any)) != 3 {
		t.Errorf("dag: %v", d)
	}

	status, _, b = do(t, "GET", base+"/api/dags/analytics", "")
	if status != 200 || jsonObject(t, b)["dag"] == nil {
		t.Errorf("GET /api/dags/analytics: %d %s", status, b)
	}

	status, _, b = do(t, "GET", base+"/api/dags/analytics/runs?limit=1", "")
	var runs web.RunList
	if status != 200 || json.Unmarshal(b, &runs) != nil || len(runs.Runs) != 1 || runs.Runs[0].RunID != "manual__2026-11-20T10:01:00Z" {
		t.Errorf("GET runs?limit=1: %d %s", status, b)
	}
	run := jsonObject(t, b)["runs"].([]any)[0].(map[string]any)
	if diff := cmp.Diff([]string{"dag", "data_interval_end", "data_interval_start", "logical_date", "queued_at", "run_id", "run_type", "started_at", "state"}, keys(run)); diff != "" {
		t.Errorf("a run's fields (-want +got):\n%s", diff)
	}

	status, _, b = do(t, "GET", base+"/api/dags/analytics/runs/manual__2026-11-20T10:01:00Z", "")
	var detail web.RunDetail
	if status != 200 || json.Unmarshal(b, &detail) != nil || detail.Run.State != "running" || len(detail.Tasks) != 3 {
		t.Fatalf("GET run: %d %s", status, b)
	}
	if got := []string{detail.Tasks[0].State, detail.Tasks[1].State, detail.Tasks[2].State}; !cmp.Equal(got, []string{"failed", "upstream_failed", "running"}) {
		t.Errorf("task states %v", got)
	}

	status, _, b = do(t, "GET", base+"/api/dags/analytics/runs/manual__2026-11-20T10:01:00Z/tasks/staging/log?try=1", "")
	ti := jsonObject(t, b)
	if status != 200 || ti["try_number"] != 1.0 || !strings.Contains(ti["log"].(string), "building stg_sessionized_events") {
		t.Errorf("GET log: %d %s", status, b)
	}
}

func TestAPIErrors(t *testing.T) {
	f := newFake()
	base := serve(t, f)
	for _, c := range []struct {
		method, path, body string
		status             int
		code, msg          string
	}{
		{"GET", "/api/dags/nope", "", 404, "unknown_dag", "nope"},
		{"GET", "/api/dags/nope/runs", "", 404, "unknown_dag", ""},
		{"GET", "/api/dags/analytics/runs/nope", "", 404, "unknown_run", "nope"},
		{"GET", "/api/dags/analytics/runs?limit=x", "", 400, "bad_request", `limit="x" is not an integer`},
		{"GET", "/api/dags/analytics/runs?limit=0", "", 400, "bad_request", "limit must be between 1 and 1000"},
		{"GET", "/api/dags/analytics/runs/manual__2026-11-20T10:01:00Z/tasks/staging/log?try=-1", "", 400, "bad_request", "try"},
		{"POST", "/api/dags/nope/trigger", "{}", 404, "unknown_dag", ""},
		{"POST", "/api/dags/analytics/trigger", `{"logical_date": "yesterday"}`, 400, "bad_request", `"yesterday" is not an RFC 3339 time`},
		{"POST", "/api/dags/analytics/trigger", `{"logical": "2026-11-01"}`, 400, "bad_request", `unknown field "logical"`},
		{"POST", "/api/dags/analytics/trigger", `{`, 400, "bad_request", "bad request body"},
		{"POST", "/api/dags/analytics/backfill", `{"to": "2026-11-02"}`, 400, "bad_request", `backfill needs "from" and "to"`},
		{"POST", "/api/dags/analytics/backfill", `{"from": "2026-11-03", "to": "2026-11-02"}`, 400, "bad_request", "is after to"},
		{"POST", "/api/dags/analytics/backfill", `{"from": "2026-11-01", "to": "2026-11-02", "reprocess": "some"}`, 400, "bad_request", `reprocess "some": want none, failed or all`},
		{"POST", "/api/dags/nope/backfill", `{"from": "2026-11-01", "to": "2026-11-02"}`, 404, "unknown_dag", ""},
		{"POST", "/api/dags/nope/pause", ``, 404, "unknown_dag", ""},
		{"POST", "/api/dags/analytics/test", `{"logical_date": 5}`, 400, "bad_request", "bad request body"},
	} {
		status, _, b := do(t, c.method, base+c.path, c.body)
		var e web.ErrorResponse
		if err := json.Unmarshal(b, &e); err != nil || status != c.status || e.Code != c.code || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s %s %s: %d %s; want %d, code %q, error with %q", c.method, c.path, c.body, status, b, c.status, c.code, c.msg)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("refused requests changed things: %v", calls)
	}
}

func TestAPIActions(t *testing.T) {
	f := newFake()
	base := serve(t, f)

	status, _, b := do(t, "POST", base+"/api/dags/analytics/trigger", `{"logical_date": "2026-11-19T08:00:00+01:00"}`)
	run := jsonObject(t, b)
	if status != 200 || run["run_id"] != "manual__2026-11-19T08:00:00+01:00" || run["state"] != "queued" {
		t.Errorf("trigger: %d %s", status, b)
	}
	// An empty body is an empty request: logical date now.
	if status, _, b = do(t, "POST", base+"/api/dags/analytics/trigger", ""); status != 200 {
		t.Errorf("trigger with no body: %d %s", status, b)
	}
	status, _, b = do(t, "POST", base+"/api/dags/analytics/pause", "{}")
	if status != 200 || jsonObject(t, b)["paused"] != true {
		t.Errorf("pause: %d %s", status, b)
	}
	status, _, b = do(t, "POST", base+"/api/dags/analytics/unpause", "{}")
	if status != 200 || jsonObject(t, b)["paused"] != false {
		t.Errorf("unpause: %d %s", status, b)
	}
	status, _, b = do(t, "POST", base+"/api/dags/analytics/backfill", `{"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T02:00:00Z", "reprocess": "failed", "dry_run": true}`)
	var bf web.BackfillResponse
	if status != 200 || json.Unmarshal(b, &bf) != nil || !bf.DryRun || len(bf.Runs) != 3 {
		t.Errorf("backfill: %d %s", status, b)
	}
	status, _, b = do(t, "POST", base+"/api/dags/analytics/test", `{"logical_date": "2026-11-05"}`)
	var tr web.TestResponse
	if status != 200 || json.Unmarshal(b, &tr) != nil || tr.Log != "staging: ok\n" || tr.Run.State != "success" || len(tr.Tasks) != 1 {
		t.Errorf("test: %d %s", status, b)
	}
	want := []string{
		"trigger analytics 2026-11-19T08:00:00+01:00",
		"trigger analytics 2026-11-20T10:02:00Z",
		"paused analytics true",
		"paused analytics false",
		"backfill analytics 2026-11-01T00:00:00Z 2026-11-01T02:00:00Z failed true",
		"test analytics 2026-11-05T00:00:00Z",
	}
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// TestAPIGuard: the actions are behind the api server's guard — a page on
// another site cannot trigger or pause a DAG.
func TestAPIGuard(t *testing.T) {
	f := newFake()
	base := serve(t, f)
	for _, c := range []struct {
		name   string
		header []string
		status int
	}{
		{"cross-origin", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"form post", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"rebinding Host", []string{"Host", "evil.example"}, http.StatusMisdirectedRequest},
	} {
		for _, action := range []string{"trigger", "pause", "unpause", "backfill", "test"} {
			req, _ := http.NewRequest("POST", base+"/api/dags/analytics/"+action, strings.NewReader(`{"from":"2026-11-01","to":"2026-11-01"}`))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(c.header); i += 2 {
				if c.header[i] == "Host" {
					req.Host = c.header[i+1]
				} else {
					req.Header.Set(c.header[i], c.header[i+1])
				}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: %d, want %d", c.name, action, resp.StatusCode, c.status)
			}
		}
	}
	// The same origin is fine.
	if status, _, b := do(t, "POST", base+"/api/dags/analytics/pause", "{}", "Origin", base, "Sec-Fetch-Site", "same-origin"); status != 200 {
		t.Errorf("same-origin pause: %d %s", status, b)
	}
	if diff := cmp.Diff([]string{"paused analytics true"}, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
