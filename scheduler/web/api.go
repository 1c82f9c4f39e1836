// Package web serves the scheduler over HTTP: the DAG JSON API under
// /api/dags and server-rendered pages under /dags (SPEC §5.2, §5.5). It
// hands its routes to the api server, whose guard (Host allowlist, JSON
// POSTs, no cross-origin POST, the token off loopback) stands in front of
// them.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/scheduler"
)

// Scheduler is what the routes use; *scheduler.Scheduler implements it,
// and so does the CLI's client of a running appliance.
type Scheduler interface {
	DAGs(ctx context.Context) ([]scheduler.DAGStatus, error)
	DAG(ctx context.Context, name string) (scheduler.DAGStatus, error)
	Trigger(ctx context.Context, name string, logical time.Time) (scheduler.Run, error)
	GetRun(ctx context.Context, name, runID string) (scheduler.Run, []scheduler.TaskInstance, error)
	Runs(ctx context.Context, name string, limit int) ([]scheduler.Run, error)
	TaskLog(ctx context.Context, name, runID, taskID string, try int) (scheduler.TaskInstance, error)
	SetPaused(ctx context.Context, name string, paused bool) error
	Backfill(ctx context.Context, name string, from, to time.Time, reprocess scheduler.Reprocess, dryRun bool) ([]scheduler.Run, error)
	Test(ctx context.Context, name string, logical time.Time, w io.Writer) (scheduler.Run, []scheduler.TaskInstance, error)
}

// The bodies of the JSON API. Times are RFC 3339.
type (
	// DAGList is the answer to GET /api/dags.
	DAGList struct {
		DAGs []scheduler.DAGStatus `json:"dags"`
	}
	// RunList is the answer to GET /api/dags/{name}/runs (newest first).
	RunList struct {
		Runs []scheduler.Run `json:"runs"`
	}
	// RunDetail is the answer to GET /api/dags/{name}/runs/{run_id}: the
	// run and the latest try of each task, in the DAG file's order.
	RunDetail struct {
		Run   scheduler.Run            `json:"run"`
		Tasks []scheduler.TaskInstance `json:"tasks"`
	}
	// TriggerRequest is the body of POST /api/dags/{name}/trigger (may be
	// empty): the run's logical date, now when absent.
	TriggerRequest struct {
		LogicalDate string `json:"logical_date,omitempty"`
	}
	// BackfillRequest is the body of POST /api/dags/{name}/backfill: one
	// run per interval whose logical date lies in [from, to]; reprocess is
	// none (default), failed or all.
	BackfillRequest struct {
		From      string `json:"from"`
		To        string `json:"to"`
		Reprocess string `json:"reprocess,omitempty"`
		DryRun    bool   `json:"dry_run,omitempty"`
	}
	// BackfillResponse lists the runs queued (or, dry, that would be).
	BackfillResponse struct {
		Runs   []scheduler.Run `json:"runs"`
		DryRun bool            `json:"dry_run"`
	}
	// TestRequest is the body of POST /api/dags/{name}/test (may be empty).
	TestRequest struct {
		LogicalDate string `json:"logical_date,omitempty"`
	}
	// TestResponse is a test run: its run, tasks and log; nothing of it is
	// kept in the history.
	TestResponse struct {
		Run   scheduler.Run            `json:"run"`
		Tasks []scheduler.TaskInstance `json:"tasks"`
		Log   string                   `json:"log"`
	}
	// ErrorResponse is the body of a failed call: the message and, for a
	// 404, what is unknown ("unknown_dag" or "unknown_run").
	ErrorResponse struct {
		Error string `json:"error"`
		Code  string `json:"code,omitempty"`
	}
)

// Error codes of ErrorResponse.
const (
	CodeUnknownDAG = "unknown_dag"
	CodeUnknownRun = "unknown_run"
	CodeBadRequest = "bad_request"
	CodeRunExists  = "run_exists"
)

// DefaultRunLimit and MaxRunLimit bound GET /api/dags/{name}/runs.
const (
	DefaultRunLimit = 25
	MaxRunLimit     = 1000
)

// maxTestLog bounds the log a test run keeps for its answer.
const maxTestLog = 8 << 20

