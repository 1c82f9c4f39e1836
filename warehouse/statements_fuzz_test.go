package warehouse

import (
	"strings"
	"sync"
	"testing"

	"github.com/duckdb/duckdb-go/v2/mapping"
)

// duckParser is one in-memory DuckDB connection used only for its parser
// (duckdb_extract_statements parses without binding or running anything).
var duckParser struct {
	once sync.Once
	mu   sync.Mutex
	db   mapping.Database
	conn mapping.Connection
	err  string
}

// duckStatements returns how many statements DuckDB's own parser finds in q,
// and false when it cannot parse q.
func duckStatements(t testing.TB, q string) (int, bool) {
	t.Helper()
	duckParser.once.Do(func() {
		if mapping.Open("", &duckParser.db) == mapping.StateError {
			duckParser.err = "open in-memory DuckDB"
			return
		}
		if mapping.Connect(duckParser.db, &duckParser.conn) == mapping.StateError {
			duckParser.err = "connect to in-memory DuckDB"
		}
	})
	if duckParser.err != "" {
		t.Fatal(duckParser.err)
	}
	duckParser.mu.Lock()
	defer duckParser.mu.Unlock()
	var stmts mapping.ExtractedStatements
	n := mapping.ExtractStatements(duckParser.conn, q, &stmts)
	parsed := n > 0 || mapping.ExtractStatementsError(stmts) == ""
	mapping.DestroyExtracted(&stmts)
	return int(n), parsed
}

// statementSeeds are the corpus of FuzzCountStatements: every quoting and
// comment form the counter knows, and the shapes that once fooled it.
var statementSeeds = []string{
	"", ";", " ; ;\n", "SELECT 1", "SELECT 1;", "SELECT 1; SELECT 2",
	"SELECT ';'", "SELECT 'it''s; fine'", `SELECT "a;b"`, `SELECT "a""; b"`,
	"SELECT E'\\'; SELECT 2'", "SELECT e'\\\\'; SELECT 2", "SELECT 'a\\'; SELECT 2",
	"SELECT $$;$$", "SELECT $tag$ ; $ $tag$; SELECT 2", "SELECT $1; SELECT 2",
	"SELECT 1 -- ; SELECT 2\n", "SELECT 1 /* ; /* nested ; */ ; */", "SELECT 1 /* unterminated ;",
	"SELECT 'unterminated ;", "/* only a comment */", "-- only a comment",
	"CREATE TABLE x AS SELECT 1; SELECT 2",
	// $ inside an identifier is not a dollar quote: "a$b$" is one name.
	"SELECT 1 AS a$b$; SELECT 2", "SELECT 1 AS a$$; SELECT 2 AS b$$",
	// A name ending in E before a quote is not an escape string.
	"SELECT 1 AS \"E\", DATE'2020-01-01'; SELECT 2", "SELECT 'x' AS nE, nE'\\'; SELECT 2 '",
	"SELECT 1.5e3; SELECT 2", "SELECT 1$$; SELECT 2", "SELECT U&'d\\0061t\\+000061'; SELECT 2",
	"SELECT x'1F'; SELECT 2", "SELECT 'a' 'b'; SELECT 2",
	// A line comment ends at a carriage return as well as a line feed.
	"-- c\r SELECT 1; SELECT 2", "SELECT 1 -- ;\r; SELECT 2",
}

// maxFuzzStatement bounds FuzzCountStatements' inputs. DuckDB's parser
// takes time superlinear in the nesting of an expression: 4,000 unary '+'
// took it 27 s, over the fuzzer's 10 s hang limit, so the fuzz run failed
// without a finding. The counter's states (quotes, comments, dollar tags)
// all show in short texts.
const maxFuzzStatement = 256

// FuzzCountStatements checks the read-only guard's statement counter
// against DuckDB's own parser. What matters for safety is that the counter
// never sees one statement where DuckDB sees several: preparing a
// multi-statement string runs all but its last statement (checkReadOnly).
// Where DuckDB parses the text, the two counts must be equal; where it
// cannot, DuckDB runs nothing, and the counter only must not fail.
func FuzzCountStatements(f *testing.F) {
	for _, s := range statementSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > maxFuzzStatement {
			t.Skip("DuckDB's parser is too slow on long texts of this shape")
		}
		n := countStatements(q)
		if n < 0 || n > strings.Count(q, ";")+1 {
			t.Fatalf("countStatements(%q) = %d, outside 0..(semicolons+1)", q, n)
		}
		// DuckDB gets the text as a C string, so it stops at a NUL byte;
		// whatever follows can only add statements to our count.
		if nul := strings.IndexByte(q, 0); nul >= 0 {
			if m := countStatements(q[:nul]); m > n {
				t.Fatalf("countStatements(%q) = %d, less than %d for the part before its NUL", q, n, m)
			}
			q = q[:nul]
			n = countStatements(q)
		}
		duck, parsed := duckStatements(t, q)
		if !parsed || duck == 0 {
			// DuckDB runs nothing of a text it cannot parse, nor of one it
			// finds empty (it refuses some invalid UTF-8 that way).
			return
		}
		// Counting fewer statements than DuckDB runs would let a second
		// statement through the guard; counting more only refuses a
		// query (DuckDB, for one, reads a lone invalid UTF-8 byte after a
		// ';' as nothing, where this counter sees a statement).
		if n < duck {
			t.Fatalf("countStatements(%q) = %d, DuckDB's parser finds %d statements", q, n, duck)
		}
	})
}
