package e2e

// Grafana against the live appliance: the exported dashboard's SQL,
// expanded as Grafana's PostgreSQL data source expands it, sent over the
// appliance's Postgres endpoint with pgx's simple protocol (as Grafana
// sends it), returns what `cartwheel query` returns for the panel's own
// SQL over the same range.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/grafana"
	"github.com/cartwheel-analytics/cartwheel/grafana/grafanatest"
	"github.com/cartwheel-analytics/cartwheel/project"
)

func TestGrafanaOverPostgresEndpoint(t *testing.T) {
	short(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	mustCartwheel(t, 2*time.Minute, "generate", "--seed", "11", "--duration", "3h", "--late", "0.01", "--malformed", "0.002", "--out", events)
	dsn := "duckdb://" + filepath.Join(dir, "w.duckdb")
	mustCartwheel(t, 5*time.Minute, "replay", "--events", events, "--warehouse", dsn, "--no-models")

	httpAddr, pgAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "cartwheel.yaml")
	writeFile(t, cfg, fmt.Sprintf("data_dir: %s\nwarehouse: %s\nhttp: %s\npg: %s\ngenerator:\n  rate: 0\n",
		filepath.Join(dir, "data"), dsn, httpAddr, pgAddr))
	c := start(t, "run", "--config", cfg)
	waitReady(t, c, httpAddr, 2*time.Minute)

	// The export names the endpoint of the config.
	out := filepath.Join(dir, "graf")
	mustCartwheel(t, time.Minute, "grafana", "export", "--config", cfg, "--out", out)
	var dsFile struct {
		Datasources []struct{ URL, UID string } `yaml:"datasources"`
	}
	b, err := os.ReadFile(filepath.Join(out, grafana.DataSourceFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &dsFile); err != nil || len(dsFile.Datasources) != 1 || dsFile.Datasources[0].URL != pgAddr {
		t.Fatalf("data source %s (%v): want url %s", b, err, pgAddr)
	}
	b, err = os.ReadFile(filepath.Join(out, grafana.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var model grafana.DashboardModel
	if err := json.Unmarshal(b, &model); err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.Load(project.FS)
	if err != nil {
		t.Fatal(err)
	}
	var panels []*dashboard.Panel
	for _, p := range d.Panels {
		if !p.Hidden {
			panels = append(panels, p)
		}
	}
	if len(panels) != len(model.Panels) {
		t.Fatalf("%d panels exported, %d visible", len(model.Panels), len(panels))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://cartwheel@"+pgAddr+"/cartwheel?sslmode=disable")
	if err != nil {
		t.Fatalf("connect to the endpoint: %v", err)
	}
	defer conn.Close(context.Background())

	nonEmpty := 0
	for _, r := range []struct {
		from, to string
		step     time.Duration
	}{
		{"2026-11-01T00:00:00Z", "2026-11-01T03:00:00Z", time.Minute},
		{"2026-11-01T00:30:00Z", "2026-11-01T01:30:00Z", 5 * time.Minute}, // aligned: user_activity
		{"2026-11-01T00:17:31.25Z", "2026-11-01T02:44:10.5Z", 20 * time.Second},
	} {
		from, _ := time.Parse(time.RFC3339Nano, r.from)
		to, _ := time.Parse(time.RFC3339Nano, r.to)
		for i, p := range panels {
			mp := model.Panels[i]
			if mp.Title != p.Title {
				t.Fatalf("panel %d is %q, want %q", i, mp.Title, p.Title)
			}
			sql, err := grafanatest.Expand(mp.Targets[0].RawSQL, from, to, r.step)
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			// As Grafana sends it: the simple query protocol.
			res, err := conn.PgConn().Exec(ctx, sql).ReadAll()
			if err != nil || len(res) != 1 || res[0].Err != nil {
				t.Fatalf("%s over the endpoint: %v %v\n%s", p.Name, err, res, sql)
			}
			if mp.Targets[0].Format == "time_series" {
				// Grafana takes a time column of a time type and numbers of
				// number types (timestamp, timestamptz, date; int2/4/8,
				// float4/8, numeric).
				times := map[uint32]bool{1114: true, 1184: true, 1082: true}
				numbers := map[uint32]bool{20: true, 21: true, 23: true, 700: true, 701: true, 1700: true}
				for k, f := range res[0].FieldDescriptions {
					if (k == 0 && !times[f.DataTypeOID]) || (k > 0 && !numbers[f.DataTypeOID]) {
						t.Errorf("%s: column %s has type OID %d, which Grafana's time series would not read as a %s",
							p.Name, f.Name, f.DataTypeOID, map[bool]string{true: "time", false: "number"}[k == 0])
					}
				}
			}
			var got [][]string
			head := []string{}
			for _, f := range res[0].FieldDescriptions {
				head = append(head, f.Name)
			}
			got = append(got, head)
			for _, row := range res[0].Rows {
				var vals []string
				for _, v := range row {
					if v == nil {
						vals = append(vals, "")
					} else {
						vals = append(vals, normalText(string(v)))
					}
				}
				got = append(got, vals)
			}

			// "--": the panel's SQL starts with a comment.
			csvOut := mustCartwheel(t, 30*time.Second, "query", "--config", cfg, "--format", "csv", "--", withLiterals(p.SQL, from, to, r.step))
			want, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
			if err != nil || len(want) == 0 {
				t.Fatalf("%s: query output is not CSV: %v\n%s", p.Name, err, csvOut)
			}
			for j := 1; j < len(want); j++ {
				for k := range want[j] {
					want[j][k] = normalText(want[j][k])
				}
			}
			if mp.Targets[0].Format == "time_series" {
				want[0][0] = "time"
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s from %s to %s: (-cartwheel query +endpoint):\n%s", p.Name, r.from, r.to, diff)
			}
			if len(got) > 1 {
				nonEmpty++
			}
		}
	}
	if nonEmpty < len(panels) {
		t.Errorf("only %d panel results had rows", nonEmpty)
	}
	if err, _ := c.terminate(t, time.Minute); err != nil {
		t.Errorf("cartwheel run: %v\n%s", err, tail(c.stderr.String(), 20))
	}
}

var param = regexp.MustCompile(`\$([1-3])\b`)

// withLiterals puts the range into a panel's SQL as literals, for
// `cartwheel query`, which binds no parameters.
func withLiterals(sql string, from, to time.Time, step time.Duration) string {
	return param.ReplaceAllStringFunc(sql, func(m string) string {
		switch m {
		case "$1":
			return "'" + from.UTC().Format("2006-01-02 15:04:05.999999") + "'"
		case "$2":
			return "'" + to.UTC().Format("2006-01-02 15:04:05.999999") + "'"
		}
		return fmt.Sprintf("'%d'", int64(step/time.Second))
	})
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"}

// normalText makes the CLI's CSV and the endpoint's text format
// comparable: times in RFC 3339 UTC, numbers to 6 decimals.
func normalText(s string) string {
	for _, l := range timeLayouts {
		if tm, err := time.Parse(l, s); err == nil {
			return tm.UTC().Format(time.RFC3339Nano)
		}
	}
	if r, ok := new(big.Rat).SetString(s); ok && !strings.ContainsAny(s, "/") {
		return r.FloatString(6)
	}
	return s
}
