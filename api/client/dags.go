package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cartwheel-analytics/cartwheel/scheduler"
	"github.com/cartwheel-analytics/cartwheel/scheduler/web"
)

// DAGTimeout bounds a DAG call; a test run (POST …/test) runs the whole
// DAG in the request, so it gets ModelsTimeout.
const DAGTimeout = time.Minute

// The DAG calls (package scheduler/web documents the routes). They make
// *Client a web.Scheduler, so that the CLI drives a running appliance's
// scheduler as it would its own. An unknown DAG or run is an error
// matching scheduler.ErrUnknownDAG or scheduler.ErrUnknownRun.
var _ web.Scheduler = (*Client)(nil)

// DAGs lists the project's DAGs with their state (GET /api/dags).
func (c *Client) DAGs(ctx context.Context) ([]scheduler.DAGStatus, error) {
	var l web.DAGList
	err := c.getJSON(ctx, "/api/dags", &l)
	return l.DAGs, err
}

// DAG returns one DAG's state (GET /api/dags/{name}).
func (c *Client) DAG(ctx context.Context, name string) (scheduler.DAGStatus, error) {
	var st scheduler.DAGStatus
	err := c.getJSON(ctx, dagPath(name), &st)
	return st, err
}

// Runs returns a DAG's latest runs, newest first.
func (c *Client) Runs(ctx context.Context, name string, limit int) ([]scheduler.Run, error) {
	var l web.RunList
	err := c.getJSON(ctx, dagPath(name)+"/runs?limit="+strconv.Itoa(limit), &l)
	return l.Runs, err
}

// GetRun returns a run and the latest try of each of its tasks.
func (c *Client) GetRun(ctx context.Context, name, runID string) (scheduler.Run, []scheduler.TaskInstance, error) {
	var d web.RunDetail
	err := c.getJSON(ctx, dagPath(name)+"/runs/"+url.PathEscape(runID), &d)
	return d.Run, d.Tasks, err
}

// TaskLog returns a task's try (0: the latest) with its log so far.
func (c *Client) TaskLog(ctx context.Context, name, runID, taskID string, try int) (scheduler.TaskInstance, error) {
	var ti scheduler.TaskInstance
	err := c.getJSON(ctx, dagPath(name)+"/runs/"+url.PathEscape(runID)+"/tasks/"+url.PathEscape(taskID)+"/log?try="+strconv.Itoa(try), &ti)
	return ti, err
}

// Trigger queues a manual run (logical zero: now).
func (c *Client) Trigger(ctx context.Context, name string, logical time.Time) (scheduler.Run, error) {
	var run scheduler.Run
	err := c.postJSON(ctx, DAGTimeout, dagPath(name)+"/trigger", web.TriggerRequest{LogicalDate: rfc3339(logical)}, &run)
	return run, err
}

// SetPaused pauses or unpauses a DAG's schedule.
func (c *Client) SetPaused(ctx context.Context, name string, paused bool) error {
	action := "/unpause"
	if paused {
		action = "/pause"
	}
	var st scheduler.DAGStatus
	return c.postJSON(ctx, DAGTimeout, dagPath(name)+action, struct{}{}, &st)
}

// Backfill queues (or, dry, lists) one run per interval in [from, to].
func (c *Client) Backfill(ctx context.Context, name string, from, to time.Time, reprocess scheduler.Reprocess, dryRun bool) ([]scheduler.Run, error) {
	var r web.BackfillResponse
	err := c.postJSON(ctx, DAGTimeout, dagPath(name)+"/backfill",
		web.BackfillRequest{From: rfc3339(from), To: rfc3339(to), Reprocess: string(reprocess), DryRun: dryRun}, &r)
	return r.Runs, err
}

// Test runs a DAG once in the appliance, in the foreground and without
// history; its log is written to w when it ends.
func (c *Client) Test(ctx context.Context, name string, logical time.Time, w io.Writer) (scheduler.Run, []scheduler.TaskInstance, error) {
	var r web.TestResponse
	err := c.postJSON(ctx, ModelsTimeout, dagPath(name)+"/test", web.TestRequest{LogicalDate: rfc3339(logical)}, &r)
	io.WriteString(w, r.Log)
	return r.Run, r.Tasks, err
}

func dagPath(name string) string { return "/api/dags/" + url.PathEscape(name) }

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, DAGTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ask the running appliance at %s: %w", c.base, err)
	}
	return c.decodeDAG(resp, v)
}

func (c *Client) postJSON(ctx context.Context, timeout time.Duration, path string, body, v any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return err
	}
	return c.decodeDAG(resp, v)
}

// decodeDAG reads a DAG call's answer into v, or its error: a 404 matches
// scheduler.ErrUnknownDAG or ErrUnknownRun by its code.
func (c *Client) decodeDAG(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var er web.ErrorResponse
		err := c.failure(resp, &er)
		switch er.Code {
		case web.CodeUnknownDAG:
			return &dagError{err: err, is: scheduler.ErrUnknownDAG}
		case web.CodeUnknownRun:
			return &dagError{err: err, is: scheduler.ErrUnknownRun}
		}
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("appliance at %s: decode answer: %w", resp.Request.URL, err)
	}
	return nil
}

// dagError is an *Error that also matches the scheduler's error it stands for.
type dagError struct {
	err error
	is  error
}

func (e *dagError) Error() string   { return e.err.Error() }
func (e *dagError) Unwrap() []error { return []error{e.err, e.is} }
