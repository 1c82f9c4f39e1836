package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// DB is the warehouse as the scheduler uses it; *warehouse.DB satisfies it.
type DB interface {
	Dialect() warehouse.Dialect
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (*result.Set, error)
	Tx(ctx context.Context, fn func(tx warehouse.Tx) error) error
}

// ModelsFunc runs a models task: cmd is run|test|build, selector as in
// `cartwheel models --select`, vars the run's template variables
// (logical_date, data_interval_start, data_interval_end, ds, run_id, dag);
// it writes the task's log to w and returns an error when the task fails.
type ModelsFunc func(ctx context.Context, cmd, selector string, vars map[string]any, w io.Writer) error

// Option configures New.
type Option func(*options)

type options struct {
	models      ModelsFunc
	log         *slog.Logger
	reg         prometheus.Registerer
	instance    string
	lease       time.Duration
	client      *http.Client
	backfillMax int
	poll        time.Duration
}

// WithModels sets how models tasks run (without it they fail).
func WithModels(f ModelsFunc) Option { return func(o *options) { o.models = f } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics registers the scheduler's metrics.
func WithMetrics(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithInstance names this instance in the lease (default hostname:pid:random).
func WithInstance(id string) Option { return func(o *options) { o.instance = id } }

// WithLease sets how long a lease lasts without renewal (default 30s); the
// holder renews it every third of that.
func WithLease(ttl time.Duration) Option { return func(o *options) { o.lease = ttl } }

// WithHTTPClient sets the client of http tasks and on_failure webhooks.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithBackfillConcurrency bounds the backfill runs that execute at once,
// over all DAGs (default 2).
func WithBackfillConcurrency(n int) Option { return func(o *options) { o.backfillMax = n } }

// withPoll sets how often the leader reads the warehouse for runs and
// pause states written by others (tests that span days on the fake clock).
func withPoll(d time.Duration) Option { return func(o *options) { o.poll = d } }

// Run states.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateSuccess = "success"
	StateFailed  = "failed"
)

// Task states beyond the run states.
const (
	StateUpForRetry     = "up_for_retry"
	StateUpstreamFailed = "upstream_failed"
	StateSkipped        = "skipped"
)

// Run types.
const (
	RunScheduled = "scheduled"
	RunManual    = "manual"
	RunBackfill  = "backfill"
)

// Run is a DAG run.
type Run struct {
	DAG               string     `json:"dag"`
	RunID             string     `json:"run_id"`
	RunType           string     `json:"run_type"` // scheduled | manual | backfill
	LogicalDate       time.Time  `json:"logical_date"`
	DataIntervalStart time.Time  `json:"data_interval_start"`
	DataIntervalEnd   time.Time  `json:"data_interval_end"`
	State             string     `json:"state"` // queued | running | success | failed
	QueuedAt          time.Time  `json:"queued_at"`
	StartedAt         *time.Time `json:"started_at,omitempty"`
	EndedAt           *time.Time `json:"ended_at,omitempty"`
}

// TaskInstance is one try of a task in a run.
type TaskInstance struct {
	DAG       string     `json:"dag"`
	RunID     string     `json:"run_id"`
	TaskID    string     `json:"task_id"`
	Try       int        `json:"try_number"`
	State     string     `json:"state"` // queued running success failed up_for_retry upstream_failed skipped
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Duration  float64    `json:"duration_s"`
	Error     string     `json:"error,omitempty"`
	Log       string     `json:"log,omitempty"` // readable while the try runs
}

// DAGStatus is a DAG with its current state.
type DAGStatus struct {
	DAG      *dag.DAG   `json:"dag"`
	Paused   bool       `json:"paused"`             // current state (pause survives restarts)
	NextRun  *time.Time `json:"next_run,omitempty"` // next due time, nil when manual or paused
	LastRuns []Run      `json:"last_runs"`          // most recent first, up to 10
}

// Reprocess says what a backfill does with an interval that already has a
// run.
type Reprocess string

// The reprocess behaviours.
const (
	ReprocessNone   Reprocess = "none"   // leave it (the default)
	ReprocessFailed Reprocess = "failed" // run it again when its latest run failed
	ReprocessAll    Reprocess = "all"    // run it again unless it is queued or running
)

var (
	// ErrUnknownDAG is the error of a DAG name the scheduler does not have.
	ErrUnknownDAG = errors.New("unknown DAG")
	// ErrUnknownRun is the error of a run id the DAG does not have.
	ErrUnknownRun = errors.New("unknown run")
	// ErrRunExists is the error of a trigger for a run id already taken.
	ErrRunExists = errors.New("a run with this id exists")
)

// maxBackfillRuns bounds one backfill request.
const maxBackfillRuns = 10000

// Scheduler runs DAGs; see the package doc.
type Scheduler struct {
	db      DB
	dags    []*dag.DAG
	byName  map[string]*dag.DAG
	o       options
	log     *slog.Logger
	metrics *metrics

	wake      chan struct{} // a local Trigger, SetPaused or Backfill
	lastState atomic.Pointer[string]
	running   sync.Mutex // one Run at a time

	// onTaskStart, when set, is told when a task's first try starts
	// (the figures).
	onTaskStart func(dag, run, task string, at time.Time)
}

// New creates the history tables when missing (dag_runs, task_instances,
// and its own state/lease tables) — safe when several instances start at
// once.
func New(ctx context.Context, db DB, dags []*dag.DAG, opts ...Option) (*Scheduler, error) {
	host, _ := os.Hostname()
	o := options{
		log:         slog.Default(),
		instance:    fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32()),
		lease:       30 * time.Second,
		client:      &http.Client{Timeout: time.Minute},
		backfillMax: 2,
		poll:        pollEvery,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.lease <= 0 {
		return nil, errors.New("scheduler: the lease must last longer than 0")
	}
	o.backfillMax = max(o.backfillMax, 1)
	s := &Scheduler{db: db, dags: dags, byName: map[string]*dag.DAG{}, o: o, log: o.log, wake: make(chan struct{}, 1)}
	for _, d := range dags {
		if _, dup := s.byName[d.Name]; dup {
			return nil, fmt.Errorf("scheduler: DAG %q given twice", d.Name)
		}
		s.byName[d.Name] = d
	}
	m, err := newMetrics(o.reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if err := createSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	empty := ""
	s.lastState.Store(&empty)
	if err := s.refreshLastState(ctx); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return s, nil
}

func (s *Scheduler) dag(name string) (*dag.DAG, error) {
	d, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDAG, name)
	}
	return d, nil
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// paused reads the pause state of every DAG.
func (s *Scheduler) paused(ctx context.Context) (map[string]bool, error) {
	rs, err := s.db.Query(ctx, `SELECT dag, paused FROM cartwheel_dag_state`)
	if err != nil {
		return nil, fmt.Errorf("read pause states: %w", err)
	}
	out := make(map[string]bool, len(s.dags))
	for _, d := range s.dags {
		out[d.Name] = d.Paused
	}
	for _, r := range rs.Rows {
		if _, ok := out[strOf(r[0])]; ok {
			b, _ := r[1].(bool)
			out[strOf(r[0])] = b
		}
	}
	return out, nil
}

// DAGs returns every DAG with its state, in file order.
func (s *Scheduler) DAGs(ctx context.Context) ([]DAGStatus, error) {
	paused, err := s.paused(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM (
		SELECT `+runColumns+`, ROW_NUMBER() OVER (PARTITION BY dag ORDER BY logical_date DESC, queued_at DESC, run_id DESC) AS rn
		FROM dag_runs) r WHERE rn <= 10 ORDER BY dag, logical_date DESC, queued_at DESC, run_id DESC`)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	last := map[string][]Run{}
	for _, r := range scanRuns(rs) {
		last[r.DAG] = append(last[r.DAG], r)
	}
	now := time.Now()
	out := make([]DAGStatus, 0, len(s.dags))
	for _, d := range s.dags {
		st := DAGStatus{DAG: d, Paused: paused[d.Name], LastRuns: last[d.Name]}
		if st.LastRuns == nil {
			st.LastRuns = []Run{}
		}
		if n, ok := d.Next(now); ok && !st.Paused {
			st.NextRun = &n
		}
		out = append(out, st)
	}
	return out, nil
}

// DAG returns one DAG with its state.
func (s *Scheduler) DAG(ctx context.Context, name string) (DAGStatus, error) {
	if _, err := s.dag(name); err != nil {
		return DAGStatus{}, err
	}
	all, err := s.DAGs(ctx)
	if err != nil {
		return DAGStatus{}, err
	}
	for _, st := range all {
		if st.DAG.Name == name {
			return st, nil
		}
	}
	return DAGStatus{}, fmt.Errorf("%w %q", ErrUnknownDAG, name)
}

// Runs returns a DAG's runs, newest (by logical date) first; limit ≤ 0:
// 100.
func (s *Scheduler) Runs(ctx context.Context, name string, limit int) ([]Run, error) {
	if _, err := s.dag(name); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	rs, err := s.db.Query(ctx, fmt.Sprintf(`SELECT `+runColumns+` FROM dag_runs WHERE dag = $1
		ORDER BY logical_date DESC, queued_at DESC, run_id DESC LIMIT %d`, limit), name)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	return scanRuns(rs), nil
}

func (s *Scheduler) getRun(ctx context.Context, name, runID string) (Run, error) {
	rs, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM dag_runs WHERE dag = $1 AND run_id = $2`, name, runID)
	if err != nil {
		return Run{}, fmt.Errorf("read run: %w", err)
	}
	if len(rs.Rows) == 0 {
		return Run{}, fmt.Errorf("%w %q of DAG %q", ErrUnknownRun, runID, name)
	}
	return scanRuns(rs)[0], nil
}

// GetRun returns a run and its task instances (latest try of each, file
// order; a task of a queued run that has no try yet is queued at try 0).
// The logs are left out (TaskLog has them).
func (s *Scheduler) GetRun(ctx context.Context, name, runID string) (Run, []TaskInstance, error) {
	d, err := s.dag(name)
	if err != nil {
		return Run{}, nil, err
	}
	r, err := s.getRun(ctx, name, runID)
	if err != nil {
		return Run{}, nil, err
	}
	rs, err := s.db.Query(ctx, `SELECT dag, run_id, task_id, try_number, state, started_at, ended_at, duration, error, '' AS log
		FROM task_instances WHERE dag = $1 AND run_id = $2 ORDER BY task_id, try_number`, name, runID)
	if err != nil {
		return Run{}, nil, fmt.Errorf("read task instances: %w", err)
	}
	latest := map[string]TaskInstance{}
	for _, ti := range scanTIs(rs) {
		latest[ti.TaskID] = ti // ordered by try
	}
	tis := make([]TaskInstance, 0, len(d.Tasks))
	for _, t := range d.Tasks {
		ti, ok := latest[t.ID]
		if !ok {
			ti = TaskInstance{DAG: name, RunID: runID, TaskID: t.ID, State: StateQueued}
		}
		tis = append(tis, ti)
	}
	return r, tis, nil
}

// TaskLog returns one try (try 0: the latest) with its log so far.
func (s *Scheduler) TaskLog(ctx context.Context, name, runID, taskID string, try int) (TaskInstance, error) {
	d, err := s.dag(name)
	if err != nil {
		return TaskInstance{}, err
	}
	if d.Task(taskID) == nil {
		return TaskInstance{}, fmt.Errorf("%w: DAG %q has no task %q", ErrUnknownRun, name, taskID)
	}
	q := `SELECT ` + tiColumns + ` FROM task_instances WHERE dag = $1 AND run_id = $2 AND task_id = $3`
	args := []any{name, runID, taskID}
	if try > 0 {
		q += ` AND try_number = $4`
		args = append(args, try)
	}
	rs, err := s.db.Query(ctx, q+` ORDER BY try_number DESC LIMIT 1`, args...)
	if err != nil {
		return TaskInstance{}, fmt.Errorf("read task log: %w", err)
	}
	if len(rs.Rows) == 0 {
		if _, err := s.getRun(ctx, name, runID); err != nil {
			return TaskInstance{}, err
		}
		if try > 0 {
			return TaskInstance{}, fmt.Errorf("%w: task %q of run %q has no try %d", ErrUnknownRun, taskID, runID, try)
		}
		return TaskInstance{DAG: name, RunID: runID, TaskID: taskID, State: StateQueued}, nil
	}
	return scanTIs(rs)[0], nil
}

// SetPaused pauses or unpauses a DAG; the state is kept in the warehouse.
// A paused DAG gets no scheduled runs and starts no queued ones (backfill
// runs go on).
func (s *Scheduler) SetPaused(ctx context.Context, name string, paused bool) error {
	if _, err := s.dag(name); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(tx warehouse.Tx) error {
		if err := tx.Exec(ctx, `DELETE FROM cartwheel_dag_state WHERE dag = $1`, name); err != nil {
			return err
		}
		return tx.Exec(ctx, `INSERT INTO cartwheel_dag_state (dag, paused, updated_at) VALUES ($1, $2, $3)`, name, paused, ts(time.Now()))
	})
	if err != nil {
		return fmt.Errorf("set paused: %w", err)
	}
	s.poke()
	return nil
}

