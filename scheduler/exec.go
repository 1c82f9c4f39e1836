package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nikolalohinski/gonja/v2"
	gonjaexec "github.com/nikolalohinski/gonja/v2/exec"

	"github.com/cartwheel-analytics/cartwheel/dag"
)

// logFlushEvery is how often a running try's log is written to the
// warehouse, so that it can be read while the try runs.
const logFlushEvery = time.Second

// errTimeout is the cause of a try's context ending at the task's timeout.
var errTimeout = errors.New("task timeout")

// timeLayout is how the template variables and the task log write a time
// (UTC, to the second).
const timeLayout = "2006-01-02 15:04:05"

// vars are a run's template variables.
func vars(d *dag.DAG, r Run) map[string]any {
	return map[string]any{
		"logical_date":        r.LogicalDate.UTC().Format(timeLayout),
		"data_interval_start": r.DataIntervalStart.UTC().Format(timeLayout),
		"data_interval_end":   r.DataIntervalEnd.UTC().Format(timeLayout),
		"ds":                  r.LogicalDate.UTC().Format("2006-01-02"),
		"run_id":              r.RunID,
		"dag":                 d.Name,
	}
}

// render fills a task's SQL, selector or request with the run's variables
// (Jinja syntax, as in the models: '{{ data_interval_start }}').
func render(src string, v map[string]any) (out string, err error) {
	if !strings.Contains(src, "{{") && !strings.Contains(src, "{%") {
		return src, nil
	}
	defer func() {
		// gonja panics on some malformed templates.
		if r := recover(); r != nil {
			err = fmt.Errorf("render template: %v", r)
		}
	}()
	t, err := gonja.FromString(src)
	if err != nil {
		return "", fmt.Errorf("parse template: %w", err)
	}
	out, err = t.ExecuteToString(gonjaexec.NewContext(v))
	if err != nil {
		return "", fmt.Errorf("render template: %w", err)
	}
	return out, nil
}

// finishedSince reports whether a task's latest try ended, on its own, at
// or after a resumed run's start: it is kept. A try interrupted by the
// leader's stop is not.
func finishedSince(ti TaskInstance, start time.Time) bool {
	switch ti.State {
	case StateSuccess, StateSkipped, StateUpstreamFailed, StateFailed:
		return ti.EndedAt != nil && !ti.EndedAt.Before(start) && ti.Error != interruptedError
	}
	return false
}

// taskLog is a try's log: written by the task, read by the flusher.
type taskLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed bool
	tee     io.Writer // Test's output, or nil
	prefix  string
}

func (l *taskLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.changed = true
	if l.tee != nil {
		for _, line := range strings.SplitAfter(string(p), "\n") {
			if line != "" {
				io.WriteString(l.tee, l.prefix+line)
			}
		}
	}
	return len(p), nil
}

// snapshot returns the log and whether it changed since the last one.
func (l *taskLog) snapshot() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.changed
	l.changed = false
	return l.buf.String(), c
}

// taskResult is what a task's goroutine reports when it has finished all
// its tries.
type taskResult struct {
	ti      TaskInstance
	aborted bool // the run was stopped: nothing more is written
}

// executor runs one DAG run; its goroutine owns the run's task states.
type executor struct {
	s    *Scheduler
	d    *dag.DAG
	run  Run
	rec  recorder
	tee  io.Writer // Test's output
	vars map[string]any
	// onStart, when set, is told when a task's first try starts (figures).
	onStart func(task string, at time.Time)
}

