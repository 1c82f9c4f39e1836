package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cartwheel-analytics/cartwheel/internal/apitest"
	"github.com/cartwheel-analytics/cartwheel/internal/authlimit"
	"github.com/cartwheel-analytics/cartwheel/internal/browsertest"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// offLoopback is a server as Serve sets it up on an address other hosts
// reach (a handler not started by Serve does not know it is on loopback).
func offLoopback(opts ...Option) *Server {
	q := &apitest.Querier{Result: &result.Set{Columns: []result.Column{{Name: "n", Kind: result.KindInt}}, Rows: [][]any{{int64(7)}}}}
	return New(q, append([]Option{WithToken("tok"), WithGET("/dashboard", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "the shop's revenue")
	}))}, opts...)...)
}

// TestAuthOffLoopback: off loopback every route but the probes and the
// sign-in page needs the token (SPEC §7) — the dashboards, the DAG pages,
// the status and the metrics show the shop's data as much as the SQL
// endpoint does. A page a browser navigates to is sent to /login.
func TestAuthOffLoopback(t *testing.T) {
	h := offLoopback().Handler()
	html := http.Header{"Accept": {"text/html,application/xhtml+xml"}}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		status       int
		location     string
	}{
		{"GET", "/healthz", nil, 200, ""},
		{"GET", "/readyz", nil, 200, ""},
		{"GET", "/login", nil, 200, ""},
		{"GET", "/login.js", nil, 200, ""},
		{"GET", "/", nil, 401, ""},
		{"GET", "/api/status", nil, 401, ""},
		{"GET", "/metrics", nil, 401, ""},
		{"GET", "/dashboard", nil, 401, ""},
		{"HEAD", "/dashboard", nil, 401, ""},
		{"GET", "/nope", nil, 401, ""},
		{"POST", "/api/query", nil, 401, ""},
		{"GET", "/dashboard", bearer("wrong"), 401, ""},
		{"GET", "/dashboard", http.Header{"Authorization": {"tok"}}, 401, ""},
		{"GET", "/dashboard", html, 303, "/login?next=%2Fdashboard"},
		{"GET", "/dashboard?from=a&to=b", html, 303, "/login?next=%2Fdashboard%3Ffrom%3Da%26to%3Db"},
		{"GET", "/dashboard", bearer("tok"), 200, ""},
		{"GET", "/metrics", bearer("tok"), 200, ""},
		{"GET", "/api/status", bearer("tok"), 200, ""},
		{"POST", "/api/query", bearer("tok"), 200, ""},
	} {
		t.Run(tc.method+" "+tc.path+" "+fmt.Sprint(tc.header), func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = `{"sql":"SELECT 7"}`
			}
			rec := serve(t, h, tc.method, tc.path, body, tc.header)
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
				t.Fatalf("%d Location %q, want %d %q: %s", rec.Code, rec.Header().Get("Location"), tc.status, tc.location, rec.Body)
			}
			if tc.status == 401 && rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if tc.status == 401 && strings.Contains(rec.Body.String(), "revenue") {
				t.Errorf("401 shows the page: %s", rec.Body)
			}
		})
	}
}

