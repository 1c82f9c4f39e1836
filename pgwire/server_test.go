package pgwire

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cartwheel-analytics/cartwheel/warehouse"

	"github.com/cartwheel-analytics/cartwheel/internal/authlimit"
)

func connect(t *testing.T, addr string, extra ...string) *pgx.Conn {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	dsn := fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=disable&connect_timeout=10 %s", host, port, strings.Join(extra, " "))
	dsn = strings.TrimSpace(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// sqlState returns the SQLSTATE of a PostgreSQL error.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestPgxTypes runs a parameterised query over pgx's extended protocol
// (binary results) and its simple protocol (text), and compares the
// decoded values of every type the warehouse has.
func TestPgxTypes(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	_, addr := serve(t, db)
	const q = `SELECT session_id, user_id, session_start, revenue, event_count, CAST(event_count AS BIGINT) AS big,
		CAST(revenue AS DOUBLE) AS dbl, purchases > 0 AS bought, CAST(session_start AS DATE) AS day,
		session_end - session_start AS length, CAST(NULL AS VARCHAR) AS nothing,
		CAST(session_start AS TIMESTAMPTZ) AS start_tz
		FROM sessions WHERE session_start >= $1 AND user_id <> $2 AND revenue >= $3 ORDER BY session_id`
	start := time.Date(2026, 11, 20, 10, 0, 0, 123456000, time.UTC)
	want := [][]any{{"s1", "ünïcødé-用户", start, "40.50", int32(5), int64(5), 40.5, true,
		time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), pgtype.Interval{Microseconds: 30*60*1e6 - 123456, Valid: true}, nil, start},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			conn := connect(t, addr)
			rows, err := conn.Query(context.Background(), q, mode, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), "u2", "1.00")
			if err != nil {
				t.Fatal(err)
			}
			var got [][]any
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					switch x := v.(type) {
					case pgtype.Numeric:
						f, _ := x.MarshalJSON()
						vals[i] = string(f)
					case time.Time:
						vals[i] = x.UTC()
					}
				}
				got = append(got, vals)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			oids := []uint32{}
			for _, f := range rows.FieldDescriptions() {
				oids = append(oids, f.DataTypeOID)
			}
			wantOIDs := []uint32{pgtype.TextOID, pgtype.TextOID, pgtype.TimestampOID, pgtype.NumericOID, pgtype.Int4OID, pgtype.Int8OID,
				pgtype.Float8OID, pgtype.BoolOID, pgtype.DateOID, pgtype.IntervalOID, pgtype.TextOID, pgtype.TimestamptzOID}
			if diff := cmp.Diff(wantOIDs, oids); diff != "" {
				t.Errorf("type OIDs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrorCodes checks the SQLSTATE of each kind of failure.
func TestErrorCodes(t *testing.T) {
	db := testWarehouse(t, warehouse.Limits{Timeout: 300 * time.Millisecond, MaxRows: 1000})
	_, addr := serve(t, db)
	conn := connect(t, addr)
	for _, tc := range []struct{ sql, code string }{
		{"SELEC 1", "42601"},
		{"SELECT * FROM no_such_table", "42P01"},
		{"SHOW work_mem", "42704"}, // a setting the endpoint does not have
		{"SELECT no_such_column FROM sessions", "42703"},
		{"INSERT INTO streams SELECT * FROM streams", "25006"},
		{"CREATE TABLE x (a INTEGER)", "25006"},
		{"DELETE FROM sessions", "25006"},
		{"ATTACH '/tmp/cartwheel-pgwire-attach.db' AS x", "25006"},
		{"COPY sessions TO '/tmp/cartwheel-pgwire-copy.csv'", "42501"},
		{"COPY sessions FROM '/etc/passwd'", "42501"},
		{"SELECT * FROM read_text('/etc/passwd')", "42501"},
		{"SELECT * FROM read_csv('/etc/passwd')", "42501"},
		{"SELECT * FROM glob('/*')", "42501"},
		{"INSTALL httpfs", "25006"},
		{"SELECT count(*) FROM range(1000000000000) a, range(10) b", "57014"}, // the time limit
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec} {
			_, err := conn.Exec(context.Background(), tc.sql, mode)
			if got := sqlState(err); got != tc.code {
				t.Errorf("%s (%v): SQLSTATE %q (%v), want %s", tc.sql, mode, got, err, tc.code)
			}
		}
	}
	// The connection is still usable after the errors.
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after errors: %d, %v", n, err)
	}
}

// TestCancel cancels a running query the way psql's Ctrl-C does (pgx
// sends a CancelRequest when the context ends).
func TestCancel(t *testing.T) {
	db := testWarehouse(t, warehouse.Limits{Timeout: time.Minute, MaxRows: 1000})
	srv, addr := serve(t, db)
	conn := connect(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT sum(a.range * b.range) FROM range(1000000000000) a, range(10) b", pgx.QueryExecModeSimpleProtocol)
		errc <- err
	}()
	waitFor(t, func() bool { return srv.running() > 0 })
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the query was not cancelled")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancel request did not stop the query")
	}
	// pgx closes a connection whose context ended; a second one sees the
	// cancellation as 57014 through a raw cancel request.
	conn2 := connect(t, addr)
	pid := conn2.PgConn().PID()
	errc2 := make(chan error, 1)
	go func() {
		_, err := conn2.Exec(context.Background(), "SELECT sum(a.range * b.range) FROM range(1000000000000) a, range(10) b", pgx.QueryExecModeSimpleProtocol)
		errc2 <- err
	}()
	waitFor(t, func() bool { return srv.runningOn(pid) })
	if err := conn2.PgConn().CancelRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc2:
		if sqlState(err) != "57014" || !strings.Contains(err.Error(), "user request") {
			t.Fatalf("cancelled query (pid %d): %v, want 57014 canceling statement due to user request", pid, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancel request did not stop the query")
	}
}

