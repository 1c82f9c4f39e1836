//go:build torture

package e2e

// TestTortureAbuse: hostile clients against a running appliance (SPEC §7).
// A web page the user visits (foreign Host, text/plain, cross-origin), then
// a local client with SQL that tries to read files, reach the network,
// write, change settings, run for an hour, return millions of rows or send
// 100 MB — over HTTP and through `cartwheel query`. Every attempt must be
// refused with a clear error, and afterwards the warehouse must be exactly
// as before, no file created, the appliance still answering.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// abuseTimeout and abuseMaxRows are the appliance's query limits in this
// test: short, so that the hour-long query costs seconds.
const (
	abuseTimeout = 2 * time.Second
	abuseMaxRows = 1000
)

func TestTortureAbuse(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out") // where COPY, EXPORT and ATTACH aim
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// A secret beside /etc/passwd, whose content must never come back.
	const marker = "cartwheel-abuse-secret-7f3a"
	secret := filepath.Join(dir, "secret.txt")
	writeFile(t, secret, "root:x:0:0:"+marker+"\n")

	// Data to protect: a replayed file (with the models built), then the
	// appliance on the same warehouse with the generator and the DAG
	// scheduler off, so that the tables only change if an attack changes
	// them (a scheduled run crossing a 5-minute boundary mid-test made
	// dag_runs and task_instances differ in one CI run).
	lc := writeLiveConfig(t, dir, 13)
	cfg := lc.path
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(b), "  rate: 2000\n", "  rate: 0\n", 1) +
		fmt.Sprintf("query:\n  timeout: %v\n  max_rows: %d\nscheduler:\n  disabled: true\n", abuseTimeout, abuseMaxRows)
	writeFile(t, cfg, conf)
	events := filepath.Join(dir, "events.jsonl")
	mustCartwheel(t, 2*time.Minute, "generate", "--seed", "13", "--events", "20000", "--out", events)
	mustCartwheel(t, 10*time.Minute, "replay", "--config", cfg, "--events", events)

	// A listener that counts connections: SQL that tries the network must
	// not reach it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dialed atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	netURL := "http://" + ln.Addr().String() + "/events.csv"

	c := start(t, "run", "--config", cfg)
	waitReady(t, c, lc.http, 60*time.Second)
	base := "http://" + lc.http
	before := fingerprint(t, lc.http)
	if before["events"] == "0 0" {
		t.Fatalf("the replay loaded no events: %v", before)
	}

	var sent, refused int
	byStatus := map[int]int{}
	refuse := func(what string, status int, body []byte, wantStatus int, wantMsg string) {
		t.Helper()
		sent++
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		if status != wantStatus || !strings.Contains(e.Error, wantMsg) {
			t.Errorf("%s: %d %q, want %d with an error saying %q", what, status, body, wantStatus, wantMsg)
			return
		}
		if strings.Contains(string(body), marker) || strings.Contains(string(body), "root:x:") {
			t.Errorf("%s: the answer holds a file's content: %q", what, body)
		}
		refused++
		byStatus[status]++
	}

	// 1. A web page: the finding's request (DNS rebinding: a foreign Host,
	// text/plain needs no CORS preflight), then each rule on its own.
	passwd := `{"sql":"SELECT content FROM read_text('/etc/passwd')"}`
	for _, tc := range []struct {
		name       string
		method     string
		header     map[string]string
		body       string
		wantStatus int
		wantMsg    string
	}{
		{"finding: foreign Host, text/plain", "POST", map[string]string{"Host": "attacker.example", "Content-Type": "text/plain"}, passwd, 421, "is not served here"},
		{"foreign Host, JSON", "POST", map[string]string{"Host": "attacker.example", "Content-Type": "application/json"}, passwd, 421, "is not served here"},
		{"foreign Host, GET status", "GET", map[string]string{"Host": "attacker.example:8080"}, "", 421, "is not served here"},
		{"text/plain", "POST", map[string]string{"Content-Type": "text/plain"}, passwd, 415, "application/json"},
		{"form", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "sql=SELECT+1", 415, "application/json"},
		{"no content type", "POST", nil, passwd, 415, "application/json"},
		{"Origin attacker", "POST", map[string]string{"Content-Type": "application/json", "Origin": "https://attacker.example"}, passwd, 403, "cross-origin"},
		{"Origin null", "POST", map[string]string{"Content-Type": "application/json", "Origin": "null"}, passwd, 403, "cross-origin"},
		{"Sec-Fetch-Site cross-site", "POST", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, passwd, 403, "cross-origin"},
		{"models from a page", "POST", map[string]string{"Content-Type": "text/plain"}, `{"command":"build"}`, 415, "application/json"},
	} {
		path := "/api/query"
		if tc.method == "GET" {
			path = "/api/status"
		} else if strings.Contains(tc.body, "command") {
			path = "/api/models"
		}
		status, body := rawRequest(t, tc.method, base+path, tc.header, tc.body)
		refuse(tc.name, status, body, tc.wantStatus, tc.wantMsg)
	}

	// 2. 100 MB bodies: refused without being read (the appliance's memory
	// must not grow by the body), with and without a Content-Length.
	rssBefore := rssKiB(t, c.cmd.Process.Pid)
	status, body, wrote := hugeBody(t, lc.http, 100<<20, true)
	refuse("100 MB body with Content-Length", status, body, 413, "larger than 1 MiB")
	status, body, wroteChunked := hugeBody(t, lc.http, 100<<20, false)
	refuse("100 MB chunked body", status, body, 413, "larger than 1 MiB")
	rssGrowth := rssKiB(t, c.cmd.Process.Pid) - rssBefore
	if rssGrowth > 32<<10 {
		t.Errorf("the appliance's RSS grew by %d MiB over two 100 MB bodies", rssGrowth>>10)
	}

	// 3. A local client with hostile SQL.
	const files, readOnly = "cannot reach files, the network or extensions", "only a single read-only statement"
	sqlCases := []struct{ sql, wantMsg string }{
		{"SELECT content FROM read_text('/etc/passwd')", files},
		{"SELECT content FROM read_text('" + secret + "')", files},
		{"SELECT * FROM read_csv('" + secret + "')", files},
		{"SELECT * FROM read_csv_auto('/etc/passwd')", files},
		// A bare path is a table name to DuckDB unless a file reader
		// claims it, which external access off prevents.
		{"SELECT * FROM '" + secret + "'", "does not exist"},
		{"WITH x AS (SELECT * FROM read_text('" + secret + "')) SELECT * FROM x", files},
		{"SELECT * FROM glob('/etc/*')", files},
		{"SELECT * FROM read_parquet('" + secret + "')", files},
		{"SELECT * FROM read_blob('/etc/passwd')", files},
		{"SELECT * FROM read_csv('" + netURL + "')", files},
		{"SELECT * FROM '" + netURL + "'", files},
		{"ATTACH '" + filepath.Join(out, "other.duckdb") + "' AS other", readOnly},
		// COPY and EXPORT fail when prepared: binding them opens the file.
		{"COPY events TO '" + filepath.Join(out, "events.csv") + "'", files},
		{"COPY (SELECT * FROM sessions) TO '" + filepath.Join(out, "s.parquet") + "' (FORMAT parquet)", files},
		{"EXPORT DATABASE '" + filepath.Join(out, "export") + "'", files},
		{"INSTALL httpfs", readOnly},
		{"LOAD httpfs", readOnly},
		{"SET enable_external_access = true", readOnly},
		{"RESET enable_external_access", readOnly},
		{"SET lock_configuration = false", readOnly},
		{"PRAGMA enable_external_access = true", readOnly},
		{"PRAGMA threads = 1", readOnly},
		{"SELECT 1; SET enable_external_access = true", readOnly},
		{"SET enable_external_access = true; SELECT content FROM read_text('/etc/passwd')", readOnly},
		{"SELECT 1; DROP TABLE events", readOnly},
		{"DELETE FROM events", readOnly},
		{"CHECKPOINT", readOnly},
		{"CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", files},
		// "$" continues a name: the statement counter once took "a$b$" for
		// a dollar quote and let the statements after it run.
		{"CREATE TABLE pwned AS SELECT 1 AS a$b$; DELETE FROM events; SELECT 1", readOnly},
		// EXPLAIN ANALYZE runs the statement it explains.
		{"EXPLAIN ANALYZE DELETE FROM events", readOnly},
		{"EXPLAIN ANALYZE CREATE TABLE pwned AS SELECT 1", readOnly},
	}
	for _, tc := range sqlCases {
		q, _ := json.Marshal(map[string]string{"sql": tc.sql})
		status, body := rawRequest(t, "POST", base+"/api/query", map[string]string{"Content-Type": "application/json"}, string(q))
		want := 403
		if tc.wantMsg == "does not exist" {
			want = 400
		}
		refuse(tc.sql, status, body, want, tc.wantMsg)
	}

	// An hour-long query stops at the time limit, and says so.
	began := time.Now()
	hour := "SELECT sum(hash(a.range + b.range)) FROM range(100000000) a, range(100000000) b"
	q, _ := json.Marshal(map[string]string{"sql": hour})
	status, body = rawRequest(t, "POST", base+"/api/query", map[string]string{"Content-Type": "application/json"}, string(q))
	stopped := time.Since(began)
	refuse("an hour-long query", status, body, 504, "stopped at its time limit of "+abuseTimeout.String())
	if stopped > abuseTimeout+10*time.Second {
		t.Errorf("the hour-long query answered after %v, limit %v", stopped, abuseTimeout)
	}

	// A huge result is cut at the row limit and says so.
	st, res, msg := apiQuery(t, lc.http, "SELECT range AS n FROM range(10000000)")
	if st != 200 || res == nil || !res.Truncated || res.RowLimit != abuseMaxRows || len(res.Rows) != abuseMaxRows {
		t.Errorf("10M-row query: status %d (%s), want 200 with %d rows marked truncated; got %+v", st, msg, abuseMaxRows, truncatedSummary(res))
	}

	// 4. The same through `cartwheel query`: one line on stderr, exit ≠ 0.
	var cliRefused int
	for _, tc := range []struct{ sql, wantMsg string }{
		{"SELECT content FROM read_text('/etc/passwd')", files},
		{"COPY events TO '" + filepath.Join(out, "cli.csv") + "'", files},
		{"SET enable_external_access = true", readOnly},
		{"SELECT 1; DROP TABLE events", readOnly},
		{"CREATE TABLE pwned AS SELECT 1 AS a$b$; SELECT 1", readOnly},
		{"EXPLAIN ANALYZE DELETE FROM events", readOnly},
		{hour, "stopped at its time limit"},
	} {
		stdout, stderr, err := execCartwheel(time.Minute, "query", "--config", cfg, tc.sql)
		line := strings.TrimRight(stderr, "\n")
		switch {
		case err == nil:
			t.Errorf("cartwheel query %q succeeded: %q", tc.sql, stdout)
		case strings.Contains(line, "\n") || !strings.Contains(line, tc.wantMsg):
			t.Errorf("cartwheel query %q: stderr %q, want one line saying %q", tc.sql, stderr, tc.wantMsg)
		case strings.Contains(stdout+stderr, marker) || strings.Contains(stdout+stderr, "root:x:"):
			t.Errorf("cartwheel query %q printed a file's content", tc.sql)
		default:
			cliRefused++
		}
	}
	stdout, stderr, err := execCartwheel(time.Minute, "query", "--config", cfg, "--format", "csv", "SELECT range AS n FROM range(10000000)")
	if err != nil || strings.Count(stdout, "\n") != abuseMaxRows+1 || !strings.Contains(stderr, "truncated") {
		t.Errorf("cartwheel query of 10M rows: %v, %d lines, stderr %q; want %d rows and a truncation notice", err, strings.Count(stdout, "\n"), stderr, abuseMaxRows)
	}

	// 5. Nothing changed, nothing was created, nothing was dialed, and the
	// appliance still answers.
	after := fingerprint(t, lc.http)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %s before, %s after", k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared: %s", k, v)
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files were created in the target directory: %v", names)
	}
	if n := dialed.Load(); n > 0 {
		t.Errorf("user SQL opened %d connections to a local listener", n)
	}
	if c.exited() {
		c.fail(t, "the appliance exited under abuse")
	}
	if status, b := httpDo(t, "GET", base+"/healthz", ""); status != 200 {
		t.Errorf("/healthz after the abuse: %d %q", status, b)
	}
	tortureReport(t, "abuse",
		fmt.Sprintf("%d requests sent, %d refused as expected (%s)", sent, refused, statusCounts(byStatus)),
		fmt.Sprintf("10M-row result cut at %d rows and marked truncated", abuseMaxRows),
		fmt.Sprintf("hour-long query stopped after %.1f s (limit %v)", stopped.Seconds(), abuseTimeout),
		fmt.Sprintf("100 MB bodies refused after %d MiB / %d MiB sent, RSS %+d MiB", wrote>>20, wroteChunked>>20, rssGrowth>>10),
		fmt.Sprintf("%d/7 CLI refusals with one line", cliRefused),
		fmt.Sprintf("warehouse unchanged (%d tables, views, databases and settings compared), 0 files created, %d connections dialed", len(before), dialed.Load()))
}

