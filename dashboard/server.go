package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/result"
)

// Querier runs read-only user SQL with bound parameters; the warehouse's
// *warehouse.DB (its QueryReadOnly guard) implements it.
type Querier interface {
	QueryReadOnly(ctx context.Context, query string, args ...any) (*result.Set, error)
}

// Server answers the dashboard's routes.
type Server struct {
	d        *Dashboard
	q        Querier
	now      func() time.Time
	gatherer prometheus.Gatherer
	lag      func(context.Context) (int64, error)
	lastRun  func() string
	docs     http.Handler
	links    []Link
	log      *slog.Logger

	mu      sync.Mutex
	samples []sample // records read, for events/s
}

type sample struct {
	at      time.Time
	records float64
}

// Option configures a Server.
type Option func(*Server)

// WithMetrics sets the registry the pipeline's metrics are read from for
// the live figures of pipeline_health (events/s, watermark delay, the age
// of the last commit).
func WithMetrics(g prometheus.Gatherer) Option { return func(s *Server) { s.gatherer = g } }

// WithLag sets how the consumer lag (records in the topic not committed
// yet) is measured.
func WithLag(f func(context.Context) (int64, error)) Option { return func(s *Server) { s.lag = f } }

// Link is a page of the appliance that the dashboard's header links to.
type Link struct {
	Title string `json:"title"`
	Path  string `json:"path"`
}

// WithLink adds a link to another page of the appliance (e.g. the DAGs)
// to the dashboard's header.
func WithLink(title, path string) Option {
	return func(s *Server) { s.links = append(s.links, Link{Title: title, Path: path}) }
}

