// Package e2e holds Cartwheel's whole-system tests: they build the binary,
// run it as users do and compare what lands in the warehouse with what the
// specification says.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// binary is the cartwheel binary under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cartwheel-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cartwheel")
	args := []string{"build", "-o", binary}
	if tags := buildTags(); tags != "" {
		args = append(args, "-tags", tags)
	}
	build := exec.Command("go", append(args, "../cmd/cartwheel")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cartwheel:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Terminate()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildTags passes the test binary's own build tags on to the CLI build.
func buildTags() string {
	if warehouse.BulkLoader == "arrow" {
		return "duckdb_arrow"
	}
	return ""
}

// cartwheel runs the binary to completion and returns its stdout.
func cartwheel(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cartwheel %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 20))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// openDB opens a warehouse for checking results.
func openDB(t *testing.T, dsn string) *warehouse.DB {
	t.Helper()
	db, err := warehouse.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func query(t *testing.T, db *warehouse.DB, sql string) [][]any {
	t.Helper()
	r, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return r.Rows
}

func count(t *testing.T, db *warehouse.DB, sql string) int64 {
	t.Helper()
	rows := query(t, db, sql)
	return rows[0][0].(int64)
}

// short skips a test that takes minutes under `go test -short`.
func short(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped with -short")
	}
	_ = runtime.NumCPU()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
