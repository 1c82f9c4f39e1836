package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/internal/apitest"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// openDB opens an in-memory DuckDB warehouse (with the streaming schema).
func openDB(t *testing.T) *warehouse.DB {
	t.Helper()
	db, err := warehouse.Open(context.Background(), "duckdb://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// serve runs a request through h and returns the recorded response.
func serve(t *testing.T, h http.Handler, method, path, body string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	// What the CLI's client sends; guard_test.go covers other hosts and
	// content types.
	req.Host = "127.0.0.1:8080"
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h, ok := header["Host"]; ok {
		req.Host = h[0]
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// onLoopback returns s's handler as Serve on a loopback listener sets it
// up: no token needed (the tests of the token are in auth_test.go).
func onLoopback(s *Server) http.Handler {
	s.loopback = true
	return s.Handler()
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func decodeError(t *testing.T, body []byte) string {
	t.Helper()
	var e ErrorResponse
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not an ErrorResponse: %v", body, err)
	}
	return e.Error
}

func TestHealthz(t *testing.T) {
	h := New(&apitest.Querier{}).Handler()
	tests := []struct {
		method string
		status int
		body   string
	}{
		{http.MethodGet, http.StatusOK, "ok\n"},
		{http.MethodHead, http.StatusOK, ""},
		{http.MethodPost, http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			rec := serve(t, h, tc.method, "/healthz", "", nil)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body = %q, want %q", rec.Body.String(), tc.body)
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		status   int
		wantBody string
	}{
		{"default is ready", nil, http.StatusOK, "ready\n"},
		{"check passes", []Option{WithReady(func() error { return nil })}, http.StatusOK, "ready\n"},
		{"check fails", []Option{WithReady(func() error { return errors.New("no batch committed yet") })},
			http.StatusServiceUnavailable, "not ready: no batch committed yet\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, New(&apitest.Querier{}, tc.opts...).Handler(), http.MethodGet, "/readyz", "", nil)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if rec.Body.String() != tc.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tc.wantBody)
			}
		})
	}
}

func TestReadyzIsAskedOnEveryRequest(t *testing.T) {
	var mu sync.Mutex
	var err error
	h := New(&apitest.Querier{}, WithReady(func() error { mu.Lock(); defer mu.Unlock(); return err })).Handler()
	for i, want := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusOK} {
		mu.Lock()
		err = nil
		if want != http.StatusOK {
			err = errors.New("starting")
		}
		mu.Unlock()
		if rec := serve(t, h, http.MethodGet, "/readyz", "", nil); rec.Code != want {
			t.Errorf("request %d: status = %d, want %d", i, rec.Code, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_test_records_total", Help: "Records."})
	reg.MustRegister(c)
	c.Add(42)
	h := onLoopback(New(&apitest.Querier{}, WithGatherer(reg)))

	for _, accept := range []string{"", "application/openmetrics-text; version=1.0.0", "*/*"} {
		t.Run("accept="+accept, func(t *testing.T) {
			hdr := http.Header{}
			if accept != "" {
				hdr.Set("Accept", accept)
			}
			rec := serve(t, h, http.MethodGet, "/metrics", "", hdr)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			// The Prometheus text exposition format (OpenMetrics is not
			// enabled, even when asked for).
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
			}
			if !strings.Contains(rec.Body.String(), "\ncartwheel_test_records_total 42\n") {
				t.Errorf("body lacks the counter:\n%s", rec.Body.String())
			}
			// Only the configured registry is served.
			if strings.Contains(rec.Body.String(), "go_goroutines") {
				t.Errorf("body has metrics of the default registry:\n%s", rec.Body.String())
			}
		})
	}
}

func TestMetricsDefaultGatherer(t *testing.T) {
	rec := serve(t, onLoopback(New(&apitest.Querier{})), http.MethodGet, "/metrics", "", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Fatalf("status %d; want the default registry's go_goroutines in:\n%.500s", rec.Code, rec.Body.String())
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"default", nil, "{}\n"},
		{"reported", []Option{WithStatus(func() any { return map[string]any{"records": 3, "warehouse": "duckdb"} })},
			`{"records":3,"warehouse":"duckdb"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, onLoopback(New(&apitest.Querier{}, tc.opts...)), http.MethodGet, "/api/status", "", nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Body.String() != tc.want {
				t.Errorf("body = %q, want %q", rec.Body.String(), tc.want)
			}
		})
	}
}

func TestIndexAndUnknownPaths(t *testing.T) {
	h := onLoopback(New(&apitest.Querier{}))
	tests := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{http.MethodGet, "/", http.StatusOK, "text/html; charset=utf-8"},
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/api/query", http.StatusMethodNotAllowed, ""},
		{http.MethodPost, "/api/status", http.StatusMethodNotAllowed, ""},
		{http.MethodPost, "/api/models", http.StatusNotFound, ""}, // no action registered
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := serve(t, h, tc.method, tc.path, "", nil)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if tc.contentType != "" {
				if ct := rec.Header().Get("Content-Type"); ct != tc.contentType {
					t.Errorf("Content-Type = %q, want %q", ct, tc.contentType)
				}
				if !strings.Contains(rec.Body.String(), "<h1>Cartwheel</h1>") {
					t.Errorf("index body: %q", rec.Body.String())
				}
			}
		})
	}
}

// TestQueryDuckDB runs POST /api/query against a real in-memory warehouse.
func TestQueryDuckDB(t *testing.T) {
	db := openDB(t)
	const tok = "s3cret"
	h := New(db, WithToken(tok)).Handler()
	tests := []struct {
		name   string
		body   string
		status int
		// want is the exact JSON of a 200; errContains a part of the error
		// of any other status.
		want        string
		errContains string
	}{
		{name: "select", body: `{"sql": "SELECT 1 AS n"}`, status: 200,
			want: `{"columns":[{"name":"n","type":"int"}],"rows":[[1]]}`},
		{name: "typed values", status: 200,
			body: `{"sql": "SELECT 'a' AS s, 1.50::DECIMAL(10,2) AS d, TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, NULL::VARCHAR AS z, true AS b, 2.5::DOUBLE AS f"}`,
			want: `{"columns":[{"name":"s","type":"text"},{"name":"d","type":"decimal"},{"name":"ts","type":"timestamp"},{"name":"z","type":"text"},{"name":"b","type":"bool"},{"name":"f","type":"float"}],` +
				`"rows":[["a",1.50,"2024-01-02T03:04:05.123456Z",null,true,2.5]]}`},
		{name: "no rows is an empty array", body: `{"sql": "SELECT count(*) AS n FROM events WHERE false GROUP BY user_id"}`, status: 200,
			want: `{"columns":[{"name":"n","type":"int"}],"rows":[]}`},
		{name: "streaming table", body: `{"sql": "SELECT count(*) AS n FROM events"}`, status: 200,
			want: `{"columns":[{"name":"n","type":"int"}],"rows":[[0]]}`},
		{name: "with", body: `{"sql": "WITH x AS (SELECT 2 AS v) SELECT v FROM x"}`, status: 200,
			want: `{"columns":[{"name":"v","type":"int"}],"rows":[[2]]}`},
		{name: "unknown fields are ignored", body: `{"sql": "SELECT 1 AS n", "format": "csv"}`, status: 200,
			want: `{"columns":[{"name":"n","type":"int"}],"rows":[[1]]}`},
		{name: "explain", body: `{"sql": "EXPLAIN SELECT 1"}`, status: 200},

		{name: "insert", body: `{"sql": "INSERT INTO cartwheel_meta VALUES ('k', 'v')"}`, status: 403, errContains: "read-only"},
		{name: "create", body: `{"sql": "CREATE TABLE t (x INT)"}`, status: 403, errContains: "read-only"},
		{name: "drop", body: `{"sql": "DROP TABLE events"}`, status: 403, errContains: "read-only"},
		{name: "two selects", body: `{"sql": "SELECT 1; SELECT 2"}`, status: 403, errContains: "single"},
		{name: "select then drop", body: `{"sql": "SELECT 1; DROP TABLE events"}`, status: 403, errContains: "read-only"},
		{name: "copy to file", body: `{"sql": "COPY events TO '/tmp/cartwheel-api-test.csv'"}`, status: 403, errContains: "cannot reach files"},
		{name: "read a file", body: `{"sql": "SELECT content FROM read_text('/etc/passwd')"}`, status: 403, errContains: "cannot reach files"},

		{name: "syntax error", body: `{"sql": "SELEC 1"}`, status: 400, errContains: "syntax"},
		{name: "unknown table", body: `{"sql": "SELECT * FROM no_such_table"}`, status: 400, errContains: "no_such_table"},
		{name: "empty body", body: ``, status: 400, errContains: `{"sql": "..."}`},
		{name: "empty object", body: `{}`, status: 400, errContains: `{"sql": "..."}`},
		{name: "blank sql", body: `{"sql": " \n\t "}`, status: 400, errContains: `{"sql": "..."}`},
		{name: "not json", body: `SELECT 1`, status: 400, errContains: `{"sql": "..."}`},
		{name: "sql not a string", body: `{"sql": 1}`, status: 400, errContains: `{"sql": "..."}`},
		{name: "over 1 MiB", body: `{"sql": "SELECT '` + strings.Repeat("x", 1<<20) + `'"}`, status: 413, errContains: "larger than 1 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, h, http.MethodPost, "/api/query", tc.body, bearer(tok))
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %.300s", rec.Code, tc.status, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.status == http.StatusOK {
				body := rec.Body.String()
				res, err := result.Decode(strings.NewReader(body))
				if err != nil {
					t.Fatalf("answer is not a Result: %v", err)
				}
				if len(res.Columns) == 0 {
					t.Errorf("no columns in %+v", res)
				}
				if got := strings.TrimSpace(body); tc.want != "" && got != tc.want {
					t.Errorf("body\n got %s\nwant %s", got, tc.want)
				}
				return
			}
			if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.errContains)) {
				t.Errorf("error %q does not contain %q", msg, tc.errContains)
			}
		})
	}

	// Nothing above changed the warehouse.
	res, err := db.Query(context.Background(), "SELECT count(*) FROM cartwheel_meta WHERE key = 'k'")
	if err != nil {
		t.Fatalf("the streaming tables are gone after the rejected statements: %v", err)
	}
	if n := res.Rows[0][0]; n != int64(0) {
		t.Errorf("cartwheel_meta has %v rows written through the API", n)
	}
	if _, err := db.Query(context.Background(), "SELECT * FROM t"); err == nil {
		t.Error("table t was created through the API")
	}
}

// TestQueryStatusMapping checks how the querier's errors map to statuses,
// and that a bad request never reaches the querier.
func TestQueryStatusMapping(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		err       error
		status    int
		wantError string
		wantCalls []string
	}{
		{"read-only violation", `{"sql":"DELETE FROM events"}`, result.ErrReadOnly, 403, result.ErrReadOnly.Error(), []string{"DELETE FROM events"}},
		{"wrapped read-only violation", `{"sql":"x"}`, fmt.Errorf("check: %w", result.ErrReadOnly), 403, "check: " + result.ErrReadOnly.Error(), []string{"x"}},
		{"time limit", `{"sql":"SELECT slow"}`, fmt.Errorf("%w of 30s", result.ErrTimeLimit), 504, result.ErrTimeLimit.Error() + " of 30s", []string{"SELECT slow"}},
		{"other error", `{"sql":"SELECT nope"}`, errors.New(`column "nope" not found`), 400, `column "nope" not found`, []string{"SELECT nope"}},
		{"sql passed as is", `{"sql":"  SELECT 1 -- c\n"}`, errors.New("e"), 400, "e", []string{"  SELECT 1 -- c\n"}},
		{"blank never reaches the querier", `{"sql":"  "}`, nil, 400, `body must be {"sql": "..."}`, nil},
		{"bad json never reaches the querier", `{"sql":`, nil, 400, `body must be {"sql": "..."}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &apitest.Querier{Err: tc.err}
			rec := serve(t, New(q, WithToken("t")).Handler(), http.MethodPost, "/api/query", tc.body, bearer("t"))
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if got := decodeError(t, rec.Body.Bytes()); got != tc.wantError {
				t.Errorf("error = %q, want %q", got, tc.wantError)
			}
			if got := q.Queries(); fmt.Sprint(got) != fmt.Sprint(tc.wantCalls) {
				t.Errorf("querier got %q, want %q", got, tc.wantCalls)
			}
		})
	}
}

// TestAuthWithoutServe: a handler that was not started by Serve does not
// know it is on loopback, so every POST needs the token.
func TestAuthWithoutServe(t *testing.T) {
	const tok = "correct-horse-battery-staple"
	tests := []struct {
		name   string
		token  string // configured
		header []string
		status int
	}{
		{"no token configured, no header", "", nil, 401},
		{"no token configured, empty bearer", "", []string{"Bearer "}, 401},
		{"no token configured, some bearer", "", []string{"Bearer x"}, 401},
		{"no header", tok, nil, 401},
		{"empty bearer", tok, []string{"Bearer "}, 401},
		{"wrong token of the same length", tok, []string{"Bearer " + strings.Repeat("x", len(tok))}, 401},
		{"prefix of the token", tok, []string{"Bearer " + tok[:len(tok)-1]}, 401},
		{"token with a suffix", tok, []string{"Bearer " + tok + "x"}, 401},
		{"token with trailing space", tok, []string{"Bearer " + tok + " "}, 401},
		{"other scheme", tok, []string{"Basic " + tok}, 401},
		{"correct token", tok, []string{"Bearer " + tok}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &apitest.Querier{Result: &result.Set{Columns: []result.Column{{Name: "n", Kind: result.KindInt}}, Rows: [][]any{{int64(1)}}}}
			var opts []Option
			if tc.token != "" {
				opts = append(opts, WithToken(tc.token))
			}
			h := New(q, opts...).Handler()
			rec := serve(t, h, http.MethodPost, "/api/query", `{"sql":"SELECT 1"}`, http.Header{"Authorization": tc.header})
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if tc.status == http.StatusUnauthorized {
				if got := decodeError(t, rec.Body.Bytes()); got != "missing or wrong token" {
					t.Errorf("error = %q", got)
				}
				if n := len(q.Queries()); n != 0 {
					t.Errorf("an unauthorized request ran %d queries", n)
				}
			}
		})
	}
}

// TestAuthRawTokenWithoutScheme: the README asks for
// "Authorization: Bearer $token"; the bare token (auth once cut the
// "Bearer " prefix only when present) is refused.
func TestAuthRawTokenWithoutScheme(t *testing.T) {
	rec := serve(t, New(&apitest.Querier{}, WithToken("tok")).Handler(), http.MethodPost, "/api/query", `{"sql":"SELECT 1"}`,
		http.Header{"Authorization": {"tok"}})
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", rec.Code)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate = %q, want Bearer", got)
	}
}