// execute runs the run to its end and returns it with the final try of
// each task (file order). When ctx ends first, it stops the tasks and
// returns ctx's error, leaving the history as it was (the next leader
// resumes the run).
//
// A queued run that has a start is one that a stopped leader left running
// (becomeLeader): it resumes. The tasks that finished since that start
// keep their tries, and the others run again with a new try. Any other run
// (new, or queued again by a backfill's reprocess) runs every task.
func (e *executor) execute(ctx context.Context) (Run, []TaskInstance, error) {
	rec := e.rec
	prior, err := rec.tries(ctx, e.run)
	if err != nil {
		return e.run, nil, fmt.Errorf("read earlier tries: %w", err)
	}
	resumed := e.run.StartedAt
	if resumed == nil {
		now := time.Now()
		e.run.StartedAt = &now
	}
	e.run.State, e.run.EndedAt = StateRunning, nil
	e.vars = vars(e.d, e.run)
	tis := make(map[string]*TaskInstance, len(e.d.Tasks))
	queued := make([]TaskInstance, 0, len(e.d.Tasks))
	for _, t := range e.d.Tasks {
		p := prior[t.ID]
		if resumed != nil && finishedSince(p, *resumed) {
			tis[t.ID] = &p
			continue
		}
		ti := TaskInstance{DAG: e.d.Name, RunID: e.run.RunID, TaskID: t.ID, Try: p.Try + 1, State: StateQueued}
		tis[t.ID] = &ti
		queued = append(queued, ti)
	}
	if err := rec.startRun(ctx, e.run, queued); err != nil {
		return e.run, nil, fmt.Errorf("start run %s: %w", e.run.RunID, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan taskResult, len(e.d.Tasks))
	running := 0
	var wg sync.WaitGroup
	for {
		// Decide every task whose upstream allows it, until nothing
		// changes (a decision can settle a downstream task at once).
		for changed := true; changed; {
			changed = false
			for _, t := range e.d.Tasks {
				ti := tis[t.ID]
				if ti.State != StateQueued {
					continue
				}
				switch dec := decide(t, tis); dec {
				case decisionRun:
					ti.State = StateRunning
					running++
					wg.Add(1)
					go func(t *dag.Task, ti TaskInstance) {
						defer wg.Done()
						done <- e.runTask(ctx, t, ti)
					}(t, *ti)
				case decisionUpstreamFailed, decisionSkip:
					state := StateUpstreamFailed
					if dec == decisionSkip {
						state = StateSkipped
					}
					end := time.Now()
					ti.State, ti.EndedAt = state, &end
					if err := rec.updateTry(ctx, *ti); err != nil && ctx.Err() == nil {
						e.s.log.Warn("record task state", "dag", e.d.Name, "run_id", e.run.RunID, "task", t.ID, "err", err)
					}
					e.s.metrics.taskFinished(e.d.Name, t.ID, state, 0)
					changed = true
				}
			}
		}
		if running == 0 {
			break
		}
		select {
		case res := <-done:
			running--
			if res.aborted {
				cancel()
				wg.Wait()
				return e.run, nil, errors.Join(ctx.Err(), errors.New("run stopped"))
			}
			*tis[res.ti.TaskID] = res.ti
		case <-ctx.Done():
			wg.Wait()
			return e.run, nil, ctx.Err()
		}
	}
	out := make([]TaskInstance, 0, len(e.d.Tasks))
	e.run.State = StateSuccess
	for _, t := range e.d.Tasks {
		ti := *tis[t.ID]
		if ti.State == StateFailed || ti.State == StateUpstreamFailed {
			e.run.State = StateFailed
		}
		out = append(out, ti)
	}
	end := time.Now()
	e.run.EndedAt = &end
	if err := rec.finishRun(ctx, e.run); err != nil {
		return e.run, out, fmt.Errorf("finish run %s: %w", e.run.RunID, err)
	}
	return e.run, out, nil
}

type decision int

const (
	decisionWait decision = iota
	decisionRun
	decisionUpstreamFailed
	decisionSkip
)

// decide applies a task's trigger rule to its upstream states.
func decide(t *dag.Task, tis map[string]*TaskInstance) decision {
	var done, failed, skipped int
	for _, id := range t.DependsOn {
		switch tis[id].State {
		case StateSuccess:
			done++
		case StateFailed, StateUpstreamFailed:
			done++
			failed++
		case StateSkipped:
			done++
			skipped++
		}
	}
	all := done == len(t.DependsOn)
	switch t.TriggerRule {
	case dag.AllDone:
		if all {
			return decisionRun
		}
	case dag.OneFailed:
		// As Airflow: fires as soon as one upstream failed.
		if failed > 0 {
			return decisionRun
		}
		if all {
			return decisionSkip
		}
	case dag.NoneFailed:
		if failed > 0 {
			return decisionUpstreamFailed
		}
		if all {
			return decisionRun
		}
	default: // all_success
		switch {
		case failed > 0:
			return decisionUpstreamFailed
		case all && skipped > 0:
			return decisionSkip
		case all:
			return decisionRun
		}
	}
	return decisionWait
}

// runTask runs a task's tries, retrying with backoff; first is the row
// execute inserted (state queued).
func (e *executor) runTask(ctx context.Context, t *dag.Task, ti TaskInstance) taskResult {
	first := ti.Try
	for {
		start := time.Now()
		ti.State, ti.StartedAt, ti.EndedAt, ti.Error, ti.Log, ti.Duration = StateRunning, &start, nil, "", "", 0
		var err error
		if ti.Try == first {
			err = e.rec.updateTry(ctx, ti)
		} else {
			err = e.rec.insertTry(ctx, ti)
		}
		if ctx.Err() != nil {
			return taskResult{ti: ti, aborted: true}
		}
		if err != nil {
			e.s.log.Warn("record task start", "dag", e.d.Name, "run_id", e.run.RunID, "task", t.ID, "err", err)
		}
		if e.onStart != nil && ti.Try == first {
			e.onStart(t.ID, start)
		}
		log := &taskLog{tee: e.tee, prefix: "[" + t.ID + "] "}
		runErr := e.try(ctx, t, ti, log)
		if ctx.Err() != nil {
			return taskResult{ti: ti, aborted: true}
		}
		end := time.Now()
		ti.EndedAt, ti.Duration = &end, end.Sub(start).Seconds()
		ti.Log, _ = log.snapshot()
		ti.State = StateSuccess
		retry := false
		if runErr != nil {
			ti.Error = runErr.Error()
			fmt.Fprintf(log, "error: %s\n", ti.Error)
			ti.Log, _ = log.snapshot()
			ti.State = StateFailed
			if ti.Try-first < t.Retries {
				ti.State, retry = StateUpForRetry, true
			}
		}
		if err := e.rec.updateTry(ctx, ti); err != nil && ctx.Err() == nil {
			e.s.log.Warn("record task end", "dag", e.d.Name, "run_id", e.run.RunID, "task", t.ID, "err", err)
		}
		e.s.metrics.taskFinished(e.d.Name, t.ID, ti.State, ti.Duration)
		if !retry {
			return taskResult{ti: ti}
		}
		delay := t.RetryDelayAfter(ti.Try - first + 1)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return taskResult{ti: ti, aborted: true}
		case <-timer.C:
		}
		// The try that failed is now history; the next one carries on.
		ti.State = StateFailed
		if err := e.rec.updateTry(ctx, ti); err != nil && ctx.Err() == nil {
			e.s.log.Warn("record task retry", "dag", e.d.Name, "run_id", e.run.RunID, "task", t.ID, "err", err)
		}
		ti.Try++
	}
}

