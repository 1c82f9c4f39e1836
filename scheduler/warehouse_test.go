package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// These tests use a real warehouse on the real clock (DuckDB calls are cgo
// and PostgreSQL's are network I/O: neither suits a synctest bubble), with
// condition waits.

func openFile(t *testing.T, path string) *warehouse.DB {
	t.Helper()
	db, err := warehouse.Open(context.Background(), "duckdb://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestHistoryAcrossRestart: runs, task tries, logs and the pause state
// are in the warehouse file and read back after a restart.
func TestHistoryAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.duckdb")
	ctx := context.Background()
	dags := parseDAGs(t, `name: hist
schedule: "@daily"
start_date: 2100-01-01
tasks:
  - id: mark
    sql: "CREATE TABLE marks AS SELECT '{{ ds }}' AS ds, '{{ data_interval_end }}' AS until"
  - id: check
    sql_check: "SELECT * FROM marks WHERE ds <> '{{ ds }}'"
    depends_on: [mark]
`)
	db := openFile(t, path)
	h := start(t, db, dags)
	logical := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r, err := h.Trigger(ctx, "hist", logical)
	if err != nil {
		t.Fatal(err)
	}
	r, tis := waitRun(t, h.Scheduler, "hist", r.RunID)
	if r.State != StateSuccess {
		t.Fatalf("run %s: %+v", r.State, tis)
	}
	if err := h.SetPaused(ctx, "hist", true); err != nil {
		t.Fatal(err)
	}
	h.stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openFile(t, path)
	s, err := New(ctx, db, dags, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, "hist", 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Run{r}, runs); diff != "" {
		t.Errorf("runs after a restart (-want +got):\n%s", diff)
	}
	_, tis2, err := s.GetRun(ctx, "hist", r.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tis, tis2); diff != "" {
		t.Errorf("task instances after a restart (-want +got):\n%s", diff)
	}
	ti, err := s.TaskLog(ctx, "hist", r.RunID, "mark", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ti.Log, "SELECT '2026-11-01' AS ds, '2026-11-02 00:00:00' AS until") {
		t.Errorf("log %q lacks the rendered SQL", ti.Log)
	}
	st, err := s.DAG(ctx, "hist")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.NextRun != nil || len(st.LastRuns) != 1 {
		t.Errorf("status after a restart: paused %v, next %v, %d runs; want paused, no next run, 1 run", st.Paused, st.NextRun, len(st.LastRuns))
	}
	if got := s.LastRunState(); got != "hist success" {
		t.Errorf("LastRunState %q", got)
	}
	if _, _, err := s.GetRun(ctx, "hist", "nope"); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := s.Runs(ctx, "nope", 1); !errors.Is(err, ErrUnknownDAG) {
		t.Errorf("unknown DAG: %v", err)
	}
}

// TestCrashMidRun: a scheduler stopped mid-task (SIGTERM, a crash, a lost
// lease) leaves its run running, its log readable meanwhile. The next
// leader resumes it, as Airflow adopts orphaned tasks: the interrupted try
// is closed with its log, the task runs again with a new try, a task that
// had finished keeps its try, and the one that never started runs once.
func TestCrashMidRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.duckdb")
	ctx := context.Background()
	started := make(chan struct{})
	hang := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
		io.WriteString(w, "halfway there\n")
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	var builds atomic.Int32
	build := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
		builds.Add(1)
		io.WriteString(w, "built\n")
		return nil
	}
	dags := parseDAGs(t, `name: crash
tasks:
  - id: first
    sql: SELECT 1
  - id: long
    models: build
    depends_on: [first]
  - id: after
    sql: SELECT 1
    depends_on: [long]
`)
	db := openFile(t, path)
	h := start(t, db, dags, WithModels(hang))
	r, err := h.Trigger(ctx, "crash", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	waitFor(t, "the running task's log", func() bool {
		ti, err := h.TaskLog(ctx, "crash", r.RunID, "long", 0)
		return err == nil && ti.State == StateRunning && strings.Contains(ti.Log, "halfway there")
	})
	h.stop()
	before, _, err := h.GetRun(ctx, "crash", r.RunID)
	if err != nil || before.State != StateRunning || before.StartedAt == nil {
		t.Fatalf("after the crash the run is %+v (%v), want still running", before, err)
	}

	h2 := start(t, db, dags, WithModels(build))
	r2, tis := waitRun(t, h2.Scheduler, "crash", r.RunID)
	if r2.State != StateSuccess || r2.EndedAt == nil || r2.StartedAt == nil || !r2.StartedAt.Equal(*before.StartedAt) {
		t.Errorf("resumed run %+v, want success, started when it first started (%v)", r2, before.StartedAt)
	}
	var got []string
	for _, ti := range tis {
		got = append(got, fmt.Sprintf("%s try %d %s", ti.TaskID, ti.Try, ti.State))
	}
	if want := []string{"first try 1 success", "long try 2 success", "after try 1 success"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("latest tries %v, want %v", got, want)
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("the interrupted task ran %d times after the restart, want 1", n)
	}
	interrupted, err := h2.TaskLog(ctx, "crash", r.RunID, "long", 1)
	if err != nil || interrupted.State != StateFailed || interrupted.Error != interruptedError ||
		!strings.Contains(interrupted.Log, "halfway there") || interrupted.EndedAt == nil {
		t.Errorf("the interrupted try %+v (%v): want failed, %q, its log kept", interrupted, err, interruptedError)
	}
	if ti, err := h2.TaskLog(ctx, "crash", r.RunID, "first", 2); err == nil {
		t.Errorf("the finished task ran again: %+v", ti)
	}
}

