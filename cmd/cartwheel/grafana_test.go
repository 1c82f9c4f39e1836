package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var grafanaFiles = []string{
	"provisioning/datasources/cartwheel.yaml",
	"provisioning/dashboards/cartwheel.yaml",
	"dashboards/cartwheel.json",
}

func TestGrafanaExportNeedsOut(t *testing.T) {
	code, stdout, stderr := run(t, "grafana", "export")
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--out DIR is required") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line asking for --out", code, stdout, stderr)
	}
}

// Into an existing empty folder; again unchanged; a file edited since is
// refused without --force and replaced with it.
func TestGrafanaExportWrites(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, "grafana", "export", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first := map[string]string{}
	for _, f := range grafanaFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		first[f] = string(b)
		if !strings.Contains(stdout, "written   "+filepath.Join(dir, f)) {
			t.Errorf("stdout does not say %s was written:\n%s", f, stdout)
		}
	}
	if !strings.Contains(first[grafanaFiles[0]], "url: 127.0.0.1:5433") || !strings.Contains(stdout, "docker run") {
		t.Errorf("the DuckDB export is not the appliance's endpoint, or no hint:\n%s\n%s", first[grafanaFiles[0]], stdout)
	}

	code, stdout, _ = run(t, "grafana", "export", "--out", dir)
	if code != 0 || strings.Count(stdout, "unchanged ") != 3 {
		t.Errorf("second export: exit %d\n%s", code, stdout)
	}

	edited := filepath.Join(dir, grafanaFiles[2])
	if err := os.WriteFile(edited, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, "grafana", "export", "--out", dir)
	if code != 1 || stdout != "" || !strings.Contains(stderr, edited) || !strings.Contains(stderr, "--force") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("over an edited file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(edited); string(b) != "{}\n" {
		t.Error("the edited file was overwritten without --force")
	}
	code, _, stderr = run(t, "grafana", "export", "--out", dir, "--force")
	if b, _ := os.ReadFile(edited); code != 0 || string(b) != first[grafanaFiles[2]] {
		t.Errorf("--force: exit %d (%s), file restored: %v", code, stderr, string(b) == first[grafanaFiles[2]])
	}
}

// Over PostgreSQL the data source is the warehouse; its password is in
// no file and no output.
func TestGrafanaExportPostgres(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, "grafana", "export", "--out", dir, "--warehouse", "postgres://reader:hunter2@db.internal:6432/analytics")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "hunter2") {
		t.Errorf("the output shows the password:\n%s%s", stdout, stderr)
	}
	for _, f := range grafanaFiles {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("%s holds the password", f)
		}
	}
	ds, _ := os.ReadFile(filepath.Join(dir, grafanaFiles[0]))
	if !strings.Contains(string(ds), "url: db.internal:6432") || !strings.Contains(string(ds), "password: $CARTWHEEL_GRAFANA_DB_PASSWORD") {
		t.Errorf("data source:\n%s", ds)
	}
	if !strings.Contains(stdout, "-e CARTWHEEL_GRAFANA_DB_PASSWORD") {
		t.Errorf("the hint does not pass the password variable:\n%s", stdout)
	}
}

// A project panel the export cannot translate fails it, naming the
// panel; nothing is written.
func TestGrafanaExportBadPanel(t *testing.T) {
	proj := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proj, "dashboards"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "dashboards", "odd.sql"), []byte("SELECT COUNT(*) FROM events WHERE event_time >= $1 AND event_time < $2"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "graf")
	code, _, stderr := run(t, "grafana", "export", "--out", out, "--project", proj)
	if code != 1 || !strings.Contains(stderr, "panel odd (dashboards/odd.sql, line 1): $1 is used outside CAST($1 AS TIMESTAMP)") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the export wrote %s anyway (%v)", out, err)
	}
	// With the endpoint off, a DuckDB export says what to do.
	code, _, stderr = run(t, "grafana", "export", "--out", out, "--pg", "")
	if code != 1 || !strings.Contains(stderr, `that is off (pg: "")`) {
		t.Errorf("--pg \"\": exit %d, stderr %q", code, stderr)
	}
}
