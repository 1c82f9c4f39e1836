package warehouse

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/result"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	pgtest.Terminate()
	os.Exit(code)
}

func openTestPostgres(t *testing.T) *DB {
	t.Helper()
	dsn := pgtest.Get(t).NewDatabase(t)
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresStore(t *testing.T) { testStore(t, openTestPostgres(t)) }

func TestPostgresQueryReadOnly(t *testing.T) {
	db := openTestPostgres(t)
	ctx := context.Background()
	if _, err := db.QueryReadOnly(ctx, "SELECT 1 AS x"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DELETE FROM events", "DROP TABLE events", "CREATE TABLE t (x int)"} {
		if _, err := db.QueryReadOnly(ctx, q); err != result.ErrReadOnly {
			t.Errorf("%s: err %v, want ErrReadOnly", q, err)
		}
	}
}

func TestLooksReadOnly(t *testing.T) {
	for q, want := range map[string]bool{"SELECT 1": true, " with x as (select 1) select * from x;": true,
		"EXPLAIN SELECT 1": true, "DELETE FROM t": false, "SELECT 1; DROP TABLE t": false, "COPY t FROM 's3://x'": false,
		"-- c\rSELECT 1": true, "-- c\rDELETE FROM t": false} {
		if got := looksReadOnly(q); got != want {
			t.Errorf("looksReadOnly(%q) = %v", q, got)
		}
	}
}

// TestRedshiftLoadSQL pins the INSERTs that load Redshift (golden file) and
// their split under the parameter limit.
func TestRedshiftLoadSQL(t *testing.T) {
	b := &event.Batch{Stream: 1, IngestedAt: micro("2026-11-01T12:00:00Z")}
	for i := range 2 {
		b.Events = append(b.Events, event.Event{EventID: "e" + string(rune('0'+i)), UserID: "u", Time: micro("2026-11-01T10:00:00Z"),
			Type: event.Purchase, ProductID: "p", Price: 1999, Quantity: 1, Has: event.HasProductID | event.HasPrice})
	}
	at := ts(b.IngestedAt)
	stmts := insertStatements("events", eventColumns, len(b.Events), func(i int) []any { return eventRow(b, &b.Events[i], at) })
	var got strings.Builder
	for _, s := range stmts {
		got.WriteString(s.sql + ";\n")
	}
	path := filepath.Join("testdata", "redshift_insert_events.golden.sql")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(got.String()), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("Redshift INSERT (-want +got):\n%s", diff)
	}
	// 5,000 rows of 18 columns need 3 statements of at most 32767 parameters.
	many := insertStatements("events", eventColumns, 5000, func(int) []any { return eventRow(b, &b.Events[0], at) })
	if len(many) != 3 {
		t.Errorf("%d statements for 5000 rows, want 3", len(many))
	}
	for _, s := range many {
		if len(s.args) > maxParams || strings.Contains(s.sql, "ON CONFLICT") {
			t.Errorf("statement with %d parameters", len(s.args))
		}
	}
}

// TestRedshiftDDL keeps the streaming schema within what Redshift accepts.
func TestRedshiftDDL(t *testing.T) {
	for _, s := range ddl(Redshift) {
		for _, bad := range []string{"TEXT", "ASOF", "GENERATED", "SERIAL", "CREATE OR REPLACE TABLE", "ON CONFLICT", "[]", "CREATE INDEX"} {
			if strings.Contains(s, bad) {
				t.Errorf("Redshift DDL uses %s:\n%s", bad, s)
			}
		}
	}
}

var (
	figureDSN  = flag.String("figure-dsn", "", "PostgreSQL database for TestFigurePostgresLoad")
	figureRows = flag.Int("figure-rows", 200_000, "rows for TestFigurePostgresLoad")
)

// TestFigurePostgresLoad prints the load rate of COPY and of multi-row
// INSERT (the Redshift path) into PostgreSQL; `make bench` runs it.
func TestFigurePostgresLoad(t *testing.T) {
	if *figureDSN == "" {
		t.Skip("run by make bench with -figure-dsn")
	}
	ctx := context.Background()
	db, err := Open(ctx, *figureDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := &event.Batch{Stream: 1, IngestedAt: micro("2026-11-01T12:00:00Z")}
	for i := range *figureRows {
		b.Events = append(b.Events, event.Event{EventID: fmt.Sprintf("e%09d", i), UserID: fmt.Sprintf("u%06d", i%50000),
			Time: micro("2026-11-01T10:00:00Z") + int64(i)*1000, Type: event.Purchase, ProductID: "p0042", Price: 1999,
			Quantity: 2, Device: "mobile", Country: "DE", Category: "books", Offset: int64(i),
			Has: event.HasProductID | event.HasPrice | event.HasDevice | event.HasCountry | event.HasCategory})
	}
	for _, d := range []Dialect{Postgres, Redshift} {
		t0 := time.Now()
		tx, err := db.a.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pt := tx.(*pgTx)
		pt.dialect = d // the Redshift path: multi-row INSERTs with cast placeholders
		if err := pt.loadEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := pt.commit(); err != nil {
			t.Fatal(err)
		}
		how := "COPY (CopyFrom)"
		if d == Redshift {
			how = "multi-row INSERT (Redshift path)"
		}
		fmt.Printf("FIGURE PostgreSQL load, %s, %dK event rows: %.0f rows/s\n", how, *figureRows/1000, float64(*figureRows)/time.Since(t0).Seconds())
	}
}
