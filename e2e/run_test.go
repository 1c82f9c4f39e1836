package e2e

// End-to-end tests of the running appliance: `cartwheel run` as a child
// process with its embedded broker and demo traffic, queried, modelled and
// stopped the way users do it; and the dead-letter topic against
// rejected_events.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// liveStream is the stream name under which `cartwheel run` stores the
// offsets of the events topic (default topic and group).
const liveStream = "kafka:events/cartwheel"

// liveConfig is the configuration file of a `cartwheel run` child.
type liveConfig struct {
	path, dsn, dbPath, dataDir, http string
}

// writeLiveConfig writes a configuration for `cartwheel run` in dir: the
// embedded broker (its log under dir/data/kafka), DuckDB in dir, HTTP on a
// free loopback port, demo traffic at 2,000 events/s with the given seed,
// and windows short enough that sessions close within seconds (a minute of
// session gap is a second of wall time at the generator's speedup of 60).
// generator adds YAML lines to the generator section.
func writeLiveConfig(t *testing.T, dir string, seed int, generator ...string) liveConfig {
	t.Helper()
	c := liveConfig{
		path:    filepath.Join(dir, fmt.Sprintf("cartwheel-%d.yaml", seed)),
		dbPath:  filepath.Join(dir, "w.duckdb"),
		dataDir: filepath.Join(dir, "data"),
		http:    freeAddr(t),
	}
	c.dsn = "duckdb://" + c.dbPath
	var gen strings.Builder
	for _, l := range generator {
		gen.WriteString("  " + l + "\n")
	}
	writeFile(t, c.path, fmt.Sprintf(`data_dir: %s
warehouse: %s
http: %s
log_level: info
generator:
  rate: 2000
  seed: %d
%sstreaming:
  session_gap: 1m
  allowed_lateness: 10s
  idle_timeout: 2s
  batch_delay: 20ms
`, c.dataDir, c.dsn, c.http, seed, gen.String()))
	return c
}

// execCartwheel runs the binary with a time bound and returns its stdout,
// stderr and error.
func execCartwheel(timeout time.Duration, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustCartwheel runs the binary with a time bound; it must succeed.
func mustCartwheel(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, errOut, err := execCartwheel(timeout, args...)
	if err != nil {
		t.Fatalf("cartwheel %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, tail(out, 30), tail(errOut, 20))
	}
	return out
}

// cliCSV runs `cartwheel query --format csv` with a configuration and
// returns the parsed records, header first.
func cliCSV(t *testing.T, cfg, sql string) [][]string {
	t.Helper()
	out := mustCartwheel(t, 30*time.Second, "query", "--config", cfg, "--format", "csv", sql)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("query output is not CSV: %v\n%s", err, out)
	}
	if len(recs) == 0 {
		t.Fatalf("query printed no CSV header: %q", out)
	}
	return recs
}

// cliInts runs a one-row query through the CLI and returns its integer cells
// by column name.
func cliInts(t *testing.T, cfg, sql string) map[string]int64 {
	t.Helper()
	recs := cliCSV(t, cfg, sql)
	if len(recs) != 2 {
		t.Fatalf("%s: want one row, got %q", sql, recs)
	}
	m := make(map[string]int64, len(recs[0]))
	for i, name := range recs[0] {
		n, err := strconv.ParseInt(recs[1][i], 10, 64)
		if err != nil {
			t.Fatalf("%s: column %s = %q is not an integer", sql, name, recs[1][i])
		}
		m[name] = n
	}
	return m
}

// exited reports whether a child has exited, without consuming its status.
func (c *child) exited() bool {
	select {
	case err := <-c.done:
		c.done <- err
		return true
	default:
		return false
	}
}

// fail kills the child (if still running) and fails the test with its log.
func (c *child) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	c.cmd.Process.Kill()
	err := <-c.done
	c.done <- err
	t.Fatalf("%s (cartwheel %s exited: %v)\nstderr:\n%s", fmt.Sprintf(format, args...),
		strings.Join(c.cmd.Args[1:], " "), err, tail(c.stderr.String(), 30))
}

