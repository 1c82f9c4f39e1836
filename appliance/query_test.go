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
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/api/client"
	"github.com/cartwheel-analytics/cartwheel/internal/apitest"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

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
	answer := &result.Set{
		Columns: []result.Column{{Name: "n", Kind: result.KindInt}, {Name: "revenue", Kind: result.KindDecimal},
			{Name: "at", Kind: result.KindTimestamp}, {Name: "user", Kind: result.KindText}},
		Rows: [][]any{{int64(9007199254740993), result.Decimal("12345678901234567.89"), ts, "u\"1"}},
	}
	q := &apitest.Querier{Result: answer}
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
		{"read-only violation", "tok", result.ErrReadOnly, result.ErrReadOnly.Error()},
		{"bad SQL", "tok", errors.New(`Parser Error: syntax error at or near "SELEC"`), `Parser Error: syntax error at or near "SELEC"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "w.duckdb")
			runningAppliance(t, db, srv, tc.token)
			q.Answer(answer, tc.err)

			res, err := Query(shortCtx(t, 10*time.Second), dsnConfig("duckdb://"+db), "SELECT 1")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Query = %v, want error %q", err, tc.wantErr)
				}
				if errors.Is(tc.err, result.ErrReadOnly) && !errors.Is(err, result.ErrReadOnly) {
					t.Errorf("Query = %v, not result.ErrReadOnly", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Exact values survive the trip: int64 beyond float precision,
			// decimals, UTC microseconds.
			want := answer
			if len(res.Rows) != 1 || len(res.Columns) != 4 {
				t.Fatalf("Query = %+v", res)
			}
			for i, v := range res.Rows[0] {
				if v != want.Rows[0][i] {
					t.Errorf("column %s = %#v, want %#v", res.Columns[i].Name, v, want.Rows[0][i])
				}
			}
			if got := q.Queries(); len(got) != 1 || got[0] != "SELECT 1" {
				t.Errorf("the appliance got %q", got)
			}
		})
	}
}

func TestQueryApplianceNotAnswering(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	db := filepath.Join(t.TempDir(), "w.duckdb")
	runningAppliance(t, db, srv, "tok")
	srv.Close() // the runtime file points at a closed port
	_, err := Query(shortCtx(t, 10*time.Second), dsnConfig("duckdb://"+db), "SELECT 1")
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
	_, err := Query(shortCtx(t, 10*time.Second), dsnConfig("duckdb://"+db), "SELECT 1")
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
		{"write refused", "DELETE FROM cartwheel_meta", nil, result.ErrReadOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Warehouse = "duckdb://" + db
			res, err := Query(ctx, cfg, tc.sql)
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
	_, err := Query(shortCtx(t, 30*time.Second), dsnConfig("duckdb://"+filepath.Join(t.TempDir(), "missing.duckdb")), "SELECT 1")
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

// TestModelsHandlerRequests: a request that cannot run is a 400 with the
// reason, before anything runs (the handler has no warehouse here).
func TestModelsHandlerRequests(t *testing.T) {
	p, err := LoadProject(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := modelsHandler(nil, p)
	tests := []struct {
		name      string
		body      string
		wantError string
	}{
		{"not json", "build", "bad request: "},
		{"empty", "", "bad request: "},
		{"wrong type", `{"command": 1}`, "bad request: "},
		{"unknown field", `{"command": "build", "selct": ["x"]}`, `bad request: json: unknown field "selct"`},
		{"no command", `{}`, `unknown models command "" (want run, test or build)`},
		{"unknown command", `{"command": "deploy"}`, `unknown models command "deploy" (want run, test or build)`},
		{"bad vars", `{"command": "build", "vars": "[1]"}`, "--vars must be a YAML mapping"},
		{"bad selector", `{"command": "run", "select": ["nope:x"]}`, `unknown selector method "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, status := h(context.Background(), strings.NewReader(tc.body))
			if status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", status)
			}
			resp, ok := v.(api.ModelsResponse)
			if !ok {
				t.Fatalf("answer %T, want api.ModelsResponse", v)
			}
			if !strings.HasPrefix(resp.Error, tc.wantError) || resp.Failed || resp.Output != "" {
				t.Errorf("answer %+v, want error starting %q", resp, tc.wantError)
			}
		})
	}
}

// TestModelsHandlerRuns: a command that runs is a 200 with its output; a
// run that breaks off is a 500 with the error.
func TestModelsHandlerRuns(t *testing.T) {
	ctx := shortCtx(t, time.Minute)
	db, err := warehouse.Open(ctx, "duckdb://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := LoadProject(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := modelsHandler(db, p)
	body := `{"command": "run", "select": ["stg_events"]}`
	v, status := h(ctx, strings.NewReader(body))
	if resp := v.(api.ModelsResponse); status != http.StatusOK || resp.Error != "" || resp.Failed || !strings.Contains(resp.Output, "stg_events") {
		t.Errorf("run = %d %+v, want 200 with the model's line", status, resp)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	v, status = h(canceled, strings.NewReader(body))
	if resp := v.(api.ModelsResponse); status != http.StatusInternalServerError || !strings.Contains(resp.Error, "context canceled") {
		t.Errorf("run on a canceled context = %d %+v, want 500 with the error", status, resp)
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
		{"success", api.ModelsResponse{Output: "OK created view stg_events\n"}, 200, "OK created view stg_events\n", "", false},
		{"a node failed", api.ModelsResponse{Output: "FAIL not_null\n", Failed: true}, 200, "FAIL not_null\n", "", true},
		{"broke off", api.ModelsResponse{Output: "partial\n", Error: "warehouse gone"}, 500, "partial\n", "warehouse gone", false},
		{"bad request", api.ModelsResponse{Error: `unknown models command "x"`}, 400, "", `unknown models command "x"`, false},
		{"error of an earlier appliance", api.ModelsResponse{Output: "partial\n", Error: "load project: boom"}, 200, "partial\n", "load project: boom", false},
		{"unauthorized", api.ErrorResponse{Error: "missing or wrong token"}, 401, "", "missing or wrong token", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				auth string
				req  api.ModelsRequest
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

// TestModelsBadRequestThroughTheAPI: through the API server and the client,
// a request that cannot run comes back as a 400 with the reason.
func TestModelsBadRequestThroughTheAPI(t *testing.T) {
	p, err := LoadProject(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(&apitest.Querier{}, api.WithToken("tok"), api.WithAction("/api/models", modelsHandler(nil, p))).Handler())
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "w.duckdb")
	runningAppliance(t, db, srv, "tok")
	cfg := DefaultConfig()
	cfg.Warehouse = "duckdb://" + db
	var out bytes.Buffer
	err = Models(shortCtx(t, 10*time.Second), cfg, ModelsRequest{Command: "deploy"}, &out)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != http.StatusBadRequest || err.Error() != `unknown models command "deploy" (want run, test or build)` {
		t.Fatalf("Models = %#v", err)
	}
}

// dsnConfig is the default configuration on warehouse dsn.
func dsnConfig(dsn string) Config {
	c := DefaultConfig()
	c.Warehouse = dsn
	return c
}
