package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// pollEvery is how often the leader reads the queued runs and pause
// states that another instance may have written (a local Trigger,
// SetPaused or Backfill wakes it at once).
const pollEvery = time.Second

// leaseName is the lease row's key.
const leaseName = "scheduler"

// leaseLockKey serialises lease transactions on PostgreSQL ("dagleas").
const leaseLockKey int64 = 0x6461676c656173

// ErrRunning is the error of a second Run of one Scheduler.
var ErrRunning = errors.New("scheduler: already running")

// runEnd is an executor's report to the loop.
type runEnd struct {
	run Run
	tis []TaskInstance
	err error
}

// loop is the state of Run, owned by its goroutine.
type loop struct {
	s           *Scheduler
	ctx         context.Context
	leader      bool
	leaseUntil  time.Time
	active      map[string]*activeRun // by dag + "\x00" + run_id
	queue       []Run                 // queued runs not started, oldest first
	paused      map[string]bool
	last        map[string]time.Time // latest scheduled logical date per DAG
	done        chan runEnd
	wg          sync.WaitGroup
	onTaskStart func(d, run, task string, at time.Time) // figures
}

type activeRun struct {
	run    Run
	cancel context.CancelFunc
}

func key(dagName, runID string) string { return dagName + "\x00" + runID }

// Run schedules (when it holds the lease) and executes runs until ctx
// ends; on taking the lease it marks runs left running by a crashed leader
// as failed. Runs still going when ctx ends are left running in the
// history, for the next leader to mark failed.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.TryLock() {
		return ErrRunning
	}
	defer s.running.Unlock()
	l := &loop{s: s, ctx: ctx, active: map[string]*activeRun{}, paused: map[string]bool{},
		last: map[string]time.Time{}, done: make(chan runEnd), onTaskStart: s.onTaskStart}
	defer l.stop()
	leaseTick := time.NewTicker(s.o.lease / 3)
	defer leaseTick.Stop()
	poll := time.NewTicker(s.o.poll)
	defer poll.Stop()
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	l.checkLease()
	for {
		if l.leader {
			next := l.pass()
			due.Reset(max(time.Until(next), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-leaseTick.C:
			l.checkLease()
		case <-poll.C:
			if l.leader {
				l.refresh()
			}
		case <-s.wake:
			if l.leader {
				l.refresh()
			}
		case end := <-l.done:
			l.finished(end)
		case <-due.C:
		}
	}
}

// stop cancels the active runs, waits for them and for webhooks, and lets
// the lease go.
func (l *loop) stop() {
	for _, a := range l.active {
		a.cancel()
	}
	for len(l.active) > 0 {
		end := <-l.done
		delete(l.active, key(end.run.DAG, end.run.RunID))
	}
	l.wg.Wait()
	if l.leader {
		l.s.metrics.leader.Set(0)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), 5*time.Second)
		defer cancel()
		err := l.s.db.Exec(ctx, `UPDATE cartwheel_scheduler_lease SET expires_at = $1 WHERE name = $2 AND holder = $3`,
			ts(time.Now()), leaseName, l.s.o.instance)
		if err != nil {
			l.s.log.Warn("release the scheduler lease", "err", err)
		}
	}
}

// checkLease takes or renews the lease; a leader that cannot renew it
// before it expires steps down and stops its runs.
func (l *loop) checkLease() {
	ok, err := l.s.takeLease(l.ctx)
	now := time.Now()
	switch {
	case err != nil && l.ctx.Err() == nil:
		l.s.log.Warn("scheduler lease", "err", err)
		ok = l.leader && now.Before(l.leaseUntil)
	case ok:
		l.leaseUntil = now.Add(l.s.o.lease)
	}
	switch {
	case ok && !l.leader:
		if err := l.becomeLeader(); err != nil {
			if l.ctx.Err() == nil {
				l.s.log.Warn("start scheduling", "err", err)
			}
			return
		}
		l.leader = true
		l.s.metrics.leader.Set(1)
		l.s.log.Info("scheduler: this instance schedules", "instance", l.s.o.instance)
	case !ok && l.leader:
		l.leader = false
		l.s.metrics.leader.Set(0)
		l.s.log.Warn("scheduler: lost the lease; stopping this instance's runs", "instance", l.s.o.instance)
		for _, a := range l.active {
			a.cancel()
		}
		l.queue = nil
	}
	if !l.leader && l.ctx.Err() == nil {
		if err := l.s.refreshLastState(l.ctx); err != nil && l.ctx.Err() == nil {
			l.s.log.Warn("scheduler", "err", err)
		}
	}
}

