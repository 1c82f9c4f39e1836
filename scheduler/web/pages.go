package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{"stateClass": stateClass}).ParseFS(templateFS, "templates/*.html"))

// states are the task and run states the pages colour; anything else is
// drawn as "other".
var states = map[string]bool{"queued": true, "running": true, "success": true, "failed": true,
	"up_for_retry": true, "upstream_failed": true, "skipped": true, "": true}

func stateClass(s string) string {
	switch {
	case s == "":
		return "none"
	case states[s]:
		return s
	}
	return "other"
}

// active reports whether a run or try in this state may still change.
func active(state string) bool {
	return state == "queued" || state == "running" || state == "up_for_retry"
}

// securityHeaders are the dashboard's (package dashboard): the pages load
// their own script and style sheet only and talk to nothing but the
// appliance; no inline script.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	securityHeaders(h)
	if strings.HasSuffix(name, ".js") {
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	} else {
		h.Set("Content-Type", "text/css; charset=utf-8")
	}
	h.Set("Cache-Control", "no-cache")
	w.Write(b)
}

// base is what every page has.
type base struct {
	Title   string
	Section string
	Crumbs  []crumb
	Refresh bool
	Error   string
}

type crumb struct{ Name, Href string }

func dagHref(name string) string { return "/dags/" + url.PathEscape(name) }
func runHref(name, runID string) string {
	return dagHref(name) + "/runs/" + url.PathEscape(runID)
}
func logHref(name, runID, taskID string, try int) string {
	h := runHref(name, runID) + "/tasks/" + url.PathEscape(taskID)
	if try > 0 {
		h += "?try=" + strconv.Itoa(try)
	}
	return h
}

// render writes a page; a template error (a bug) becomes a 500.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("dags page", "page", name, "err", err)
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageError answers a page whose DAG, run or task cannot be shown.
func (s *Server) pageError(w http.ResponseWriter, err error, crumbs []crumb) {
	status, _ := errorStatus(err)
	title := "Error"
	if status == http.StatusNotFound {
		title = "Not found"
	} else {
		s.log.Error("dags page", "err", err)
	}
	s.render(w, status, "error", base{Title: title, Section: "dags", Crumbs: crumbs, Error: err.Error()})
}

// dagRow is a DAG as the pages show it.
type dagRow struct {
	Name, Href, Schedule, Timezone, Next string
	Paused                               bool
	Tasks                                int
	Runs                                 []runCell // oldest first
	Active                               bool      // a run is queued or running
}

type runCell struct{ State, Href, Title string }

func (s *Server) dagRow(st scheduler.DAGStatus) dagRow {
	d := st.DAG
	row := dagRow{Name: d.Name, Href: dagHref(d.Name), Schedule: d.Schedule, Timezone: d.Timezone, Paused: st.Paused, Tasks: len(d.Tasks)}
	if row.Schedule == "" {
		row.Schedule = "manual only"
	}
	if row.Timezone == "" {
		row.Timezone = "UTC"
	}
	switch {
	case st.NextRun != nil:
		row.Next = fmtTime(*st.NextRun, d.Location)
	case st.Paused:
		row.Next = "— (paused)"
	default:
		row.Next = "— (manual)"
	}
	for i := len(st.LastRuns) - 1; i >= 0; i-- {
		r := st.LastRuns[i]
		row.Runs = append(row.Runs, runCell{State: r.State, Href: runHref(d.Name, r.RunID),
			Title: fmt.Sprintf("%s · %s · %s", r.RunID, r.State, fmtTime(r.LogicalDate, d.Location))})
		row.Active = row.Active || active(r.State)
	}
	return row
}

func (s *Server) pageList(w http.ResponseWriter, r *http.Request) {
	sts, err := s.s.DAGs(r.Context())
	if err != nil {
		s.pageError(w, err, nil)
		return
	}
	data := struct {
		base
		DAGs []dagRow
	}{base: base{Title: "DAGs", Section: "dags", Crumbs: []crumb{{Name: "DAGs"}}}}
	for _, st := range sts {
		row := s.dagRow(st)
		data.Refresh = data.Refresh || row.Active
		data.DAGs = append(data.DAGs, row)
	}
	s.render(w, http.StatusOK, "list", data)
}

// runRow is a run as the pages show it.
type runRow struct {
	RunID, Href, RunType, Logical, State, Started, Duration string
}