// WithLastDAGRun sets what reports the state of the last DAG run.
func WithLastDAGRun(f func() string) Option { return func(s *Server) { s.lastRun = f } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithDocs serves the models' docs site (lineage graph) at /docs/ and
// links it from the page.
func WithDocs(h http.Handler) Option { return func(s *Server) { s.docs = h } }

// New returns the dashboard's server over q.
func New(d *Dashboard, q Querier, opts ...Option) *Server {
	s := &Server{d: d, q: q, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if rec, ok := s.metric("cartwheel_records_total"); ok {
		s.samples = append(s.samples, sample{s.now(), rec})
	}
	return s
}

// Routes returns the dashboard's GET routes by path pattern: the page,
// its assets, the panel list and each panel's data (and the docs site
// when WithDocs set one).
func (s *Server) Routes() map[string]http.Handler {
	r := map[string]http.Handler{
		"/{$}":               http.HandlerFunc(s.page),
		"/ui/":               http.HandlerFunc(s.asset),
		"/api/panels":        http.HandlerFunc(s.list),
		"/api/panels/{name}": http.HandlerFunc(s.panel),
	}
	if s.docs != nil {
		r["/docs/"] = http.StripPrefix("/docs", s.docs)
	}
	return r
}

// Range is a panel query's time range and bucket width.
type Range struct {
	From, To time.Time
	Step     time.Duration
}

// DefaultRange is the range of a request that names none.
const DefaultRange = time.Hour

// MaxPoints bounds the buckets a step= may ask for; without step= the
// width is chosen for at most TargetPoints.
const (
	MaxPoints    = 10000
	TargetPoints = 1500
)

// steps are the bucket widths chosen without step=.
var steps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// AutoStep returns the smallest of the usual bucket widths that cuts d in
// at most TargetPoints buckets.
func AutoStep(d time.Duration) time.Duration {
	for _, st := range steps {
		if int64(d/st) < TargetPoints || (int64(d/st) == TargetPoints && d%st == 0) {
			return st
		}
	}
	return time.Duration(math.Ceil(float64(d)/float64(TargetPoints)/float64(24*time.Hour))) * 24 * time.Hour
}

// ParseRange reads from= (inclusive), to= (exclusive), both RFC 3339, and
// step= (whole seconds, as a number or a duration such as 5m). Without
// to= the range ends now; without from= it starts DefaultRange earlier.
func ParseRange(q map[string][]string, now time.Time) (Range, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[len(v)-1])
		}
		return ""
	}
	var r Range
	r.To = now.UTC()
	if v := get("to"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return r, fmt.Errorf("to=%q is not an RFC 3339 time (e.g. 2026-11-01T12:00:00Z)", clip(v))
		}
		r.To = t.UTC()
	}
	r.From = r.To.Add(-DefaultRange)
	if v := get("from"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return r, fmt.Errorf("from=%q is not an RFC 3339 time (e.g. 2026-11-01T11:00:00Z)", clip(v))
		}
		r.From = t.UTC()
	}
	if !r.From.Before(r.To) {
		return r, fmt.Errorf("from (%s) must be before to (%s)", r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
	}
	if r.From.Year() < 1 || r.To.Year() > 9999 {
		return r, errors.New("the range must lie between the years 1 and 9999")
	}
	span := r.To.Sub(r.From)
	if span <= 0 || span == math.MaxInt64 {
		return r, errors.New("the range is too long")
	}
	if v := get("step"); v != "" {
		var st time.Duration
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < math.MaxInt64/int64(time.Second) {
			st = time.Duration(n) * time.Second
		} else if d, err := time.ParseDuration(v); err == nil {
			st = d
		} else {
			return r, fmt.Errorf("step=%q is not a number of seconds or a duration such as 5m", clip(v))
		}
		if st < time.Second || st%time.Second != 0 {
			return r, fmt.Errorf("step=%q must be a whole number of seconds, at least 1", clip(v))
		}
		if (span+st-1)/st > MaxPoints {
			return r, fmt.Errorf("step=%q cuts the range in more than %d buckets", clip(v), MaxPoints)
		}
		r.Step = st
	} else {
		r.Step = AutoStep(span)
	}
	return r, nil
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func (r Range) args() []any {
	return []any{r.From, r.To, int64(r.Step / time.Second)}
}

// ListResponse is the body of GET /api/panels.
type ListResponse struct {
	Title    string   `json:"title"`
	Currency string   `json:"currency"`
	Panels   []*Panel `json:"panels"`
	// Docs is the path of the models' docs site, when served.
	Docs string `json:"docs,omitempty"`
	// Links are other pages of the appliance (WithLink).
	Links []Link `json:"links,omitempty"`
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	resp := ListResponse{Title: s.d.Title, Currency: s.d.Currency, Panels: s.d.Panels, Links: s.links}
	if s.docs != nil {
		resp.Docs = "/docs/"
	}
	writeJSON(w, http.StatusOK, resp)
}

// Query runs one panel over a range: its SQL with the range's parameters
// through the read-only guard, plus the pipeline's live figures for a
// live panel.
func (s *Server) Query(ctx context.Context, p *Panel, r Range) (*result.Set, error) {
	res, err := s.q.QueryReadOnly(ctx, p.SQL, r.args()[:p.Params]...)
	if err != nil {
		return nil, err
	}
	if p.Live == "pipeline" {
		s.addLive(ctx, res)
	}
	return res, nil
}

func (s *Server) panel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := s.d.Panel(name)
	if p == nil {
		writeJSON(w, http.StatusBadRequest, errorBody{fmt.Sprintf("no panel named %q (GET /api/panels lists them)", clip(name))})
		return
	}
	rg, err := ParseRange(r.URL.Query(), s.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	}
	start := time.Now()
	res, err := s.Query(r.Context(), p, rg)
	took := time.Since(start)
	w.Header().Set("Server-Timing", fmt.Sprintf(`query;dur=%.2f;desc="panel %s"`, float64(took.Microseconds())/1000, p.Name))
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, result.ErrTimeLimit):
			status = http.StatusGatewayTimeout
		case errors.Is(err, result.ErrReadOnly), errors.Is(err, result.ErrExternalAccess):
			status = http.StatusForbidden
		case r.Context().Err() != nil:
			return // the client went away
		}
		s.log.Warn("dashboard panel failed", "panel", p.Name, "err", err)
		writeJSON(w, status, errorBody{fmt.Sprintf("panel %s: %v", p.Name, err)})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// addLive adds the running pipeline's figures to the first row of a
