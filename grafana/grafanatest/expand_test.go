package grafanatest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/grafana/grafanatest"
)

// The expansions of Grafana's PostgreSQL macros (its macros.go and
// sqleng's global substitutions), for 2026-11-20 00:00 to 06:00:00.5 UTC
// with a 20 s interval.
func TestExpand(t *testing.T) {
	from := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 20, 6, 0, 0, 500_000_000, time.FixedZone("CET", 3600)).UTC()
	for in, want := range map[string]string{
		"WHERE $__timeFilter(time_column)":             "WHERE time_column BETWEEN '2026-11-20T00:00:00Z' AND '2026-11-20T05:00:00.5Z'",
		"WHERE $__timeFilter( t.c )":                   "WHERE t.c BETWEEN '2026-11-20T00:00:00Z' AND '2026-11-20T05:00:00.5Z'",
		"SELECT $__timeGroup(time_column,'5m')":        "SELECT floor(extract(epoch from time_column)/300)*300",
		"SELECT $__timeGroup(time_column, '5m') AS t":  "SELECT floor(extract(epoch from time_column)/300)*300 AS t",
		"SELECT $__timeGroup(time_column,'5m'), value": `SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value`,
		"SELECT $__timeGroupAlias(time_column,'1h')":   `SELECT floor(extract(epoch from time_column)/3600)*3600 AS "time"`,
		"SELECT $__timeGroupAlias(c, $__interval)":     `SELECT floor(extract(epoch from c)/20)*20 AS "time"`,
		"SELECT $__timeGroup(c, '500ms')":              "SELECT floor(extract(epoch from c)/0.5)*0.5",
		"SELECT $__time(c)":                            `SELECT c AS "time"`,
		"SELECT $__timeEpoch(c)":                       `SELECT extract(epoch from c) as "time"`,
		"SELECT $__timeFrom(), $__timeTo()":            "SELECT '2026-11-20T00:00:00Z', '2026-11-20T05:00:00.5Z'",
		"SELECT $__interval_ms, '$__interval'":         "SELECT 20000, '20s'",
		"WHERE $__unixEpochFilter(t)":                  "WHERE t >= 1795132800 AND t <= 1795150800",
		"SELECT $__unixEpochFrom(), $__unixEpochTo()":  "SELECT 1795132800, 1795150800",
		"SELECT $__unixEpochGroupAlias(t, '1m')":       `SELECT floor((t)/60)*60 AS "time"`,
		"WHERE $__unixEpochNanoFilter(t)":              "WHERE t >= 1795132800000000000 AND t <= 1795150800500000000",
		"SELECT $1, $x, price$":                        "SELECT $1, $x, price$",
	} {
		got, err := grafanatest.Expand(in, from, to, 20*time.Second)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"SELECT $__nope(x)":        `unknown macro "__nope"`,
		"SELECT $__timeFilter()":   "missing time column",
		"SELECT $__timeGroup(c)":   "needs time column and interval",
		"SELECT $__timeGroup(c,x)": "error parsing interval",
	} {
		if _, err := grafanatest.Expand(in, from, to, time.Second); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Expand(%q): %v, want %q", in, err, want)
		}
	}
}

func TestFormatInterval(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500 * time.Millisecond: "500ms", time.Second: "1s", 90 * time.Second: "1m", time.Hour: "1h",
		36 * time.Hour: "1d", 400 * 24 * time.Hour: "1y",
	} {
		if got := grafanatest.FormatInterval(d); got != want {
			t.Errorf("FormatInterval(%v) = %q, want %q", d, got, want)
		}
	}
}
