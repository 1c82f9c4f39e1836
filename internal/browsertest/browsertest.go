// Package browsertest starts the headless Chromium that the browser tests
// drive.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the browser to drive: $CARTWHEEL_CHROMIUM, else
// /usr/bin/chromium. Without one the test is skipped, or fails on CI
// (CI=true), where a skipped browser test would hide a broken page.
func Chromium(t testing.TB) string {
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

// New starts headless Chromium (a fresh profile, a 1280×800 window, and
// every host name but 127.0.0.1 unresolvable, so that a page can reach
// nothing off this machine) and returns a tab; the browser ends with ctx or
// at the end of the test.
// Options add to or override those (a later flag of the same name wins).
func New(ctx context.Context, t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	chrome := Chromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append([]chromedp.ExecAllocatorOption{
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
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}, opts...)...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	return tab
}

// Problems collects the tab's console errors, exceptions and warnings, as
// "type url:line: text", from now until the returned function is called;
// that function returns them.
func Problems(tab context.Context) func() []string {
	var (
		mu  sync.Mutex
		out []string
	)
	ctx, stop := context.WithCancel(tab)
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg, err := range messages {
			if err != nil {
				return
			}
			switch msg.Type {
			case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
				mu.Lock()
				out = append(out, fmt.Sprintf("%s %s:%d: %s", msg.Type, msg.URL, msg.Line+1, msg.Text))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}