// TestAuthScheme: the scheme is case-insensitive (RFC 7235) and must be
// Bearer, followed by the token after one or more spaces.
func TestAuthScheme(t *testing.T) {
	tests := []struct {
		header string
		status int
	}{
		{"Bearer tok", 200},
		{"bearer tok", 200},
		{"BEARER tok", 200},
		{"Bearer   tok", 200},
		{"tok", 401},
		{"Bearertok", 401},
		{"Bearer", 401},
		{"Bearer\ttok", 401},
		{"Token tok", 401},
		{"Bearer Bearer tok", 401},
	}
	h := New(&apitest.Querier{Result: &result.Set{Columns: []result.Column{{Name: "n", Kind: result.KindInt}}, Rows: [][]any{{int64(1)}}}},
		WithToken("tok")).Handler()
	for _, tc := range tests {
		rec := serve(t, h, http.MethodPost, "/api/query", `{"sql":"SELECT 1"}`, http.Header{"Authorization": {tc.header}})
		if rec.Code != tc.status {
			t.Errorf("Authorization %q: status = %d, want %d", tc.header, rec.Code, tc.status)
		}
	}
}

func TestActions(t *testing.T) {
	type got struct {
		body string
		ctx  bool
	}
	var mu sync.Mutex
	var calls []got
	echo := func(ctx context.Context, body io.Reader) (any, int) {
		b, _ := io.ReadAll(body)
		mu.Lock()
		calls = append(calls, got{string(b), ctx != nil})
		mu.Unlock()
		return map[string]string{"echo": string(b)}, http.StatusAccepted
	}
	fail := func(context.Context, io.Reader) (any, int) {
		return ErrorResponse{"boom"}, http.StatusInternalServerError
	}
	h := New(&apitest.Querier{}, WithToken("tok"), WithAction("/api/models", echo), WithAction("/api/other", fail)).Handler()

	tests := []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		want                     string
	}{
		{"action", http.MethodPost, "/api/models", `{"command":"build"}`, bearer("tok"), 202, `{"echo":"{\"command\":\"build\"}"}`},
		{"second action", http.MethodPost, "/api/other", ``, bearer("tok"), 500, `{"error":"boom"}`},
		{"action needs the token", http.MethodPost, "/api/models", `{}`, nil, 401, `{"error":"missing or wrong token"}`},
		{"action with a wrong token", http.MethodPost, "/api/models", `{}`, bearer("nope"), 401, `{"error":"missing or wrong token"}`},
		{"actions are POST only", http.MethodGet, "/api/models", ``, bearer("tok"), 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, h, tc.method, tc.path, tc.body, tc.header)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if tc.want != "" {
				if got := strings.TrimSpace(rec.Body.String()); got != tc.want {
					t.Errorf("body = %s, want %s", got, tc.want)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0].body != `{"command":"build"}` || !calls[0].ctx {
		t.Errorf("echo action calls = %+v, want exactly the authorized one", calls)
	}
}

// TestPOSTRoutes: a WithPOST route sees its path values and, like every
// action, needs the token off loopback.
func TestPOSTRoutes(t *testing.T) {
	h := New(&apitest.Querier{}, WithToken("tok"), WithPOST("/api/things/{name}/poke", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"poked": r.PathValue("name")})
	}))).Handler()
	rec := serve(t, h, http.MethodPost, "/api/things/a%2Fb/poke", `{}`, bearer("tok"))
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != `{"poked":"a/b"}` {
		t.Errorf("POST with the token: %d %s", rec.Code, got)
	}
	if rec := serve(t, h, http.MethodPost, "/api/things/x/poke", `{}`, nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("POST without the token: %d, want 401", rec.Code)
	}
	if rec := serve(t, h, http.MethodGet, "/api/things/x/poke", ``, bearer("tok")); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a POST route: %d, want 405", rec.Code)
	}
}