// TestResumeWaitingRetry: a try that failed and waits for its retry when
// the leader stops keeps its own error; the resumed run's new try is the
// retry.
func TestResumeWaitingRetry(t *testing.T) {
	ctx := context.Background()
	fail := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
		return errors.New("boom")
	}
	succeed := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error { return nil }
	dags := parseDAGs(t, `name: flaky
tasks:
  - id: build
    models: build
    retries: 1
    retry_delay: 1h
`)
	db := openFile(t, filepath.Join(t.TempDir(), "w.duckdb"))
	h := start(t, db, dags, WithModels(fail))
	r, err := h.Trigger(ctx, "flaky", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry's wait", func() bool {
		ti, err := h.TaskLog(ctx, "flaky", r.RunID, "build", 0)
		return err == nil && ti.State == StateUpForRetry
	})
	h.stop()
	h2 := start(t, db, dags, WithModels(succeed))
	if r2, tis := waitRun(t, h2.Scheduler, "flaky", r.RunID); r2.State != StateSuccess || tis[0].Try != 2 || tis[0].State != StateSuccess {
		t.Errorf("resumed run %s, task %+v: want success on try 2", r2.State, tis[0])
	}
	if ti, err := h2.TaskLog(ctx, "flaky", r.RunID, "build", 1); err != nil || ti.State != StateFailed || ti.Error != "boom" {
		t.Errorf("the first try %+v (%v): want failed with its own error", ti, err)
	}
}