// takeLease takes the lease when it is free or expired, or renews it.
func (s *Scheduler) takeLease(ctx context.Context) (bool, error) {
	got := false
	err := s.db.Tx(ctx, func(tx warehouse.Tx) error {
		switch s.db.Dialect() {
		case warehouse.Postgres:
			if err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::BIGINT)`, leaseLockKey); err != nil {
				return err
			}
		case warehouse.Redshift:
			if err := tx.Exec(ctx, `LOCK cartwheel_scheduler_lease`); err != nil {
				return err
			}
		}
		rs, err := tx.Query(ctx, `SELECT holder, expires_at FROM cartwheel_scheduler_lease WHERE name = $1`, leaseName)
		if err != nil {
			return err
		}
		now := ts(time.Now())
		until := ts(now.Add(s.o.lease))
		if len(rs.Rows) == 0 {
			got = true
			return tx.Exec(ctx, `INSERT INTO cartwheel_scheduler_lease (name, holder, expires_at) VALUES ($1, $2, $3)`,
				leaseName, s.o.instance, until)
		}
		if strOf(rs.Rows[0][0]) != s.o.instance && timeOf(rs.Rows[0][1]).After(now) {
			return nil
		}
		got = true
		return tx.Exec(ctx, `UPDATE cartwheel_scheduler_lease SET holder = $1, expires_at = $2 WHERE name = $3`,
			s.o.instance, until, leaseName)
	})
	if err != nil {
		return false, fmt.Errorf("take the lease: %w", err)
	}
	return got, nil
}

// interruptedError is the error of a try that was running when its
// leader stopped (SIGTERM, a crash, a lost lease).
const interruptedError = "interrupted: the scheduler stopped while the task was running; the run resumed with a new try"

// becomeLeader resumes the runs a stopped leader left running, as
// Airflow's scheduler adopts or resets orphaned tasks, and loads what
// scheduling needs. Their running tries are closed as interrupted (a try
// waiting for its retry keeps its own error and is retried), their tries
// that never started are dropped, and the runs
// go back to the queue with their start kept, which tells the executor
// to resume them (execute). A run of a DAG that no longer exists fails.
func (l *loop) becomeLeader() error {
	ctx, s := l.ctx, l.s
	rs, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM dag_runs WHERE state = 'running'`)
	if err != nil {
		return fmt.Errorf("read unfinished runs: %w", err)
	}
	if orphans := scanRuns(rs); len(orphans) > 0 {
		now := ts(time.Now())
		err := s.db.Tx(ctx, func(tx warehouse.Tx) error {
			const inRunningRun = ` AND EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag = task_instances.dag
				AND r.run_id = task_instances.run_id AND r.state = 'running')`
			if err := tx.Exec(ctx, `UPDATE task_instances SET state = 'failed', ended_at = $1, error = $2
				WHERE state = 'running'`+inRunningRun, now, interruptedError); err != nil {
				return err
			}
			if err := tx.Exec(ctx, `DELETE FROM task_instances WHERE state = 'queued'`+inRunningRun); err != nil {
				return err
			}
			for _, r := range orphans {
				state, ended := StateQueued, any(nil)
				if _, ok := s.byName[r.DAG]; !ok {
					state, ended = StateFailed, now
				}
				if err := tx.Exec(ctx, `UPDATE dag_runs SET state = $1, ended_at = $2 WHERE dag = $3 AND run_id = $4`,
					state, ended, r.DAG, r.RunID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("resume unfinished runs: %w", err)
		}
		for _, r := range orphans {
			if _, ok := s.byName[r.DAG]; !ok {
				s.log.Error("dag run failed: its DAG is gone and its scheduler stopped during it", "dag", r.DAG, "run_id", r.RunID)
				s.metrics.runs.WithLabelValues(r.DAG, StateFailed).Inc()
				continue
			}
			s.log.Warn("dag run resumes: its scheduler stopped during it", "dag", r.DAG, "run_id", r.RunID)
		}
	}
	rs, err = s.db.Query(ctx, `SELECT dag, MAX(logical_date) FROM dag_runs WHERE run_type = 'scheduled' GROUP BY dag`)
	if err != nil {
		return fmt.Errorf("read the last scheduled runs: %w", err)
	}
	clear(l.last)
	for _, r := range rs.Rows {
		l.last[strOf(r[0])] = timeOf(r[1])
	}
	l.refresh()
	return s.refreshLastState(ctx)
}

// refresh reads the pause states and the queued runs.
func (l *loop) refresh() {
	ctx, s := l.ctx, l.s
	paused, err := s.paused(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scheduler", "err", err)
		}
		return
	}
	l.paused = paused
	rs, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM dag_runs WHERE state = 'queued' ORDER BY queued_at, logical_date, run_id`)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scheduler: read queued runs", "err", err)
		}
		return
	}
	l.queue = l.queue[:0]
	for _, r := range scanRuns(rs) {
		if _, ok := l.active[key(r.DAG, r.RunID)]; !ok {
			l.queue = append(l.queue, r)
		}
	}
}

// pass creates the scheduled runs that are due, starts the queued runs
// that the limits allow, and returns when the next one is due.
func (l *loop) pass() time.Time {
	now := time.Now()
	next := now.Add(time.Hour)
	for _, d := range l.s.dags {
		if d.Schedule == "" || l.paused[d.Name] {
			continue
		}
		for l.activeRuns(d.Name) < d.MaxActiveRuns {
			logical, ok := l.dueLogical(d, now)
			if !ok {
				break
			}
			r := l.s.newRun(d, RunScheduled, logical)
			err := l.s.db.Tx(l.ctx, func(tx warehouse.Tx) error { return insertRun(l.ctx, tx, r) })
			if err != nil {
				if l.ctx.Err() == nil {
					l.s.log.Warn("scheduler: queue a scheduled run", "dag", d.Name, "err", err)
				}
				break
			}
			l.last[d.Name] = r.LogicalDate
			l.queue = append(l.queue, r)
		}
		if n, ok := d.Next(now); ok && n.Before(next) {
			next = n
		}
	}
	backfills := 0
	for _, a := range l.active {
		if a.run.RunType == RunBackfill {
			backfills++
		}
	}
	kept := l.queue[:0]
	for _, r := range l.queue {
		d, ok := l.s.byName[r.DAG]
		start := false
		switch {
		case !ok:
		case r.RunType == RunBackfill:
			start = backfills < l.s.o.backfillMax
			if start {
				backfills++
			}
		default:
			start = !l.paused[d.Name] && l.activeRuns(d.Name) < d.MaxActiveRuns
		}
		if start {
			l.start(d, r)
		} else {
			kept = append(kept, r)
		}
	}
	l.queue = kept
	return next
}

// activeRuns counts a DAG's runs that max_active_runs limits: started
// ones and queued ones, backfill runs aside.
func (l *loop) activeRuns(name string) int {
	n := 0
	for _, a := range l.active {
		if a.run.DAG == name && a.run.RunType != RunBackfill {
			n++
		}
	}
	return n
}

// dueLogical is the logical date of the next scheduled run of d that is
// due at now (its interval has ended): with catchup the oldest interval
// after the last scheduled run (or from start_date), without it the
// latest one.
func (l *loop) dueLogical(d *dag.DAG, now time.Time) (time.Time, bool) {
	last, hasLast := l.last[d.Name]
	if d.Catchup && (hasLast || !d.StartDate.IsZero()) {
		var lg time.Time
		var ok bool
		if hasLast {
			lg, ok = d.Next(last)
		} else {
			lg, ok = d.Next(d.StartDate.Add(-time.Nanosecond))
		}
		if !ok {
			return time.Time{}, false
		}
		end, ok := d.Next(lg)
		return lg, ok && !end.After(now)
	}
	// The latest tick whose interval has ended: search back from now
	// with a growing span, then step forward.
	for back := time.Minute; back <= 3*366*24*time.Hour; back *= 2 {
		from, final := now.Add(-back), false
		if hasLast && !from.After(last) {
			from, final = last, true
		}
		lg, ok := d.Next(from)
		if !ok {
			return time.Time{}, false
		}
		if end, ok := d.Next(lg); ok && !end.After(now) {
			for {
				n, ok := d.Next(end)
				if !ok || n.After(now) {
					return lg, true
				}
				lg, end = end, n
			}
		}
		if final {
			break
		}
	}
	return time.Time{}, false
}

// start runs a queued run on its own goroutine.
func (l *loop) start(d *dag.DAG, r Run) {
	ctx, cancel := context.WithCancel(l.ctx)
	l.active[key(r.DAG, r.RunID)] = &activeRun{run: r, cancel: cancel}
	e := &executor{s: l.s, d: d, run: r, rec: warehouseRecorder{l.s.db}}
	if l.onTaskStart != nil {
		e.onStart = func(task string, at time.Time) { l.onTaskStart(d.Name, r.RunID, task, at) }
	}
	go func() {
		defer cancel()
		run, tis, err := e.execute(ctx)
		l.done <- runEnd{run: run, tis: tis, err: err}
	}()
}

// finished handles a run's end.
func (l *loop) finished(end runEnd) {
	s, r := l.s, end.run
	delete(l.active, key(r.DAG, r.RunID))
	if end.err != nil {
		if l.ctx.Err() == nil && r.State != StateSuccess && r.State != StateFailed {
			s.log.Warn("scheduler: run not finished", "dag", r.DAG, "run_id", r.RunID, "err", end.err)
		}
		if r.EndedAt == nil {
			return
		}
	}
	if r.StartedAt != nil && r.EndedAt != nil {
		s.metrics.runFinished(r.DAG, r.State, r.EndedAt.Sub(*r.StartedAt).Seconds())
	}
	v := r.DAG + " " + r.State
	s.lastState.Store(&v)
	if r.State != StateFailed {
		return
	}
	var failed []string
	for _, ti := range end.tis {
		if ti.State == StateFailed {
			failed = append(failed, ti.TaskID)
		}
	}
	s.log.Error("dag run failed", "dag", r.DAG, "run_id", r.RunID, "failed_tasks", strings.Join(failed, ","))
	if d := s.byName[r.DAG]; d != nil && d.OnFailure != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			s.notify(context.WithoutCancel(l.ctx), d, r, failed)
		}()
	}
}

// notify posts a failed run to the DAG's on_failure webhook.
func (s *Scheduler) notify(ctx context.Context, d *dag.DAG, r Run, failed []string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if failed == nil {
		failed = []string{}
	}
	body, _ := json.Marshal(map[string]any{
		"dag": r.DAG, "run_id": r.RunID, "state": r.State, "logical_date": r.LogicalDate, "failed_tasks": failed,
	})
	h := *d.OnFailure
	if h.Body != "" {
		// A custom body is rendered with the run's variables and the failure.
		v := vars(d, r)
		v["state"], v["failed_tasks"] = r.State, strings.Join(failed, ",")
		if b, err := render(h.Body, v); err == nil {
			body = []byte(b)
		}
	}
	if err := httpRequest(ctx, s.o.client, &h, h.URL, string(body), io.Discard); err != nil {
		s.log.Warn("on_failure webhook", "dag", r.DAG, "run_id", r.RunID, "err", err)
	}
}

// Test runs the DAG once now in the foreground (logical zero: now),
// writing no history; the tasks' logs go to w, each line prefixed with
// the task id.
func (s *Scheduler) Test(ctx context.Context, name string, logical time.Time, w io.Writer) (Run, []TaskInstance, error) {
	d, err := s.dag(name)
	if err != nil {
		return Run{}, nil, err
	}
	if logical.IsZero() {
		logical = time.Now()
	}
	if w == nil {
		w = io.Discard
	}
	r := s.newRun(d, RunManual, logical)
	r.RunID = "test__" + strings.TrimPrefix(r.RunID, RunManual+"__")
	e := &executor{s: s, d: d, run: r, rec: nopRecorder{}, tee: &lockedWriter{w: w}}
	return e.execute(ctx)
}

// lockedWriter lets the tasks of a test run write to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
