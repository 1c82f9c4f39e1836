package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

// realClient returns the path of a client program that no one here
// wrote; the test fails under CI=true when it is missing (CI installs
// it), and is skipped elsewhere.
func realClient(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (.ci/run installs it)", names[0])
	}
	t.Skipf("%s is not installed", names[0])
	return ""
}

// pythonWithPsycopg2 returns a Python that can import psycopg2.
func pythonWithPsycopg2(t *testing.T) string {
	t.Helper()
	return pythonWith(t, "psycopg2", "python3-psycopg2")
}

// pythonWith returns a Python that can import module (Debian's pkg).
func pythonWith(t *testing.T, module, pkg string) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import "+module).Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (.ci/run installs it)", pkg)
	}
	t.Skipf("python3 with %s is not installed", module)
	return ""
}

// pgFixture replays the fixture into a DuckDB file and runs the appliance
// on it with the Postgres endpoint on a free port (no demo traffic, so
// the warehouse holds still). It returns the DSN and the endpoint's
// address; csvOf answers `cartwheel query --format csv` while it runs.
func pgFixture(t *testing.T) (dsn, pgAddr string) {
	t.Helper()
	dir := t.TempDir()
	dsn = "duckdb://" + filepath.Join(dir, "w.duckdb")
	cfg := filepath.Join("..", "testdata", "fixture", "config.yaml")
	cartwheel(t, "replay", "--config", cfg, "--events", filepath.Join("..", "testdata", "fixture", "events.jsonl"), "--warehouse", dsn, "--no-models")
	pgAddr = freeAddr(t)
	conf := filepath.Join(dir, "run.yaml")
	writeFile(t, conf, fmt.Sprintf("data_dir: %s\nwarehouse: %s\nhttp: %s\npg: %s\ngenerator:\n  rate: 0\n", filepath.Join(dir, "data"), dsn, freeAddr(t), pgAddr))
	run := startRun(t, "run", "--config", conf)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", pgAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Postgres endpoint did not come up:\n%s", tail(run.log.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return dsn, pgAddr
}

func cliRecords(t *testing.T, dsn, sql string) [][]string {
	t.Helper()
	out := mustCartwheel(t, 60*time.Second, "query", "--warehouse", dsn, "--format", "csv", "--", sql)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("query output is not CSV: %v\n%s", err, out)
	}
	return recs
}

