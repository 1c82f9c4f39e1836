package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// redshiftDSNEnv names a live Redshift for TestRedshiftParity, e.g.
//
//	CARTWHEEL_TEST_REDSHIFT_DSN='redshift://user:pw@cluster.abc.eu-west-1.redshift.amazonaws.com:5439/dev'
//
// Add the S3 staging parameters (s3_bucket, iam_role, s3_region, …; see
// warehouse/redshift_s3.go) to load the large batches with COPY from S3;
// s3_min_rows=1 stages every batch, the fixture's too. Each run works in a
// schema of its own (search_path), dropped at the end, so reruns start clean
// and nothing outside that schema is touched.
const redshiftDSNEnv = "CARTWHEEL_TEST_REDSHIFT_DSN"

// redshiftDSN returns the live Redshift DSN, or skips the test. The
// password moves to CARTWHEEL_WAREHOUSE_PASSWORD, so that it appears in no
// command line and no failure message.
func redshiftDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(redshiftDSNEnv)
	if dsn == "" {
		t.Skip(redshiftDSNEnv + " is not set: no live Redshift to test against")
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "redshift" {
		t.Fatalf("%s must be a redshift:// DSN", redshiftDSNEnv)
	}
	if pw, ok := u.User.Password(); ok {
		t.Setenv(warehouse.PasswordEnv, pw)
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// redshiftSchema creates an empty schema for one test and returns the DSN
// that works in it; the schema and everything in it are dropped at the end.
func redshiftSchema(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "cw_e2e_" + hex.EncodeToString(b)
	// ReadOnlyAccess: no streaming tables in the default schema.
	admin, err := warehouse.Open(ctx, dsn, warehouse.ReadOnlyAccess())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		admin.Close()
	})
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", name) // a startup parameter: every pooled connection gets it
	u.RawQuery = q.Encode()
	return u.String()
}

// compareWarehouses requires the same streaming tables in both warehouses.
func compareWarehouses(t *testing.T, duckDSN, rsDSN string) {
	t.Helper()
	d, r := openDB(t, duckDSN), openDB(t, rsDSN)
	for _, name := range []string{"events", "sessions", "rejected_events", "session_events"} {
		want, got := canonical(t, d, parityQueries[name]), canonical(t, r, parityQueries[name])
		if len(want) == 0 && name != "rejected_events" {
			t.Errorf("%s: no rows on DuckDB", name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s differs (-duckdb +redshift):\n%s", name, firstLines(diff, 30))
		}
	}
}

// TestRedshiftParity replays the hand-worked fixture, then a generated
// stream, into DuckDB and into a live Redshift through the CLI, and
// requires identical events, sessions, rejections and session links. It
// runs only with CARTWHEEL_TEST_REDSHIFT_DSN.
func TestRedshiftParity(t *testing.T) {
	dsn := redshiftDSN(t)
	fixture := filepath.Join("..", "testdata", "fixture", "events.jsonl")
	cfg := filepath.Join("..", "testdata", "fixture", "config.yaml")

	t.Run("fixture", func(t *testing.T) {
		duck := "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
		rs := redshiftSchema(t, dsn)
		for _, w := range []string{duck, rs} {
			cartwheel(t, "replay", "--config", cfg, "--events", fixture, "--warehouse", w, "--no-models")
		}
		compareWarehouses(t, duck, rs)
		// A second replay loads nothing twice (the fixture's counts).
		cartwheel(t, "replay", "--config", cfg, "--events", fixture, "--warehouse", rs, "--no-models")
		db := openDB(t, rs)
		for table, want := range map[string]int64{"events": 13, "rejected_events": 7, "sessions": 8} {
			if got := count(t, db, "SELECT count(*) FROM "+table); got != want {
				t.Errorf("%s after a second replay: %d rows, want %d", table, got, want)
			}
		}
	})

	// Batches of thousands of rows: the S3 COPY path when the DSN names a
	// bucket, multi-row INSERTs otherwise.
	t.Run("generated", func(t *testing.T) {
		short(t)
		dir := t.TempDir()
		file := filepath.Join(dir, "e.jsonl")
		cartwheel(t, "generate", "--seed", "3", "--events", "20000", "--users", "1000", "--out", file,
			"--out-of-order", "0.03", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.01")
		duck := "duckdb://" + filepath.Join(dir, "w.duckdb")
		rs := redshiftSchema(t, dsn)
		for _, w := range []string{duck, rs} {
			cartwheel(t, "replay", "--events", file, "--warehouse", w, "--no-models")
		}
		compareWarehouses(t, duck, rs)
		if strings.Contains(dsn, "s3_bucket=") {
			t.Log("loaded through S3 staging (COPY) for batches of at least s3_min_rows rows")
		}
	})
}