// TestLoginCookie: POST /api/login with the token sets a session cookie
// that no script can read and no other site's page sends; the cookie is
// not the token, stands in for it on GETs and POSTs, ends with a new
// token, and /api/logout clears it. Sign-in is a JSON POST behind the
// guard like every other.
func TestLoginCookie(t *testing.T) {
	s := offLoopback()
	h := s.Handler()
	for _, body := range []string{`{"token":"wrong"}`, `{"token":""}`, `{}`} {
		rec := serve(t, h, "POST", "/api/login", body, nil)
		if rec.Code != 401 || rec.Header().Get("Set-Cookie") != "" {
			t.Errorf("login %s: %d, Set-Cookie %q; want 401 and none", body, rec.Code, rec.Header().Get("Set-Cookie"))
		}
	}
	if rec := serve(t, h, "POST", "/api/login", `token=tok`, nil); rec.Code != 400 {
		t.Errorf("login with a non-JSON body: %d, want 400", rec.Code)
	}
	if rec := serve(t, h, "POST", "/api/login", `{"token":"tok"}`, http.Header{"Sec-Fetch-Site": {"cross-site"}}); rec.Code != 403 || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("cross-site login: %d, want 403 and no cookie", rec.Code)
	}

	rec := serve(t, h, "POST", "/api/login", `{"token":"tok"}`, nil)
	cookies := rec.Result().Cookies()
	if rec.Code != 200 || len(cookies) != 1 {
		t.Fatalf("login: %d, cookies %v", rec.Code, cookies)
	}
	c := cookies[0]
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, a MaxAge", c)
	}
	if strings.Contains(c.Value, "tok") || len(c.Value) != 64 {
		t.Errorf("cookie value %q: want an HMAC, not the token", c.Value)
	}
	withCookie := http.Header{"Cookie": {c.String()}}
	if rec := serve(t, h, "GET", "/dashboard", "", withCookie); rec.Code != 200 || rec.Body.String() != "the shop's revenue" {
		t.Errorf("GET with the cookie: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, h, "POST", "/api/query", `{"sql":"SELECT 7"}`, withCookie); rec.Code != 200 {
		t.Errorf("POST with the cookie: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, offLoopback(WithToken("new-token")).Handler(), "GET", "/dashboard", "", withCookie); rec.Code != 401 {
		t.Errorf("the cookie after the token changed: %d, want 401", rec.Code)
	}
	forged := http.Header{"Cookie": {sessionCookie + "=" + strings.Repeat("0", 64)}}
	if rec := serve(t, h, "GET", "/dashboard", "", forged); rec.Code != 401 {
		t.Errorf("a forged cookie: %d, want 401", rec.Code)
	}
	rec = serve(t, h, "POST", "/api/logout", `{}`, withCookie)
	if out := rec.Result().Cookies(); rec.Code != 200 || len(out) != 1 || out[0].MaxAge >= 0 || out[0].Value != "" {
		t.Errorf("logout: %d, cookies %v: want the cookie cleared", rec.Code, out)
	}
}

// TestServeOffLoopbackSignIn: through Serve on an address it takes for a
// public one, a client with a cookie jar is sent from the page to /login,
// signs in, and reaches the page; the probes answer without signing in.
func TestServeOffLoopbackSignIn(t *testing.T) {
	ln := listenLoopback(t)
	base, c, _ := startServe(t, offLoopback(), addrListener{ln, &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}}, ln.Addr().String())
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Jar = jar
	get := func(path string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Request.URL.RequestURI(), string(b)
	}
	if status, _, body := get("/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	if status, at, body := get("/dashboard"); status != 200 || at != "/login?next=%2Fdashboard" || !strings.Contains(body, `<form id="login">`) {
		t.Fatalf("/dashboard before sign-in: %d at %s: %.200s", status, at, body)
	}
	if status, body := post(t, c, base+"/api/login", `{"token":"tok"}`, nil); status != 200 {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	if status, at, body := get("/dashboard"); status != 200 || at != "/dashboard" || body != "the shop's revenue" {
		t.Errorf("/dashboard after sign-in: %d at %s: %q", status, at, body)
	}
}

// TestSignInInBrowser: headless Chromium, sent to the sign-in page by a
// server it reaches on an address taken for a public one, is told a wrong
// token is wrong, signs in with the right one, and lands on the page it
// asked for — under the page's CSP, with no console error.
func TestSignInInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tab := browsertest.New(ctx, t)
	ln := listenLoopback(t)
	base, _, _ := startServe(t, offLoopback(), addrListener{ln, &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}}, ln.Addr().String())

	problems := browsertest.Problems(tab)

	if err := chromedp.Do(tab, chromedp.Navigate(base+"/dashboard?range=24h"), chromedp.WaitVisible(chromedp.CSS("#token"))); err != nil {
		t.Fatalf("open /dashboard: %v", err)
	}
	if dir := os.Getenv("CARTWHEEL_ARTIFACTS"); dir != "" {
		if b, err := chromedp.Run(tab, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(dir, "login-1280x800.png"), b, 0o644)
		}
	}
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("button")),
		chromedp.Poll[chromedp.Void](`document.getElementById("error").textContent !== ""`)); err != nil {
		t.Fatalf("wrong token: %v", err)
	}
	msg, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("error").textContent`))
	if err != nil || msg != "Wrong token." {
		t.Errorf("after a wrong token the page says %q (%v)", msg, err)
	}
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("token").value = ""`), chromedp.SendKeys(chromedp.CSS("#token"), "tok"),
		chromedp.Click(chromedp.CSS("button"))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// The page navigates away from /login: poll across the navigation.
	var at string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		at, err = chromedp.Run(tab, chromedp.Evaluate[string](`location.pathname + location.search + " " + document.body.textContent`))
		if err == nil && at == "/dashboard?range=24h the shop's revenue" {
			break
		}
	}
	if at != "/dashboard?range=24h the shop's revenue" {
		t.Errorf("after sign-in: %q (%v)", at, err)
	}
	// The cookie is out of a script's reach.
	if cookie, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`)); err != nil || cookie != "" {
		t.Errorf("document.cookie = %q (%v), want the session cookie hidden", cookie, err)
	}

	for _, c := range problems() {
		// The wrong token's 401 is logged by the browser as a failed fetch.
		if !strings.Contains(c, "favicon") && !strings.Contains(c, "401") {
			t.Errorf("console: %s", c)
		}
	}
}

// TestAuthAttemptsLimited: off loopback, wrong tokens from one address —
// as a Bearer header or a sign-in — pile up, and past the budget that
// address gets 429 without its token being checked, even the right one,
// until the budget refills. Other addresses are not affected, and a stale
// session cookie (the token changed) is cleared, not counted.
func TestAuthAttemptsLimited(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	lim := authlimit.New(authlimit.WithRate(3, time.Minute), authlimit.WithClock(func() time.Time { return now }))
	h := offLoopback(WithAuthLimiter(lim)).Handler()
	do := func(from, method, path, body string, header http.Header) *httptest.ResponseRecorder {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, r)
		req.Host, req.RemoteAddr = "127.0.0.1:8080", from
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const attacker, other = "198.51.100.7:40000", "198.51.100.8:40000"
	for i, wrong := range []*httptest.ResponseRecorder{
		do(attacker, "GET", "/api/status", "", bearer("guess-1")),
		do(attacker, "GET", "/dashboard", "", bearer("guess-2")),
		do(attacker, "POST", "/api/login", `{"token":"guess-3"}`, nil),
	} {
		if wrong.Code != 401 {
			t.Fatalf("wrong attempt %d: %d, want 401", i+1, wrong.Code)
		}
	}
	if rec := do(attacker, "GET", "/api/status", "", bearer("tok")); rec.Code != 429 || rec.Header().Get("Retry-After") != "60" {
		t.Errorf("the right token past the budget: %d, Retry-After %q; want 429, 60", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := do(attacker, "POST", "/api/login", `{"token":"tok"}`, nil); rec.Code != 429 || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("sign-in past the budget: %d, want 429 and no cookie", rec.Code)
	}
	if rec := do(attacker, "GET", "/api/status", "", nil); rec.Code != 401 {
		t.Errorf("no credentials past the budget: %d, want 401", rec.Code)
	}
	if rec := do(attacker, "GET", "/healthz", "", nil); rec.Code != 200 {
		t.Errorf("/healthz past the budget: %d", rec.Code)
	}
	stale := http.Header{"Cookie": {sessionCookie + "=" + strings.Repeat("0", 64)}, "Accept": {"text/html"}}
	for i := range 20 {
		rec := do(other, "GET", "/dashboard", "", stale)
		cleared := rec.Result().Cookies()
		if rec.Code != 303 || len(cleared) != 1 || cleared[0].MaxAge >= 0 {
			t.Fatalf("stale cookie %d: %d, cookies %v; want 303 to sign in and the cookie cleared", i+1, rec.Code, cleared)
		}
	}
	if rec := do(other, "GET", "/api/status", "", bearer("tok")); rec.Code != 200 {
		t.Errorf("another address, after 20 stale cookies: %d, want 200", rec.Code)
	}
	for range 5 { // right tokens do not use the budget
		if rec := do(other, "GET", "/api/status", "", bearer("tok")); rec.Code != 200 {
			t.Fatalf("another address, again: %d", rec.Code)
		}
	}
	now = now.Add(time.Minute)
	if rec := do(attacker, "GET", "/api/status", "", bearer("tok")); rec.Code != 200 {
		t.Errorf("after the refill: %d, want 200", rec.Code)
	}
}
