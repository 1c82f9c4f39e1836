package dag

import (
	"fmt"
	"time"
)

// TaskType is what a task does.
type TaskType string

// The task types.
const (
	Models   TaskType = "models"    // run, test or build models with a selector
	SQLCheck TaskType = "sql_check" // a query that fails the task when it returns a row
	SQL      TaskType = "sql"       // a statement
	HTTPCall TaskType = "http"      // an HTTP request; a non-2xx status fails the task
	WaitFor  TaskType = "wait_for"  // a sensor: waits for another DAG's run (or task) to succeed
)

// TriggerRule says when a task runs, from the states of its upstream tasks.
type TriggerRule string

// The trigger rules.
const (
	AllSuccess TriggerRule = "all_success" // every upstream succeeded (the default)
	AllDone    TriggerRule = "all_done"    // every upstream finished, whatever its state
	OneFailed  TriggerRule = "one_failed"  // an upstream failed; skipped when none did
	NoneFailed TriggerRule = "none_failed" // every upstream finished and none failed (skipped ones count as fine)
)

// HTTP is a request: an http task's, or a DAG's on_failure webhook.
type HTTP struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"` // default POST
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Wait is a wait_for task's sensor, Airflow's ExternalTaskSensor: it
// succeeds once DAG (or its task Task) has succeeded in a run whose data
// interval ends no earlier than the waiting run's — the other DAG has
// processed the data this run is about. A waiting run whose interval ends
// in the future (a manual run) waits for data up to its own start instead.
type Wait struct {
	DAG          string        `json:"dag"`
	Task         string        `json:"task,omitempty"` // empty: the whole run
	PokeInterval time.Duration `json:"poke_interval"`

	line int // of the wait_for key, for Load's errors
}

// Target names what a Wait waits for: "dag" or "dag.task".
func (w *Wait) Target() string {
	if w.Task == "" {
		return w.DAG
	}
	return w.DAG + "." + w.Task
}

// Defaults of a wait_for task: Airflow pokes every 60 s and gives up after
// 7 days; a DAG here waits for DAGs on minute schedules, and a sensor that
// waits for days blocks its DAG's later runs.
const (
	DefaultPokeInterval = 30 * time.Second
	DefaultWaitTimeout  = 24 * time.Hour
)

// Task is one node of a DAG.
type Task struct {
	ID            string        `json:"id"`
	Type          TaskType      `json:"type"`
	Models        string        `json:"models,omitempty"` // run | test | build
	Select        string        `json:"select,omitempty"`
	SQL           string        `json:"sql,omitempty"` // sql_check or sql
	HTTP          *HTTP         `json:"http,omitempty"`
	Wait          *Wait         `json:"wait_for,omitempty"`
	DependsOn     []string      `json:"depends_on,omitempty"`
	TriggerRule   TriggerRule   `json:"trigger_rule"`
	Retries       int           `json:"retries"`
	RetryDelay    time.Duration `json:"retry_delay"`
	MaxRetryDelay time.Duration `json:"max_retry_delay"` // 0: DefaultMaxRetryDelay
	Timeout       time.Duration `json:"timeout"`         // 0: none (wait_for: DefaultWaitTimeout)
}

// Defaults of a task's retry settings (Airflow's).
const (
	DefaultRetryDelay    = 5 * time.Minute
	DefaultMaxRetryDelay = 24 * time.Hour
)

// DefaultMaxActiveRuns is max_active_runs when a file leaves it out
// (Airflow's max_active_runs_per_dag).
const DefaultMaxActiveRuns = 16

// RetryDelay is the wait before try+1 after try failed:
// retry_delay·2^(try-1), capped by max_retry_delay.
func (t *Task) RetryDelayAfter(try int) time.Duration {
	limit := t.MaxRetryDelay
	if limit <= 0 {
		limit = DefaultMaxRetryDelay
	}
	d := t.RetryDelay
	for i := 1; i < try; i++ {
		if d >= limit {
			break
		}
		d *= 2
	}
	return min(d, limit)
}

// DAG is a DAG file.
type DAG struct {
	Name          string         `json:"name"`
	File          string         `json:"file"`     // path within the project, e.g. dags/analytics.yml
	Schedule      string         `json:"schedule"` // as written; "" = manual only
	Timezone      string         `json:"timezone"`
	Location      *time.Location `json:"-"`
	StartDate     time.Time      `json:"start_date"` // zero: none
	Catchup       bool           `json:"catchup"`
	MaxActiveRuns int            `json:"max_active_runs"`
	Paused        bool           `json:"paused"`               // the file's initial state
	OnFailure     *HTTP          `json:"on_failure,omitempty"` // optional webhook
	Tasks         []*Task        `json:"tasks"`                // file order

	sched schedule
}

// Next is the first due time strictly after t, never before start_date
// (false: manual only, or a cron that never matches again).
func (d *DAG) Next(t time.Time) (time.Time, bool) {
	if d.sched == nil {
		return time.Time{}, false
	}
	if !d.StartDate.IsZero() && t.Before(d.StartDate) {
		t = d.StartDate.Add(-time.Nanosecond)
	}
	return d.sched.next(t)
}

// DataInterval is the data interval of the run with logical date l:
// [l, the schedule's next due time after l), as in Airflow (start_date
// aside, so that a manual run before it still has its interval); a
// manual-only DAG's is [l, l].
func (d *DAG) DataInterval(l time.Time) (start, end time.Time) {
	if d.sched == nil {
		return l, l
	}
	if n, ok := d.sched.next(l); ok {
		return l, n
	}
	return l, l
}

// Task returns the task with the given id, or nil.
func (d *DAG) Task(id string) *Task {
	for _, t := range d.Tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// Error is an invalid DAG file: its Error names the file, the line and the
// field.
type Error struct {
	File  string
	Line  int
	Field string // e.g. tasks[1].depends_on; empty for the file as a whole
	Msg   string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s = fmt.Sprintf("%s:%d", s, e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}
