package models

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/result"
)

// TestGoldenMarts builds the built-in project on the hand-made fixture of
// testdata/golden/fixture.sql and compares every mart with the rows written
// out by hand next to it.
func TestGoldenMarts(t *testing.T) {
	ctx := context.Background()
	db := openDuckDB(t)
	execFile(t, db, "testdata/golden/fixture.sql")
	var out bytes.Buffer
	rep, err := Build(ctx, db, builtin(t), WithOutput(&out), WithClock(fixedClock))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	// dave's country XX is not in the countries seed: the one warning.
	if pass, warn, errs, skip, total := rep.Counts(); warn != 1 || errs != 0 || skip != 0 || pass != total-1 {
		t.Errorf("counts PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%d, want one warning\n%s", pass, warn, errs, skip, total, out.String())
	}
	if res, _ := rep.Result("relationships_dim_users_last_country__country_code__ref_countries_"); res.Status != StatusWarn || res.Rows != 1 {
		t.Errorf("country test: %s %d, want warn 1", res.Status, res.Rows)
	}
	for _, m := range []string{"stg_sessionized_events", "fact_user_sessions", "dim_users", "dim_time",
		"fct_conversion_funnel", "fct_daily_revenue", "fct_active_users"} {
		compareTable(t, db, m, filepath.Join("testdata/golden", m+".csv"))
	}
	// The same mapping as the source view session_events.
	mine := queryRows(t, db, "SELECT event_id, session_id FROM stg_sessionized_events ORDER BY 1")
	theirs := queryRows(t, db, "SELECT event_id, session_id FROM session_events ORDER BY 1")
	if strings.Join(flatten(mine), ",") != strings.Join(flatten(theirs), ",") {
		t.Errorf("stg_sessionized_events maps events to sessions differently from session_events:\n%v\n%v", mine, theirs)
	}
	// Money and percentages stay exact decimals; counts are integers.
	for _, m := range []string{"fact_user_sessions", "dim_users", "fct_conversion_funnel", "fct_daily_revenue", "fct_active_users"} {
		res, err := db.Query(ctx, "SELECT * FROM "+m+" LIMIT 0")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Columns {
			if c.Kind == result.KindFloat || c.Kind == result.KindOther {
				t.Errorf("%s.%s is of kind %s, want an exact type", m, c.Name, c.Kind)
			}
		}
	}
}

func flatten(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}
