package scheduler

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestWaitFor: a wait_for task succeeds once the other DAG's task has
// succeeded in a run with data up to the waiting run's interval end — not
// for older data, not for a failed try — and its downstream then runs; a
// manual run whose interval ends in the future waits for data up to its
// start; a wait on a whole run that never comes (its DAG paused, which
// the log says once) ends at the task's timeout.
func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openMemory(t)
		var fail atomic.Bool
		models := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
			if fail.Load() {
				return errors.New("boom")
			}
			return nil
		}
		h := start(t, db, parseDAGs(t, `name: up
tasks:
  - {id: build, models: build}
  - {id: after, sql: SELECT 1, depends_on: [build]}
`, `name: down
tasks:
  - id: wait
    wait_for: {dag: up, task: build, poke_interval: 10s}
  - {id: check, sql_check: SELECT 1 WHERE false, depends_on: [wait]}
`, `name: hourly
schedule: "@hourly"
paused: false
start_date: 2100-01-01
tasks:
  - id: wait
    wait_for: {dag: up, poke_interval: 10s}
`, `name: never
tasks:
  - id: wait
    wait_for: {dag: up, poke_interval: 10s}
    timeout: 1m
`), WithModels(models))
		ctx := context.Background()
		now := time.Now()
		trigger := func(name string, logical time.Time) Run {
			t.Helper()
			r, err := h.Trigger(ctx, name, logical)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		task := func(name, runID, id string) TaskInstance {
			t.Helper()
			_, tis, err := h.GetRun(ctx, name, runID)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range tis {
				if ti.TaskID == id {
					ti, err := h.TaskLog(ctx, name, runID, id, ti.Try)
					if err != nil {
						t.Fatal(err)
					}
					return ti
				}
			}
			t.Fatalf("run %s has no task %s", runID, id)
			return TaskInstance{}
		}
		stillWaiting := func(name, runID, why string) {
			t.Helper()
			time.Sleep(time.Minute)
			synctest.Wait()
			if ti := task(name, runID, "wait"); ti.State != StateRunning {
				t.Fatalf("%s: wait is %s, want running; log:\n%s", why, ti.State, ti.Log)
			}
		}

		down := trigger("down", now.Add(-time.Hour)) // data up to now-1h
		stillWaiting("down", down.RunID, "up has no run yet")
		if ti := task("down", down.RunID, "wait"); !strings.Contains(ti.Log, "waiting for up.build to succeed in a run with data up to") {
			t.Errorf("wait's log %q does not say what it waits for", ti.Log)
		}
		old := trigger("up", now.Add(-2*time.Hour))
		waitRun(t, h.Scheduler, "up", old.RunID)
		stillWaiting("down", down.RunID, "up succeeded for older data only")
		fail.Store(true)
		failed := trigger("up", now.Add(-time.Hour))
		if r, _ := waitRun(t, h.Scheduler, "up", failed.RunID); r.State != StateFailed {
			t.Fatalf("up's failing run: %s", r.State)
		}
		stillWaiting("down", down.RunID, "up's build failed for that data")
		fail.Store(false)
		good := trigger("up", now.Add(-30*time.Minute))
		waitRun(t, h.Scheduler, "up", good.RunID)
		r, tis := waitRun(t, h.Scheduler, "down", down.RunID)
		if r.State != StateSuccess || states(tis)["check"] != StateSuccess {
			t.Errorf("down: %s %v, want success once up.build succeeded for its data", r.State, states(tis))
		}
		if ti := task("down", down.RunID, "wait"); !strings.Contains(ti.Log, "up.build succeeded in run "+good.RunID) {
			t.Errorf("wait's log %q does not name the run it found", ti.Log)
		}

		// A manual run of an hourly DAG: its interval ends on the next hour,
		// after its start; it waits for data up to its start instead.
		hourly := trigger("hourly", time.Time{})
		if !hourly.DataIntervalEnd.After(time.Now()) {
			t.Fatalf("hourly's manual run ends %v, want after now", hourly.DataIntervalEnd)
		}
		stillWaiting("hourly", hourly.RunID, "up has no run with data up to hourly's start")
		latest := trigger("up", time.Time{})
		waitRun(t, h.Scheduler, "up", latest.RunID)
		if r, tis := waitRun(t, h.Scheduler, "hourly", hourly.RunID); r.State != StateSuccess {
			t.Errorf("hourly: %s %v, want success once up succeeded for data up to its start", r.State, states(tis))
		}

		// A wait on a paused DAG says so in its log.
		if err := h.SetPaused(ctx, "up", true); err != nil {
			t.Fatal(err)
		}
		never := trigger("never", time.Time{})
		if r, _ := waitRun(t, h.Scheduler, "never", never.RunID); r.State != StateFailed {
			t.Errorf("never: %s, want failed at its timeout", r.State)
		}
		ti := task("never", never.RunID, "wait")
		if ti.Error != "timed out after 1m0s" || !strings.Contains(ti.Log, "up has not succeeded in a run with data up to") ||
			strings.Count(ti.Log, "up is paused: it makes no scheduled runs until it is unpaused") != 1 {
			t.Errorf("never's wait: error %q, log %q", ti.Error, ti.Log)
		}
	})
}
