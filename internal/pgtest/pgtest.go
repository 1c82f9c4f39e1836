// Package pgtest gives tests a PostgreSQL database: an existing server from
// CARTWHEEL_TEST_POSTGRES_DSN, or a container started with testcontainers
// from CARTWHEEL_TEST_POSTGRES_IMAGE (default: the public postgres image;
// scripts/postgres-image builds one locally where no registry is reachable).
// Without either the tests skip with one line — except under CI=true, where
// they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// DefaultImage is used when CARTWHEEL_TEST_POSTGRES_IMAGE is not set.
const DefaultImage = "postgres:16-alpine"

const (
	user     = "cartwheel"
	password = "cartwheel test"
)

// Server is a PostgreSQL server for tests.
type Server struct {
	base      url.URL // without a database
	container *tcpostgres.PostgresContainer
}

var (
	once    sync.Once
	shared  *Server
	failure string
)

// Get returns the shared server, starting it on first use; it skips (or,
// under CI=true, fails) the test when none can be had.
func Get(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, failure = start() })
	if shared == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL tests cannot run under CI: %s", failure)
		}
		t.Skip("no PostgreSQL: " + failure)
	}
	return shared
}

// Terminate stops the shared container, if one was started (call it from
// TestMain: without Ryuk nothing else removes it).
func Terminate() {
	if shared != nil && shared.container != nil {
		testcontainers.TerminateContainer(shared.container)
	}
}

func start() (*Server, string) {
	if dsn := os.Getenv("CARTWHEEL_TEST_POSTGRES_DSN"); dsn != "" {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, "CARTWHEEL_TEST_POSTGRES_DSN: " + err.Error()
		}
		u.Path = "/postgres"
		return &Server{base: *u}, ""
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, "set CARTWHEEL_TEST_POSTGRES_DSN, or install Docker for testcontainers"
	}
	// Containers run on the host network and are reached on loopback.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	image := os.Getenv("CARTWHEEL_TEST_POSTGRES_IMAGE")
	if image == "" {
		image = DefaultImage
	}
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, err.Error()
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, image,
		tcpostgres.WithUsername(user), tcpostgres.WithPassword(password), tcpostgres.WithDatabase("postgres"),
		testcontainers.WithEnv(map[string]string{"PGPORT": strconv.Itoa(port)}),
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "port="+strconv.Itoa(port)),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
		testcontainers.WithWaitStrategy(readiness()),
	)
	if err != nil {
		if c != nil {
			testcontainers.TerminateContainer(c)
		}
		return nil, fmt.Sprintf("start %s with testcontainers: %v", image, err)
	}
	return &Server{container: c, base: url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres", RawQuery: "sslmode=disable"}}, ""
}

// readiness waits for the real server: after a restart the old log lines
// are still there, so the log wait alone would pass at once.
func readiness() wait.Strategy {
	return wait.ForAll(
		wait.ForLog("database system is ready to accept connections").WithOccurrence(2).WithStartupTimeout(2*time.Minute),
		wait.ForExec([]string{"pg_isready", "-q", "-h", "127.0.0.1"}).WithPollInterval(100*time.Millisecond).WithStartupTimeout(2*time.Minute),
	)
}

// NewDatabase creates an empty database for one test and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "cw_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, s.base.String())
		if err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u := s.base
	u.Path = "/" + name
	return u.String()
}

// CanRestart reports whether Stop and Start work (a container, not an
// external server).
func (s *Server) CanRestart() bool { return s.container != nil }

// Stop stops the server (an outage).
func (s *Server) Stop(ctx context.Context) error {
	d := 10 * time.Second
	return s.container.Stop(ctx, &d)
}

// Start starts a stopped server and waits until it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	if err := s.container.Start(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := pgx.Connect(ctx, s.base.String())
		if err == nil {
			c.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