// try runs one try of a task under its timeout, flushing its log to the
// warehouse meanwhile.
func (e *executor) try(ctx context.Context, t *dag.Task, ti TaskInstance, log *taskLog) error {
	tctx := ctx
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		tick := time.NewTicker(logFlushEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if s, changed := log.snapshot(); changed {
					snap := ti
					snap.Log = s
					if err := e.rec.updateLog(ctx, snap); err != nil && ctx.Err() == nil {
						e.s.log.Warn("record task log", "dag", e.d.Name, "task", t.ID, "err", err)
					}
				}
			}
		}
	}()
	err := e.perform(tctx, t, log)
	close(stop)
	<-flushed
	if errors.Is(context.Cause(tctx), errTimeout) && ctx.Err() == nil {
		return fmt.Errorf("timed out after %v", t.Timeout)
	}
	return err
}

// maxCheckRows is how many failing rows of a sql_check go into its log.
const maxCheckRows = 20

// maxHTTPBody bounds what an http task reads of a response.
const maxHTTPBody = 64 << 10

func (e *executor) perform(ctx context.Context, t *dag.Task, log io.Writer) error {
	switch t.Type {
	case dag.Models:
		sel, err := render(t.Select, e.vars)
		if err != nil {
			return fmt.Errorf("select: %w", err)
		}
		if e.s.o.models == nil {
			return errors.New("this scheduler has no models runner")
		}
		fmt.Fprintf(log, "models %s --select %q\n", t.Models, sel)
		return e.s.o.models(ctx, t.Models, sel, e.vars, log)
	case dag.SQL, dag.SQLCheck:
		q, err := render(t.SQL, e.vars)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "%s\n", q)
		if t.Type == dag.SQL {
			return e.s.db.Exec(ctx, q)
		}
		rs, err := e.s.db.Query(ctx, q)
		if err != nil {
			return err
		}
		if len(rs.Rows) == 0 {
			fmt.Fprintln(log, "check passed: no rows")
			return nil
		}
		names := make([]string, len(rs.Columns))
		for i, c := range rs.Columns {
			names[i] = c.Name
		}
		fmt.Fprintf(log, "check failed: %d row(s)\n%s\n", len(rs.Rows), strings.Join(names, "\t"))
		for i, row := range rs.Rows {
			if i == maxCheckRows {
				fmt.Fprintf(log, "… %d more\n", len(rs.Rows)-i)
				break
			}
			cells := make([]string, len(row))
			for j, v := range row {
				switch v := v.(type) {
				case nil:
					cells[j] = "NULL"
				case time.Time:
					cells[j] = v.UTC().Format("2006-01-02 15:04:05.999999")
				default:
					cells[j] = fmt.Sprint(v)
				}
			}
			fmt.Fprintln(log, strings.Join(cells, "\t"))
		}
		return fmt.Errorf("check failed: %d row(s) returned", len(rs.Rows))
	case dag.HTTPCall:
		return e.call(ctx, t.HTTP, log)
	case dag.WaitFor:
		return e.wait(ctx, t.Wait, log)
	}
	return fmt.Errorf("unknown task type %q", t.Type)
}

