package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dag"
)

func TestPages(t *testing.T) {
	f := newFake()
	d := f.dags["analytics"]
	d.Tasks = append(d.Tasks, &dag.Task{ID: "orders_loaded", Type: dag.WaitFor, TriggerRule: dag.AllSuccess, Timeout: time.Hour,
		Wait: &dag.Wait{DAG: "orders", Task: "load", PokeInterval: 30 * time.Second}})
	base := serve(t, f)
	const running = "/dags/analytics/runs/manual__2026-11-20T10:01:00Z"
	const done = "/dags/analytics/runs/scheduled__2026-11-20T09:55:00Z"
	for _, c := range []struct {
		path    string
		status  int
		want    []string
		notWant []string
	}{
		{"/dags", 200, []string{`<a class="name" href="/dags/analytics">analytics</a>`, "<code>*/5 * * * *</code>", "2026-11-20 10:05:00 UTC",
			`class="sq st-success" href="/dags/analytics/runs/scheduled__2026-11-20T09:55:00Z"`, `class="sq st-running"`,
			`data-action="trigger" data-dag="analytics"`, `data-action="pause"`, `<script defer src="/dags/actions.js"></script>`,
			`http-equiv="refresh"`}, []string{`data-action="unpause"`}},
		{"/dags/analytics", 200, []string{"<code>dags/analytics.yml</code>", "path:models/marts", "2 (30s, ≤ 10m)", "<td>5m</td>",
			`<code>until orders.load succeeds for the run&#39;s data interval, poking every 30s</code> <a href="/dags/orders">runs</a>`}, nil},
		{done, 200, []string{`<svg class="gantt"`, `<svg class="graph"`, `class="bar st-success"`, "9.0s", "4.0s",
			`href="/dags/analytics/runs/scheduled__2026-11-20T09:55:00Z/tasks/marts?try=2"`, `<path class="edge"`}, []string{`http-equiv="refresh"`}},
		{running, 200, []string{`http-equiv="refresh"`, `class="node st-upstream_failed"`, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"}, []string{"<script>alert"}},
		{running + "/tasks/staging", 200, []string{"building stg_sessionized_events\n&lt;b&gt;not bold&lt;/b&gt;", `class="try current">try 1`}, []string{`http-equiv="refresh"`, "<b>not bold"}},
		{running + "/tasks/check", 200, []string{"still going", `http-equiv="refresh"`}, nil},
		{"/dags/nope", 404, []string{"unknown DAG"}, nil},
		{"/dags/analytics/runs/nope", 404, []string{"unknown run"}, nil},
		{running + "/tasks/staging?try=x", 400, []string{"try must be"}, nil},
	} {
		status, h, b := do(t, "GET", base+c.path, "")
		body := string(b)
		if status != c.status {
			t.Errorf("GET %s: %d, want %d\n%s", c.path, status, c.status, body)
			continue
		}
		if h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: headers %v", c.path, h)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in\n%s", c.path, w, body)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(body, w) {
				t.Errorf("GET %s: %q in the page", c.path, w)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " on") && strings.Contains(body, "onclick") {
			t.Errorf("GET %s: inline script", c.path)
		}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get(base + "/dags/"); err != nil || resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/dags" {
		t.Errorf("GET /dags/: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, p := range []string{"/dags/actions.js", "/dags/dags.css"} {
		status, h, b := do(t, "GET", base+p, "")
		if status != http.StatusOK || len(b) < 100 || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %v", p, status, h)
		}
	}
}
