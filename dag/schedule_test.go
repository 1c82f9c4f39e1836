package dag

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// at parses an RFC 3339 time (with its offset: the wall time a reader
// checks) for the tables below.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNextAcrossDST pins the DST policy of the package doc: in the
// spring-forward gap a wall time runs at the first instant after the gap
// (several make one run); in the fall-back hour a wall time runs once, at
// its first occurrence; @every keeps absolute spacing. 2026: Europe/Berlin
// changes on March 29 (02:00 → 03:00) and October 25 (03:00 → 02:00),
// America/New_York on March 8 (02:00 → 03:00) and November 1 (02:00 → 01:00).
func TestNextAcrossDST(t *testing.T) {
	for _, tc := range []struct {
		name, zone, schedule, start, from string
		want                              []string
	}{
		{"berlin spring daily in the gap", "Europe/Berlin", "30 2 * * *", "", "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"berlin spring every 20 minutes", "Europe/Berlin", "*/20 * * * *", "", "2026-03-29T01:30:00+01:00",
			[]string{"2026-03-29T01:40:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:20:00+02:00"}},
		{"berlin spring from the end of the gap", "Europe/Berlin", "*/20 * * * *", "", "2026-03-29T03:00:00+02:00",
			[]string{"2026-03-29T03:20:00+02:00"}},
		{"berlin fall daily in the repeated hour", "Europe/Berlin", "30 2 * * *", "", "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"berlin fall every 30 minutes", "Europe/Berlin", "*/30 * * * *", "", "2026-10-25T01:45:00+02:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T03:00:00+01:00"}},
		{"berlin spring @every 1h", "Europe/Berlin", "@every 1h", "2026-03-29T00:00:00+01:00", "2026-03-29T00:30:00+01:00",
			[]string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"}},
		{"berlin fall @every 24h", "Europe/Berlin", "@every 24h", "2026-10-24T00:00:00+02:00", "2026-10-24T00:00:00+02:00",
			[]string{"2026-10-25T00:00:00+02:00", "2026-10-25T23:00:00+01:00"}},
		{"new york spring daily in the gap", "America/New_York", "0 2 * * *", "", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
		{"new york spring @daily", "America/New_York", "@daily", "", "2026-03-07T12:00:00-05:00",
			[]string{"2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},
		{"new york fall daily in the repeated hour", "America/New_York", "30 1 * * *", "", "2026-10-31T12:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"new york fall from the second occurrence", "America/New_York", "30 1 * * *", "", "2026-11-01T01:15:00-05:00",
			[]string{"2026-11-02T01:30:00-05:00"}},
		{"new york fall @hourly", "America/New_York", "@hourly", "", "2026-11-01T00:30:00-04:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"}},
		{"new york fall @every 30m", "America/New_York", "@every 30m", "2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"}},
		{"new york spring @every 1h", "America/New_York", "@every 1h", "2026-03-08T00:00:00-05:00", "2026-03-08T00:30:00-05:00",
			[]string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: x\ntimezone: " + tc.zone + "\nschedule: \"" + tc.schedule + "\"\n"
			if tc.start != "" {
				src += "start_date: " + tc.start + "\n"
			}
			d, err := Parse("dags/x.yml", []byte(src+"tasks: [{id: a, sql: SELECT 1}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			now := at(t, tc.from)
			for range tc.want {
				n, ok := d.Next(now)
				if !ok {
					t.Fatalf("no due time after %v", now)
				}
				got = append(got, n.In(d.Location).Format(time.RFC3339))
				now = n
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("due times after %s (-want +got):\n%s", tc.from, diff)
			}
		})
	}
}

// TestNextNeverSkipsOrDoubles walks a whole year of a 15-minute cron in
// both zones: due times strictly increase, no wall time is due twice, and
// every wall time of the schedule that exists is due.
func TestNextNeverSkipsOrDoubles(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		d, err := Parse("dags/x.yml", []byte("name: x\ntimezone: "+zone+"\nschedule: \"*/15 * * * *\"\ntasks: [{id: a, sql: SELECT 1}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, d.Location)
		end := now.AddDate(1, 0, 0)
		walls := map[string]bool{}
		for now.Before(end) {
			n, ok := d.Next(now)
			if !ok || !n.After(now) {
				t.Fatalf("%s: due time %v after %v", zone, n, now)
			}
			// The longest wait is over the repeated hour: from its first
			// 02:45 to 03:00 after it.
			if n.Sub(now) > 75*time.Minute {
				t.Fatalf("%s: gap of %v after %v", zone, n.Sub(now), now)
			}
			w := n.In(d.Location).Format("2006-01-02 15:04")
			if walls[w] {
				t.Fatalf("%s: wall time %s due twice", zone, w)
			}
			walls[w] = true
			now = n
		}
		// 365 days of 96 quarter-hours, less the 4 in the spring gap (they
		// collapse into the 03:00 run); the 4 repeated ones count once.
		if got, want := len(walls), 365*96-4; got != want {
			t.Errorf("%s: %d distinct due wall times in a year, want %d", zone, got, want)
		}
	}
}

func TestNextRespectsStartDate(t *testing.T) {
	d, err := Parse("dags/x.yml", []byte("schedule: \"@hourly\"\nstart_date: 2026-11-01T00:00:00Z\ntasks: [{id: a, sql: SELECT 1}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := d.Next(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("first due time %v, want %v (the start date)", got, want)
	}
	s, e := d.DataInterval(got)
	if !s.Equal(got) || !e.Equal(got.Add(time.Hour)) {
		t.Errorf("data interval [%v, %v), want an hour from %v", s, e, got)
	}
	m, err := Parse("dags/m.yml", []byte("tasks: [{id: a, sql: SELECT 1}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Next(got); ok {
		t.Error("a DAG without a schedule has a due time")
	}
}

func TestRetryDelayAfter(t *testing.T) {
	task := &Task{RetryDelay: 30 * time.Second, MaxRetryDelay: 3 * time.Minute}
	var got []time.Duration
	for try := 1; try <= 5; try++ {
		got = append(got, task.RetryDelayAfter(try))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
}