// runID is Airflow's form: TYPE__LOGICAL.
func runID(runType string, logical time.Time) string {
	return runType + "__" + logical.UTC().Format("2006-01-02T15:04:05.999999Z")
}

func (s *Scheduler) newRun(d *dag.DAG, runType string, logical time.Time) Run {
	logical = ts(logical)
	start, end := d.DataInterval(logical)
	return Run{DAG: d.Name, RunID: runID(runType, logical), RunType: runType, LogicalDate: logical,
		DataIntervalStart: ts(start), DataIntervalEnd: ts(end), State: StateQueued, QueuedAt: ts(time.Now())}
}

func insertRun(ctx context.Context, tx warehouse.Tx, r Run) error {
	return tx.Exec(ctx, `INSERT INTO dag_runs (`+runColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.DAG, r.RunID, r.RunType, r.LogicalDate, r.DataIntervalStart, r.DataIntervalEnd, r.State, r.QueuedAt,
		nullTime(r.StartedAt), nullTime(r.EndedAt))
}

// Trigger queues a manual run (logical zero: now); the lease holder runs
// it when the DAG is not paused and fewer than max_active_runs of its runs
// are active.
func (s *Scheduler) Trigger(ctx context.Context, name string, logical time.Time) (Run, error) {
	d, err := s.dag(name)
	if err != nil {
		return Run{}, err
	}
	if logical.IsZero() {
		logical = time.Now()
	}
	r := s.newRun(d, RunManual, logical)
	err = s.db.Tx(ctx, func(tx warehouse.Tx) error {
		rs, err := tx.Query(ctx, `SELECT 1 FROM dag_runs WHERE dag = $1 AND run_id = $2`, r.DAG, r.RunID)
		if err != nil {
			return err
		}
		if len(rs.Rows) > 0 {
			return fmt.Errorf("%w: %s", ErrRunExists, r.RunID)
		}
		return insertRun(ctx, tx, r)
	})
	if err != nil {
		return Run{}, fmt.Errorf("trigger %s: %w", name, err)
	}
	s.poke()
	return r, nil
}