func (s *Server) runRow(d *dag.DAG, r scheduler.Run) runRow {
	row := runRow{RunID: r.RunID, Href: runHref(d.Name, r.RunID), RunType: r.RunType, Logical: fmtTime(r.LogicalDate, d.Location),
		State: r.State, Started: "—", Duration: "—"}
	if r.StartedAt != nil {
		row.Started = fmtTime(*r.StartedAt, d.Location)
		end := s.now()
		if r.EndedAt != nil {
			end = *r.EndedAt
		}
		row.Duration = fmtDuration(end.Sub(*r.StartedAt))
	}
	return row
}

type taskRow struct {
	ID, Type, What, DependsOn, TriggerRule, Retries, Timeout string
	WaitsOn                                                  string // a wait_for's DAG page
}

func taskRows(d *dag.DAG) []taskRow {
	var rows []taskRow
	for _, t := range d.Tasks {
		row := taskRow{ID: t.ID, Type: string(t.Type), DependsOn: dependsOn(t), TriggerRule: string(t.TriggerRule),
			Retries: strconv.Itoa(t.Retries), Timeout: "—"}
		if row.TriggerRule == "" {
			row.TriggerRule = "all_success"
		}
		switch {
		case t.Models != "":
			row.What = strings.TrimSpace("models " + t.Models + " " + t.Select)
		case t.HTTP != nil:
			row.What = strings.TrimSpace(t.HTTP.Method + " " + t.HTTP.URL)
		case t.Wait != nil:
			row.What = "until " + t.Wait.Target() + " succeeds for the run's data interval, poking every " + specDuration(t.Wait.PokeInterval)
			row.WaitsOn = dagHref(t.Wait.DAG)
		default:
			row.What = oneLine(t.SQL, 160)
		}
		if t.Retries > 0 {
			row.Retries += " (" + specDuration(t.RetryDelay)
			if t.MaxRetryDelay > 0 {
				row.Retries += ", ≤ " + specDuration(t.MaxRetryDelay)
			}
			row.Retries += ")"
		}
		if t.Timeout > 0 {
			row.Timeout = specDuration(t.Timeout)
		}
		rows = append(rows, row)
	}
	return rows
}

func dependsOn(t *dag.Task) string {
	if len(t.DependsOn) == 0 {
		return "—"
	}
	return strings.Join(t.DependsOn, ", ")
}

// pageRuns is how many runs the DAG page lists.
const pageRuns = 50

func (s *Server) pageDAG(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	crumbs := []crumb{{Name: "DAGs", Href: "/dags"}, {Name: name}}
	st, err := s.s.DAG(r.Context(), name)
	if err != nil {
		s.pageError(w, err, crumbs)
		return
	}
	runs, err := s.s.Runs(r.Context(), name, pageRuns)
	if err != nil {
		s.pageError(w, err, crumbs)
		return
	}
	d := st.DAG
	data := struct {
		base
		D               dagRow
		File, StartDate string
		Catchup         bool
		MaxActive       int
		Tasks           []taskRow
		Runs            []runRow
	}{base: base{Title: d.Name, Section: "dags", Crumbs: crumbs}, D: s.dagRow(st), File: d.File,
		StartDate: fmtTime(d.StartDate, d.Location), Catchup: d.Catchup, MaxActive: d.MaxActiveRuns, Tasks: taskRows(d)}
	for _, run := range runs {
		data.Runs = append(data.Runs, s.runRow(d, run))
		data.Refresh = data.Refresh || active(run.State)
	}
	s.render(w, http.StatusOK, "dag", data)
}

// tiRow is a task instance as the pages show it.
type tiRow struct {
	TaskID, State, DependsOn, Started, Duration, Error, LogHref string
	Try                                                         int
}

func (s *Server) tiRow(d *dag.DAG, ti scheduler.TaskInstance) tiRow {
	row := tiRow{TaskID: ti.TaskID, State: ti.State, Try: ti.Try, Started: "—", Duration: "—", Error: ti.Error}
	if ti.StartedAt != nil {
		row.Started = fmtTime(*ti.StartedAt, d.Location)
		switch {
		case ti.EndedAt != nil:
			row.Duration = fmtDuration(ti.EndedAt.Sub(*ti.StartedAt))
		default:
			row.Duration = fmtDuration(s.now().Sub(*ti.StartedAt))
		}
	}
	if ti.Try > 0 {
		row.LogHref = logHref(d.Name, ti.RunID, ti.TaskID, ti.Try)
	}
	return row
}