// pgCanonical makes a text value comparable across the CLI's CSV and
// PostgreSQL's text format: numbers by value, booleans as true/false.
func pgCanonical(s string, null bool) string {
	if null {
		return "NULL"
	}
	switch s {
	case "t":
		return "true"
	case "f":
		return "false"
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return s
}

// TestPgwirePanelsMatchCLI: every panel's SQL, with $1/$2/$3 bound over
// the extended protocol (pgx), returns what `cartwheel query` returns
// for the same SQL with the values written in.
func TestPgwirePanelsMatchCLI(t *testing.T) {
	dsn, addr := pgFixture(t)
	host, port, _ := net.SplitHostPort(addr)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	panels, _ := filepath.Glob(filepath.Join("..", "project", "dashboards", "*.sql"))
	if len(panels) == 0 {
		t.Fatal("no panel SQL")
	}
	from, to, step := "2026-10-01 00:00:00", "2026-12-01 00:00:00", "3600"
	params := regexp.MustCompile(`\$([1-3])`)
	for _, p := range panels {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sql := string(b)
		n := 0
		for _, m := range params.FindAllStringSubmatch(sql, -1) {
			k, _ := strconv.Atoi(m[1])
			n = max(n, k)
		}
		args := []string{from, to, step}[:n]
		literal := params.ReplaceAllStringFunc(sql, func(s string) string {
			return "'" + []string{from, to, step}[s[1]-'1'] + "'"
		})
		want := cliRecords(t, dsn, literal)
		vals := make([][]byte, n)
		for i, a := range args {
			vals[i] = []byte(a)
		}
		res := conn.PgConn().ExecParams(context.Background(), sql, vals, nil, nil, nil).Read()
		if res.Err != nil {
			t.Errorf("%s: %v", filepath.Base(p), res.Err)
			continue
		}
		got := [][]string{{}}
		for _, f := range res.FieldDescriptions {
			got[0] = append(got[0], f.Name)
		}
		for _, row := range res.Rows {
			r := make([]string, len(row))
			for i, v := range row {
				r[i] = pgCanonical(string(v), v == nil)
			}
			got = append(got, r)
		}
		for i := 1; i < len(want); i++ {
			for j := range want[i] {
				want[i][j] = pgCanonical(want[i][j], want[i][j] == "" && got[i][j] == "NULL")
			}
		}
		if len(want) < 2 {
			t.Errorf("%s: no rows from the fixture; the range misses it", filepath.Base(p))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Postgres endpoint vs cartwheel query (-cli +pg):\n%s", filepath.Base(p), diff)
		}
	}
}

// TestPgwirePsql drives the endpoint with psql: a query, \dt, \d sessions,
// their + forms and \sv, a bad query's error with its SQLSTATE, \copy …
// TO STDOUT, FETCH_COUNT, a write.
func TestPgwirePsql(t *testing.T) {
	psql := realClient(t, "psql")
	dsn, addr := pgFixture(t)
	host, port, _ := net.SplitHostPort(addr)
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(psql, append([]string{"-h", host, "-p", port, "-X", "cartwheel"}, args...)...)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PGUSER=tester")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	must := func(args ...string) string {
		out, errOut, err := run(args...)
		if err != nil {
			t.Fatalf("psql %v: %v\n%s%s", args, err, out, errOut)
		}
		return out
	}
	want := cliRecords(t, dsn, "SELECT count(*) FROM sessions")[1][0]
	if got := strings.TrimSpace(must("-At", "-c", "SELECT count(*) FROM sessions")); got != want {
		t.Errorf("count(*) over psql %q, cartwheel query %q", got, want)
	}
	if out := must("-c", `\dt`); !regexp.MustCompile(`main\s+\|\s+sessions\s+\|\s+table`).MatchString(out) {
		t.Errorf(`\dt does not list sessions:\n%s`, out)
	}
	out := must("-c", `\d sessions`)
	for _, re := range []string{`Table "main.sessions"`, `session_start\s+\|\s+timestamp without time zone`, `revenue\s+\|\s+numeric\(18,2\)`, `user_id\s+\|\s+character varying`, `event_count\s+\|\s+integer`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf(`\d sessions lacks %s:\n%s`, re, out)
		}
	}
	// The + forms and \sv (testdata/clients/psql_plus.sql): no error, and
	// nothing psql cannot name (???).
	for _, tc := range []struct{ cmd, re string }{
		{`\dt+ sessions`, `main\s+\|\s+sessions\s+\|\s+table\s+\|\s+cartwheel\s+\|\s+permanent`},
		{`\dv+`, `main\s+\|\s+session_events\s+\|\s+view`},
		{`\d+ sessions`, `revenue\s+\|\s+numeric\(18,2\)\s+\|\s+\|\s+not null\s+\|\s+\|\s+plain`},
		{`\d+ session_events`, `(?s)View "main.session_events".*View definition:\nSELECT s.session_id`},
		{`\sv session_events`, `^CREATE OR REPLACE VIEW main.session_events AS\nSELECT s.session_id, e.event_id`},
		{`\l+`, `(?s)^\s*List of databases.*\n cartwheel\s+\|\s+cartwheel\s+\|\s+UTF8.*\(1 row\)`},
	} {
		out := must("-c", tc.cmd)
		if !regexp.MustCompile(tc.re).MatchString(out) || strings.Contains(out, "???") {
			t.Errorf("%s does not match %s, or has ???:\n%s", tc.cmd, tc.re, out)
		}
	}
	_, errOut, err := run("-v", "VERBOSITY=verbose", "-c", "SELECT * FROM no_such_table")
	if err == nil || !strings.Contains(errOut, "42P01") {
		t.Errorf("a bad query: %v\n%s, want ERROR 42P01", err, errOut)
	}
	_, errOut, err = run("-v", "VERBOSITY=verbose", "-c", "DELETE FROM sessions")
	if err == nil || !strings.Contains(errOut, "25006") {
		t.Errorf("a write: %v\n%s, want ERROR 25006", err, errOut)
	}
	_, errOut, err = run("-v", "VERBOSITY=verbose", "-c", "SELECT * FROM read_text('/etc/passwd')")
	if err == nil || !strings.Contains(errOut, "42501") {
		t.Errorf("a file read: %v\n%s, want ERROR 42501", err, errOut)
	}
	q := "SELECT session_id, user_id, session_start, revenue FROM sessions ORDER BY session_id"
	// FETCH_COUNT makes psql read through a cursor (DECLARE, FETCH
	// FORWARD 7 until a short batch, CLOSE): the same rows.
	all := must("-A", "-t", "-F", ",", "-c", q)
	if fetched := must("-A", "-t", "-F", ",", "-v", "FETCH_COUNT=7", "-c", q); fetched != all || strings.Count(all, "\n") < 8 {
		t.Errorf("with FETCH_COUNT=7 psql printed %d lines, without it %d; want the same rows", strings.Count(fetched, "\n"), strings.Count(all, "\n"))
	}
	copied := must("-c", `\copy (`+q+`) TO STDOUT WITH (FORMAT csv, HEADER)`)
	recs, err := csv.NewReader(strings.NewReader(copied)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cliRecords(t, dsn, q), recs); diff != "" {
		t.Errorf(`\copy … TO STDOUT vs cartwheel query (-cli +psql):\n%s`, diff)
	}
}

