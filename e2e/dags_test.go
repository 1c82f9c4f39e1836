package e2e

// End-to-end tests of the orchestration (SPEC §5.2): the scheduler inside
// `cartwheel run` keeping the marts fresh, `cartwheel dags` through the
// running appliance and on its own, and the DAG pages.

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
)

// brokenDAG has a failing sql_check with a task downstream of it and an
// alert that runs because it failed (trigger_rule one_failed).
const brokenDAG = `name: broken
tasks:
  - id: first
    sql: "SELECT 1"
  - id: check
    sql_check: "SELECT 'always' AS a_row_that_fails"
    depends_on: [first]
  - id: publish
    sql: "SELECT 2"
    depends_on: [check]
  - id: alert
    sql: "SELECT 3"
    depends_on: [check]
    trigger_rule: one_failed
`

// dagProject writes the built-in project to dir/proj (cartwheel init),
// its analytics DAG on a schedule of every 5 s instead of 5 min, and the
// given DAG files beside it.
func dagProject(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	proj := filepath.Join(dir, "proj")
	mustCartwheel(t, time.Minute, "init", proj)
	path := filepath.Join(proj, "dags", "analytics.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cartwheel init wrote no analytics DAG: %v", err)
	}
	const builtin = `schedule: "*/5 * * * *"`
	if !strings.Contains(string(b), builtin) {
		t.Fatalf("the built-in analytics DAG has no %s:\n%s", builtin, b)
	}
	writeFile(t, path, strings.Replace(string(b), builtin, `schedule: "@every 5s"`, 1))
	for name, content := range files {
		writeFile(t, filepath.Join(proj, "dags", name), content)
	}
	return proj
}

// dagRun is a row of `cartwheel dags runs --format csv`.
type dagRun struct{ id, runType, state string }

func dagRuns(t *testing.T, args ...string) []dagRun {
	t.Helper()
	out := mustCartwheel(t, time.Minute, append([]string{"dags", "runs", "--format", "csv", "--limit", "100"}, args...)...)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 || strings.Join(recs[0], ",") != "run_id,run_type,logical_date,state,started_at,ended_at,duration_s" {
		t.Fatalf("dags runs: %v\n%s", err, out)
	}
	var runs []dagRun
	for _, r := range recs[1:] {
		runs = append(runs, dagRun{r[0], r[1], r[3]})
	}
	return runs
}

