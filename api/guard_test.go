package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/internal/apitest"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// TestGuardRefusesBrowserAttacks replays the requests of issue 13's finding
// 3 — a foreign Host (DNS rebinding), a text/plain or form POST (no CORS
// preflight), a cross-origin POST — and checks that none reaches the
// querier.
func TestGuardRefusesBrowserAttacks(t *testing.T) {
	const body = `{"sql":"SELECT content FROM read_text('/etc/passwd')"}`
	cases := []struct {
		name   string
		header http.Header
		status int
		want   string
	}{
		{"foreign host", http.Header{"Host": {"attacker.example"}}, http.StatusMisdirectedRequest, "not served here"},
		{"foreign host with port", http.Header{"Host": {"attacker.example:8080"}}, http.StatusMisdirectedRequest, "not served here"},
		{"rebinding to localhost lookalike", http.Header{"Host": {"localhost.attacker.example"}}, http.StatusMisdirectedRequest, "not served here"},
		{"empty host", http.Header{"Host": {""}}, http.StatusMisdirectedRequest, "not served here"},
		{"text/plain", http.Header{"Content-Type": {"text/plain"}}, http.StatusUnsupportedMediaType, "application/json"},
		{"form", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusUnsupportedMediaType, "application/json"},
		{"no content type", http.Header{"Content-Type": {""}}, http.StatusUnsupportedMediaType, "application/json"},
		{"cross-origin", http.Header{"Origin": {"https://attacker.example"}}, http.StatusForbidden, "cross-origin"},
		{"null origin", http.Header{"Origin": {"null"}}, http.StatusForbidden, "cross-origin"},
		{"cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "cross-origin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &apitest.Querier{Result: &result.Set{}}
			c.header.Set("Authorization", "Bearer tok") // the guard holds even with the token
			rec := serve(t, New(q, WithToken("tok")).Handler(), http.MethodPost, "/api/query", body, c.header)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want it to mention %q", msg, c.want)
			}
			if calls := q.Queries(); len(calls) != 0 {
				t.Errorf("the querier ran %q", calls)
			}
		})
	}
}

func TestGuardAllowsLocalClients(t *testing.T) {
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "app.localhost:8080", "10.1.2.3:8080", "dash.example.com"} {
		t.Run(host, func(t *testing.T) {
			q := &apitest.Querier{Result: &result.Set{}}
			h := http.Header{"Host": {host}, "Origin": {"http://" + host}, "Sec-Fetch-Site": {"same-origin"},
				"Content-Type": {"application/json; charset=utf-8"}, "Authorization": {"Bearer tok"}}
			rec := serve(t, New(q, WithToken("tok"), WithAllowedHosts("Dash.Example.com")).Handler(), http.MethodPost, "/api/query", `{"sql":"SELECT 1"}`, h)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := serve(t, New(q).Handler(), http.MethodGet, "/healthz", "", http.Header{"Host": {"127.0.0.1"}}); got.Code != http.StatusOK {
				t.Errorf("GET /healthz: %d", got.Code)
			}
		})
	}
}

func TestGuardGETFromForeignHost(t *testing.T) {
	rec := serve(t, New(&apitest.Querier{}).Handler(), http.MethodGet, "/api/status", "", http.Header{"Host": {"attacker.example"}})
	if rec.Code != http.StatusMisdirectedRequest {
		t.Fatalf("GET from a foreign host: status %d, want 421", rec.Code)
	}
}

func TestGuardBodyLimit(t *testing.T) {
	q := &apitest.Querier{Result: &result.Set{}}
	h := New(q, WithToken("tok"), WithBodyLimit(1024)).Handler()
	big := `{"sql":"SELECT '` + strings.Repeat("x", 2000) + `'"}`
	rec := serve(t, h, http.MethodPost, "/api/query", big, bearer("tok"))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", rec.Code, rec.Body)
	}
	if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, "1 KiB") {
		t.Errorf("error %q does not name the limit", msg)
	}
	// Without a Content-Length (chunked), the limit holds while reading.
	req := strings.NewReader(big)
	rec = serveReader(t, h, "/api/query", req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked body: status %d, want 413: %s", rec.Code, rec.Body)
	}
	if len(q.Queries()) != 0 {
		t.Errorf("the querier ran %q", q.Queries())
	}
}

// serveReader POSTs body with no declared length, as a chunked request has.
func serveReader(t *testing.T, h http.Handler, path string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, body)
	req.ContentLength = -1
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
