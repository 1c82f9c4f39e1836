package dag

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestInvalidFiles: each file under testdata/invalid is refused with the
// error in its .golden file (one class of mistake per file).
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("dags/"+name+".yml", src)
			if err == nil {
				t.Fatal("accepted")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not a *dag.Error", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"dags/a.yml": {Data: []byte(`name: alpha
schedule: "*/5 * * * *"
timezone: Europe/Berlin
start_date: 2026-11-01
catchup: true
max_active_runs: 2
paused: true
on_failure: http://127.0.0.1:9/hook
tasks:
  - id: build
    models: build
    select: "path:models/staging"
    retries: 2
    retry_delay: 30s
    max_retry_delay: 10m
    timeout: 5m
  - id: check
    sql_check: "SELECT 1 WHERE false"
    depends_on: build
  - id: alert
    http: {url: "http://127.0.0.1:9/x", headers: {X-Token: abc}}
    depends_on: [check]
    trigger_rule: one_failed
`)},
		"dags/b.yaml": {Data: []byte(`tasks:
  - {id: x, sql: SELECT 1}
  - {id: after_alpha, wait_for: alpha}
  - {id: after_check, wait_for: {dag: alpha, task: check, poke_interval: 5s}, timeout: 1h}
`)},
		"dags/notes.md": {Data: []byte("not a DAG")},
	}
	dags, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	want := []*DAG{{
		Name: "alpha", File: "dags/a.yml", Schedule: "*/5 * * * *", Timezone: "Europe/Berlin", Location: berlin,
		StartDate: time.Date(2026, 11, 1, 0, 0, 0, 0, berlin), Catchup: true, MaxActiveRuns: 2, Paused: true,
		OnFailure: &HTTP{URL: "http://127.0.0.1:9/hook", Method: "POST"},
		Tasks: []*Task{
			{ID: "build", Type: Models, Models: "build", Select: "path:models/staging", TriggerRule: AllSuccess,
				Retries: 2, RetryDelay: 30 * time.Second, MaxRetryDelay: 10 * time.Minute, Timeout: 5 * time.Minute},
			{ID: "check", Type: SQLCheck, SQL: "SELECT 1 WHERE false", DependsOn: []string{"build"}, TriggerRule: AllSuccess, RetryDelay: DefaultRetryDelay},
			{ID: "alert", Type: HTTPCall, HTTP: &HTTP{URL: "http://127.0.0.1:9/x", Method: "POST", Headers: map[string]string{"X-Token": "abc"}},
				DependsOn: []string{"check"}, TriggerRule: OneFailed, RetryDelay: DefaultRetryDelay},
		},
	}, {
		Name: "b", File: "dags/b.yaml", Timezone: "UTC", Location: time.UTC, MaxActiveRuns: DefaultMaxActiveRuns,
		Tasks: []*Task{
			{ID: "x", Type: SQL, SQL: "SELECT 1", TriggerRule: AllSuccess, RetryDelay: DefaultRetryDelay},
			{ID: "after_alpha", Type: WaitFor, Wait: &Wait{DAG: "alpha", PokeInterval: DefaultPokeInterval},
				TriggerRule: AllSuccess, RetryDelay: DefaultRetryDelay, Timeout: DefaultWaitTimeout},
			{ID: "after_check", Type: WaitFor, Wait: &Wait{DAG: "alpha", Task: "check", PokeInterval: 5 * time.Second},
				TriggerRule: AllSuccess, RetryDelay: DefaultRetryDelay, Timeout: time.Hour},
		},
	}}
	opts := cmp.Options{cmpopts.IgnoreUnexported(DAG{}, Wait{}), cmp.Comparer(func(a, b *time.Location) bool { return a.String() == b.String() })}
	if diff := cmp.Diff(want, dags, opts); diff != "" {
		t.Errorf("DAGs (-want +got):\n%s", diff)
	}
	if dags, err := Load(fstest.MapFS{"models/x.sql": {Data: []byte("SELECT 1")}}); err != nil || len(dags) != 0 {
		t.Errorf("a project without dags/: %v, %v", dags, err)
	}
}

func TestLoadRefusesTheSameNameTwice(t *testing.T) {
	_, err := Load(fstest.MapFS{
		"dags/a.yml": {Data: []byte("name: same\ntasks: [{id: x, sql: SELECT 1}]\n")},
		"dags/b.yml": {Data: []byte("name: same\ntasks: [{id: x, sql: SELECT 1}]\n")},
	})
	if err == nil || err.Error() != `dags/b.yml:1: name: DAG "same" is also defined in dags/a.yml` {
		t.Errorf("error %v", err)
	}
}

// TestLoadChecksWaits: a wait_for names a DAG of the folder, not its own,
// and a task that DAG has; each mistake names its file, line and field.
func TestLoadChecksWaits(t *testing.T) {
	_, err := Load(fstest.MapFS{
		"dags/a.yml": {Data: []byte("name: a\ntasks: [{id: x, sql: SELECT 1}]\n")},
		"dags/b.yml": {Data: []byte(`name: b
tasks:
  - id: self
    wait_for: b
  - id: nowhere
    wait_for: {dag: c}
  - id: no_task
    wait_for: {dag: a, task: y}
  - id: fine
    wait_for: {dag: a, task: x}
`)},
	})
	want := `dags/b.yml:4: tasks[0].wait_for.dag: a task cannot wait for its own DAG (order tasks of one run with depends_on)
dags/b.yml:6: tasks[1].wait_for.dag: unknown DAG "c" (not in dags/)
dags/b.yml:8: tasks[2].wait_for.task: DAG "a" has no task "y"`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}