// addrListener is a loopback listener that reports another address, to
// test how Serve treats a server reachable from other hosts without
// sending anything off this machine.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startServe runs s.Serve on ln and returns the base URL of the real
// listener, a client, and a stop function that returns Serve's result.
func startServe(t *testing.T, s *Server, ln net.Listener, realAddr string) (string, *http.Client, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	tr := &http.Transport{}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			tr.CloseIdleConnections()
			cancel()
			select {
			case serveErr = <-errc:
			case <-time.After(10 * time.Second):
				serveErr = errors.New("Serve did not return after its context ended")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		stop()
		tr.CloseIdleConnections()
	})
	return "http://" + realAddr, client, stop
}

func post(t *testing.T, c *http.Client, url, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeLoopbackNeedsNoToken(t *testing.T) {
	for _, network := range []struct{ name, addr string }{{"ipv4", "127.0.0.1:0"}, {"ipv6", "[::1]:0"}} {
		t.Run(network.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", network.addr)
			if err != nil {
				t.Skipf("no %s loopback here: %v", network.name, err)
			}
			q := &apitest.Querier{Result: &result.Set{Columns: []result.Column{{Name: "n", Kind: result.KindInt}}, Rows: [][]any{{int64(7)}}}}
			base, c, stop := startServe(t, New(q, WithToken("tok")), ln, ln.Addr().String())
			for _, hdr := range []http.Header{nil, bearer("wrong"), bearer("tok")} {
				status, body := post(t, c, base+"/api/query", `{"sql":"SELECT 7"}`, hdr)
				if status != http.StatusOK || strings.TrimSpace(body) != `{"columns":[{"name":"n","type":"int"}],"rows":[[7]]}` {
					t.Errorf("Authorization %q on loopback: %d %s", hdr.Get("Authorization"), status, body)
				}
			}
			if err := stop(); err != nil {
				t.Errorf("Serve after cancel = %v, want nil", err)
			}
		})
	}
}