// running counts the open cursors of all connections.
func (s *Server) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		c.mu.Lock()
		n += len(c.cancels)
		c.mu.Unlock()
	}
	return n
}

// runningOn reports whether the connection with that process ID has a
// query open.
func (s *Server) runningOn(pid uint32) bool {
	s.mu.Lock()
	c := s.byPID[pid]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cancels) > 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRowLimitNotice: a result cut at query.max_rows says so in a
// WARNING, in both protocols.
func TestRowLimitNotice(t *testing.T) {
	db := testWarehouse(t, warehouse.Limits{Timeout: time.Minute, MaxRows: 5})
	_, addr := serve(t, db)
	host, port, _ := net.SplitHostPort(addr)
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notices []*pgconn.Notice
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n)
		mu.Unlock()
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		notices = nil
		rows, err := conn.Query(context.Background(), "SELECT range FROM range(10)", mode)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("%v: %d rows, want the limit, 5", mode, n)
		}
		mu.Lock()
		if len(notices) != 1 || notices[0].Severity != "WARNING" || !strings.Contains(notices[0].Message, "truncated to its first 5 rows") {
			t.Errorf("%v: notices %+v, want one WARNING about the row limit", mode, notices)
		}
		mu.Unlock()
	}
}

// TestPassword: with a password required, a client without it or with a
// wrong one is refused with 28P01; the token lets it in.
func TestPassword(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	reg := prometheus.NewRegistry()
	srv, addr := serve(t, db, WithPassword("s3cret-token"), RequirePassword(), WithRegisterer(reg))
	host, port, _ := net.SplitHostPort(addr)
	for _, pw := range []string{"", "wrong"} {
		_, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester:%s@%s:%s/cartwheel?sslmode=disable", pw, host, port))
		if sqlState(err) != "28P01" {
			t.Errorf("password %q: %v, want 28P01", pw, err)
		}
	}
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester:s3cret-token@%s:%s/cartwheel?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	if got := testutil.ToFloat64(srv.m.refused.WithLabelValues("password")); got != 2 {
		t.Errorf("refused connections %v, want 2", got)
	}
}

