package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// fakeQuerier answers every query with res or err and records them.
type fakeQuerier struct {
	mu      sync.Mutex
	queries []string
	res     *warehouse.Result
	err     error
}

func (f *fakeQuerier) QueryReadOnly(_ context.Context, q string, _ ...any) (*warehouse.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return f.res, f.err
}

// runningAppliance pretends an appliance holds dbPath: it takes the
// appliance lock and writes the runtime file for srv with token.
func runningAppliance(t *testing.T, dbPath string, srv *httptest.Server, token string) {
	t.Helper()
	l, err := lockAppliance(shortCtx(t, 5*time.Second), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Unlock() })
	addr := strings.TrimPrefix(srv.URL, "http://")
	if err := writeRuntime(dbPath, runtimeInfo{PID: 1, HTTP: addr, Token: token}); err != nil {
		t.Fatal(err)
	}
}

// TestQueryThroughRunningAppliance: with the DuckDB file held, Query asks
// the appliance's API, with the token of its runtime file.
func TestQueryThroughRunningAppliance(t *testing.T) {
	ts := time.Date(2026, 11, 1, 12, 0, 0, 123456000, time.UTC)
	q := &fakeQuerier{res: &warehouse.Result{
		Columns: []warehouse.Column{{Name: "n", Kind: warehouse.KindInt}, {Name: "revenue", Kind: warehouse.KindDecimal},
			{Name: "at", Kind: warehouse.KindTimestamp}, {Name: "user", Kind: warehouse.KindText}},
		Rows: [][]any{{int64(9007199254740993), warehouse.Decimal("12345678901234567.89"), ts, "u\"1"}},
	}}
	// httptest serves the handler without Serve: like a non-loopback
	// server it wants the token.
	srv := httptest.NewServer(api.New(q, api.WithToken("tok")).Handler())
	defer srv.Close()

	tests := []struct {
		name    string
		token   string
		err     error
		wantErr string
	}{
		{"answer", "tok", nil, ""},
		{"wrong token in the runtime file", "nope", nil, "missing or wrong token"},
		{"read-only violation", "tok", warehouse.ErrReadOnly, warehouse.ErrReadOnly.Error()},
		{"bad SQL", "tok", errors.New(`Parser Error: syntax error at or near "SELEC"`), `Parser Error: syntax error at or near "SELEC"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "w.duckdb")
			runningAppliance(t, db, srv, tc.token)
			q.mu.Lock()
			q.err, q.queries = tc.err, nil
			q.mu.Unlock()

			res, err := Query(shortCtx(t, 10*time.Second), "duckdb://"+db, "SELECT 1")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Query = %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Exact values survive the trip: int64 beyond float precision,
			// decimals, UTC microseconds.
			want := q.res
			if len(res.Rows) != 1 || len(res.Columns) != 4 {
				t.Fatalf("Query = %+v", res)
			}
			for i, v := range res.Rows[0] {
				if v != want.Rows[0][i] {
					t.Errorf("column %s = %#v, want %#v", res.Columns[i].Name, v, want.Rows[0][i])
				}
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			if len(q.queries) != 1 || q.queries[0] != "SELECT 1" {
				t.Errorf("the appliance got %q", q.queries)
			}
		})
	}
}

func TestQueryApplianceNotAnswering(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	db := filepath.Join(t.TempDir(), "w.duckdb")
	runningAppliance(t, db, srv, "tok")
	srv.Close() // the runtime file points at a closed port
	_, err := Query(shortCtx(t, 10*time.Second), "duckdb://"+db, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "ask the running appliance") {
		t.Fatalf("Query = %v", err)
	}
}

func TestQueryApplianceAnswersNonJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "gateway trouble", http.StatusBadGateway)
	}))
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "w.duckdb")
	runningAppliance(t, db, srv, "tok")
	_, err := Query(shortCtx(t, 10*time.Second), "duckdb://"+db, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Fatalf("Query = %v, want the HTTP status", err)
	}
}

// TestQueryDirect: with no appliance, Query opens the file read-only.
func TestQueryDirect(t *testing.T) {
	ctx := shortCtx(t, 30*time.Second)
	db := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := warehouse.Open(ctx, "duckdb://"+db)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx, "INSERT INTO cartwheel_meta VALUES ('probe', 'x')"); err != nil {
		w.Close()
		t.Fatal(err)
	}
	w.Close()

	tests := []struct {
		name, sql string
		want      any
		wantErr   error
	}{
		{"select", "SELECT value FROM cartwheel_meta WHERE key = 'probe'", "x", nil},
		{"streaming table", "SELECT count(*) FROM events", int64(0), nil},
		{"write refused", "DELETE FROM cartwheel_meta", nil, warehouse.ErrReadOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Query(ctx, "duckdb://"+db, tc.sql)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Query = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) != 1 || res.Rows[0][0] != tc.want {
				t.Errorf("Query = %+v, want %v", res.Rows, tc.want)
			}
		})
	}
	// Query released its shared lock: an appliance may start at once.
	l := flock.New(lockPath(db))
	if ok, err := l.TryLock(); !ok || err != nil {
		t.Fatalf("the appliance lock is still held after Query: %v %v", ok, err)
	}
	l.Unlock()
}

func TestQueryDirectMissingFile(t *testing.T) {
	_, err := Query(shortCtx(t, 30*time.Second), "duckdb://"+filepath.Join(t.TempDir(), "missing.duckdb"), "SELECT 1")
	if err == nil {
		t.Fatal("Query of a missing DuckDB file succeeded")
	}
}

func TestRunModelsUnknownCommand(t *testing.T) {
	for _, cmd := range []string{"", "docs", "BUILD"} {
		err := RunModels(context.Background(), nil, nil, ModelsRequest{Command: cmd}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "unknown models command") {
			t.Errorf("RunModels(%q) = %v", cmd, err)
		}
	}
}

func TestModelsRequestOptions(t *testing.T) {
	tests := []struct {
		name    string
		req     ModelsRequest
		wantErr string
	}{
		{"no vars", ModelsRequest{Command: "run"}, ""},
		{"vars", ModelsRequest{Command: "run", Vars: "{snapshot_at: null}", Threads: 2, Select: []string{"+x"}}, ""},
		{"vars not a mapping", ModelsRequest{Command: "run", Vars: "[1, 2]"}, "--vars must be a YAML mapping"},
		{"vars not yaml", ModelsRequest{Command: "run", Vars: "{a: [}"}, "--vars must be a YAML mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.req.options(io.Discard)
			if tc.wantErr == "" {
				if err != nil || len(opts) == 0 {
					t.Fatalf("options = %d, %v", len(opts), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("options error = %v, want %q", err, tc.wantErr)
			}
			// RunModels reports it before running anything.
			if err := RunModels(context.Background(), nil, nil, tc.req, io.Discard); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("RunModels = %v", err)
			}
		})
	}
}

func TestModelsHandlerRequests(t *testing.T) {
	h := modelsHandler(nil, nil) // no request below reaches the runner
	tests := []struct {
		name      string
		body      string
		status    int
		wantError string
	}{
		{"not json", "build", http.StatusBadRequest, "bad request: "},
		{"empty", "", http.StatusBadRequest, "bad request: "},
		{"wrong type", `{"command": 1}`, http.StatusBadRequest, "bad request: "},
		{"unknown command", `{"command": "deploy"}`, http.StatusOK, `unknown models command "deploy" (want run, test or build)`},
		{"bad vars", `{"command": "build", "vars": "[1]"}`, http.StatusOK, "--vars must be a YAML mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, status := h(context.Background(), strings.NewReader(tc.body))
			if status != tc.status {
				t.Fatalf("status = %d, want %d", status, tc.status)
			}
			resp, ok := v.(ModelsResponse)
			if !ok {
				t.Fatalf("answer %T, want ModelsResponse", v)
			}
			if !strings.HasPrefix(resp.Error, tc.wantError) || resp.Failed {
				t.Errorf("answer %+v, want error starting %q", resp, tc.wantError)
			}
		})
	}
}

// TestModelsThroughRunningAppliance: `cartwheel models` against a held
// DuckDB file posts the request to /api/models with the token and maps the
// answer.
func TestModelsThroughRunningAppliance(t *testing.T) {
	tests := []struct {
		name     string
		answer   any
		status   int
		wantOut  string
		wantErr  string
		isFailed bool
	}{
		{"success", ModelsResponse{Output: "OK created view stg_events\n"}, 200, "OK created view stg_events\n", "", false},
		{"a node failed", ModelsResponse{Output: "FAIL not_null\n", Failed: true}, 200, "FAIL not_null\n", "", true},
		{"error", ModelsResponse{Output: "partial\n", Error: "load project: boom"}, 200, "partial\n", "load project: boom", false},
		{"unauthorized", api.ErrorResponse{Error: "missing or wrong token"}, 401, "", "missing or wrong token", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				auth string
				req  ModelsRequest
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/api/models" {
					http.NotFound(w, r)
					return
				}
				got.auth = r.Header.Get("Authorization")
				json.NewDecoder(r.Body).Decode(&got.req)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				json.NewEncoder(w).Encode(tc.answer)
			}))
			defer srv.Close()
			db := filepath.Join(t.TempDir(), "w.duckdb")
			runningAppliance(t, db, srv, "tok")

			cfg := DefaultConfig()
			cfg.Warehouse = "duckdb://" + db
			req := ModelsRequest{Command: "build", Select: []string{"+fct_daily_revenue"}, FullRefresh: true, Vars: "{a: 1}", Threads: 3}
			var out bytes.Buffer
			err := Models(shortCtx(t, 10*time.Second), cfg, req, &out)
			switch {
			case tc.isFailed:
				if !errors.Is(err, models.ErrFailed) {
					t.Errorf("Models = %v, want models.ErrFailed", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Models = %v, want %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Errorf("Models = %v", err)
				}
			}
			if out.String() != tc.wantOut {
				t.Errorf("output %q, want %q", out.String(), tc.wantOut)
			}
			if got.auth != "Bearer tok" {
				t.Errorf("Authorization = %q", got.auth)
			}
			if got.req.Command != "build" || len(got.req.Select) != 1 || !got.req.FullRefresh || got.req.Vars != "{a: 1}" || got.req.Threads != 3 {
				t.Errorf("request = %+v", got.req)
			}
		})
	}
}

func TestLoadProject(t *testing.T) {
	if _, err := LoadProject(DefaultConfig()); err != nil {
		t.Fatalf("the built-in project does not load: %v", err)
	}
	cfg := DefaultConfig()
	cfg.Project = filepath.Join(t.TempDir(), "nope")
	_, err := LoadProject(cfg)
	if err == nil || !strings.Contains(err.Error(), "load "+cfg.Project) {
		t.Fatalf("LoadProject of a missing dir = %v, want an error naming it", err)
	}
}