// TestPgwirePsqlCompletion types into an interactive psql (on a
// pseudo-terminal, through Python's pty) and presses Tab: psql completes
// table, column, schema-qualified and setting names from the endpoint's
// catalog, as it does against PostgreSQL. A failing completion query shows
// no error, only no completion.
func TestPgwirePsqlCompletion(t *testing.T) {
	psql := realClient(t, "psql")
	py := pythonWith(t, "pty", "python3")
	_, addr := pgFixture(t)
	host, port, _ := net.SplitHostPort(addr)
	// Types argv[4] and a Tab, then reads the terminal until argv[5]
	// shows, for at most 20 s; prints what it read.
	const script = `
import os, pty, re, select, sys, time
psql, host, port, typed, want = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(PGUSER="tester", PGCONNECT_TIMEOUT="10", TERM="dumb")
    os.execv(psql, [psql, "-X", "-h", host, "-p", port, "cartwheel"])
out, sent, deadline = b"", False, time.time() + 20
def text():
    # Without escape sequences, bells and carriage returns.
    t = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.decode(errors="replace"))
    return re.sub(r"[\x00-\x09\x0b-\x1f]", "", t)
while time.time() < deadline:
    if not sent and "cartwheel=>" in text():
        os.write(fd, typed.encode() + b"\t")
        sent = True
    if sent and want in text():
        break
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            out += os.read(fd, 65536)
        except OSError:
            break
os.kill(pid, 9)
os.waitpid(pid, 0)
print(text())
sys.exit(0 if sent and want in text() else 1)
`
	for _, tc := range []struct{ typed, want string }{
		{"SELECT * FROM sess", "SELECT * FROM session"},     // sessions, session_events
		{"SELECT * FROM stre", "SELECT * FROM stream"},      // streams, stream_checkpoints
		{"SELECT * FROM main.rej", "main.rejected_events "}, // schema-qualified
		{"SELECT * FROM events WHERE event_ty", "WHERE event_type "},
		{"SET time", "SET timezone "},
	} {
		out, err := exec.Command(py, "-c", script, psql, host, port, tc.typed, tc.want).CombinedOutput()
		if err != nil {
			t.Errorf("psql completed %q, want %q: %v\n%s", tc.typed, tc.want, err, out)
		}
	}
}

