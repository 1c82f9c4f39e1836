package warehouse

import (
	"errors"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/result"
)

func TestCountStatements(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"", 0},
		{" ; ;\n", 0},
		{"SELECT 1", 1},
		{"SELECT 1;", 1},
		{"SELECT 1;  -- trailing comment", 1},
		{"SELECT 1; /* c */ ", 1},
		{"DELETE FROM events; SELECT 1", 2},
		{"SELECT ';' AS s", 1},
		{"SELECT 'it''s; fine'", 1},
		{`SELECT "a;b" FROM t`, 1},
		{`SELECT "a""; b" FROM t`, 1},
		{"SELECT E'\\'; DROP TABLE t'", 1},
		{"SELECT 'a\\'; DROP TABLE t; --'", 2},
		{"SELECT $$;$$", 1},
		{"SELECT $tag$ ; $ $tag$; SELECT 2", 2},
		{"SELECT $1; SELECT 2", 2},
		{"SELECT 1 -- ; DROP TABLE t\n", 1},
		{"SELECT 1 /* ; /* nested ; */ ; */", 1},
		{"SELECT 1 /* unterminated ;", 1},
		{"SELECT 'unterminated ;", 1},
		{"/* only a comment */", 0},
		{"CREATE TABLE x AS SELECT 1; SELECT 2", 2},
	} {
		if got := countStatements(tc.q); got != tc.want {
			t.Errorf("countStatements(%q) = %d, want %d", tc.q, got, tc.want)
		}
	}
}

func TestQueryReadOnlyRefusesStatementLists(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, "duckdb://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE probe AS SELECT 1 AS x; SELECT 1",
		"INSERT INTO cartwheel_meta VALUES ('probe', 'x'); SELECT 1",
		"DELETE FROM cartwheel_meta",
		// "$" continues a name ("a$b$" is one identifier), so it must not
		// open a dollar quote that hides the statements after it.
		"CREATE TABLE probe AS SELECT 1 AS x$q$; SELECT 1",
		"INSERT INTO cartwheel_meta SELECT 'probe' AS k$q$, 'x'; SELECT 1",
		// EXPLAIN ANALYZE runs the statement it explains.
		"EXPLAIN ANALYZE CREATE TABLE probe AS SELECT 1 AS x",
		"EXPLAIN ANALYZE INSERT INTO cartwheel_meta VALUES ('probe', 'x')",
		"EXPLAIN /* c */ analyse DELETE FROM cartwheel_meta",
		"EXPLAIN (ANALYZE) DELETE FROM cartwheel_meta",
		"EXPLAIN DELETE FROM cartwheel_meta",
	} {
		if _, err := db.QueryReadOnly(ctx, q); !errors.Is(err, result.ErrReadOnly) {
			t.Errorf("QueryReadOnly(%q) = %v, want ErrReadOnly", q, err)
		}
	}
	r, err := db.QueryReadOnly(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'probe'; -- done")
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Rows[0][0]; n != int64(0) {
		t.Errorf("a refused statement list created a table (count %v)", n)
	}
	r, err = db.QueryReadOnly(ctx, "SELECT count(*) FROM cartwheel_meta WHERE key = 'probe'")
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Rows[0][0]; n != int64(0) {
		t.Errorf("a refused statement list inserted a row (count %v)", n)
	}
}

func TestQueryReadOnlyExplain(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, "duckdb://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"EXPLAIN SELECT 1",
		"EXPLAIN ANALYZE SELECT count(*) FROM cartwheel_meta",
		"explain -- why\n analyze WITH x AS (SELECT 1) SELECT * FROM x",
	} {
		if _, err := db.QueryReadOnly(ctx, q); err != nil {
			t.Errorf("QueryReadOnly(%q) = %v, want a plan", q, err)
		}
	}
}

func TestExplained(t *testing.T) {
	for _, tc := range []struct {
		q, want string
		ok      bool
	}{
		{"EXPLAIN SELECT 1", "SELECT 1", true},
		{"explain analyze DELETE FROM t", "DELETE FROM t", true},
		{" /* a /* b */ */ EXPLAIN -- c\nANALYSE\tSELECT 1", "SELECT 1", true},
		{"EXPLAIN (ANALYZE, FORMAT json) DELETE FROM t", "DELETE FROM t", true},
		{"EXPLAIN (ANALYZE DELETE FROM t", "", false},
		{"EXPLAIN", "", false},
		{"EXPLAINX SELECT 1", "", false},
		{"SELECT 1", "", false},
	} {
		got, ok := explained(tc.q)
		if got != tc.want || ok != tc.ok {
			t.Errorf("explained(%q) = %q, %v; want %q, %v", tc.q, got, ok, tc.want, tc.ok)
		}
	}
}
