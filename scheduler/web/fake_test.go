package web_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
)

// fake is a scheduler with one DAG, analytics (staging → marts → check),
// and the runs the test gives it; it records the calls that change things.
type fake struct {
	mu    sync.Mutex
	dags  map[string]*dag.DAG
	runs  map[string][]scheduler.Run          // by DAG, newest first
	tasks map[string][]scheduler.TaskInstance // by run id
	calls []string
	now   time.Time
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func tp(t time.Time) *time.Time { return &t }

func newFake() *fake {
	d := &dag.DAG{Name: "analytics", File: "dags/analytics.yml", Schedule: "*/5 * * * *", Timezone: "UTC", Location: time.UTC,
		StartDate: t0.Add(-24 * time.Hour), MaxActiveRuns: 1, Tasks: []*dag.Task{
			{ID: "staging", Type: "models", Models: "build", Select: "path:models/staging", TriggerRule: "all_success"},
			{ID: "marts", Type: "models", Models: "build", Select: "path:models/marts", DependsOn: []string{"staging"},
				TriggerRule: "all_success", Retries: 2, RetryDelay: 30 * time.Second, MaxRetryDelay: 10 * time.Minute, Timeout: 5 * time.Minute},
			{ID: "check", Type: "sql_check", SQL: "SELECT 1 WHERE false", DependsOn: []string{"marts"}, TriggerRule: "all_success"},
		}}
	ok := scheduler.Run{DAG: "analytics", RunID: "scheduled__2026-11-20T09:55:00Z", RunType: "scheduled", LogicalDate: t0.Add(-5 * time.Minute),
		DataIntervalStart: t0.Add(-5 * time.Minute), DataIntervalEnd: t0, State: "success", QueuedAt: t0,
		StartedAt: tp(t0), EndedAt: tp(t0.Add(9 * time.Second))}
	bad := scheduler.Run{DAG: "analytics", RunID: "manual__2026-11-20T10:01:00Z", RunType: "manual", LogicalDate: t0.Add(time.Minute),
		DataIntervalStart: t0.Add(time.Minute), DataIntervalEnd: t0.Add(time.Minute), State: "running", QueuedAt: t0.Add(time.Minute),
		StartedAt: tp(t0.Add(time.Minute))}
	f := &fake{dags: map[string]*dag.DAG{"analytics": d}, now: t0.Add(2 * time.Minute),
		runs: map[string][]scheduler.Run{"analytics": {bad, ok}},
		tasks: map[string][]scheduler.TaskInstance{
			ok.RunID: {
				{DAG: "analytics", RunID: ok.RunID, TaskID: "staging", Try: 1, State: "success", StartedAt: tp(t0), EndedAt: tp(t0.Add(3 * time.Second)), Duration: 3},
				{DAG: "analytics", RunID: ok.RunID, TaskID: "marts", Try: 2, State: "success", StartedAt: tp(t0.Add(4 * time.Second)), EndedAt: tp(t0.Add(8 * time.Second)), Duration: 4},
				{DAG: "analytics", RunID: ok.RunID, TaskID: "check", Try: 1, State: "success", StartedAt: tp(t0.Add(8 * time.Second)), EndedAt: tp(t0.Add(9 * time.Second)), Duration: 1},
			},
			bad.RunID: {
				{DAG: "analytics", RunID: bad.RunID, TaskID: "staging", Try: 1, State: "failed", StartedAt: tp(t0.Add(time.Minute)), EndedAt: tp(t0.Add(61 * time.Second)),
					Error: `<script>alert("x")</script> relation "stg" does not exist`, Log: "building stg_sessionized_events\n<b>not bold</b>\n"},
				{DAG: "analytics", RunID: bad.RunID, TaskID: "marts", State: "upstream_failed"},
				{DAG: "analytics", RunID: bad.RunID, TaskID: "check", Try: 1, State: "running", StartedAt: tp(t0.Add(62 * time.Second)), Log: "still going\n"},
			},
		}}
	return f
}

func (f *fake) status(d *dag.DAG) scheduler.DAGStatus {
	next := t0.Add(5 * time.Minute)
	st := scheduler.DAGStatus{DAG: d, Paused: d.Paused, LastRuns: f.runs[d.Name]}
	if !d.Paused {
		st.NextRun = &next
	}
	if st.LastRuns == nil {
		st.LastRuns = []scheduler.Run{}
	}
	return st
}

func (f *fake) dag(name string) (*dag.DAG, error) {
	d := f.dags[name]
	if d == nil {
		return nil, fmt.Errorf("dag %q: %w", name, scheduler.ErrUnknownDAG)
	}
	return d, nil
}

func (f *fake) DAGs(context.Context) ([]scheduler.DAGStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []scheduler.DAGStatus{f.status(f.dags["analytics"])}, nil
}

func (f *fake) DAG(_ context.Context, name string) (scheduler.DAGStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.dag(name)
	if err != nil {
		return scheduler.DAGStatus{}, err
	}
	return f.status(d), nil
}

func (f *fake) Trigger(_ context.Context, name string, logical time.Time) (scheduler.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.dag(name); err != nil {
		return scheduler.Run{}, err
	}
	if logical.IsZero() {
		logical = f.now
	}
	f.calls = append(f.calls, "trigger "+name+" "+logical.Format(time.RFC3339))
	r := scheduler.Run{DAG: name, RunID: "manual__" + logical.Format(time.RFC3339), RunType: "manual", LogicalDate: logical, State: "queued", QueuedAt: f.now}
	f.runs[name] = append([]scheduler.Run{r}, f.runs[name]...)
	return r, nil
}

func (f *fake) GetRun(_ context.Context, name, runID string) (scheduler.Run, []scheduler.TaskInstance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.dag(name); err != nil {
		return scheduler.Run{}, nil, err
	}
	for _, r := range f.runs[name] {
		if r.RunID == runID {
			return r, f.tasks[runID], nil
		}
	}
	return scheduler.Run{}, nil, fmt.Errorf("run %q: %w", runID, scheduler.ErrUnknownRun)
}

func (f *fake) Runs(_ context.Context, name string, limit int) ([]scheduler.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.dag(name); err != nil {
		return nil, err
	}
	runs := f.runs[name]
	return runs[:min(limit, len(runs))], nil
}

func (f *fake) TaskLog(ctx context.Context, name, runID, taskID string, try int) (scheduler.TaskInstance, error) {
	_, tis, err := f.GetRun(ctx, name, runID)
	if err != nil {
		return scheduler.TaskInstance{}, err
	}
	for _, ti := range tis {
		if ti.TaskID == taskID && (try == 0 || try <= ti.Try) {
			if try != 0 {
				ti.Try = try
			}
			return ti, nil
		}
	}
	return scheduler.TaskInstance{}, fmt.Errorf("task %q try %d: %w", taskID, try, scheduler.ErrUnknownRun)
}

func (f *fake) SetPaused(_ context.Context, name string, paused bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.dag(name)
	if err != nil {
		return err
	}
	d.Paused = paused
	f.calls = append(f.calls, fmt.Sprintf("paused %s %v", name, paused))
	return nil
}

func (f *fake) Backfill(_ context.Context, name string, from, to time.Time, reprocess scheduler.Reprocess, dryRun bool) ([]scheduler.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.dag(name); err != nil {
		return nil, err
	}
	f.calls = append(f.calls, fmt.Sprintf("backfill %s %s %s %s %v", name, from.Format(time.RFC3339), to.Format(time.RFC3339), reprocess, dryRun))
	var runs []scheduler.Run
	for l := from; !l.After(to); l = l.Add(time.Hour) {
		runs = append(runs, scheduler.Run{DAG: name, RunID: "backfill__" + l.Format(time.RFC3339), RunType: "backfill", LogicalDate: l, State: "queued"})
	}
	return runs, nil
}

func (f *fake) Test(ctx context.Context, name string, logical time.Time, w io.Writer) (scheduler.Run, []scheduler.TaskInstance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.dag(name); err != nil {
		return scheduler.Run{}, nil, err
	}
	f.calls = append(f.calls, "test "+name+" "+logical.Format(time.RFC3339))
	fmt.Fprintln(w, "staging: ok")
	return scheduler.Run{DAG: name, RunID: "test", RunType: "manual", LogicalDate: logical, State: "success"},
		[]scheduler.TaskInstance{{DAG: name, RunID: "test", TaskID: "staging", Try: 1, State: "success"}}, nil
}

func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
