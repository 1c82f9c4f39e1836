package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDagsFlagErrors: bad flags and arguments fail with one line before
// anything opens the warehouse.
func TestDagsFlagErrors(t *testing.T) {
	dir := t.TempDir()
	wh := "duckdb://" + filepath.Join(dir, "none", "w.duckdb")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dags", "trigger"}, `accepts 1 arg(s), received 0`},
		{[]string{"dags", "trigger", "a", "b"}, `accepts 1 arg(s), received 2`},
		{[]string{"dags", "trigger", "a", "--date", "yesterday"}, `--date: "yesterday" is not an RFC 3339 time`},
		{[]string{"dags", "list", "--format", "xml"}, `--format "xml": want table, csv or json`},
		{[]string{"dags", "runs", "a", "--format", "yaml"}, `--format "yaml": want table, csv or json`},
		{[]string{"dags", "runs", "a", "--limit", "0"}, `--limit 0: want 1 to 1000`},
		{[]string{"dags", "runs", "a", "--limit", "x"}, `invalid argument "x" for "--limit"`},
		{[]string{"dags", "logs", "a"}, `accepts between 2 and 3 arg(s), received 1`},
		{[]string{"dags", "logs", "a", "r", "--try", "2"}, `--try needs a TASK_ID`},
		{[]string{"dags", "logs", "a", "r", "t", "--try", "-1"}, `--try -1: want a try number from 1`},
		{[]string{"dags", "backfill", "a"}, `backfill needs --from and --to`},
		{[]string{"dags", "backfill", "a", "--from", "2026-11-01"}, `backfill needs --from and --to`},
		{[]string{"dags", "backfill", "a", "--from", "nov", "--to", "2026-11-01"}, `--from: "nov" is not an RFC 3339 time`},
		{[]string{"dags", "backfill", "a", "--from", "2026-11-02", "--to", "2026-11-01"}, `--from 2026-11-02 is after --to 2026-11-01`},
		{[]string{"dags", "backfill", "a", "--from", "2026-11-01", "--to", "2026-11-02", "--reprocess", "some"}, `--reprocess "some": want none, failed or all`},
		{[]string{"dags", "pause"}, `accepts 1 arg(s), received 0`},
		{[]string{"dags", "test", "a", "--date", "2026-13-01"}, `--date: "2026-13-01" is not an RFC 3339 time`},
	} {
		code, stdout, stderr := run(t, append(c.args, "--warehouse", wh)...)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "cartwheel: ") || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("cartwheel %s: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", strings.Join(c.args, " "), code, stdout, stderr, c.want)
		}
	}
	if code, _, stderr := run(t, "dags", "frobnicate"); code != 1 || stderr != "cartwheel: unknown command \"frobnicate\" for \"cartwheel dags\"\n" {
		t.Errorf("dags frobnicate: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
		t.Errorf("a refused command created the warehouse's folder")
	}
}

// TestDagsHelp: every dags command has help with examples.
func TestDagsHelp(t *testing.T) {
	for _, sub := range []string{"list", "trigger", "runs", "logs", "backfill", "pause", "unpause", "test"} {
		code, stdout, stderr := run(t, "dags", sub, "--help")
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "cartwheel dags "+sub) {
			t.Errorf("dags %s --help: exit %d, stderr %q, stdout:\n%s", sub, code, stderr, stdout)
		}
	}
	_, stdout, _ := run(t, "dags", "trigger", "--help")
	if !strings.Contains(stdout, "runs it in the foreground") {
		t.Errorf("trigger --help does not say what happens with no appliance:\n%s", stdout)
	}
}

