package pgwire

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// TestCursors: DECLARE, FETCH, MOVE and CLOSE as psycopg2's named cursors
// and psql's FETCH_COUNT send them (the simple protocol), and FETCH over
// the extended protocol, with PostgreSQL's tags and errors.
func TestCursors(t *testing.T) {
	db := testWarehouse(t, warehouse.DefaultLimits)
	_, addr := serve(t, db)
	conn := connect(t, addr)
	ctx := context.Background()
	pg := conn.PgConn()

	// exec runs a simple-protocol query and returns each result's tag and
	// rows (text), or the first error's SQLSTATE and message.
	exec := func(sql string) (tags []string, rows [][][]string, state string) {
		t.Helper()
		results, err := pg.Exec(ctx, sql).ReadAll()
		for _, r := range results {
			tags = append(tags, r.CommandTag.String())
			var rs [][]string
			for _, row := range r.Rows {
				var vals []string
				for _, v := range row {
					vals = append(vals, string(v))
				}
				rs = append(rs, vals)
			}
			rows = append(rows, rs)
		}
		if err != nil {
			state = sqlState(err) + " " + err.Error()
		}
		return tags, rows, state
	}
	must := func(sql string) ([]string, [][][]string) {
		t.Helper()
		tags, rows, state := exec(sql)
		if state != "" {
			t.Fatalf("%s: %s", sql, state)
		}
		return tags, rows
	}
	wantErr := func(sql, code string) {
		t.Helper()
		if _, _, state := exec(sql); !strings.HasPrefix(state, code+" ") {
			t.Errorf("%s: error %q, want SQLSTATE %s", sql, state, code)
		}
	}

	// psycopg2's named cursor, with its quoted name.
	must("BEGIN")
	tags, _ := must(`DECLARE "Big" CURSOR WITHOUT HOLD FOR SELECT range AS n FROM range(10) ORDER BY n`)
	if diff := cmp.Diff([]string{"DECLARE CURSOR"}, tags); diff != "" {
		t.Errorf("DECLARE tag (-want +got):\n%s", diff)
	}
	var got []string
	for {
		tags, rows := must(`FETCH FORWARD 4 FROM "Big"`)
		for _, r := range rows[0] {
			got = append(got, r[0])
		}
		if len(rows[0]) < 4 {
			if want := fmt.Sprintf("FETCH %d", len(rows[0])); tags[0] != want {
				t.Errorf("the last FETCH's tag %q, want %q", tags[0], want)
			}
			break
		}
	}
	if diff := cmp.Diff(strings.Fields("0 1 2 3 4 5 6 7 8 9"), got); diff != "" {
		t.Errorf("rows fetched 4 at a time (-want +got):\n%s", diff)
	}
	if tags, rows := must(`FETCH "Big"`); tags[0] != "FETCH 0" || len(rows[0]) != 0 {
		t.Errorf("FETCH past the end: %v %v, want FETCH 0 and no rows", tags, rows)
	}
	wantErr(`FETCH big`, "34000") // unquoted names fold to lower case
	must(`CLOSE "Big"`)
	wantErr(`FETCH 1 FROM "Big"`, "34000")

	// psql's FETCH_COUNT, MOVE, the FETCH forms, and the SQL of a cursor
	// going through the guard.
	must("DECLARE _psql_cursor NO SCROLL CURSOR FOR SELECT session_id, revenue FROM sessions ORDER BY session_id")
	if tags, _ := must("MOVE FORWARD 1 IN _psql_cursor"); tags[0] != "MOVE 1" {
		t.Errorf("MOVE tag %v, want MOVE 1", tags)
	}
	if _, rows := must("FETCH ALL FROM _psql_cursor"); fmt.Sprint(rows) != "[[[s2 0.00]]]" {
		t.Errorf("FETCH ALL after MOVE 1: %v, want s2's row", rows)
	}
	wantErr("FETCH BACKWARD 1 FROM _psql_cursor", "55000")
	wantErr("FETCH PRIOR FROM _psql_cursor", "55000")
	wantErr("DECLARE _psql_cursor CURSOR FOR SELECT 1", "42P03")
	wantErr("DECLARE w CURSOR FOR DELETE FROM sessions", "25006")
	wantErr("DECLARE w CURSOR FOR SET x = 1", "42601")
	wantErr("DECLARE w CURSOR FOR SELECT * FROM read_text('/etc/passwd')", "42501")
	wantErr("DECLARE w BINARY CURSOR FOR SELECT 1", "0A000")
	must("FETCH 1 FROM _psql_cursor") // still open after the errors

	// A cursor without HOLD ends with its transaction; one WITH HOLD
	// outlives it, until CLOSE ALL.
	must(`DECLARE h CURSOR WITH HOLD FOR SELECT range FROM range(3)`)
	must("COMMIT")
	wantErr("FETCH 1 FROM _psql_cursor", "34000")
	if _, rows := must("FETCH 2 FROM h"); fmt.Sprint(rows) != "[[[0] [1]]]" {
		t.Errorf("a WITH HOLD cursor after COMMIT: %v", rows)
	}
	wantErr("DECLARE nohold CURSOR FOR SELECT 1", "25P01")
	must("CLOSE ALL")
	wantErr("FETCH 1 FROM h", "34000")

	// The extended protocol (pgx's default): DECLARE with a parameter,
	// FETCH described as the cursor's rows and decoded in binary.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DECLARE x CURSOR FOR SELECT session_id, revenue, session_start FROM sessions WHERE revenue > $1 ORDER BY 1", 1); err != nil {
		t.Fatal(err)
	}
	var (
		id    string
		rev   float64
		start time.Time
	)
	if err := tx.QueryRow(ctx, "FETCH NEXT FROM x").Scan(&id, &rev, &start); err != nil {
		t.Fatal(err)
	}
	if id != "s1" || rev != 40.5 || !start.Equal(time.Date(2026, 11, 20, 10, 0, 0, 123456000, time.UTC)) {
		t.Errorf("FETCH over the extended protocol: %s %v %v", id, rev, start)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCursorRowLimit: a cursor's result is cut at query.max_rows like any
// query's, and the FETCH that reaches the cut says so once.
func TestCursorRowLimit(t *testing.T) {
	db := testWarehouse(t, warehouse.Limits{Timeout: time.Minute, MaxRows: 5})
	_, addr := serve(t, db)
	host, port := splitAddr(addr)
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://tester@%s:%s/cartwheel?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows int
	for _, q := range []string{"BEGIN", "DECLARE c CURSOR FOR SELECT range FROM range(10)", "FETCH 3 FROM c", "FETCH 3 FROM c", "FETCH 3 FROM c", "COMMIT"} {
		res, err := conn.PgConn().Exec(context.Background(), q).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows += len(res[0].Rows)
	}
	mu.Lock()
	defer mu.Unlock()
	if rows != 5 || len(notices) != 1 || !strings.Contains(notices[0], "truncated to its first 5 rows") {
		t.Errorf("%d rows, notices %q; want 5 rows and one notice of the cut", rows, notices)
	}
}

func splitAddr(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