// Server answers the DAG routes.
type Server struct {
	s   Scheduler
	log *slog.Logger
	now func() time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock the pages measure running durations with (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns the routes over s.
func New(s Scheduler, opts ...Option) *Server {
	srv := &Server{s: s, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(srv)
	}
	return srv
}

// Routes returns the GET routes by path pattern of net/http's ServeMux:
// the JSON API and the pages with their script and style sheet.
func (s *Server) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"/api/dags":                      http.HandlerFunc(s.list),
		"/api/dags/{name}":               http.HandlerFunc(s.get),
		"/api/dags/{name}/runs":          http.HandlerFunc(s.runs),
		"/api/dags/{name}/runs/{run_id}": http.HandlerFunc(s.run),
		"/api/dags/{name}/runs/{run_id}/tasks/{task_id}/log": http.HandlerFunc(s.taskLog),
		"/dags":                      http.HandlerFunc(s.pageList),
		"/dags/{$}":                  http.RedirectHandler("/dags", http.StatusMovedPermanently),
		"/dags/{name}":               http.HandlerFunc(s.pageDAG),
		"/dags/{name}/runs/{run_id}": http.HandlerFunc(s.pageRun),
		"/dags/{name}/runs/{run_id}/tasks/{task_id}": http.HandlerFunc(s.pageLog),
		"/dags/actions.js":                           http.HandlerFunc(s.asset),
		"/dags/dags.css":                             http.HandlerFunc(s.asset),
	}
}