// Backfill queues one backfill run per interval whose logical date is in
// [from, to] (reprocess says what happens to intervals that already have a
// run; one queued or running is never touched); dryRun only lists them.
// It returns at once; the runs are executed by the lease holder with their
// own concurrency limit (WithBackfillConcurrency) while scheduled runs go
// on.
func (s *Scheduler) Backfill(ctx context.Context, name string, from, to time.Time, reprocess Reprocess, dryRun bool) ([]Run, error) {
	d, err := s.dag(name)
	if err != nil {
		return nil, err
	}
	if reprocess == "" {
		reprocess = ReprocessNone
	}
	switch reprocess {
	case ReprocessNone, ReprocessFailed, ReprocessAll:
	default:
		return nil, fmt.Errorf("backfill %s: unknown reprocess %q (want none, failed or all)", name, reprocess)
	}
	if d.Schedule == "" {
		return nil, fmt.Errorf("backfill %s: the DAG has no schedule, so no intervals", name)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("backfill %s: --to %v is before --from %v", name, to, from)
	}
	var logicals []time.Time
	for l, ok := d.Next(from.Add(-time.Nanosecond)); ok && !l.After(to); l, ok = d.Next(l) {
		if len(logicals) == maxBackfillRuns {
			return nil, fmt.Errorf("backfill %s: more than %d intervals from %v to %v", name, maxBackfillRuns, from, to)
		}
		logicals = append(logicals, l)
	}
	var out []Run
	err = s.db.Tx(ctx, func(tx warehouse.Tx) error {
		rs, err := tx.Query(ctx, `SELECT `+runColumns+` FROM dag_runs WHERE dag = $1 AND logical_date >= $2 AND logical_date <= $3
			ORDER BY queued_at, run_id`, name, ts(from), ts(to))
		if err != nil {
			return err
		}
		existing := map[time.Time][]Run{}
		for _, r := range scanRuns(rs) {
			existing[r.LogicalDate] = append(existing[r.LogicalDate], r)
		}
		now := ts(time.Now())
		for _, l := range logicals {
			runs := existing[ts(l)]
			if len(runs) == 0 {
				r := s.newRun(d, RunBackfill, l)
				out = append(out, r)
				if !dryRun {
					if err := insertRun(ctx, tx, r); err != nil {
						return err
					}
				}
				continue
			}
			latest := runs[len(runs)-1]
			if slicesContainsActive(runs) || reprocess == ReprocessNone || (reprocess == ReprocessFailed && latest.State != StateFailed) {
				continue
			}
			latest.RunType, latest.State, latest.QueuedAt, latest.StartedAt, latest.EndedAt = RunBackfill, StateQueued, now, nil, nil
			out = append(out, latest)
			if !dryRun {
				if err := tx.Exec(ctx, `UPDATE dag_runs SET run_type = $1, state = $2, queued_at = $3, started_at = NULL, ended_at = NULL
					WHERE dag = $4 AND run_id = $5`, RunBackfill, StateQueued, now, latest.DAG, latest.RunID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backfill %s: %w", name, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LogicalDate.Before(out[j].LogicalDate) })
	if !dryRun && len(out) > 0 {
		s.poke()
	}
	if out == nil {
		out = []Run{}
	}
	return out, nil
}

func slicesContainsActive(runs []Run) bool {
	for _, r := range runs {
		if r.State == StateQueued || r.State == StateRunning {
			return true
		}
	}
	return false
}

// LastRunState is "<dag> <state>" of the most recent finished run of any
// DAG ("" none) — for the pipeline_health panel. The leader keeps it
// current; another instance refreshes it with its lease checks.
func (s *Scheduler) LastRunState() string { return *s.lastState.Load() }

func (s *Scheduler) refreshLastState(ctx context.Context) error {
	rs, err := s.db.Query(ctx, `SELECT dag, state FROM dag_runs WHERE ended_at IS NOT NULL AND state IN ('success', 'failed')
		ORDER BY ended_at DESC LIMIT 1`)
	if err != nil {
		return fmt.Errorf("read the last run: %w", err)
	}
	v := ""
	if len(rs.Rows) > 0 {
		v = strOf(rs.Rows[0][0]) + " " + strOf(rs.Rows[0][1])
	}
	s.lastState.Store(&v)
	return nil
}