// TestPasswordAttemptsLimited: wrong passwords from one address pile up;
// past the budget that address is refused without its password being
// checked, even the right one, until the budget refills.
func TestPasswordAttemptsLimited(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	lim := authlimit.New(authlimit.WithRate(2, time.Minute), authlimit.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}))
	srv, addr := serve(t, db, WithPassword("s3cret-token"), RequirePassword(), WithAuthLimiter(lim))
	host, port, _ := net.SplitHostPort(addr)
	connect := func(pw string) error {
		c, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester:%s@%s:%s/cartwheel?sslmode=disable", pw, host, port))
		if err == nil {
			c.Close(context.Background())
		}
		return err
	}
	for range 2 {
		if err := connect("wrong"); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("a wrong password: %v", err)
		}
	}
	if err := connect("s3cret-token"); sqlState(err) != "28P01" || !strings.Contains(err.Error(), "too many wrong passwords") {
		t.Errorf("the right password past the budget: %v, want refused", err)
	}
	if got := testutil.ToFloat64(srv.m.refused.WithLabelValues("password_limit")); got != 1 {
		t.Errorf("refused for the limit: %v, want 1", got)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if err := connect("s3cret-token"); err != nil {
		t.Errorf("after the refill: %v", err)
	}
}

// TestNonLoopbackNeedsToken decides as the HTTP API does: a listener off
// loopback needs the token, and without one Serve refuses to start. (No
// traffic leaves loopback: the listener is a stand-in that is never
// accepted on.)
func TestNonLoopbackNeedsToken(t *testing.T) {
	srv := New(nil)
	for addr, want := range map[string]bool{"127.0.0.1:5433": false, "127.0.0.2:5433": false, "[::1]:5433": false,
		"10.1.2.3:5433": true, "0.0.0.0:5433": true, "[::]:5433": true, "192.168.1.20:5433": true} {
		a, _ := net.ResolveTCPAddr("tcp", addr)
		if got := srv.needsPassword(a); got != want {
			t.Errorf("needsPassword(%s) = %v, want %v", addr, got, want)
		}
	}
	ln := &standInListener{addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5433}, closed: make(chan struct{})}
	if err := srv.Serve(context.Background(), ln); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("Serve on 10.1.2.3 without a token: %v, want ErrNoPassword", err)
	}
}

type standInListener struct {
	addr   net.Addr
	closed chan struct{}
	once   sync.Once
}

func (l *standInListener) Accept() (net.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l *standInListener) Close() error              { l.once.Do(func() { close(l.closed) }); return nil }
func (l *standInListener) Addr() net.Addr            { return l.addr }

// TestTLS: a client asking for TLS gets it when a certificate is set.
func TestTLS(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	_, addr := serve(t, db, WithTLS(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}))
	host, port, _ := net.SplitHostPort(addr)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=require", host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("connection is %T, want TLS", conn.PgConn().Conn())
	}
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&n); err != nil || n != 2 {
		t.Fatalf("over TLS: %d, %v", n, err)
	}
	// Without a certificate, sslmode=require fails and prefer falls back.
	_, plain := serve(t, db)
	host, port, _ = net.SplitHostPort(plain)
	if _, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=require", host, port)); err == nil {
		t.Fatal("sslmode=require succeeded without a certificate")
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestManyClients: 200 clients at once each run a query; afterwards no
// connection or cursor is left.
func TestManyClients(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	reg := prometheus.NewRegistry()
	srv, addr := serve(t, db, WithRegisterer(reg))
	const clients = 200
	conns := make([]*pgx.Conn, clients)
	host, port, _ := net.SplitHostPort(addr)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=disable&connect_timeout=60", host, port))
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			var n int64
			if err := c.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE event_count > $1", i%3).Scan(&n); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.connCount(); got != clients {
		t.Errorf("%d open connections, want %d", got, clients)
	}
	if got := testutil.ToFloat64(srv.m.conns); got != clients {
		t.Errorf("cartwheel_pg_connections %v, want %d", got, clients)
	}
	for _, c := range conns {
		if c != nil {
			c.Close(context.Background())
		}
	}
	waitFor(t, func() bool { return srv.connCount() == 0 })
	if got := testutil.ToFloat64(srv.m.queries.WithLabelValues("ok")); got != clients {
		t.Errorf("ok queries %v, want %d", got, clients)
	}
}

