package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRetryBackoff: a task that fails twice then succeeds waits
// retry_delay·2^(try-1), capped by max_retry_delay, between tries, in
// up_for_retry.
func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openMemory(t)
		var c calls
		models := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
			if n := c.add(sel); n <= 2 {
				fmt.Fprintf(w, "try %d breaks\n", n)
				return errors.New("boom")
			}
			return nil
		}
		h := start(t, db, parseDAGs(t, `name: retry
tasks:
  - id: build
    models: build
    select: "tag:{{ ds }}"
    retries: 3
    retry_delay: 10s
    max_retry_delay: 15s
`), WithModels(models))
		r, err := h.Trigger(context.Background(), "retry", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first try", func() bool { return len(c.times()) == 1 })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		_, tis, err := h.GetRun(context.Background(), "retry", r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if tis[0].State != StateUpForRetry || tis[0].Try != 1 || tis[0].Error != "boom" {
			t.Errorf("between tries: %+v, want try 1 up_for_retry with its error", tis[0])
		}
		r, tis = waitRun(t, h.Scheduler, "retry", r.RunID)
		at := c.times()
		var gaps []time.Duration
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
		if diff := cmp.Diff([]time.Duration{10 * time.Second, 15 * time.Second}, gaps); diff != "" {
			t.Errorf("waits between tries (-want +got):\n%s", diff)
		}
		if r.State != StateSuccess || tis[0].State != StateSuccess || tis[0].Try != 3 {
			t.Errorf("run %s, task %+v; want success at try 3", r.State, tis[0])
		}
		if want := "tag:" + r.LogicalDate.Format("2006-01-02"); c.sel[0] != want {
			t.Errorf("selector %q, want %q (rendered)", c.sel[0], want)
		}
		for try, want := range map[int]string{1: StateFailed, 2: StateFailed, 3: StateSuccess} {
			ti, err := h.TaskLog(context.Background(), "retry", r.RunID, "build", try)
			if err != nil {
				t.Fatal(err)
			}
			if ti.State != want {
				t.Errorf("try %d: %s, want %s", try, ti.State, want)
			}
			if try < 3 && !strings.Contains(ti.Log, fmt.Sprintf("try %d breaks", try)) {
				t.Errorf("try %d log %q lacks the task's output", try, ti.Log)
			}
		}
	})
}

// TestTimeout: a timeout cancels the try's context and fails the try.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openMemory(t)
		var cause error
		models := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
			<-ctx.Done()
			cause = ctx.Err()
			return ctx.Err()
		}
		h := start(t, db, parseDAGs(t, `name: slow
tasks:
  - id: build
    models: run
    timeout: 30s
  - id: after
    sql: SELECT 1
    depends_on: [build]
`), WithModels(models))
		r, err := h.Trigger(context.Background(), "slow", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		r, tis := waitRun(t, h.Scheduler, "slow", r.RunID)
		if r.State != StateFailed || tis[0].State != StateFailed || tis[0].Error != "timed out after 30s" {
			t.Errorf("run %s, task %+v; want failed, timed out after 30s", r.State, tis[0])
		}
		if tis[0].Duration != 30 {
			t.Errorf("the try lasted %vs, want 30s", tis[0].Duration)
		}
		if !errors.Is(cause, context.DeadlineExceeded) {
			t.Errorf("the task's context ended with %v, want its deadline", cause)
		}
		if tis[1].State != StateUpstreamFailed {
			t.Errorf("downstream %s, want upstream_failed", tis[1].State)
		}
	})
}

// TestTriggerRules: a failed sql_check makes its downstream
// upstream_failed, a one_failed task runs, a one_failed task on a passing
// branch is skipped, all_done and none_failed behave as Airflow's.
func TestTriggerRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openMemory(t)
		var c calls
		models := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
			c.add(sel)
			return nil
		}
		reg := prometheus.NewRegistry()
		h := start(t, db, parseDAGs(t, `name: rules
tasks:
  - id: ok
    sql: SELECT 1
  - id: check
    sql_check: "SELECT 'x' AS what, 42 AS n UNION ALL SELECT 'y', 7"
    depends_on: [ok]
  - id: marts
    models: build
    depends_on: [check]
  - id: report
    models: run
    depends_on: [marts]
  - id: alert
    models: run
    select: alert
    depends_on: [check]
    trigger_rule: one_failed
  - id: quiet
    models: run
    select: quiet
    depends_on: [ok]
    trigger_rule: one_failed
  - id: cleanup
    models: run
    select: cleanup
    depends_on: [report, check]
    trigger_rule: all_done
  - id: nonefailed
    models: run
    depends_on: [quiet]
    trigger_rule: none_failed
`), WithModels(models), WithMetrics(reg))
		r, err := h.Trigger(context.Background(), "rules", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		r, tis := waitRun(t, h.Scheduler, "rules", r.RunID)
		want := map[string]string{"ok": "success", "check": "failed", "marts": "upstream_failed", "report": "upstream_failed",
			"alert": "success", "quiet": "skipped", "cleanup": "success", "nonefailed": "success"}
		if diff := cmp.Diff(want, states(tis)); diff != "" {
			t.Errorf("task states (-want +got):\n%s", diff)
		}
		if r.State != StateFailed {
			t.Errorf("run %s, want failed", r.State)
		}
		ti, err := h.TaskLog(context.Background(), "rules", r.RunID, "check", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ti.Log, "what\tn\nx\t42\ny\t7\n") || ti.Error != "check failed: 2 row(s) returned" {
			t.Errorf("check log %q, error %q: want the failing rows", ti.Log, ti.Error)
		}
		if got := counterValue(t, h.metrics.runs.WithLabelValues("rules", "failed")); got != 1 {
			t.Errorf("cartwheel_dag_runs_total{dag=rules,state=failed} = %v, want 1", got)
		}
		if got := counterValue(t, h.metrics.tasks.WithLabelValues("rules", "marts", "upstream_failed")); got != 1 {
			t.Errorf("cartwheel_task_instances_total{task=marts,state=upstream_failed} = %v, want 1", got)
		}
		if got := h.LastRunState(); got != "rules failed" {
			t.Errorf("LastRunState %q", got)
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range families {
			names = append(names, f.GetName())
		}
		want2 := []string{"cartwheel_dag_run_duration_seconds", "cartwheel_dag_runs_total", "cartwheel_scheduler_leader",
			"cartwheel_task_duration_seconds", "cartwheel_task_instances_total"}
		if diff := cmp.Diff(want2, names); diff != "" {
			t.Errorf("registered metrics (-want +got):\n%s", diff)
		}
	})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