func TestServeWithoutTokenOffLoopbackRefuses(t *testing.T) {
	for _, ip := range []net.IP{net.IPv4zero, net.IPv6unspecified, net.ParseIP("192.0.2.10")} {
		t.Run(ip.String(), func(t *testing.T) {
			ln := listenLoopback(t)
			defer ln.Close()
			err := New(&apitest.Querier{}).Serve(context.Background(), addrListener{ln, &net.TCPAddr{IP: ip, Port: 8080}})
			if err == nil || !strings.Contains(err.Error(), "without a token") {
				t.Fatalf("Serve = %v, want a refusal without a token", err)
			}
		})
	}
}

func TestServeOffLoopbackNeedsToken(t *testing.T) {
	ln := listenLoopback(t)
	real := ln.Addr().String()
	q := &apitest.Querier{Result: &result.Set{Columns: []result.Column{}, Rows: [][]any{}}}
	s := New(q, WithToken("tok"), WithAction("/api/models", func(context.Context, io.Reader) (any, int) { return "done", 200 }))
	base, c, stop := startServe(t, s, addrListener{ln, &net.TCPAddr{IP: net.IPv4zero, Port: 8080}}, real)

	tests := []struct {
		path   string
		header http.Header
		status int
	}{
		{"/api/query", nil, 401},
		{"/api/query", bearer("wrong"), 401},
		{"/api/query", bearer("tok"), 200},
		{"/api/models", nil, 401},
		{"/api/models", bearer("tok"), 200},
	}
	for _, tc := range tests {
		status, body := post(t, c, base+tc.path, `{"sql":"SELECT 1"}`, tc.header)
		if status != tc.status {
			t.Errorf("POST %s with %q: status %d (%s), want %d", tc.path, tc.header.Get("Authorization"), status, body, tc.status)
		}
	}
	// GETs stay open.
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

func TestServeClosedListener(t *testing.T) {
	ln := listenLoopback(t)
	ln.Close()
	if err := New(&apitest.Querier{}).Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
}

// TestServeShutdownIsGraceful: a request in flight when the context ends
// still gets its answer, and Serve returns once it has.
func TestServeShutdownIsGraceful(t *testing.T) {
	ln := listenLoopback(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context, io.Reader) (any, int) {
		close(entered)
		<-release
		return "finished", http.StatusOK
	}
	base, c, stop := startServe(t, New(&apitest.Querier{}, WithAction("/api/slow", slow)), ln, ln.Addr().String())

	type answer struct {
		status int
		body   string
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/slow", nil)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			done <- answer{-1, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, string(b)}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if a := <-done; a.status != http.StatusOK || strings.TrimSpace(a.body) != `"finished"` {
		t.Errorf("in-flight request: %d %q", a.status, a.body)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	// The listener is closed: nothing serves any more.
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts connections after shutdown")
	}
}