// exitStatus returns the exit status of a finished command (0 for none).
func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestDagsOnRunningAppliance: `cartwheel run` with the built-in project,
// its analytics DAG running every 5 s, keeps the marts fresh on schedule; while it
// holds the DuckDB file, `cartwheel dags` goes through it (runs, logs,
// list, pause/unpause, trigger --wait of a failing DAG, whose exit status
// is non-zero and whose downstream task is upstream_failed); the pages
// show the runs.
func TestDagsOnRunningAppliance(t *testing.T) {
	dir := t.TempDir()
	proj := dagProject(t, dir, map[string]string{"broken.yml": brokenDAG})
	lc := writeLiveConfig(t, dir, 11)
	b, _ := os.ReadFile(lc.path)
	writeFile(t, lc.path, string(b)+"project: "+proj+"\npg: \"\"\n")
	c := start(t, "run", "--config", lc.path)
	waitReady(t, c, lc.http, 30*time.Second)

	// marts measures what the marts hold: closed sessions and the orders
	// of the daily revenue.
	marts := func() (sessions, orders int64) {
		m := cliInts(t, lc.path, `SELECT (SELECT count(*) FROM fact_user_sessions) AS sessions,
			(SELECT coalesce(sum(orders), 0) FROM fct_daily_revenue) AS orders`)
		return m["sessions"], m["orders"]
	}
	succeeded := func() []dagRun {
		var ok []dagRun
		for _, r := range dagRuns(t, "analytics", "--config", lc.path) {
			if r.runType != "scheduled" {
				t.Errorf("run %s of type %s: only scheduled runs were expected", r.id, r.runType)
			}
			if r.state == "success" {
				ok = append(ok, r)
			}
		}
		return ok
	}
	// A first scheduled run that built the marts over closed sessions.
	var first dagRun
	var sessions1, orders1 int64
	waitFor(t, c, 2*time.Minute, "a scheduled run of analytics over closed sessions", func() bool {
		ok := succeeded()
		if len(ok) == 0 {
			return false
		}
		s, o := marts()
		if s == 0 || o == 0 {
			return false
		}
		first, sessions1, orders1 = ok[0], s, o
		return true
	})
	// Later scheduled runs rebuild them with the sessions closed since.
	waitFor(t, c, 2*time.Minute, "fresher marts from later scheduled runs", func() bool {
		ok := succeeded()
		s, o := marts()
		return len(ok) >= 3 && ok[0].id != first.id && s > sessions1 && o > orders1
	})
	for _, r := range dagRuns(t, "analytics", "--config", lc.path) {
		if r.state == "failed" {
			out, _, _ := execCartwheel(time.Minute, "dags", "logs", "analytics", r.id, "--config", lc.path)
			t.Errorf("scheduled run %s failed:\n%s", r.id, tail(out, 30))
		}
	}

	// Logs through the appliance: every task's latest try.
	logs := mustCartwheel(t, time.Minute, "dags", "logs", "analytics", first.id, "--config", lc.path)
	for _, want := range []string{"=== staging (try 1, success) ===", "=== marts (try ", "=== tests (try ", "fct_daily_revenue"} {
		if !strings.Contains(logs, want) {
			t.Errorf("dags logs has no %q:\n%s", want, tail(logs, 40))
		}
	}
	one := mustCartwheel(t, time.Minute, "dags", "logs", "analytics", first.id, "marts", "--try", "1", "--config", lc.path)
	if !strings.Contains(one, "fct_daily_revenue") || strings.Contains(one, "===") {
		t.Errorf("dags logs of one try:\n%s", tail(one, 20))
	}

	// A failing check: trigger --wait exits non-zero; downstream is
	// upstream_failed, the one_failed alert ran.
	out, errOut, err := execCartwheel(2*time.Minute, "dags", "trigger", "broken", "--wait", "--config", lc.path)
	if exitStatus(err) != 1 || !strings.Contains(errOut, "check (failed), publish (upstream_failed)") {
		t.Errorf("trigger --wait of a failing DAG: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "first" || f[0] == "check" || f[0] == "publish" || f[0] == "alert") {
			states[f[0]] = f[1]
		}
	}
	if want := map[string]string{"first": "success", "check": "failed", "publish": "upstream_failed", "alert": "success"}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("task states %v, want %v\n%s", states, want, out)
	}
	broken := dagRuns(t, "broken", "--config", lc.path)
	if len(broken) != 1 || broken[0].state != "failed" || broken[0].runType != "manual" {
		t.Errorf("runs of broken: %+v", broken)
	}

	// Pause and unpause through the appliance, seen by its API.
	mustCartwheel(t, time.Minute, "dags", "pause", "analytics", "--config", lc.path)
	var list []map[string]any
	if err := json.Unmarshal([]byte(mustCartwheel(t, time.Minute, "dags", "list", "--format", "json", "--config", lc.path)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0]["dag"] != "analytics" || list[0]["paused"] != true || list[0]["next_run"] != nil {
		t.Errorf("dags list after pause: %v", list)
	}
	mustCartwheel(t, time.Minute, "dags", "unpause", "analytics", "--config", lc.path)
	status, body := httpDo(t, "GET", "http://"+lc.http+"/api/dags/analytics", "")
	if status != 200 || !strings.Contains(string(body), `"paused":false`) {
		t.Errorf("GET /api/dags/analytics after unpause: %d %s", status, body)
	}
	// An unknown DAG is one line and exit status 1.
	_, errOut, err = execCartwheel(time.Minute, "dags", "trigger", "nope", "--config", lc.path)
	if exitStatus(err) != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `unknown DAG "nope"`) {
		t.Errorf("trigger of an unknown DAG: %v %q", err, errOut)
	}

	// The pages.
	for path, want := range map[string]string{
		"/dags":                             `href="/dags/analytics"`,
		"/dags/analytics":                   first.id,
		"/dags/analytics/runs/" + first.id:  `<svg class="gantt"`,
		"/dags/broken/runs/" + broken[0].id: `class="node st-upstream_failed"`,
		"/dags/analytics/runs/" + first.id + "/tasks/marts": "fct_daily_revenue",
	} {
		status, body := httpDo(t, "GET", "http://"+lc.http+path, "")
		if status != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, no %q", path, status, want)
		}
	}
	// A page on another site cannot trigger a run.
	req, _ := http.NewRequest("POST", "http://"+lc.http+"/api/dags/broken/trigger", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain trigger: %d", resp.StatusCode)
	}
	if n := len(dagRuns(t, "broken", "--config", lc.path)); n != 1 {
		t.Errorf("the refused trigger queued a run: %d runs of broken", n)
	}
	metrics := func() string { _, b := httpDo(t, "GET", "http://"+lc.http+"/metrics", ""); return string(b) }()
	for _, want := range []string{`cartwheel_dag_runs_total{dag="analytics",state="success"}`, `cartwheel_dag_runs_total{dag="broken",state="failed"}`,
		"cartwheel_task_duration_seconds_bucket", "cartwheel_scheduler_leader 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("no %s in /metrics", want)
		}
	}

	if err, _ := c.terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	// History survives the appliance: read with no appliance running.
	if n := len(dagRuns(t, "analytics", "--config", lc.path)); n < 3 {
		t.Errorf("after the appliance stopped, %d runs of analytics", n)
	}
}

