// Package authlimit slows down guessing of the appliance's token: it counts
// failed sign-ins per client address and refuses that address's attempts
// for a while once they pile up.
package authlimit

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults: a burst of 10 failures, then one more every 6 seconds (10 a
// minute). A token guessed at that pace takes centuries even when it is
// short; a user who mistypes it a few times never notices.
const (
	DefaultBurst = 10
	DefaultEvery = 6 * time.Second
)

// maxClients bounds the addresses remembered (makeRoom).
const maxClients = 10_000

// Limiter counts failed sign-ins per client address. It is safe for
// concurrent use.
type Limiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	now     func() time.Time
	clients map[string]*rate.Limiter
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithRate sets the burst of failures allowed and how often one more is.
func WithRate(burst int, every time.Duration) Option {
	return func(l *Limiter) { l.burst, l.every = burst, every }
}

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// New returns a limiter with the default rate.
func New(opts ...Option) *Limiter {
	l := &Limiter{every: DefaultEvery, burst: DefaultBurst, now: time.Now, clients: make(map[string]*rate.Limiter)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Allow reports whether the client at addr ("host:port" or a bare host)
// may try to sign in now: false once its failures used up the budget. A
// refused attempt is not checked at all, so a right guess is not confirmed.
func (l *Limiter) Allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[host(addr)]
	return !ok || c.TokensAt(l.now()) >= 1
}

// Failed counts a failed sign-in of the client at addr.
func (l *Limiter) Failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	h := host(addr)
	c, ok := l.clients[h]
	if !ok {
		if len(l.clients) >= maxClients {
			l.makeRoom(now)
		}
		c = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.clients[h] = c
	}
	c.AllowN(now, 1)
}

// RetryAfter is how long a refused client should wait: one refill.
func (l *Limiter) RetryAfter() time.Duration { return l.every }

// makeRoom forgets clients until there is room for one more: first those
// whose budget is full again, then those with an attempt left, and the
// ones being refused only when nothing else is left.
func (l *Limiter) makeRoom(now time.Time) {
	for _, least := range []float64{float64(l.burst), 1, -1e9} {
		for h, c := range l.clients {
			if len(l.clients) < maxClients {
				return
			}
			if c.TokensAt(now) >= least {
				delete(l.clients, h)
			}
		}
	}
}

// host is the address without its port: a client's attempts count
// together whatever port they come from.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
