package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/warehouse"

	"github.com/cartwheel-analytics/cartwheel/internal/authlimit"
)

// Warehouse is what the endpoint serves: user SQL under the read-only
// guard. *warehouse.DB implements it (DescribeReadOnly, OpenReadOnly).
type Warehouse interface {
	DescribeReadOnly(ctx context.Context, query string) (*warehouse.Description, error)
	OpenReadOnly(ctx context.Context, query string, args ...any) (*warehouse.Cursor, error)
}

// ErrNoPassword is the error of Serve on a listener reachable from other
// hosts when no password (the appliance's token) is configured.
var ErrNoPassword = errors.New("refusing to serve Postgres clients on a non-loopback address without a token (set token or CARTWHEEL_TOKEN)")

// Option configures a Server.
type Option func(*options)

type options struct {
	password        string
	requirePassword bool
	tls             *tls.Config
	log             *slog.Logger
	reg             prometheus.Registerer
	maxConns        int
	startupTimeout  time.Duration
	limiter         *authlimit.Limiter
}

// WithPassword sets the password clients must send when the listener is
// not on loopback (the appliance's token).
func WithPassword(p string) Option { return func(o *options) { o.password = p } }

// RequirePassword asks for the password on loopback too.
func RequirePassword() Option { return func(o *options) { o.requirePassword = true } }

// WithTLS offers TLS to clients that ask for it (sslmode=require and
// friends); without it, such clients are told the server has no TLS.
func WithTLS(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the endpoint's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithMaxConns bounds the concurrent client connections (default 512); one
// more is refused with SQLSTATE 53300.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithAuthLimiter sets how wrong passwords are counted per client address
// (default: authlimit.New(), 10 in a burst, then one every 6 s); past the
// budget a client's password is refused unchecked.
func WithAuthLimiter(l *authlimit.Limiter) Option { return func(o *options) { o.limiter = l } }

// Server is the PostgreSQL wire-protocol endpoint.
type Server struct {
	wh Warehouse
	o  options
	m  metrics

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*conn]struct{}
	byPID  map[uint32]*conn
	nextID uint32
	closed bool
	wg     sync.WaitGroup
}

// New returns a server of wh's read-only SQL.
func New(wh Warehouse, opts ...Option) *Server {
	o := options{log: slog.Default(), maxConns: 512, startupTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.limiter == nil {
		o.limiter = authlimit.New()
	}
	return &Server{wh: wh, o: o, m: newMetrics(o.reg), conns: map[*conn]struct{}{}, byPID: map[uint32]*conn{}}
}

// isLoopback reports whether a listener is reachable from this host only;
// it decides as the HTTP API does (api.isLoopback): 127.0.0.0/8 and ::1.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// needsPassword reports whether clients on a listener at addr must send
// the password.
func (s *Server) needsPassword(addr net.Addr) bool {
	return s.o.requirePassword || !isLoopback(addr)
}

// Serve accepts clients on ln until ctx ends or Close is called, then
// closes every client connection (a running query is cancelled) and
// returns once they are gone.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.needsPassword(ln.Addr()) && s.o.password == "" {
		ln.Close()
		return ErrNoPassword
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.o.log.Info("serving Postgres clients", "addr", ln.Addr().String(), "password", s.needsPassword(ln.Addr()), "tls", s.o.tls != nil)
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				s.wg.Wait()
				return nil
			}
			// A transient accept failure (too many open files) is not
			// fatal: back off and accept again.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.o.log.Warn("postgres accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
			continue
		}
		delay = 0
		c := s.track(nc, ln.Addr())
		if c == nil {
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			c.serve(ctx)
		}()
	}
}

// track registers a new client connection; nil when the server is
// closing (the connection is closed).
func (s *Server) track(nc net.Conn, local net.Addr) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return nil
	}
	s.nextID++
	c := newConn(s, nc, s.nextID, s.needsPassword(local))
	s.conns[c] = struct{}{}
	s.byPID[c.pid] = c
	s.wg.Add(1)
	s.m.conns.Inc()
	return c
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	delete(s.byPID, c.pid)
	s.m.conns.Dec()
}

// connCount is the number of open client connections.
func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// cancel handles a CancelRequest: the query running on the connection
// with that key is cancelled. A wrong key is ignored, as PostgreSQL does.
func (s *Server) cancel(pid uint32, secret []byte) {
	s.mu.Lock()
	c := s.byPID[pid]
	s.mu.Unlock()
	if c != nil && subtle.ConstantTimeCompare(c.secret[:], secret) == 1 {
		c.cancelQuery(errCanceledByUser)
	}
}

// Close stops accepting, closes every client connection and waits for
// them; it is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.cancelQuery(errShutdown)
		c.raw.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// checkPassword compares a client's password with the configured one in
// constant time.
func (s *Server) checkPassword(got string) bool {
	return s.o.password != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.o.password)) == 1
}

// randomSecret is a connection's cancel key.
func randomSecret() [4]byte {
	var b [4]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		binary.BigEndian.PutUint32(b[:], uint32(time.Now().UnixNano()))
	}
	return b
}

type metrics struct {
	conns   prometheus.Gauge
	queries *prometheus.CounterVec
	rows    prometheus.Counter
	refused *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cartwheel_pg_connections",
			Help: "Open client connections of the Postgres endpoint."}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cartwheel_pg_queries_total",
			Help: "Statements run by Postgres clients, by outcome (ok, truncated, error, refused, canceled, timeout)."}, []string{"outcome"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_pg_rows_total",
			Help: "Rows sent to Postgres clients."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cartwheel_pg_connections_refused_total",
			Help: "Client connections refused, by reason (password, password_limit, limit, protocol)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.conns, m.queries, m.rows, m.refused)
	}
	return m
}

var (
	errCanceledByUser = errors.New("canceling statement due to user request")
	errShutdown       = errors.New("terminating connection due to administrator command")
)

// version is what version() and server_version report: clients pick
// their catalog queries by it.
const serverVersion = "15.0"

func versionString() string {
	return fmt.Sprintf("PostgreSQL %s (Cartwheel; DuckDB warehouse, read-only)", serverVersion)
}