func (s *Server) pageRun(w http.ResponseWriter, r *http.Request) {
	name, runID := r.PathValue("name"), r.PathValue("run_id")
	crumbs := []crumb{{Name: "DAGs", Href: "/dags"}, {Name: name, Href: dagHref(name)}, {Name: runID}}
	st, err := s.s.DAG(r.Context(), name)
	if err != nil {
		s.pageError(w, err, crumbs)
		return
	}
	run, tis, err := s.s.GetRun(r.Context(), name, runID)
	if err != nil {
		s.pageError(w, err, crumbs)
		return
	}
	d := st.DAG
	data := struct {
		base
		Run                     runRow
		Interval, Queued, Ended string
		Gantt                   gantt
		Graph                   graph
		Tasks                   []tiRow
	}{base: base{Title: name + " · " + runID, Section: "dags", Crumbs: crumbs, Refresh: active(run.State)},
		Run: s.runRow(d, run), Queued: fmtTime(run.QueuedAt, d.Location), Ended: "—",
		Interval: fmtTime(run.DataIntervalStart, d.Location) + " → " + fmtTime(run.DataIntervalEnd, d.Location)}
	if run.EndedAt != nil {
		data.Ended = fmtTime(*run.EndedAt, d.Location)
	}
	byID := make(map[string]scheduler.TaskInstance, len(tis))
	for _, ti := range tis {
		byID[ti.TaskID] = ti
	}
	for _, t := range d.Tasks {
		ti, ok := byID[t.ID]
		if !ok {
			ti = scheduler.TaskInstance{DAG: name, RunID: runID, TaskID: t.ID}
		}
		row := s.tiRow(d, ti)
		row.DependsOn = dependsOn(t)
		data.Tasks = append(data.Tasks, row)
	}
	data.Gantt = s.newGantt(d, run, tis)
	data.Graph = newGraph(d, byID)
	s.render(w, http.StatusOK, "run", data)
}

type tryLink struct {
	N       int
	Href    string
	Current bool
}

func (s *Server) pageLog(w http.ResponseWriter, r *http.Request) {
	name, runID, taskID := r.PathValue("name"), r.PathValue("run_id"), r.PathValue("task_id")
	crumbs := []crumb{{Name: "DAGs", Href: "/dags"}, {Name: name, Href: dagHref(name)}, {Name: runID, Href: runHref(name, runID)}, {Name: taskID}}
	try, err := intParam(r, "try", 0)
	if err != nil || try < 0 {
		s.render(w, http.StatusBadRequest, "error", base{Title: "Bad request", Section: "dags", Crumbs: crumbs,
			Error: "try must be a try number from 1"})
		return
	}
	st, err := s.s.DAG(r.Context(), name)
	if err != nil {
		s.pageError(w, err, crumbs)
		return
	}
	ti, err := s.s.TaskLog(r.Context(), name, runID, taskID, try)
	if err != nil {
		s.pageError(w, err, crumbs)
		return
	}
	// The latest try tells how many there are.
	latest := ti.Try
	if try != 0 {
		if l, err := s.s.TaskLog(r.Context(), name, runID, taskID, 0); err == nil {
			latest = l.Try
		}
	}
	d := st.DAG
	data := struct {
		base
		RunID, RunHref, TaskID string
		TI                     tiRow
		Tries                  []tryLink
		Log                    string
	}{base: base{Title: name + " · " + taskID, Section: "dags", Crumbs: crumbs, Refresh: active(ti.State)},
		RunID: runID, RunHref: runHref(name, runID), TaskID: taskID, TI: s.tiRow(d, ti), Log: ti.Log}
	for n := 1; n <= latest; n++ {
		data.Tries = append(data.Tries, tryLink{N: n, Href: logHref(name, runID, taskID, n), Current: n == ti.Try})
	}
	s.render(w, http.StatusOK, "log", data)
}

// fmtTime shows a time in the DAG's zone (UTC without one).
func fmtTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// fmtDuration rounds a duration for people: 850ms, 12.3s, 4m05s, 2h03m.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// specDuration writes a configured duration as a DAG file would: 10m, not
// 10m0s.
func specDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// oneLine squeezes SQL onto one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