// terminate sends SIGTERM and waits at most within for the exit; it returns
// the exit error and how long the shutdown took.
func (c *child) terminate(t *testing.T, within time.Duration) (error, time.Duration) {
	t.Helper()
	began := time.Now()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		return err, time.Since(began)
	case <-time.After(within):
		c.fail(t, "no exit within %v of SIGTERM", within)
		return nil, 0
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// waitReady polls GET /readyz until it answers 200.
func waitReady(t *testing.T, c *child, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if c.exited() {
			c.fail(t, "exited before it was ready")
		}
		resp, err := httpClient.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if !strings.Contains(string(body), "ready") {
					t.Fatalf("/readyz answered 200 with %q", body)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			c.fail(t, "/readyz not OK within %v (last error %v)", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls cond (which may fail the test) until it holds.
func waitFor(t *testing.T, c *child, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if c != nil && c.exited() {
			c.fail(t, "exited while waiting for %s", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// httpDo sends a request and returns the status and body.
func httpDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, b
}

// apiQuery runs SQL through POST /api/query.
func apiQuery(t *testing.T, addr, sql string) (int, *result.Set, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"sql": sql})
	status, b := httpDo(t, http.MethodPost, "http://"+addr+"/api/query", string(body))
	if status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Fatalf("POST /api/query %q: %d with a body that is not {\"error\": ...}: %q", sql, status, b)
		}
		return status, nil, e.Error
	}
	res, err := result.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST /api/query %q: %v\n%s", sql, err, b)
	}
	return status, res, ""
}

// checkpointOffsets returns the committed next offset of each partition of
// the live stream.
func checkpointOffsets(t *testing.T, cfg string) map[int64]int64 {
	t.Helper()
	recs := cliCSV(t, cfg, `SELECT c.kafka_partition, c.next_offset FROM stream_checkpoints c JOIN streams s USING (stream_id)
		WHERE s.name = '`+liveStream+`' ORDER BY 1`)
	out := make(map[int64]int64)
	for _, r := range recs[1:] {
		p, err1 := strconv.ParseInt(r[0], 10, 64)
		o, err2 := strconv.ParseInt(r[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad checkpoint row %q", r)
		}
		out[p] = o
	}
	return out
}

func sum(m map[int64]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// checkOffsetsDense checks, per partition of the live stream, that the
// offsets of events and rejected_events together are exactly 0 … next_offset−1:
// nothing consumed was lost, nothing stored twice.
func checkOffsetsDense(t *testing.T, cfg string) {
	t.Helper()
	bad := cliCSV(t, cfg, `WITH s AS (SELECT stream_id FROM streams WHERE name = '`+liveStream+`'),
		o AS (SELECT kafka_partition, kafka_offset FROM events WHERE stream_id IN (SELECT stream_id FROM s)
		      UNION ALL SELECT kafka_partition, kafka_offset FROM rejected_events WHERE stream_id IN (SELECT stream_id FROM s))
		SELECT c.kafka_partition, c.next_offset, count(o.kafka_offset) AS n, count(DISTINCT o.kafka_offset) AS d,
		       coalesce(max(o.kafka_offset) + 1, 0) AS top
		FROM stream_checkpoints c LEFT JOIN o USING (kafka_partition)
		WHERE c.stream_id IN (SELECT stream_id FROM s)
		GROUP BY 1, 2 HAVING count(o.kafka_offset) <> c.next_offset OR count(DISTINCT o.kafka_offset) <> c.next_offset
		    OR coalesce(max(o.kafka_offset) + 1, 0) <> c.next_offset
		UNION ALL
		SELECT kafka_partition, NULL, count(*), NULL, NULL FROM o
		WHERE kafka_partition NOT IN (SELECT kafka_partition FROM stream_checkpoints WHERE stream_id IN (SELECT stream_id FROM s))
		GROUP BY 1`)
	if len(bad) > 1 {
		t.Errorf("partitions whose stored offsets are not exactly 0..next_offset-1 (partition, next_offset, rows, distinct, max+1): %q", bad[1:])
	}
}

// TestRunQueryWhileRunning runs the appliance with demo traffic, queries it
// while it runs (CLI in every format, HTTP API), builds the models through
// it, stops it with SIGTERM and checks that its final commit accounts for
// every record it consumed.
func TestRunQueryWhileRunning(t *testing.T) {
	dir := t.TempDir()
	lc := writeLiveConfig(t, dir, 7)
	c := start(t, "run", "--config", lc.path)
	waitReady(t, c, lc.http, 30*time.Second)

	countEvents := func() int64 { return cliInts(t, lc.path, "SELECT count(*) AS n FROM events")["n"] }
	waitFor(t, c, 20*time.Second, "committed event", func() bool { return countEvents() > 0 })

	// The DuckDB file is held by the appliance: `cartwheel query` must ask
	// it, and see the count grow.
	var counts []int64
	for range 5 {
		counts = append(counts, countEvents())
		time.Sleep(400 * time.Millisecond)
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] < counts[i-1] {
			t.Errorf("count(*) of events went down while running: %v", counts)
		}
	}
	if counts[len(counts)-1] <= counts[0] {
		t.Errorf("count(*) of events did not grow while the generator runs: %v", counts)
	}

	t.Run("formats", func(t *testing.T) {
		// The first rows of one partition are fixed once committed. The
		// generator's exotic user ids (quotes, commas, backslashes, non-Latin
		// letters, emoji) and a constant with a comma and quotes exercise
		// the escaping of every format.
		const where = `FROM events WHERE kafka_partition = 0 AND user_id NOT SIMILAR TO 'u[0-9]+'`
		waitFor(t, c, 30*time.Second, "5 events of users with exotic ids in partition 0", func() bool {
			return cliInts(t, lc.path, "SELECT count(*) AS n "+where)["n"] >= 5
		})
		sql := `SELECT event_id, user_id, event_time, event_type, price, quantity, is_late, 'say "hi", bob' AS quoted ` + where +
			" ORDER BY kafka_offset LIMIT 5"
		cols := []string{"event_id", "user_id", "event_time", "event_type", "price", "quantity", "is_late", "quoted"}

		recs := cliCSV(t, lc.path, sql)
		if !slices.Equal(recs[0], cols) {
			t.Fatalf("CSV header %q, want %q", recs[0], cols)
		}
		if len(recs) != 6 {
			t.Fatalf("CSV has %d data rows, want 5:\n%q", len(recs)-1, recs)
		}

		out := mustCartwheel(t, 30*time.Second, "query", "--config", lc.path, "--format", "json", sql)
		dec := json.NewDecoder(strings.NewReader(out))
		dec.UseNumber()
		var objs []map[string]any
		if err := dec.Decode(&objs); err != nil {
			t.Fatalf("JSON output does not parse: %v\n%s", err, out)
		}
		if dec.More() {
			t.Fatalf("JSON output has trailing data:\n%s", out)
		}
		if len(objs) != 5 {
			t.Fatalf("JSON has %d objects, want 5:\n%s", len(objs), out)
		}
		for i, o := range objs {
			row := recs[i+1]
			if len(o) != len(cols) {
				t.Errorf("JSON object %d has keys %v, want %v", i, o, cols)
			}
			for j, col := range cols {
				v, ok := o[col]
				if !ok {
					t.Errorf("JSON object %d has no %q", i, col)
					continue
				}
				var js string
				switch x := v.(type) {
				case string:
					js = x
				case json.Number:
					js = x.String()
				case bool:
					js = strconv.FormatBool(x)
				case nil:
					js = ""
				default:
					t.Errorf("JSON %s of row %d has type %T", col, i, v)
				}
				if col == "event_time" {
					jt, err1 := time.Parse(time.RFC3339Nano, js)
					ct, err2 := time.Parse("2006-01-02 15:04:05.999999", row[j])
					if err1 != nil || err2 != nil || !jt.Equal(ct) || jt.Location() != time.UTC {
						t.Errorf("row %d event_time: JSON %q, CSV %q (want the same UTC instant)", i, js, row[j])
					}
					continue
				}
				if js != row[j] {
					t.Errorf("row %d %s: JSON %q, CSV %q", i, col, js, row[j])
				}
			}
			if u := row[1]; len(u) < 2 || u[0] == 'u' && strings.Trim(u[1:], "0123456789") == "" {
				t.Errorf("row %d user_id %q is not exotic: the WHERE clause did not hold", i, u)
			}
			if row[7] != `say "hi", bob` {
				t.Errorf("row %d: CSV quoted column %q", i, row[7])
			}
		}

		table := mustCartwheel(t, 30*time.Second, "query", "--config", lc.path, "--format", "table", sql)
		lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
		if len(lines) != 5+3 {
			t.Fatalf("table has %d lines, want header, rule, 5 rows and a footer:\n%s", len(lines), table)
		}
		if got := strings.Fields(strings.ReplaceAll(lines[0], "|", " ")); !slices.Equal(got, cols) {
			t.Errorf("table header %q, want columns %q", lines[0], cols)
		}
		if strings.Trim(lines[1], "-+") != "" || strings.Count(lines[1], "-+-") != len(cols)-1 {
			t.Errorf("table rule %q is not dashes joined by -+-", lines[1])
		}
		width := utf8.RuneCountInString(lines[0])
		for i, l := range lines[:7] {
			if w := utf8.RuneCountInString(l); w != width {
				t.Errorf("table line %d is %d characters wide, the header %d:\n%s", i, w, width, table)
			}
		}
		for i, o := range objs {
			if id := o["event_id"].(string); !strings.HasPrefix(lines[i+2], id+" ") {
				t.Errorf("table row %d %q does not start with event_id %q", i, lines[i+2], id)
			}
			if u := o["user_id"].(string); !strings.Contains(lines[i+2], u) {
				t.Errorf("table row %d %q does not show user_id %q verbatim", i, lines[i+2], u)
			}
		}
		if lines[7] != "(5 rows)" {
			t.Errorf("table footer %q, want (5 rows)", lines[7])
		}
	})

	t.Run("api", func(t *testing.T) {
		status, b := httpDo(t, http.MethodGet, "http://"+lc.http+"/api/status", "")
		if status != http.StatusOK {
			t.Fatalf("GET /api/status: %d %s", status, b)
		}
		var st struct {
			Warehouse                                  string
			Brokers                                    []string
			Records, Accepted, Rejected, Batches, Late int64
			Uptime                                     float64   `json:"uptime_seconds"`
			LastCommit                                 time.Time `json:"last_commit"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("GET /api/status: %v\n%s", err, b)
		}
		if st.Warehouse != "duckdb" || st.Records <= 0 || st.Accepted <= 0 || st.Batches <= 0 || st.Uptime <= 0 {
			t.Errorf("GET /api/status of a running appliance with traffic: %s", b)
		}
		if st.Records != st.Accepted+st.Rejected {
			t.Errorf("status: %d records ≠ %d accepted + %d rejected", st.Records, st.Accepted, st.Rejected)
		}
		if since := time.Since(st.LastCommit); since < 0 || since > 10*time.Second {
			t.Errorf("status: last commit %v ago while records stream in", since)
		}
		if len(st.Brokers) == 0 {
			t.Errorf("status names no broker: %s", b)
		}
		for _, a := range st.Brokers {
			if host, _, err := net.SplitHostPort(a); err != nil || host != "127.0.0.1" {
				t.Errorf("embedded broker listens on %q, want 127.0.0.1 only", a)
			}
		}

		before := countEvents()
		code, res, msg := apiQuery(t, lc.http, "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events")
		if code != http.StatusOK {
			t.Fatalf("POST /api/query: %d %s", code, msg)
		}
		if len(res.Columns) != 2 || res.Columns[0].Name != "n" || len(res.Rows) != 1 {
			t.Fatalf("POST /api/query: unexpected result %+v", res)
		}
		n, ok := res.Rows[0][0].(int64)
		if !ok || n < before {
			t.Errorf("POST /api/query count %v (%T), want an int ≥ %d (the CLI's count a moment earlier)", res.Rows[0][0], res.Rows[0][0], before)
		}
		if ids, _ := res.Rows[0][1].(int64); ids != n {
			t.Errorf("while running: %d events but %d distinct event_ids", n, ids)
		}

		// Read-only: writes are refused, bad SQL is a client error.
		if code, _, msg := apiQuery(t, lc.http, "DELETE FROM events"); code != http.StatusForbidden {
			t.Errorf("POST /api/query DELETE: %d %q, want 403", code, msg)
		}
		if code, _, msg := apiQuery(t, lc.http, "SELEC nonsense"); code != http.StatusBadRequest {
			t.Errorf("POST /api/query with a syntax error: %d %q, want 400", code, msg)
		}
		if code, _ := httpDo(t, http.MethodPost, "http://"+lc.http+"/api/query", `{"sql": ""}`); code != http.StatusBadRequest {
			t.Errorf("POST /api/query with empty SQL: %d, want 400", code)
		}
		if after := countEvents(); after < n {
			t.Errorf("events went from %d to %d after a refused DELETE", n, after)
		}
		out, errOut, err := execCartwheel(30*time.Second, "query", "--config", lc.path, "DROP TABLE events")
		if err == nil || !strings.HasPrefix(errOut, "cartwheel: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("cartwheel query DROP TABLE: err %v, stdout %q, stderr %q; want a non-zero exit and a one-line error", err, out, errOut)
		}
	})

	t.Run("api multi-statement write", func(t *testing.T) {
		code, _, _ := apiQuery(t, lc.http, "CREATE TABLE api_write_probe AS SELECT 1 AS x; SELECT 1")
		if code == http.StatusOK {
			t.Errorf("POST /api/query accepted a CREATE TABLE before a SELECT")
		}
		if n := cliInts(t, lc.path, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'api_write_probe'")["n"]; n != 0 {
			t.Errorf("a read-only query created table api_write_probe")
		}
	})

	t.Run("models through the running appliance", func(t *testing.T) {
		waitFor(t, c, 30*time.Second, "closed session", func() bool {
			return cliInts(t, lc.path, "SELECT count(*) AS n FROM sessions")["n"] > 0
		})
		out := mustCartwheel(t, 60*time.Second, "models", "run", "--config", lc.path)
		if !strings.Contains(out, "fact_user_sessions") || !strings.Contains(out, "fct_daily_revenue") {
			t.Errorf("models run output names neither fact_user_sessions nor fct_daily_revenue:\n%s", tail(out, 30))
		}
		m := cliInts(t, lc.path, `SELECT (SELECT count(*) FROM fact_user_sessions) AS sessions,
			(SELECT count(*) FROM fct_daily_revenue) AS days, (SELECT coalesce(sum(orders), 0) FROM fct_daily_revenue) AS orders,
			(SELECT count(*) FROM fct_conversion_funnel) AS funnel_days, (SELECT count(*) FROM dim_users) AS users`)
		for _, k := range []string{"sessions", "days", "orders", "funnel_days", "users"} {
			if m[k] <= 0 {
				t.Errorf("after models run through the appliance: %s = %d, want > 0 (%v)", k, m[k], m)
			}
		}
	})

	// Stop: exit 0, in bounded time, after a final commit.
	var st struct{ Records int64 }
	if status, b := httpDo(t, http.MethodGet, "http://"+lc.http+"/api/status", ""); status != http.StatusOK || json.Unmarshal(b, &st) != nil {
		t.Fatalf("GET /api/status: %d %s", status, b)
	}
	err, took := c.terminate(t, 30*time.Second)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, tail(c.stderr.String(), 20))
	}
	t.Logf("shutdown after SIGTERM took %v", took.Round(time.Millisecond))
	if !strings.Contains(c.stderr.String(), "cartwheel stopped") {
		t.Errorf("no 'cartwheel stopped' log line:\n%s", tail(c.stderr.String(), 10))
	}
	if _, err := net.DialTimeout("tcp", lc.http, time.Second); err == nil {
		t.Errorf("HTTP %s still accepts connections after the exit", lc.http)
	}

	// Now `cartwheel query` opens the file itself.
	m := cliInts(t, lc.path, `SELECT (SELECT count(*) FROM events) AS accepted, (SELECT count(*) FROM rejected_events) AS rejected,
		(SELECT coalesce(sum(c.next_offset), 0) FROM stream_checkpoints c JOIN streams s USING (stream_id) WHERE s.name = '`+liveStream+`') AS committed,
		(SELECT count(*) - count(DISTINCT event_id) FROM events) AS dup_ids,
		(SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) - count(DISTINCT session_id) FROM sessions) AS dup_sessions,
		(SELECT count(*) FROM streams) AS streams`)
	t.Logf("after shutdown: %v", m)
	if m["accepted"]+m["rejected"] != m["committed"] {
		t.Errorf("%d events + %d rejected = %d, but the checkpoints cover %d consumed records", m["accepted"], m["rejected"],
			m["accepted"]+m["rejected"], m["committed"])
	}
	if m["committed"] < st.Records {
		t.Errorf("after shutdown %d records committed, fewer than the %d the running appliance reported", m["committed"], st.Records)
	}
	if m["committed"] < counts[len(counts)-1] {
		t.Errorf("after shutdown %d records committed, fewer than the %d events seen while running", m["committed"], counts[len(counts)-1])
	}
	if m["dup_ids"] != 0 {
		t.Errorf("%d event_ids appear more than once in events", m["dup_ids"])
	}
	if m["sessions"] == 0 || m["dup_sessions"] != 0 {
		t.Errorf("%d sessions, %d duplicate session ids", m["sessions"], m["dup_sessions"])
	}
	if m["streams"] != 1 {
		t.Errorf("%d streams, want 1", m["streams"])
	}
	checkOffsetsDense(t, lc.path)

	// On the quiet warehouse every data test of the project holds.
	out := mustCartwheel(t, 60*time.Second, "models", "build", "--config", lc.path)
	if !strings.Contains(out, "ERROR=0") {
		t.Errorf("models build after shutdown:\n%s", tail(out, 20))
	}
}

// TestRunModelsBuildWhileRunning: `cartwheel models build` through a running
// appliance must pass its own data tests.
func TestRunModelsBuildWhileRunning(t *testing.T) {
	dir := t.TempDir()
	lc := writeLiveConfig(t, dir, 8)
	c := start(t, "run", "--config", lc.path)
	waitReady(t, c, lc.http, 30*time.Second)
	waitFor(t, c, 30*time.Second, "closed session", func() bool {
		return cliInts(t, lc.path, "SELECT count(*) AS n FROM sessions")["n"] > 0
	})
	for i := range 3 {
		out, errOut, err := execCartwheel(60*time.Second, "models", "build", "--config", lc.path)
		if err != nil {
			t.Fatalf("models build %d while running: %v\n%s\n%s", i+1, err, tail(out, 15), errOut)
		}
	}
	if err, _ := c.terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// readTopic reads every record of topic from a broker, by partition and
// offset.
func readTopic(t *testing.T, addr, topic string) map[[2]int64]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end, err := broker.EndOffsets(ctx, cl, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := make(map[[2]int64]*kgo.Record)
	next := make(map[int32]int64)
	done := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: timed out at %v of %v", topic, next, end)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("reading %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := [2]int64{int64(r.Partition), r.Offset}
			if _, dup := out[k]; dup {
				t.Fatalf("%s/%d offset %d read twice", topic, r.Partition, r.Offset)
			}
			out[k] = r
			next[r.Partition] = r.Offset + 1
		})
	}
	return out
}

// TestRunRestartContinues stops the appliance and runs it again on the same
// data dir: the second run resumes at the committed offsets of the
// persisted topic, loses and repeats nothing, and adds its own traffic.
func TestRunRestartContinues(t *testing.T) {
	dir := t.TempDir()
	lc1 := writeLiveConfig(t, dir, 21)
	c1 := start(t, "run", "--config", lc1.path)
	waitReady(t, c1, lc1.http, 30*time.Second)
	waitFor(t, c1, 30*time.Second, "3,000 committed records", func() bool { return sum(checkpointOffsets(t, lc1.path)) >= 3000 })
	if err, took := c1.terminate(t, 30*time.Second); err != nil {
		t.Fatalf("first run: exit after SIGTERM: %v\n%s", err, tail(c1.stderr.String(), 20))
	} else {
		t.Logf("first run stopped in %v", took.Round(time.Millisecond))
	}
	o1 := checkpointOffsets(t, lc1.path)
	e1 := cliInts(t, lc1.path, "SELECT count(*) AS n FROM events")["n"]
	if len(o1) == 0 || e1 == 0 {
		t.Fatalf("first run committed nothing: offsets %v, %d events", o1, e1)
	}
	// Both runs use the same seed: each run of the demo generator has its
	// own run id in its event ids, e-<seed>-<run>-<n>.
	runs := cliCSV(t, lc1.path, `SELECT DISTINCT split_part(event_id, '-', 3) FROM events`)[1:]
	if len(runs) != 1 || runs[0][0] == "" {
		t.Fatalf("first run: want the event ids of one generator run, got run ids %q", runs)
	}
	firstRun := "e-21-" + runs[0][0] + "-%"

	lc2 := writeLiveConfig(t, dir, 21)
	c2 := start(t, "run", "--config", lc2.path)
	waitReady(t, c2, lc2.http, 30*time.Second)
	// The topic may still hold records of the first run's demo burst that
	// it had not read: the second run commits those first, then its own.
	waitFor(t, c2, 30*time.Second, "3,000 more committed records, some of the second run's generator", func() bool {
		return sum(checkpointOffsets(t, lc2.path)) >= sum(o1)+3000 &&
			cliInts(t, lc2.path, `SELECT count(*) AS n FROM events WHERE event_id NOT LIKE '`+firstRun+`'`)["n"] > 0
	})
	if err, took := c2.terminate(t, 30*time.Second); err != nil {
		t.Fatalf("second run: exit after SIGTERM: %v\n%s", err, tail(c2.stderr.String(), 20))
	} else {
		t.Logf("second run stopped in %v", took.Round(time.Millisecond))
	}
	if !strings.Contains(c2.stderr.String(), "partition assigned") {
		t.Errorf("second run logged no partition assignment:\n%s", tail(c2.stderr.String(), 20))
	}

	o2 := checkpointOffsets(t, lc2.path)
	t.Logf("committed offsets: first run %v, second run %v", o1, o2)
	for p, off := range o1 {
		if o2[p] < off {
			t.Errorf("partition %d: offset went back from %d to %d", p, off, o2[p])
		}
	}
	m := cliInts(t, lc2.path, `SELECT count(*) AS n, count(*) - count(DISTINCT event_id) AS dup_ids,
		count(*) FILTER (WHERE event_id LIKE '`+firstRun+`') AS first_seed,
		count(*) FILTER (WHERE event_id LIKE 'e-21-%' AND event_id NOT LIKE '`+firstRun+`') AS second_seed
		FROM events`)
	if m["n"] <= e1 {
		t.Errorf("events: %d after the first run, %d after the second", e1, m["n"])
	}
	if m["dup_ids"] != 0 {
		t.Errorf("%d event_ids appear more than once after a restart", m["dup_ids"])
	}
	if m["first_seed"] < e1 {
		t.Errorf("%d events of the first run's generator, %d after the first run", m["first_seed"], e1)
	}
	if m["second_seed"] == 0 {
		t.Errorf("no events of the second run's generator")
	}
	// The second run's traffic comes after what the first run committed.
	for _, r := range cliCSV(t, lc2.path, `SELECT kafka_partition, min(kafka_offset) FROM events WHERE event_id NOT LIKE '`+firstRun+`' GROUP BY 1`)[1:] {
		p, _ := strconv.ParseInt(r[0], 10, 64)
		first, _ := strconv.ParseInt(r[1], 10, 64)
		if first < o1[p] {
			t.Errorf("partition %d: the second run's first event is at offset %d, below the first run's committed %d", p, first, o1[p])
		}
	}
	checkOffsetsDense(t, lc2.path)

	// The embedded broker's log persisted in the data dir: what the
	// warehouse holds is exactly what the log holds at those offsets.
	addr := startBroker(t, lc2.dataDir)
	log := readTopic(t, addr, "events")
	db := openDB(t, lc2.dsn)
	rows := query(t, db, "SELECT kafka_partition, kafka_offset, event_id FROM events")
	for _, r := range rows {
		k := [2]int64{asInt(t, r[0]), asInt(t, r[1])}
		rec, ok := log[k]
		if !ok {
			t.Errorf("event %s at %v is not in the persisted log", r[2], k)
			continue
		}
		var e struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(rec.Value, &e); err != nil || e.EventID != r[2].(string) {
			t.Errorf("event %s at %v: the log holds %q there", r[2], k, rec.Value)
		}
	}
	for p, off := range o2 {
		if _, ok := log[[2]int64{p, off - 1}]; off > 0 && !ok {
			t.Errorf("partition %d: committed offset %d is beyond the persisted log", p, off)
		}
	}
}

// TestRunRestartSameSeed restarts the appliance with the same configuration
// and traffic that has no irregular records: nothing may be rejected as a
// duplicate, and no event_id may be stored twice.
func TestRunRestartSameSeed(t *testing.T) {
	dir := t.TempDir()
	clean := []string{"out_of_order: 0", "late: 0", "duplicate: 0", "malformed: 0"}
	lc := writeLiveConfig(t, dir, 31, clean...)
	for run := 1; run <= 2; run++ {
		c := start(t, "run", "--config", lc.path)
		waitReady(t, c, lc.http, 30*time.Second)
		want := 3000 * int64(run)
		waitFor(t, c, 30*time.Second, "committed records", func() bool { return sum(checkpointOffsets(t, lc.path)) >= want })
		if err, _ := c.terminate(t, 30*time.Second); err != nil {
			t.Fatalf("run %d: exit after SIGTERM: %v", run, err)
		}
	}
	m := cliInts(t, lc.path, `SELECT (SELECT count(*) - count(DISTINCT event_id) FROM events) AS dup_ids,
		(SELECT count(*) FROM rejected_events) AS rejected`)
	if m["dup_ids"] != 0 || m["rejected"] != 0 {
		t.Errorf("after a restart with clean demo traffic: %d event_ids stored twice, %d records rejected", m["dup_ids"], m["rejected"])
	}
}

// storedPayload is what rejected_events.payload holds for a raw record: see
// the dead-letter contract in warehouse/text.go (invalid UTF-8 and NUL become
// U+FFFD; the text is cut at a character boundary before 65,000 bytes).
func storedPayload(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	if len(s) > warehouse.MaxPayloadBytes {
		cut := warehouse.MaxPayloadBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// TestDLQMatchesRejected streams a file with every kind of bad record from
// a separate broker process and checks that the dead-letter topic and
// rejected_events hold the same records: one DLQ record per rejected row,
// with the raw bytes, reason and detail, and nothing else.
func TestDLQMatchesRejected(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.jsonl")
	cartwheel(t, "generate", "--seed", "13", "--events", "20000", "--users", "2000", "--out", file,
		"--out-of-order", "0.02", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.02")
	extra := []string{
		`{"event_id":"x1","event_type":"page_view","user_id":"u1","event_time":"2999-01-01T00:00:00Z"}`,          // future_event_time
		`{"event_id":"x2","event_type":"checkout","user_id":"u1","event_time":"2026-11-01T00:00:00Z"}`,           // unknown_event_type
		`{"event_id":"x3","event_type":"purchase","user_id":"u1","event_time":"2026-11-01T00:00:00Z","price":3}`, // missing_field
		`{"event_id":"x4","event_type":"page_view","user_id":"u1","event_time":"yesterday"}`,                     // invalid_value
		`{"event_id":"x5","event_type":"page_view","user_id":"u1","event_time":"2026-11-01T00:00:00Z"}`,          // accepted
		`{"event_id":"x5","event_type":"page_view","user_id":"u1","event_time":"2026-11-01T00:00:00Z"}`,          // duplicate
		`{"event_id":`, // malformed_json
		"{\"event_id\":\"x6\",\"event_type\":\"page_view\",\"user_id\":\"u\xff\xfe1\",\"event_time\":\"2026-11-01T00:00:00Z\"}", // invalid UTF-8
		"{\"event_id\":\"x7\",\x00\"event_type\":\"page_view\"}",                                                                // a NUL byte
		`{"event_id":"x8","event_type":"page_view","user_id":"u1","event_time":"2026-11-01T00:00:00Z","pad":"` +
			strings.Repeat("é", 40000) + `"`, // 80 kB, cut in rejected_events, whole on the DLQ
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, strings.Join(extra, "\n"))
	f.Close()

	addr := startBroker(t, dir)
	total := produceFile(t, addr, file)
	cfg := consumerConfig(t, dir, "dlq", addr)
	dsn := "duckdb://" + filepath.Join(dir, "dlq.duckdb")
	consumeAll(t, cfg, dsn, total)

	db := openDB(t, dsn)
	accepted := count(t, db, "SELECT count(*) FROM events")
	type rejected struct {
		payload, reason, detail string
		part, off               int64
	}
	var rows []rejected
	reasons := map[string]int{}
	for _, r := range query(t, db, "SELECT payload, reason, detail, kafka_partition, kafka_offset FROM rejected_events ORDER BY 4, 5") {
		rows = append(rows, rejected{r[0].(string), r[1].(string), r[2].(string), asInt(t, r[3]), asInt(t, r[4])})
		reasons[r[1].(string)]++
	}
	if accepted+int64(len(rows)) != total {
		t.Fatalf("%d accepted + %d rejected ≠ %d records produced", accepted, len(rows), total)
	}
	for _, want := range []string{"malformed_json", "missing_field", "invalid_value", "unknown_event_type", "future_event_time", "duplicate"} {
		if reasons[want] == 0 {
			t.Errorf("no record rejected as %s (got %v)", want, reasons)
		}
	}
	t.Logf("%d records: %d accepted, %d rejected %v", total, accepted, len(rows), reasons)

	input := readTopic(t, addr, "events")
	if int64(len(input)) != total {
		t.Fatalf("events topic holds %d records, %d were produced", len(input), total)
	}
	dlq := readTopic(t, addr, "events.dlq")
	bySource := make(map[[2]int64][]*kgo.Record)
	for _, r := range dlq {
		h := map[string]string{}
		for _, kv := range r.Headers {
			if _, dup := h[kv.Key]; dup {
				t.Errorf("DLQ record %d/%d has header %q twice", r.Partition, r.Offset, kv.Key)
			}
			h[kv.Key] = string(kv.Value)
		}
		var p, o int64
		if n, err := fmt.Sscanf(h["source"], "events/%d/%d", &p, &o); n != 2 || err != nil {
			t.Errorf("DLQ record %d/%d: source header %q is not events/PARTITION/OFFSET", r.Partition, r.Offset, h["source"])
			continue
		}
		bySource[[2]int64{p, o}] = append(bySource[[2]int64{p, o}], r)
	}
	if len(dlq) != len(rows) {
		t.Errorf("%d DLQ records for %d rejected_events rows", len(dlq), len(rows))
	}

	sawCut, sawInvalid := false, false
	for _, row := range rows {
		k := [2]int64{row.part, row.off}
		recs := bySource[k]
		delete(bySource, k)
		if len(recs) != 1 {
			t.Errorf("rejected record events/%d/%d (%s): %d DLQ records, want 1", row.part, row.off, row.reason, len(recs))
			continue
		}
		r, in := recs[0], input[k]
		if in == nil {
			t.Errorf("rejected record events/%d/%d is not on the events topic", row.part, row.off)
			continue
		}
		if !bytes.Equal(r.Value, in.Value) {
			t.Errorf("events/%d/%d: DLQ value %q differs from the input record %q", row.part, row.off, firstBytes(r.Value), firstBytes(in.Value))
		}
		if !bytes.Equal(r.Key, in.Key) {
			t.Errorf("events/%d/%d: DLQ key %q, input key %q", row.part, row.off, firstBytes(r.Key), firstBytes(in.Key))
		}
		if got := storedPayload(r.Value); got != row.payload {
			t.Errorf("events/%d/%d: rejected_events.payload %q, want %q from the raw record", row.part, row.off,
				firstBytes([]byte(row.payload)), firstBytes([]byte(got)))
		}
		reason, detail := "", ""
		for _, h := range r.Headers {
			switch h.Key {
			case "reason":
				reason = string(h.Value)
			case "detail":
				detail = string(h.Value)
			}
		}
		if reason != row.reason || detail != row.detail {
			t.Errorf("events/%d/%d: DLQ reason %q detail %q, rejected_events %q %q", row.part, row.off, reason, detail, row.reason, row.detail)
		}
		sawCut = sawCut || len(r.Value) > warehouse.MaxPayloadBytes
		sawInvalid = sawInvalid || !utf8.Valid(r.Value)
	}
	for k, recs := range bySource {
		t.Errorf("%d DLQ records for events/%d/%d, which is not in rejected_events", len(recs), k[0], k[1])
	}
	if !sawCut || !sawInvalid {
		t.Errorf("the oversized (%v) or invalid UTF-8 (%v) record was not among the rejected", sawCut, sawInvalid)
	}

	// `cartwheel replay` of the same file rejects the same records, for the
	// same reasons, at the same offsets.
	replayDSN := "duckdb://" + filepath.Join(dir, "replay.duckdb")
	cartwheel(t, "replay", "--events", file, "--warehouse", replayDSN, "--no-models")
	const q = "SELECT kafka_partition, kafka_offset, payload, reason, detail FROM rejected_events ORDER BY 1, 2"
	live, replayed := query(t, db, q), query(t, openDB(t, replayDSN), q)
	if diff := cmp.Diff(live, replayed); diff != "" {
		t.Errorf("rejected_events of replay differ from the live consumer's (-live +replay):\n%s", firstLines(diff, 40))
	}
}

func firstBytes(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:200:200], "…"...)
	}
	return b
}

func asInt(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	}
	t.Fatalf("%v (%T) is not an integer", v, v)
	return 0
}