// TestPgwirePsycopg2 runs a parameterised query from Python's psycopg2
// and checks the types it decodes: timestamps, decimals, NULLs and
// Unicode user ids; then reads a table through a named (server-side)
// cursor.
func TestPgwirePsycopg2(t *testing.T) {
	py := pythonWithPsycopg2(t)
	_, addr := pgFixture(t)
	host, port, _ := net.SplitHostPort(addr)
	script := `
import sys, datetime, decimal, psycopg2
c = psycopg2.connect(host=sys.argv[1], port=int(sys.argv[2]), dbname="cartwheel", user="tester")
cur = c.cursor()
cur.execute("SELECT count(*) FROM sessions WHERE session_start >= %s AND revenue >= %s", (datetime.datetime(2026, 1, 1), decimal.Decimal("0.00")))
n = cur.fetchone()[0]
assert isinstance(n, int) and n > 0, n
cur.execute("SELECT %s::VARCHAR AS u, %s::DECIMAL(18,2) AS d, %s::TIMESTAMP AS t, NULL::VARCHAR AS z, %s::DATE AS day, revenue FROM sessions ORDER BY revenue DESC LIMIT 1",
            ("ünïcødé-用户", decimal.Decimal("1234.56"), datetime.datetime(2026, 11, 20, 1, 2, 3, 456789), datetime.date(2026, 11, 20)))
u, d, ts, z, day, rev = cur.fetchone()
assert u == "ünïcødé-用户", u
assert d == decimal.Decimal("1234.56") and isinstance(d, decimal.Decimal), d
assert ts == datetime.datetime(2026, 11, 20, 1, 2, 3, 456789), ts
assert z is None
assert day == datetime.date(2026, 11, 20), day
assert isinstance(rev, decimal.Decimal), type(rev)
try:
    cur.execute("INSERT INTO streams SELECT * FROM streams")
    raise SystemExit("a write went through")
except psycopg2.Error as e:
    assert e.pgcode == "25006", e.pgcode
c.rollback()
named = c.cursor(name="all sessions")
named.itersize = 5
named.execute("SELECT session_id FROM sessions WHERE revenue >= %s ORDER BY session_id", (decimal.Decimal("0"),))
ids = [r[0] for r in named]
named.close()
cur = c.cursor()
cur.execute("SELECT session_id FROM sessions ORDER BY session_id")
assert ids == [r[0] for r in cur.fetchall()] and len(ids) == n, (len(ids), n)
c.commit()
print("ok", n)
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("psycopg2: %v\n%s", err, out)
	}
}

// TestPgwireSQLAlchemy: SQLAlchemy 1.4 (psycopg2 dialect) connects,
// reflects the warehouse — table, view and column names with types it
// maps to its own (testdata/clients/sqlalchemy.sql) — queries a reflected
// table, and streams a result through a server-side cursor
// (stream_results), as pandas.read_sql(chunksize=…) does.
func TestPgwireSQLAlchemy(t *testing.T) {
	py := pythonWith(t, "sqlalchemy", "python3-sqlalchemy")
	_, addr := pgFixture(t)
	host, port, _ := net.SplitHostPort(addr)
	script := `
import sys, warnings, sqlalchemy as sa
warnings.simplefilter("error")  # an unrecognised column type is a warning
eng = sa.create_engine("postgresql+psycopg2://tester@%s:%s/cartwheel" % (sys.argv[1], sys.argv[2]))
with eng.connect() as c:
    insp = sa.inspect(c)
    tables, views = insp.get_table_names(), insp.get_view_names()
    assert "sessions" in tables and "events" in tables, tables
    assert "session_events" in views, views
    cols = {col["name"]: col for col in insp.get_columns("sessions")}
    assert isinstance(cols["session_id"]["type"], sa.String), cols["session_id"]
    assert isinstance(cols["event_count"]["type"], sa.Integer), cols["event_count"]
    assert isinstance(cols["revenue"]["type"], sa.Numeric) and cols["revenue"]["type"].scale == 2, cols["revenue"]
    assert isinstance(cols["session_start"]["type"], sa.DateTime), cols["session_start"]
    assert cols["session_id"]["nullable"] is False, cols["session_id"]
    sessions = sa.Table("sessions", sa.MetaData(), autoload_with=c)
    n = c.execute(sa.select(sa.func.count()).select_from(sessions)).scalar()
    paid = c.execute(sa.select(sa.func.count()).select_from(sessions).where(sessions.c.revenue > 0)).scalar()
    assert 0 < paid < n, (paid, n)
    streamed = 0
    for part in c.execution_options(stream_results=True, yield_per=7).execute(sa.select(sessions.c.session_id)).partitions():
        assert len(part) <= 7
        streamed += len(part)
    assert streamed == n, (streamed, n)
print("ok", n)
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("sqlalchemy: %v\n%s", err, out)
	}
}