// TestHTTPTasksAndWebhook: http tasks (template URL, non-2xx fails) and
// the on_failure webhook's JSON.
func TestHTTPTasksAndWebhook(t *testing.T) {
	hooks := make(chan map[string]any, 1)
	var pinged atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			pinged.Store(r.URL.RawQuery)
			io.WriteString(w, "pong")
		case "/hook":
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			hooks <- body
		default:
			http.Error(w, "no such thing", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	db := openMemory(t)
	h := start(t, db, parseDAGs(t, `name: web
on_failure: {url: "`+srv.URL+`/hook"}
tasks:
  - id: ping
    http: {url: "`+srv.URL+`/ok?ds={{ ds }}", method: GET}
  - id: bad
    http: {url: "`+srv.URL+`/fail"}
    depends_on: [ping]
`), WithHTTPClient(srv.Client()))
	ctx := context.Background()
	r, err := h.Trigger(ctx, "web", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	r, tis := waitRun(t, h.Scheduler, "web", r.RunID)
	if diff := cmp.Diff(map[string]string{"ping": "success", "bad": "failed"}, states(tis)); diff != "" {
		t.Errorf("task states (-want +got):\n%s", diff)
	}
	if tis[1].Error != "HTTP 500 Internal Server Error" {
		t.Errorf("error %q", tis[1].Error)
	}
	if got, _ := pinged.Load().(string); got != "ds=2026-11-01" {
		t.Errorf("the rendered URL's query %q", got)
	}
	select {
	case body := <-hooks:
		want := map[string]any{"dag": "web", "run_id": r.RunID, "state": "failed", "logical_date": "2026-11-01T00:00:00Z",
			"failed_tasks": []any{"bad"}}
		if diff := cmp.Diff(want, body); diff != "" {
			t.Errorf("webhook body (-want +got):\n%s", diff)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook")
	}
}

// TestForegroundTest: Test runs every task now, logs to the writer and
// writes no history.
func TestForegroundTest(t *testing.T) {
	db := openMemory(t)
	s, err := New(context.Background(), db, parseDAGs(t, `name: fg
tasks:
  - id: a
    sql_check: "SELECT 1 WHERE '{{ dag }}' <> 'fg'"
  - id: b
    sql_check: "SELECT 'late' AS problem"
    depends_on: [a]
  - id: c
    sql: SELECT 1
    depends_on: [b]
`), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r, tis, err := s.Test(context.Background(), "fg", time.Time{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "success", "b": "failed", "c": "upstream_failed"}, states(tis)); diff != "" || r.State != StateFailed {
		t.Errorf("run %s, task states (-want +got):\n%s", r.State, diff)
	}
	for _, line := range []string{"[a] SELECT 1 WHERE 'fg' <> 'fg'\n", "[b] check failed: 1 row(s)\n", "[b] late\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
	rs, err := db.Query(context.Background(), `SELECT (SELECT COUNT(*) FROM dag_runs) + (SELECT COUNT(*) FROM task_instances)`)
	if err != nil {
		t.Fatal(err)
	}
	if n := intOf(rs.Rows[0][0]); n != 0 {
		t.Errorf("a test run wrote %d history rows", n)
	}
}

// flakyDB loses the warehouse on demand: a partitioned leader.
type flakyDB struct {
	DB
	down atomic.Bool
}

var errPartition = errors.New("partitioned")

func (f *flakyDB) Exec(ctx context.Context, q string, args ...any) error {
	if f.down.Load() {
		return errPartition
	}
	return f.DB.Exec(ctx, q, args...)
}

func (f *flakyDB) Query(ctx context.Context, q string, args ...any) (*result.Set, error) {
	if f.down.Load() {
		return nil, errPartition
	}
	return f.DB.Query(ctx, q, args...)
}

func (f *flakyDB) Tx(ctx context.Context, fn func(warehouse.Tx) error) error {
	if f.down.Load() {
		return errPartition
	}
	return f.DB.Tx(ctx, fn)
}

// executions records which instance ran which run.
type executions struct {
	mu   sync.Mutex
	runs map[string][]string
	at   map[string]time.Time // first execution per instance
}

func (e *executions) models(instance string) ModelsFunc {
	return func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.at[instance]; !ok {
			e.at[instance] = time.Now()
		}
		e.runs[instance] = append(e.runs[instance], v["run_id"].(string))
		return nil
	}
}

func (e *executions) of(instance string) ([]string, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.runs[instance]), e.at[instance]
}

// TestLeaseOnPostgres: two schedulers on one PostgreSQL database (started
// at once, so their table creation races): one executes; the other's
// Trigger is run by the leader; when the leader stops renewing, the other
// takes over after the lease expires.
func TestLeaseOnPostgres(t *testing.T) {
	dsn := pgtest.Get(t).NewDatabase(t)
	ctx := context.Background()
	dags := parseDAGs(t, `name: tick
schedule: "@every 1s"
tasks: [{id: a, models: run}]
`)
	ex := &executions{runs: map[string][]string{}, at: map[string]time.Time{}}
	dbs := map[string]*flakyDB{}
	scheds := map[string]*Scheduler{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		db, err := warehouse.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		f := &flakyDB{DB: db}
		dbs[name] = f
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(ctx, f, dags, WithLogger(quiet), WithInstance(name), WithLease(3*time.Second), WithModels(ex.models(name)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			scheds[name] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	harnesses := map[string]*harness{}
	for name, s := range scheds {
		rctx, cancel := context.WithCancel(ctx)
		h := &harness{Scheduler: s, db: dbs[name], cancel: cancel, done: make(chan error, 1)}
		go func() { h.done <- s.Run(rctx) }()
		t.Cleanup(h.stop)
		harnesses[name] = h
	}
	var leader, other string
	waitFor(t, "a leader's runs", func() bool {
		a, _ := ex.of("a")
		b, _ := ex.of("b")
		switch {
		case len(a) >= 2 && len(b) == 0:
			leader, other = "a", "b"
		case len(b) >= 2 && len(a) == 0:
			leader, other = "b", "a"
		case len(a) > 0 && len(b) > 0:
			t.Fatalf("both instances executed runs: a %v, b %v", a, b)
		}
		return leader != ""
	})
	// The other instance queues a manual run; the leader executes it.
	r, err := harnesses[other].Trigger(ctx, "tick", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ = waitRun(t, harnesses[other].Scheduler, "tick", r.RunID)
	if got, _ := ex.of(leader); r.State != StateSuccess || !slices.Contains(got, r.RunID) {
		t.Errorf("manual run from the other instance: %s, run by the leader: %v", r.State, slices.Contains(got, r.RunID))
	}
	if got, _ := ex.of(other); len(got) != 0 {
		t.Fatalf("the other instance executed %v", got)
	}
	rs, err := dbs[other].Query(ctx, `SELECT holder, expires_at FROM cartwheel_scheduler_lease`)
	if err != nil {
		t.Fatal(err)
	}
	if strOf(rs.Rows[0][0]) != leader {
		t.Fatalf("lease holder %v, want %s", rs.Rows[0][0], leader)
	}
	expires := timeOf(rs.Rows[0][1])
	dbs[leader].down.Store(true) // it can no longer renew
	waitFor(t, "the other instance to take over", func() bool {
		got, _ := ex.of(other)
		return len(got) >= 2
	})
	if _, first := ex.of(other); first.Before(expires) {
		t.Errorf("the other instance ran at %v, before the lease expired at %v", first, expires)
	}
	rs, err = dbs[other].Query(ctx, `SELECT holder FROM cartwheel_scheduler_lease`)
	if err != nil || strOf(rs.Rows[0][0]) != other {
		t.Errorf("lease holder after the takeover: %v, %v", rs, err)
	}
}

// TestWaitForOnPostgres: a wait_for task pokes the run history on
// PostgreSQL as on DuckDB: it waits while the other DAG has succeeded only
// for older data, and succeeds once it has for this run's.
func TestWaitForOnPostgres(t *testing.T) {
	dsn := pgtest.Get(t).NewDatabase(t)
	ctx := context.Background()
	db, err := warehouse.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := start(t, db, parseDAGs(t, `name: up
tasks: [{id: build, models: build}]
`, `name: down
tasks:
  - id: wait
    wait_for: {dag: up, task: build, poke_interval: 100ms}
    timeout: 1m
`), WithModels(func(context.Context, string, string, map[string]any, io.Writer) error { return nil }), withPoll(100*time.Millisecond))
	now := time.Now().UTC().Truncate(time.Second)
	old, err := h.Trigger(ctx, "up", now.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, h.Scheduler, "up", old.RunID)
	down, err := h.Trigger(ctx, "down", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if r, err := h.getRun(ctx, "down", down.RunID); err != nil || r.State != StateRunning {
		t.Fatalf("down after up succeeded for older data: %+v %v, want running", r, err)
	}
	fresh, err := h.Trigger(ctx, "up", now)
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, h.Scheduler, "up", fresh.RunID)
	if r, tis := waitRun(t, h.Scheduler, "down", down.RunID); r.State != StateSuccess {
		t.Errorf("down: %s %v, want success once up.build succeeded for its data", r.State, states(tis))
	}
	ti, err := h.TaskLog(ctx, "down", down.RunID, "wait", 0)
	if err != nil || !strings.Contains(ti.Log, "up.build succeeded in run "+fresh.RunID) {
		t.Errorf("wait's log %q (%v), want the run it found", ti.Log, err)
	}
}