// wait is a wait_for task: it pokes the run history until w's DAG or task
// has succeeded in a run with data up to this run's data interval end (or
// up to this run's start, when that comes first: a manual run's interval
// ends in the future). A failed poke is logged and retried at the next
// one; the task's timeout ends the wait.
func (e *executor) wait(ctx context.Context, w *dag.Wait, log io.Writer) error {
	until := e.run.DataIntervalEnd
	if e.run.StartedAt != nil && e.run.StartedAt.Before(until) {
		until = ts(*e.run.StartedAt)
	}
	fmt.Fprintf(log, "waiting for %s to succeed in a run with data up to %s UTC, poking every %v\n",
		w.Target(), until.UTC().Format(timeLayout), w.PokeInterval)
	q := `SELECT r.run_id, r.data_interval_end FROM dag_runs r
		WHERE r.dag = $1 AND r.data_interval_end >= $2 AND r.state = 'success'
		ORDER BY r.data_interval_end LIMIT 1`
	args := []any{w.DAG, until}
	if w.Task != "" {
		q = `SELECT r.run_id, r.data_interval_end FROM dag_runs r
			JOIN task_instances t ON t.dag = r.dag AND t.run_id = r.run_id
			WHERE r.dag = $1 AND r.data_interval_end >= $2 AND t.task_id = $3 AND t.state = 'success'
			ORDER BY r.data_interval_end LIMIT 1`
		args = append(args, w.Task)
	}
	tick := time.NewTicker(w.PokeInterval)
	defer tick.Stop()
	var lastErr string
	wasPaused := false
	for {
		rs, err := e.s.db.Query(ctx, q, args...)
		switch {
		case err != nil && ctx.Err() == nil:
			if err.Error() != lastErr {
				fmt.Fprintf(log, "poke failed (retrying): %v\n", err)
				lastErr = err.Error()
			}
		case err == nil && len(rs.Rows) > 0:
			fmt.Fprintf(log, "%s succeeded in run %s (data up to %s UTC)\n",
				w.Target(), strOf(rs.Rows[0][0]), timeOf(rs.Rows[0][1]).UTC().Format(timeLayout))
			return nil
		}
		// A paused DAG makes no scheduled runs: say so, or the wait looks
		// like a stall.
		if paused, err := e.s.paused(ctx); err == nil && paused[w.DAG] != wasPaused {
			wasPaused = paused[w.DAG]
			if wasPaused {
				fmt.Fprintf(log, "%s is paused: it makes no scheduled runs until it is unpaused\n", w.DAG)
			} else {
				fmt.Fprintf(log, "%s is unpaused\n", w.DAG)
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(log, "%s has not succeeded in a run with data up to %s UTC\n", w.Target(), until.UTC().Format(timeLayout))
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (e *executor) call(ctx context.Context, h *dag.HTTP, log io.Writer) error {
	u, err := render(h.URL, e.vars)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	body, err := render(h.Body, e.vars)
	if err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return httpRequest(ctx, e.s.o.client, h, u, body, log)
}

func httpRequest(ctx context.Context, c *http.Client, h *dag.HTTP, url, body string, log io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, h.Method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	fmt.Fprintf(log, "%s %s\n", h.Method, req.URL.Redacted())
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	fmt.Fprintf(log, "%s\n%s\n", resp.Status, b)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}
