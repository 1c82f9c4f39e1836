package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/api/client"
	"github.com/cartwheel-analytics/cartwheel/internal/apitest"
	"github.com/cartwheel-analytics/cartwheel/result"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// server serves h; httptest's server is not on a loopback listener the api
// package knows of, so the API wants the token as on a public address.
func server(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestQuery: a query through the real API handler comes back with exact
// value types; the API's errors come back with their status and text.
func TestQuery(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 123456000, time.UTC)
	want := &result.Set{
		Columns: []result.Column{{Name: "n", Kind: result.KindInt}, {Name: "revenue", Kind: result.KindDecimal},
			{Name: "at", Kind: result.KindTimestamp}, {Name: "user", Kind: result.KindText}, {Name: "none", Kind: result.KindText}},
		Rows: [][]any{{int64(9007199254740993), result.Decimal("12345678901234567.89"), at, "u\"1", nil}},
	}
	q := &apitest.Querier{}
	srv := server(t, api.New(q, api.WithToken("tok")).Handler())

	tests := []struct {
		name       string
		token      string
		res        *result.Set
		err        error
		wantStatus int
		wantErr    string
	}{
		{"answer", "tok", want, nil, 0, ""},
		{"no token", "", nil, nil, http.StatusUnauthorized, "missing or wrong token"},
		{"wrong token", "nope", nil, nil, http.StatusUnauthorized, "missing or wrong token"},
		{"read-only violation", "tok", nil, result.ErrReadOnly, http.StatusForbidden, result.ErrReadOnly.Error()},
		{"bad SQL", "tok", nil, errors.New(`Parser Error: syntax error at or near "SELEC"`), http.StatusBadRequest,
			`Parser Error: syntax error at or near "SELEC"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q.Answer(tc.res, tc.err)
			c := client.New(srv.URL, client.WithToken(tc.token))
			res, err := c.Query(testCtx(t), "SELECT 1")
			if tc.wantErr != "" {
				var ae *client.Error
				if !errors.As(err, &ae) || ae.StatusCode != tc.wantStatus || err.Error() != tc.wantErr {
					t.Fatalf("Query = %#v, want an *Error of status %d saying %q", err, tc.wantStatus, tc.wantErr)
				}
				if errors.Is(err, result.ErrReadOnly) != errors.Is(tc.err, result.ErrReadOnly) {
					t.Errorf("errors.Is(%v, ErrReadOnly) = %v", err, !errors.Is(tc.err, result.ErrReadOnly))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, res); d != "" {
				t.Errorf("result differs (-want +got):\n%s", d)
			}
			if got := q.Queries(); len(got) != 1 || got[0] != "SELECT 1" {
				t.Errorf("the API got %q", got)
			}
		})
	}
}

// TestQueryNotJSON: an answer that is not the API's (a proxy's error page)
// fails with its status.
func TestQueryNotJSON(t *testing.T) {
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "gateway trouble", http.StatusBadGateway)
	}))
	_, err := client.New(srv.URL).Query(testCtx(t), "SELECT 1")
	var ae *client.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadGateway || ae.Message != "" ||
		!strings.Contains(err.Error(), "502 Bad Gateway") || !strings.Contains(err.Error(), srv.URL+"/api/query") {
		t.Fatalf("Query = %v, want the status and the URL", err)
	}
}

// TestQueryBadResult: a 200 whose body is not a result is an error.
func TestQueryBadResult(t *testing.T) {
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"columns": [{"name": "a", "type": "int"}], "rows": [[1, 2]]}`)
	}))
	if _, err := client.New(srv.URL).Query(testCtx(t), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "a row has 2 values for 1 columns") {
		t.Fatalf("Query = %v", err)
	}
}

// TestUnreachable: a closed port fails with the address and the cause; a
// canceled context with the context's error.
func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	c := client.New(addr) // a bare host:port is http
	_, err := c.Query(testCtx(t), "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "ask the running appliance at "+addr) {
		t.Fatalf("Query = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Models(ctx, api.ModelsRequest{Command: "run"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Models on a canceled context = %v", err)
	}
}

// TestModels: the request goes out as the API documents it, with the
// token; each kind of answer comes back as it should.
func TestModels(t *testing.T) {
	req := api.ModelsRequest{Command: "build", Select: []string{"+fct_daily_revenue"}, Exclude: []string{"tag:slow"},
		FullRefresh: true, Vars: "{a: 1}", Threads: 3}
	tests := []struct {
		name       string
		status     int
		answer     string
		want       api.ModelsResponse
		wantStatus int // of the *Error; 0: no error
		wantErr    string
	}{
		{"success", 200, `{"output": "OK created view stg_events\n", "failed": false}`,
			api.ModelsResponse{Output: "OK created view stg_events\n"}, 0, ""},
		{"a node failed", 200, `{"output": "FAIL not_null\n", "failed": true}`,
			api.ModelsResponse{Output: "FAIL not_null\n", Failed: true}, 0, ""},
		{"bad request", 400, `{"output": "", "failed": false, "error": "unknown models command \"deploy\""}`,
			api.ModelsResponse{Error: `unknown models command "deploy"`}, 400, `unknown models command "deploy"`},
		{"broke off", 500, `{"output": "partial\n", "failed": false, "error": "warehouse gone"}`,
			api.ModelsResponse{Output: "partial\n", Error: "warehouse gone"}, 500, "warehouse gone"},
		{"unauthorized", 401, `{"error": "missing or wrong token"}`,
			api.ModelsResponse{Error: "missing or wrong token"}, 401, "missing or wrong token"},
		{"not json", 502, `<html>bad gateway</html>`, api.ModelsResponse{}, 502, "502 Bad Gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				auth, contentType string
				body              map[string]any
			}
			srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/api/models" {
					http.NotFound(w, r)
					return
				}
				got.auth, got.contentType = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
				json.NewDecoder(r.Body).Decode(&got.body)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			}))
			resp, err := client.New(srv.URL, client.WithToken("tok")).Models(testCtx(t), req)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Models = %v", err)
				}
			} else {
				var ae *client.Error
				if !errors.As(err, &ae) || ae.StatusCode != tc.wantStatus || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Models = %v, want an *Error of status %d with %q", err, tc.wantStatus, tc.wantErr)
				}
			}
			if resp != tc.want {
				t.Errorf("answer %+v, want %+v", resp, tc.want)
			}
			if got.auth != "Bearer tok" || got.contentType != "application/json" {
				t.Errorf("Authorization %q, Content-Type %q", got.auth, got.contentType)
			}
			wantBody := map[string]any{"command": "build", "select": []any{"+fct_daily_revenue"}, "exclude": []any{"tag:slow"},
				"full_refresh": true, "vars": "{a: 1}", "threads": float64(3)}
			if d := cmp.Diff(wantBody, got.body); d != "" {
				t.Errorf("request body (-want +got):\n%s", d)
			}
		})
	}
}

// TestNoToken: without a token no Authorization header is sent (the API
// on loopback needs none).
func TestNoToken(t *testing.T) {
	var auth []string
	srv := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		io.WriteString(w, `{"columns": [], "rows": []}`)
	}))
	if _, err := client.New(srv.URL+"/").Query(testCtx(t), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if len(auth) != 0 {
		t.Errorf("Authorization %q sent without a token", auth)
	}
}
