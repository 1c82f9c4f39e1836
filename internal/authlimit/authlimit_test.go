package authlimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	l := New(WithRate(3, 10*time.Second), WithClock(func() time.Time { return now }))
	a, b := "192.0.2.1:50000", "192.0.2.2:50001"
	for i := range 3 {
		if !l.Allow(a) {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
		l.Failed(a)
	}
	if l.Allow("192.0.2.1:61000") {
		t.Error("a 4th attempt from the same host (another port) allowed")
	}
	if !l.Allow(b) {
		t.Error("another host refused")
	}
	now = now.Add(9 * time.Second)
	if l.Allow(a) {
		t.Error("allowed again before a refill")
	}
	now = now.Add(time.Second)
	if !l.Allow(a) {
		t.Error("refused after a refill")
	}
	l.Failed(a)
	if l.Allow(a) {
		t.Error("a failure after the refill did not use it")
	}
	if l.RetryAfter() != 10*time.Second {
		t.Errorf("RetryAfter %v", l.RetryAfter())
	}
}

// The addresses remembered stay bounded: past the bound, the clients whose
// budget is full again are forgotten, the ones being refused are kept.
func TestLimiterBounded(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	l := New(WithRate(2, time.Second), WithClock(func() time.Time { return now }))
	l.Failed("198.51.100.1:1")
	l.Failed("198.51.100.1:1")
	for i := range maxClients {
		l.Failed(fmt.Sprintf("203.0.113.%d:%d", i%250, i))
	}
	now = now.Add(500 * time.Millisecond)
	for i := range maxClients {
		l.Failed(fmt.Sprintf("[2001:db8::%x]:1", i))
	}
	if len(l.clients) > maxClients {
		t.Errorf("%d clients remembered, want at most %d", len(l.clients), maxClients)
	}
	if l.Allow("198.51.100.1:2") {
		t.Error("the refused client was forgotten")
	}
}
