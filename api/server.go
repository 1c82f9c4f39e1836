// Package api serves Cartwheel's HTTP interface: health and readiness,
// Prometheus metrics, and read-only SQL for `cartwheel query` and tools.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cartwheel-analytics/cartwheel/internal/authlimit"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// Querier runs read-only SQL; *warehouse.DB implements it.
type Querier interface {
	QueryReadOnly(ctx context.Context, query string, args ...any) (*result.Set, error)
}

// Server is the HTTP server of a running appliance.
type Server struct {
	q        Querier
	gatherer prometheus.Gatherer
	token    string
	ready    func() error
	log      *slog.Logger
	status   func() any
	mux      *http.ServeMux
	loopback bool
	actions  map[string]Action
	// hosts are the names besides loopback ones and IP literals that a
	// request's Host may carry (guard).
	hosts     []string
	bodyLimit int64
	handler   http.Handler
	// gets are extra GET routes by path pattern (WithGET).
	gets map[string]http.Handler
	// posts are extra POST routes by path pattern (WithPOST).
	posts map[string]http.Handler
	// limiter counts wrong tokens per client address off loopback.
	limiter *authlimit.Limiter
}

// Action is a POST endpoint: it reads the request body and returns a value
// to send as JSON with a status code.
type Action func(ctx context.Context, body io.Reader) (any, int)

// WithAction adds a POST endpoint at path (e.g. "/api/models"); like every
// action it needs the token when the server is not bound to loopback.
func WithAction(path string, a Action) Option {
	return func(s *Server) {
		if s.actions == nil {
			s.actions = make(map[string]Action)
		}
		s.actions[path] = a
	}
}

// Option configures a Server.
type Option func(*Server)

// WithGET adds a GET (and HEAD) route at a path pattern of net/http's
// ServeMux, e.g. "/api/panels/{name}"; pattern "/{$}" replaces the
// placeholder index page. The routes are behind the same guard as every
// other route (Host allowlist, body limit, the token off loopback).
func WithGET(pattern string, h http.Handler) Option {
	return func(s *Server) {
		if s.gets == nil {
			s.gets = make(map[string]http.Handler)
		}
		s.gets[pattern] = h
	}
}

// WithPOST adds a POST route at a path pattern of net/http's ServeMux,
// e.g. "/api/dags/{name}/trigger", for actions that need the path's values
// (r.PathValue). Like every action it is behind the guard (JSON only, no
// cross-origin request) and needs the token when the server is not bound
// to loopback.
func WithPOST(pattern string, h http.Handler) Option {
	return func(s *Server) {
		if s.posts == nil {
			s.posts = make(map[string]http.Handler)
		}
		s.posts[pattern] = h
	}
}

// WithToken sets the token every request but the probes needs when the
// server is not bound to loopback (requireAuth).
func WithToken(t string) Option { return func(s *Server) { s.token = t } }

// WithAuthLimiter sets how wrong tokens are counted per client address
// (default: authlimit.New(), 10 in a burst, then one every 6 s).
func WithAuthLimiter(l *authlimit.Limiter) Option { return func(s *Server) { s.limiter = l } }

// WithGatherer sets the metrics served on /metrics.
func WithGatherer(g prometheus.Gatherer) Option { return func(s *Server) { s.gatherer = g } }

// WithReady sets the readiness check of /readyz.
func WithReady(f func() error) Option { return func(s *Server) { s.ready = f } }

// WithStatus sets what GET /api/status reports.
func WithStatus(f func() any) Option { return func(s *Server) { s.status = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a server over q.
func New(q Querier, opts ...Option) *Server {
	s := &Server{q: q, gatherer: prometheus.DefaultGatherer, ready: func() error { return nil }, log: slog.Default(),
		status: func() any { return map[string]string{} }, bodyLimit: DefaultBodyLimit, limiter: authlimit.New()}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /api/query", s.query)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("GET /login.js", loginScript)
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("POST /api/logout", s.logout)
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.status()) })
	if s.gets["/{$}"] == nil {
		mux.HandleFunc("GET /{$}", s.index)
	}
	for pattern, h := range s.gets {
		mux.Handle("GET "+pattern, h)
	}
	for path, a := range s.actions {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			v, status := a(r.Context(), r.Body)
			writeJSON(w, status, v)
		})
	}
	for pattern, h := range s.posts {
		mux.Handle("POST "+pattern, h)
	}
	s.mux = mux
	s.handler = s.guard(s.requireAuth(mux))
	return s
}

// Handler returns the server's routes behind its guard (Host, origin,
// content type and body size checks).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is done, then shuts down gracefully with a
// fresh timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.loopback = isLoopback(ln.Addr())
	if !s.loopback && s.token == "" {
		return errors.New("refusing to serve on a non-loopback address without a token (set token or CARTWHEEL_TOKEN)")
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// bearerToken returns the credentials of an Authorization header of the
// Bearer scheme (matched case-insensitively, followed by one or more
// spaces), and false for any other header.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(token, " "), true
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.ready(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ready\n")
}

// QueryRequest is the body of POST /api/query.
type QueryRequest struct {
	SQL string `json:"sql"`
}

// ErrorResponse is the body of a failed request.
type ErrorResponse struct {
	Error string `json:"error"`
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	var req QueryRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || strings.TrimSpace(req.SQL) == "" {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{bodyTooLarge(tooLarge.Limit)})
			return
		}
		writeJSON(w, http.StatusBadRequest, ErrorResponse{"body must be {\"sql\": \"...\"}"})
		return
	}
	res, err := s.q.QueryReadOnly(r.Context(), req.SQL)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, result.ErrReadOnly), errors.Is(err, result.ErrExternalAccess):
			status = http.StatusForbidden
		case errors.Is(err, result.ErrTimeLimit):
			status = http.StatusGatewayTimeout
		}
		writeJSON(w, status, ErrorResponse{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, indexHTML)
}

const indexHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Cartwheel</title><link rel="icon" href="data:,"></head>
<body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>Cartwheel</h1>
<p>The appliance is running. Endpoints: <a href="/api/status">/api/status</a>, <a href="/metrics">/metrics</a>,
<a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>; <code>POST /api/query</code> runs read-only SQL
(<code>cartwheel query "SELECT …"</code> uses it).</p>
</body></html>
`