// TestDisconnectMidResult: a client that goes away in the middle of a
// large result leaves no connection, cursor or goroutine behind.
func TestDisconnectMidResult(t *testing.T) {
	db := testWarehouse(t, warehouse.Limits{Timeout: time.Minute, MaxRows: 10_000_000})
	srv, addr := serve(t, db)
	for _, extended := range []bool{false, true} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fe := pgproto3.NewFrontend(nc, nc)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "tester", "database": "cartwheel"}})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		const q = "SELECT range, 'some text to make the rows longer' AS pad FROM range(5000000)"
		if extended {
			fe.SendParse(&pgproto3.Parse{Query: q})
			fe.SendBind(&pgproto3.Bind{})
			fe.SendExecute(&pgproto3.Execute{})
			fe.SendSync(&pgproto3.Sync{})
		} else {
			fe.SendQuery(&pgproto3.Query{String: q})
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		rows := 0
		for rows < 1000 {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := msg.(*pgproto3.DataRow); ok {
				rows++
			}
		}
		nc.Close()
		waitFor(t, func() bool { return srv.connCount() == 0 && srv.running() == 0 })
	}
	// The warehouse still answers (its connection went back).
	conn := connect(t, addr)
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the disconnects: %d, %v", n, err)
	}
}

// TestCloseIdempotent: Close stops Serve, closes clients and may be
// called again.
func TestCloseIdempotent(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(db, WithLogger(slog.New(slog.DiscardHandler)))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	conn := connect(t, ln.Addr().String())
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(context.Background()); err == nil {
		t.Fatal("a client connection survived Close")
	}
}

// TestSessionSettings: the settings that are the session's own answer
// with its values wherever a client reads them, and a setting the
// endpoint does not have is PostgreSQL's error, not DuckDB's.
func TestSessionSettings(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	_, addr := serve(t, db)
	host, port, _ := net.SplitHostPort(addr)
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	const app = "it's ; version() -- me"
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec} {
		for _, q := range []string{
			"SELECT setting FROM pg_settings WHERE name = 'application_name'",
			"SELECT setting FROM pg_catalog.pg_settings s WHERE s.name = 'application_name'",
			"SELECT current_setting('application_name')",
			"SHOW application_name",
		} {
			var got string
			if err := conn.QueryRow(context.Background(), q, mode).Scan(&got); err != nil || got != app {
				t.Errorf("%s (%v): %q, %v; want %q", q, mode, got, err, app)
			}
		}
		rows, err := conn.Query(context.Background(), "SELECT current_setting('server_version_num')", mode)
		if err != nil {
			t.Fatal(err)
		}
		if name := rows.FieldDescriptions()[0].Name; name != "current_setting" {
			t.Errorf("current_setting's column is named %q", name)
		}
		rows.Close()
		all, err := conn.Query(context.Background(), "SHOW ALL", mode)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for all.Next() {
			var name, setting, desc string
			if err := all.Scan(&name, &setting, &desc); err != nil {
				t.Fatal(err)
			}
			if name == "application_name" && setting != app || name == "timezone" && setting != "UTC" {
				t.Errorf("SHOW ALL: %s = %q", name, setting)
			}
			n++
		}
		if err := all.Err(); err != nil || n != len(settings)+1 {
			t.Errorf("SHOW ALL (%v): %d rows, %v; want %d", mode, n, err, len(settings)+1)
		}
		if _, err := conn.Exec(context.Background(), "SHOW work_mem", mode); sqlState(err) != "42704" || !strings.Contains(err.Error(), `"work_mem"`) {
			t.Errorf("SHOW work_mem (%v): %v, want 42704", mode, err)
		}
		if _, err := conn.Exec(context.Background(), "SHOW sessions", mode); err != nil {
			t.Errorf("DuckDB's SHOW of a table (%v): %v", mode, err)
		}
	}
}
