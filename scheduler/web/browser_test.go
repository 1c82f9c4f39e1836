package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// chromiumPath is the browser the test drives: $CARTWHEEL_CHROMIUM, else
// /usr/bin/chromium; without one the test is skipped (failed on CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CARTWHEEL_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return path
	}
	msg := fmt.Sprintf("no Chromium at %s (set CARTWHEEL_CHROMIUM or install chromium)", path)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

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
	chrome := chromiumPath(t)
	f := newFake()
	base := serve(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	var (
		mu      sync.Mutex
		console []string
	)
	consoleCtx, stopConsole := context.WithCancel(tab)
	messages := chromedp.Console(consoleCtx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.Type == chromedp.ConsoleError || msg.Type == chromedp.ConsoleException || msg.Type == chromedp.ConsoleWarning {
				mu.Lock()
				console = append(console, fmt.Sprintf("%s %s:%d: %s", msg.Type, msg.URL, msg.Line+1, msg.Text))
				mu.Unlock()
			}
		}
	}()
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

	stopConsole()
	<-consoleDone
	mu.Lock()
	defer mu.Unlock()
	for _, c := range console {
		if !strings.Contains(c, "favicon") {
			t.Errorf("console: %s", c)
		}
	}
}