// brokenProject writes a project whose DAG "broken" has a failing
// sql_check with a task downstream of it and a one_failed alert.
func brokenProject(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	if code, _, stderr := run(t, "init", dir); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dags"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dags", "broken.yml"), []byte(`name: broken
schedule: "@daily"
start_date: 2026-11-01T00:00:00Z
tasks:
  - id: first
    sql: "SELECT 1"
  - id: check
    sql_check: "SELECT 'bad' AS row_that_fails"
    depends_on: [first]
  - id: after
    sql: "SELECT 2"
    depends_on: [check]
  - id: alert
    sql: "SELECT 3"
    depends_on: [check]
    trigger_rule: one_failed
`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDagsWithoutAppliance: with no appliance on the DuckDB file the
// commands open it themselves; trigger runs the run in the foreground with
// history written, its exit status the run's outcome; test writes none; an
// unknown DAG is one line.
func TestDagsWithoutAppliance(t *testing.T) {
	proj := brokenProject(t)
	wh := "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
	flags := []string{"--warehouse", wh, "--project", proj}

	code, stdout, stderr := run(t, append([]string{"dags", "trigger", "broken"}, flags...)...)
	if code != 1 || !strings.Contains(stderr, "failed: check (failed), after (upstream_failed)") {
		t.Errorf("trigger of a failing DAG: exit %d, stderr %q\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"queued broken run manual__", "run manual__", " failed in ", "after", "upstream_failed", "alert", "success"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("trigger output has no %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = run(t, append([]string{"dags", "runs", "broken", "--format", "csv"}, flags...)...)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "run_id,run_type,logical_date,state,") || !strings.Contains(lines[1], ",manual,") || !strings.Contains(lines[1], ",failed,") {
		t.Errorf("runs after the trigger: exit %d, %q, %q", code, stdout, stderr)
	}
	runID := strings.Split(lines[len(lines)-1], ",")[0]
	code, stdout, _ = run(t, append([]string{"dags", "logs", "broken", runID}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "=== check (try 1, failed) ===") || !strings.Contains(stdout, "=== after (") {
		t.Errorf("logs: exit %d\n%s", code, stdout)
	}

	code, stdout, _ = run(t, append([]string{"dags", "test", "broken", "--date", "2026-11-05"}, flags...)...)
	if code != 1 || !strings.Contains(stdout, "upstream_failed") {
		t.Errorf("test of a failing DAG: exit %d\n%s", code, stdout)
	}
	_, stdout, _ = run(t, append([]string{"dags", "runs", "broken", "--format", "csv"}, flags...)...)
	if n := strings.Count(strings.TrimSpace(stdout), "\n"); n != 1 {
		t.Errorf("dags test wrote history: %d runs\n%s", n, stdout)
	}

	code, stdout, _ = run(t, append([]string{"dags", "backfill", "broken", "--from", "2026-11-01", "--to", "2026-11-03", "--dry-run"}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "would queue 3 runs") || strings.Count(stdout, "backfill__") != 3 {
		t.Errorf("backfill --dry-run: exit %d\n%s", code, stdout)
	}

	code, stdout, _ = run(t, append([]string{"dags", "pause", "broken"}, flags...)...)
	if code != 0 || stdout != "broken paused\n" {
		t.Errorf("pause: exit %d %q", code, stdout)
	}
	code, stdout, stderr = run(t, append([]string{"dags", "trigger", "broken"}, flags...)...)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "broken is paused: a run of it waits for 'cartwheel dags unpause broken'") {
		t.Errorf("trigger of a paused DAG with no appliance: exit %d, %q, %q", code, stdout, stderr)
	}
	_, stdout, _ = run(t, append([]string{"dags", "list", "--format", "csv"}, flags...)...)
	if !strings.Contains(stdout, "broken,@daily,UTC,true,") {
		t.Errorf("list after pause:\n%s", stdout)
	}

	for _, args := range [][]string{{"trigger", "nope"}, {"runs", "nope"}, {"pause", "nope"}, {"logs", "broken", "nope"}} {
		code, stdout, stderr = run(t, append(append([]string{"dags"}, args...), flags...)...)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "unknown") {
			t.Errorf("dags %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
