package dashboard_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/internal/browsertest"
)

// TestSignInOffLoopbackInBrowser runs the appliance as a server reachable
// from other hosts (HTTP on 0.0.0.0 with a token; the test itself only
// talks to 127.0.0.1): without the token the panels' data, the metrics and
// the DAG API answer 401; Chromium opening / is sent to the sign-in page,
// signs in, lands on the dashboard with every panel filled, and the DAG
// page's Pause button — a JSON POST from the page's script — works on the
// session cookie alone.
func TestSignInOffLoopbackInBrowser(t *testing.T) {
	if !dashboard.HasBundle() {
		skipOrFail(t, "the dashboard's bundle is not built (make build, or npm --prefix web ci && npm --prefix web run build)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tab := browsertest.New(ctx, t)

	const token = "off-loopback-test-token"
	cfg := appliance.DefaultConfig()
	cfg.HTTP = "0.0.0.0:0"
	cfg.PG = ""
	cfg.Token = token
	addr, logs := runAppliance(ctx, t, cfg)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + port

	for path, want := range map[string]int{"/healthz": 200, "/api/panels": 401, "/api/panels/total_revenue": 401,
		"/metrics": 401, "/api/status": 401, "/api/dags": 401, "/dags": 401, "/docs/": 401} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if got := status(t, req); got != want {
			t.Errorf("GET %s without the token: %d, want %d", path, got, want)
		}
		if want == 401 {
			req.Header.Set("Authorization", "Bearer "+token)
			if got := status(t, req); got != 200 {
				t.Errorf("GET %s with the token: %d, want 200", path, got)
			}
		}
	}

	if err := chromedp.Do(tab, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token"))); err != nil {
		t.Fatalf("open /: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("button"))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s, err := chromedp.Run(tab, chromedp.Evaluate[pageState](readPageJS))
		ok := err == nil && len(s.Panels) == 7
		for _, p := range s.Panels {
			ok = ok && p.State == "ok"
		}
		if ok {
			if !strings.HasSuffix(s.URL, "/?range=24h") {
				t.Errorf("signed in at %s, want the dashboard", s.URL)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after sign-in the panels never filled: %+v (%v)\n%s", s, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := chromedp.Do(tab, chromedp.Navigate(base+"/dags"), chromedp.WaitVisible(chromedp.CSS(`button[data-action="pause"]`)),
		chromedp.Click(chromedp.CSS(`button[data-action="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[data-action="unpause"]`))); err != nil {
		t.Fatalf("pause a DAG from its page: %v", err)
	}
}

func status(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