// TestDagsTriggerOnFixture: `cartwheel dags trigger analytics --wait` —
// the built-in project's analytics DAG — on a replayed fixture, with no
// appliance running, runs the run in the foreground and exits 0 with every
// task successful; the history says so and the marts are built.
func TestDagsTriggerOnFixture(t *testing.T) {
	dir := t.TempDir()
	dsn := "duckdb://" + filepath.Join(dir, "w.duckdb")
	cfg := filepath.Join("..", "testdata", "fixture", "config.yaml")
	cartwheel(t, "replay", "--config", cfg, "--events", filepath.Join("..", "testdata", "fixture", "events.jsonl"), "--warehouse", dsn, "--no-models")

	out, errOut, err := execCartwheel(5*time.Minute, "dags", "trigger", "analytics", "--wait", "--warehouse", dsn)
	if err != nil {
		t.Fatalf("trigger --wait: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, task := range []string{"staging", "marts", "tests"} {
		if !strings.Contains(out, fmt.Sprintf("  %-24s %-16s", task, "success")) {
			t.Errorf("task %s did not succeed:\n%s", task, out)
		}
	}
	runs := dagRuns(t, "analytics", "--warehouse", dsn)
	if len(runs) != 1 || runs[0].state != "success" || runs[0].runType != "manual" {
		t.Errorf("runs after trigger --wait: %+v (a command makes no scheduled runs)", runs)
	}
	// The marts hold the fixture's purchases.
	got := cartwheel(t, "query", "--warehouse", dsn, "--format", "csv", "SELECT count(*) AS n FROM fct_daily_revenue")
	if n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(got, "n\n"))); n == 0 {
		t.Errorf("fct_daily_revenue is empty after the run: %q", got)
	}
}

// TestDagsOnPostgres: on a PostgreSQL warehouse the dags commands open it
// themselves. With no appliance, trigger --wait runs the built-in
// analytics DAG on the replayed fixture in the foreground (exit 0); with
// an appliance on the same warehouse holding the scheduler lease, a
// failing DAG triggered from the command line is run by it and the
// command's exit status is still the run's outcome.
func TestDagsOnPostgres(t *testing.T) {
	pg := pgtest.Get(t)
	dir := t.TempDir()
	dsn := pg.NewDatabase(t)
	cartwheel(t, "replay", "--events", filepath.Join("..", "testdata", "fixture", "events.jsonl"), "--warehouse", dsn, "--no-models")
	out, errOut, err := execCartwheel(5*time.Minute, "dags", "trigger", "analytics", "--wait", "--warehouse", dsn)
	if err != nil {
		t.Fatalf("trigger --wait on PostgreSQL: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if runs := dagRuns(t, "analytics", "--warehouse", dsn); len(runs) != 1 || runs[0].state != "success" {
		t.Errorf("runs: %+v", runs)
	}

	proj := dagProject(t, dir, map[string]string{"broken.yml": brokenDAG})
	lc := writeLiveConfig(t, dir, 12)
	b, _ := os.ReadFile(lc.path)
	writeFile(t, lc.path, strings.Replace(string(b), "warehouse: "+lc.dsn, "warehouse: "+dsn, 1)+"project: "+proj+"\npg: \"\"\n")
	c := start(t, "run", "--config", lc.path)
	waitReady(t, c, lc.http, time.Minute)
	waitFor(t, c, time.Minute, "the appliance's first scheduled run", func() bool {
		return len(dagRuns(t, "analytics", "--config", lc.path)) > 1
	})
	out, errOut, err = execCartwheel(2*time.Minute, "dags", "trigger", "broken", "--wait", "--config", lc.path)
	if exitStatus(err) != 1 || !strings.Contains(errOut, "check (failed), publish (upstream_failed)") {
		t.Errorf("trigger --wait of a failing DAG beside an appliance: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if err, _ := c.terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
