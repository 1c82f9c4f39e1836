package models

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// openDuckDB opens a fresh file-backed DuckDB warehouse with the streaming
// tables.
func openDuckDB(t testing.TB) *warehouse.DB {
	t.Helper()
	db, err := warehouse.Open(context.Background(), "duckdb://"+filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// execFile runs a file of ;-terminated SQL statements.
func execFile(t testing.TB, db DB, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range splitStatements(string(b)) {
		if err := db.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, stmt)
		}
	}
}

// splitStatements splits SQL on semicolons that end a line, dropping
// comment-only chunks.
func splitStatements(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";\n") {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if stmt := strings.TrimSpace(strings.Join(lines, "\n")); stmt != "" {
			out = append(out, strings.TrimSuffix(stmt, ";"))
		}
	}
	return out
}

// builtin loads the project in ../project.
func builtin(t testing.TB) *Project {
	t.Helper()
	p, err := Load(os.DirFS("../project"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixedClock makes log lines reproducible.
func fixedClock() time.Time { return time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC) }

// formatValue renders a result value as the golden CSV files write it.
func formatValue(v any, k result.Kind) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		if k == result.KindDate {
			return x.Format("2006-01-02")
		}
		if x.Nanosecond() != 0 {
			return x.Format("2006-01-02 15:04:05.000000")
		}
		return x.Format("2006-01-02 15:04:05")
	case bool:
		return strconv.FormatBool(x)
	case result.Decimal:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return "?"
}

// queryRows runs a query and renders its header and rows as strings.
func queryRows(t testing.TB, db DB, q string) [][]string {
	t.Helper()
	res, err := db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out [][]string
	var head []string
	for _, c := range res.Columns {
		head = append(head, c.Name)
	}
	out = append(out, head)
	for _, r := range res.Rows {
		row := make([]string, len(r))
		for i, v := range r {
			row[i] = formatValue(v, res.Columns[i].Kind)
		}
		out = append(out, row)
	}
	return out
}

func readCSV(t testing.TB, file string) [][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return recs
}

// compareTable compares a relation, ordered by its first column, with a CSV.
func compareTable(t testing.TB, db DB, relation, file string) {
	t.Helper()
	got := queryRows(t, db, "SELECT * FROM "+relation+" ORDER BY 1")
	want := readCSV(t, file)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", relation, file, d)
	}
}

func diffRows(a, b [][]string) string {
	return cmp.Diff(a, b)
}
