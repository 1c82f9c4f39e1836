package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/internal/browsertest"
)

// artifacts is where the screenshots go: $CARTWHEEL_ARTIFACTS/dags, else
// a folder under the system's temporary directory that outlives the test.
func artifacts(t *testing.T) string {
	dir := os.Getenv("CARTWHEEL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "cartwheel-artifacts")
	}
	dir = filepath.Join(dir, "dags")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPagesInBrowser opens the DAG pages in headless Chromium: they render
// under the CSP without console errors, the run page draws its timeline
// and graph, and the pause/trigger buttons POST JSON same-origin through
// the guard. Screenshots at 1280×800 (light, and the run page dark) go to
// the artefacts folder.
func TestPagesInBrowser(t *testing.T) {
	browsertest.Chromium(t) // skip (or fail on CI) before starting anything
	f := newFake()
	base := serve(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tab := browsertest.New(ctx, t)
	problems := browsertest.Problems(tab)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	out := artifacts(t)
	shoot := func(name string, dark bool) {
		t.Helper()
		scheme := "light"
		if dark {
			scheme = "dark"
		}
		if _, err := chromedp.Call(tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatal(err)
		}
		b, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", p)
	}
	open := func(path, ready string) {
		t.Helper()
		if err := chromedp.Do(tab, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(ready))); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll(`+fmt.Sprintf("%q", sel)+`).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	open("/dags", "table")
	if n := count(".squares .sq"); n != 2 {
		t.Errorf("/dags shows %d run squares, want 2", n)
	}
	shoot("dags-1280x800.png", false)

	// Pause from the list: the page posts JSON, reloads and offers Unpause.
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`button[data-action="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[data-action="unpause"]`))); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if n := count(".badge.paused"); n != 1 {
		t.Errorf("after pause: %d paused badges", n)
	}

	open("/dags/analytics", "table")
	shoot("dag-1280x800.png", false)

	open("/dags/analytics/runs/scheduled__2026-11-20T09:55:00Z", "svg.gantt")
	if bars, nodes, edges := count("svg.gantt rect.bar"), count("svg.graph rect.node"), count("svg.graph path.edge"); bars != 3 || nodes != 3 || edges != 2 {
		t.Errorf("run page draws %d bars, %d nodes, %d edges; want 3, 3, 2", bars, nodes, edges)
	}
	// The bars are placed by time: marts starts after staging ends.
	xs, err := chromedp.Run(tab, chromedp.Evaluate[[]float64](`[...document.querySelectorAll("svg.gantt rect.bar")].map(r => r.x.baseVal.value)`))
	if err != nil || len(xs) != 3 || !(xs[0] < xs[1] && xs[1] < xs[2]) {
		t.Errorf("bar x positions %v (%v)", xs, err)
	}
	shoot("run-1280x800.png", false)
	shoot("run-1280x800-dark.png", true)

	open("/dags/analytics/runs/manual__2026-11-20T10:01:00Z/tasks/staging", "pre.log")
	shoot("log-1280x800.png", false)

	// Trigger from the DAG page: the browser lands on the new run's page.
	open("/dags/analytics", "table")
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`button[data-action="trigger"]`)),
		chromedp.WaitVisible(chromedp.CSS("svg.gantt"))); err != nil {
		t.Fatalf("trigger: %v", err)
	}
	loc, err := chromedp.Run(tab, chromedp.Evaluate[string](`decodeURIComponent(location.pathname)`))
	if err != nil || loc != "/dags/analytics/runs/manual__2026-11-20T10:02:00Z" {
		t.Errorf("after trigger the page is %q (%v)", loc, err)
	}
	if diff := cmp.Diff([]string{"paused analytics true", "trigger analytics 2026-11-20T10:02:00Z"}, f.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	for _, c := range problems() {
		if !strings.Contains(c, "favicon") {
			t.Errorf("console: %s", c)
		}
	}
}