// pipeline_health result: events/s read (over the last half minute),
// consumer lag in records, watermark delay (the wall clock less the lowest
// partition watermark), the age of the last commit, the last DAG run's
// state. A figure nobody can know yet is null.
func (s *Server) addLive(ctx context.Context, res *result.Set) {
	now := s.now()
	var rate, lag, wmDelay, commitAge, lastRun any
	if rec, ok := s.metric("cartwheel_records_total"); ok {
		if r, ok := s.rate(now, rec); ok {
			rate = math.Round(r*10) / 10
		}
	}
	if s.lag != nil {
		if n, err := s.lag(ctx); err == nil {
			lag = n
		}
	}
	if wm, ok := s.minMetric("cartwheel_watermark_seconds"); ok && wm > 0 {
		wmDelay = math.Round(max(0, float64(now.UnixNano())/1e9-wm)*10) / 10
	}
	if lc, ok := s.metric("cartwheel_last_commit_timestamp_seconds"); ok && lc > 0 {
		commitAge = math.Round(max(0, float64(now.UnixNano())/1e9-lc)*10) / 10
	}
	if s.lastRun != nil {
		if st := s.lastRun(); st != "" {
			lastRun = st
		}
	}
	front := []result.Column{{Name: "events_per_s", Kind: result.KindFloat}, {Name: "consumer_lag", Kind: result.KindInt},
		{Name: "watermark_delay_s", Kind: result.KindFloat}}
	back := []result.Column{{Name: "last_commit_age_s", Kind: result.KindFloat}, {Name: "last_dag_run", Kind: result.KindText}}
	res.Columns = append(append(front, res.Columns...), back...)
	if len(res.Rows) == 0 {
		res.Rows = [][]any{make([]any, len(res.Columns)-len(front)-len(back))}
	}
	for i, row := range res.Rows {
		res.Rows[i] = append(append([]any{rate, lag, wmDelay}, row...), commitAge, lastRun)
	}
}

// rate returns records/s over the last half minute of samples (at least
// one second apart), adding the sample (now, records).
func (s *Server) rate(now time.Time, records float64) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base *sample
	for i := range s.samples {
		sm := &s.samples[i]
		if now.Sub(sm.at) <= 30*time.Second && now.Sub(sm.at) >= time.Second {
			base = sm
			break
		}
	}
	if base == nil && len(s.samples) > 0 && now.Sub(s.samples[len(s.samples)-1].at) >= time.Second {
		base = &s.samples[len(s.samples)-1]
	}
	var r float64
	ok := base != nil
	if ok {
		r = max(0, records-base.records) / now.Sub(base.at).Seconds()
	}
	if len(s.samples) == 0 || now.Sub(s.samples[len(s.samples)-1].at) >= time.Second {
		s.samples = append(s.samples, sample{now, records})
	}
	// Keep the last minute, and at least the newest sample.
	drop := 0
	for drop < len(s.samples)-1 && now.Sub(s.samples[drop].at) > time.Minute {
		drop++
	}
	s.samples = append(s.samples[:0], s.samples[drop:]...)
	return r, ok
}

// metric returns the sum of the values of a counter or gauge family.
func (s *Server) metric(name string) (float64, bool) {
	vals := s.values(name)
	if len(vals) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range vals {
		sum += v
	}
	return sum, true
}

// minMetric returns the lowest value of a gauge family.
func (s *Server) minMetric(name string) (float64, bool) {
	vals := s.values(name)
	if len(vals) == 0 {
		return 0, false
	}
	m := vals[0]
	for _, v := range vals[1:] {
		m = min(m, v)
	}
	return m, true
}

func (s *Server) values(name string) []float64 {
	if s.gatherer == nil {
		return nil
	}
	fams, err := s.gatherer.Gather()
	if err != nil {
		return nil
	}
	var out []float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out = append(out, m.Counter.GetValue())
			case m.Gauge != nil:
				out = append(out, m.Gauge.GetValue())
			}
		}
	}
	return out
}
