package appliance

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
	"github.com/cartwheel-analytics/cartwheel/scheduler/web"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// dagProject writes a project with the built-in models and one DAG, "ok":
// a statement, then a passing check.
func dagProject(t *testing.T, dagFile string) Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "dags"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dbt_project.yml"), mustRead(t, "dbt_project.yml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dags", "ok.yml"), []byte(dagFile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Project = dir
	cfg.Warehouse = "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
	return cfg
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	f, err := ProjectFS("").Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const okDAG = `name: ok
tasks:
  - id: first
    sql: "SELECT 1"
  - id: check
    sql_check: "SELECT 1 WHERE 1 = 0"
    depends_on: [first]
`

// TestDAGsDirect: with no appliance on the DuckDB file the commands' DAGs
// open the warehouse and execute a triggered run themselves.
func TestDAGsDirect(t *testing.T) {
	ctx := shortCtx(t, time.Minute)
	cfg := dagProject(t, okDAG)
	d, err := OpenDAGs(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.ThroughAppliance() {
		t.Fatal("no appliance runs, yet the DAGs go through one")
	}
	run, err := d.Trigger(ctx, "ok", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	run, tasks, err := d.WaitRun(ctx, "ok", run.RunID)
	if err != nil || run.State != "success" || len(tasks) != 2 || tasks[1].State != "success" {
		t.Fatalf("run %+v, tasks %+v, err %v", run, tasks, err)
	}
	if _, err := d.Runs(ctx, "nope", 1); !errors.Is(err, scheduler.ErrUnknownDAG) {
		t.Errorf("unknown DAG: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDAGsThroughAppliance: while an appliance holds the DuckDB file the
// DAG calls go to its API, with its token, and unknown names still match
// the scheduler's errors.
func TestDAGsThroughAppliance(t *testing.T) {
	ctx := shortCtx(t, time.Minute)
	cfg := dagProject(t, okDAG)
	// The appliance's own scheduler, on its own warehouse.
	db, err := warehouse.Open(ctx, "duckdb://"+filepath.Join(t.TempDir(), "appliance.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dags, err := LoadDAGs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadProject(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := scheduler.New(ctx, db, dags, schedulerOptions(cfg, db, p, newModelsGate(), nil, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- sched.Run(runCtx) }()
	defer func() { stop(); <-ran }()
	pages := web.New(sched)
	var opts []api.Option
	for pattern, h := range pages.Routes() {
		opts = append(opts, api.WithGET(pattern, h))
	}
	for pattern, h := range pages.Actions() {
		opts = append(opts, api.WithPOST(pattern, h))
	}
	srv := httptest.NewServer(api.New(db, append(opts, api.WithToken("sesame"))...).Handler())
	defer srv.Close()
	runningAppliance(t, DuckDBPath(cfg.Warehouse), srv, "sesame")

	d, err := OpenDAGs(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.ThroughAppliance() {
		t.Fatal("the DAGs do not go through the running appliance")
	}
	sts, err := d.DAGs(ctx)
	if err != nil || len(sts) != 1 || sts[0].DAG.Name != "ok" {
		t.Fatalf("DAGs: %+v %v", sts, err)
	}
	run, err := d.Trigger(ctx, "ok", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	run, tasks, err := d.WaitRun(ctx, "ok", run.RunID)
	if err != nil || run.State != "success" || len(tasks) != 2 {
		t.Fatalf("run %+v, tasks %+v, err %v", run, tasks, err)
	}
	ti, err := d.TaskLog(ctx, "ok", run.RunID, "check", 0)
	if err != nil || ti.Try != 1 || ti.State != "success" {
		t.Errorf("log: %+v %v", ti, err)
	}
	if err := d.SetPaused(ctx, "ok", true); err != nil {
		t.Fatal(err)
	}
	if st, err := sched.DAG(ctx, "ok"); err != nil || !st.Paused {
		t.Errorf("pause through the appliance: %+v %v", st, err)
	}
	if _, err := d.Trigger(ctx, "nope", time.Time{}); !errors.Is(err, scheduler.ErrUnknownDAG) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown DAG: %v", err)
	}
	if _, _, err := d.GetRun(ctx, "ok", "nope"); !errors.Is(err, scheduler.ErrUnknownRun) {
		t.Errorf("unknown run: %v", err)
	}
}

func TestModelsTaskUnknownCommand(t *testing.T) {
	err := modelsTask(nil, nil, newModelsGate())(context.Background(), "frob", "", nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown models command "frob"`) {
		t.Errorf("err = %v", err)
	}
}

func TestLoadDAGsNamesTheProject(t *testing.T) {
	cfg := dagProject(t, "name: ok\ntasks:\n  - id: a\n    sql: SELECT 1\n    depends_on: [nope]\n")
	_, err := LoadDAGs(cfg)
	if err == nil || !strings.Contains(err.Error(), cfg.Project) || !strings.Contains(err.Error(), "dags/ok.yml") {
		t.Errorf("err = %v", err)
	}
}

// TestModelsGate: one models command at a time — a second waits (and says
// so in its log) until the first leaves, or gives up with its context.
func TestModelsGate(t *testing.T) {
	g := newModelsGate()
	if err := g.enter(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log strings.Builder
	done := make(chan error, 1)
	go func() { done <- g.enter(ctx, &log) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("enter while held, cancelled: %v", err)
	}
	if !strings.Contains(log.String(), "waiting for another models command") {
		t.Errorf("log %q", log.String())
	}
	entered := make(chan error, 1)
	go func() { entered <- g.enter(context.Background(), io.Discard) }()
	g.leave()
	if err := <-entered; err != nil {
		t.Errorf("enter after leave: %v", err)
	}
	// The API's models action waits behind the gate too.
	a := g.action(func(context.Context, io.Reader) (any, int) { return "ran", 200 })
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if v, status := a(ctx, strings.NewReader("{}")); status != 503 {
		t.Errorf("action while held: %v %d", v, status)
	}
	g.leave()
	if v, status := a(context.Background(), strings.NewReader("{}")); v != "ran" || status != 200 {
		t.Errorf("action: %v %d", v, status)
	}
}