// rawRequest sends a request with exactly the given headers ("Host"
// overrides the request's Host) and returns the status and body.
func rawRequest(t *testing.T, method, url string, header map[string]string, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// hugeBody POSTs size bytes of JSON over a raw connection — with a
// Content-Length or chunked — while reading the answer, and returns the
// status, the body and how many bytes of the request were written before
// the answer came (the server stops reading at its limit).
func hugeBody(t *testing.T, addr string, size int64, withLength bool) (int, []byte, int64) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	head := "POST /api/query HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n"
	if withLength {
		head += "Content-Length: " + strconv.FormatInt(size, 10) + "\r\n\r\n"
	} else {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	}
	var wrote atomic.Int64
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		// Valid JSON as far as it goes (a SELECT padded with blanks), so
		// that only the size can refuse it.
		chunk := []byte(`{"sql":"SELECT 1` + strings.Repeat(" ", 64<<10-len(`{"sql":"SELECT 1`)))
		for first := true; wrote.Load() < size; first = false {
			if !first {
				chunk = []byte(strings.Repeat(" ", len(chunk)))
			}
			var err error
			if withLength {
				_, err = conn.Write(chunk)
			} else {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
			}
			if err != nil {
				return // the server closed the connection: expected
			}
			wrote.Add(int64(len(chunk)))
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("100 MB body: no answer: %v (%d bytes written)", err, wrote.Load())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, wrote.Load()
}

// rssKiB returns a process's resident set size.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// fingerprint describes the warehouse through the API, as a client sees
// it: every table's row count and a hash of its rows, every view's
// definition, the attached databases, and the settings user SQL must not
// change.
func fingerprint(t *testing.T, addr string) map[string]string {
	t.Helper()
	fp := map[string]string{}
	one := func(sql string) [][]any {
		t.Helper()
		st, res, msg := apiQuery(t, addr, sql)
		if st != 200 {
			t.Fatalf("%s: %d %s", sql, st, msg)
		}
		return res.Rows
	}
	for _, r := range one("SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY ALL") {
		name := fmt.Sprintf(`"%s"."%s"."%s"`, r[0], r[1], r[2])
		rows := one("SELECT count(*)::VARCHAR || ' ' || coalesce(sum(hash(t)), 0)::VARCHAR FROM " + name + " t")
		fp[fmt.Sprint(r[2])] = fmt.Sprint(rows[0][0])
	}
	for _, r := range one("SELECT view_name, hash(sql)::VARCHAR FROM duckdb_views() WHERE NOT internal ORDER BY ALL") {
		fp["view "+fmt.Sprint(r[0])] = fmt.Sprint(r[1])
	}
	var dbs []string
	for _, r := range one("SELECT database_name FROM duckdb_databases() ORDER BY ALL") {
		dbs = append(dbs, fmt.Sprint(r[0]))
	}
	fp["databases"] = strings.Join(dbs, ",")
	for _, r := range one("SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration', 'autoload_known_extensions', 'autoinstall_known_extensions') ORDER BY ALL") {
		fp["setting "+fmt.Sprint(r[0])] = fmt.Sprint(r[1])
	}
	return fp
}

func statusCounts(m map[int]int) string {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	return strings.Join(parts, " ")
}

func truncatedSummary(res interface{}) string {
	b, _ := json.Marshal(res)
	if len(b) > 200 {
		b = append(b[:200], "…"...)
	}
	return string(b)
}