// Actions returns the POST routes by path pattern; each takes a JSON body.
func (s *Server) Actions() map[string]http.Handler {
	return map[string]http.Handler{
		"/api/dags/{name}/trigger":  http.HandlerFunc(s.trigger),
		"/api/dags/{name}/pause":    http.HandlerFunc(s.pause(true)),
		"/api/dags/{name}/unpause":  http.HandlerFunc(s.pause(false)),
		"/api/dags/{name}/backfill": http.HandlerFunc(s.backfill),
		"/api/dags/{name}/test":     http.HandlerFunc(s.test),
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	dags, err := s.s.DAGs(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	if dags == nil {
		dags = []scheduler.DAGStatus{}
	}
	writeJSON(w, http.StatusOK, DAGList{DAGs: dags})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	st, err := s.s.DAG(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", DefaultRunLimit)
	if err == nil && (limit < 1 || limit > MaxRunLimit) {
		err = fmt.Errorf("limit must be between 1 and %d", MaxRunLimit)
	}
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	runs, err := s.s.Runs(r.Context(), r.PathValue("name"), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	if runs == nil {
		runs = []scheduler.Run{}
	}
	writeJSON(w, http.StatusOK, RunList{Runs: runs})
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	run, tasks, err := s.s.GetRun(r.Context(), r.PathValue("name"), r.PathValue("run_id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if tasks == nil {
		tasks = []scheduler.TaskInstance{}
	}
	writeJSON(w, http.StatusOK, RunDetail{Run: run, Tasks: tasks})
}

func (s *Server) taskLog(w http.ResponseWriter, r *http.Request) {
	try, err := intParam(r, "try", 0)
	if err == nil && try < 0 {
		err = errors.New("try must be 0 (the latest) or a try number from 1")
	}
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	ti, err := s.s.TaskLog(r.Context(), r.PathValue("name"), r.PathValue("run_id"), r.PathValue("task_id"), try)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ti)
}

func (s *Server) trigger(w http.ResponseWriter, r *http.Request) {
	var req TriggerRequest
	if !decode(w, r, &req) {
		return
	}
	logical, err := ParseTime(req.LogicalDate)
	if err != nil {
		badRequest(w, "logical_date: "+err.Error())
		return
	}
	run, err := s.s.Trigger(r.Context(), r.PathValue("name"), logical)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) pause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !decode(w, r, &req) {
			return
		}
		name := r.PathValue("name")
		if err := s.s.SetPaused(r.Context(), name, paused); err != nil {
			s.fail(w, err)
			return
		}
		st, err := s.s.DAG(r.Context(), name)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

func (s *Server) backfill(w http.ResponseWriter, r *http.Request) {
	var req BackfillRequest
	if !decode(w, r, &req) {
		return
	}
	from, to, reprocess, err := req.parse()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	st, err := s.s.DAG(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if st.DAG.Schedule == "" {
		badRequest(w, st.DAG.Name+" has no schedule, so no intervals to backfill")
		return
	}
	runs, err := s.s.Backfill(r.Context(), r.PathValue("name"), from, to, reprocess, req.DryRun)
	if err != nil {
		s.fail(w, err)
		return
	}
	if runs == nil {
		runs = []scheduler.Run{}
	}
	writeJSON(w, http.StatusOK, BackfillResponse{Runs: runs, DryRun: req.DryRun})
}

// parse checks a backfill request: both ends given, from not after to, a
// known reprocess mode.
func (req BackfillRequest) parse() (from, to time.Time, reprocess scheduler.Reprocess, err error) {
	if req.From == "" || req.To == "" {
		return from, to, "", errors.New(`backfill needs "from" and "to" (RFC 3339 times or dates)`)
	}
	if from, err = ParseTime(req.From); err != nil {
		return from, to, "", fmt.Errorf("from: %w", err)
	}
	if to, err = ParseTime(req.To); err != nil {
		return from, to, "", fmt.Errorf("to: %w", err)
	}
	if from.After(to) {
		return from, to, "", fmt.Errorf("from (%s) is after to (%s)", req.From, req.To)
	}
	reprocess, err = ParseReprocess(req.Reprocess)
	return from, to, reprocess, err
}

// ParseReprocess reads a reprocess mode: none (also ""), failed or all.
func ParseReprocess(s string) (scheduler.Reprocess, error) {
	switch s {
	case "", "none":
		return "none", nil
	case "failed", "all":
		return scheduler.Reprocess(s), nil
	}
	return "", fmt.Errorf("reprocess %q: want none, failed or all", s)
}

func (s *Server) test(w http.ResponseWriter, r *http.Request) {
	var req TestRequest
	if !decode(w, r, &req) {
		return
	}
	logical, err := ParseTime(req.LogicalDate)
	if err != nil {
		badRequest(w, "logical_date: "+err.Error())
		return
	}
	var log limitedBuffer
	log.max = maxTestLog
	run, tasks, err := s.s.Test(r.Context(), r.PathValue("name"), logical, &log)
	if err != nil {
		s.fail(w, err)
		return
	}
	if tasks == nil {
		tasks = []scheduler.TaskInstance{}
	}
	writeJSON(w, http.StatusOK, TestResponse{Run: run, Tasks: tasks, Log: log.String()})
}

// ParseTime reads an RFC 3339 time or a date (YYYY-MM-DD, midnight UTC);
// "" is the zero time (the scheduler's "now").
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)", s)
}

// decode reads a JSON body into v; an empty body leaves v as it is. It
// answers a bad body itself and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{Error: "request body too large", Code: CodeBadRequest})
			return false
		}
		badRequest(w, "read body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, "bad request body: "+err.Error())
		return false
	}
	if dec.More() {
		badRequest(w, "bad request body: more than one JSON value")
		return false
	}
	return true
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", name, v)
	}
	return n, nil
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: msg, Code: CodeBadRequest})
}

// fail answers a scheduler error: 404 for an unknown DAG or run, 409 for a
// run id taken, 504 when
// the request's time ran out, 500 otherwise.
func (s *Server) fail(w http.ResponseWriter, err error) {
	status, code := errorStatus(err)
	if status == http.StatusInternalServerError {
		s.log.Error("dags api", "err", err)
	}
	writeJSON(w, status, ErrorResponse{Error: err.Error(), Code: code})
}

func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, scheduler.ErrUnknownDAG):
		return http.StatusNotFound, CodeUnknownDAG
	case errors.Is(err, scheduler.ErrUnknownRun):
		return http.StatusNotFound, CodeUnknownRun
	case errors.Is(err, scheduler.ErrRunExists):
		return http.StatusConflict, CodeRunExists
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, ""
	}
	return http.StatusInternalServerError, ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// limitedBuffer keeps the first max bytes written to it and notes the cut;
// the tasks of a run write to it at once.
type limitedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
	max int
	cut bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.Len(); room < len(p) {
		b.cut = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return b.Buffer.String() + "\n[log cut at " + strconv.Itoa(b.max>>20) + " MiB]\n"
	}
	return b.Buffer.String()
}
