package dag

import (
	"fmt"
	"strings"
	"time"

	// netresearch/go-cron is the maintained fork of robfig/cron (v3.0.1,
	// unmaintained since 2020): the same 5-field grammar and descriptors
	// data engineers know from Airflow's croniter, with releases and fixes.
	// gronx was the other candidate; it matches a time against an
	// expression and finds the next tick by stepping, which gives no
	// better DST story and a less familiar grammar. Neither library's
	// DST handling is what SPEC §5.2 asks (go-cron runs a 02:30 job at
	// 03:30 on a spring-forward day and twice on a fall-back day), so the
	// library only ever sees wall times in a zone without DST (UTC) and
	// wallToInstant applies this package's policy; the table tests in
	// schedule_test.go pin it.
	cron "github.com/netresearch/go-cron"
)

// schedule finds the due times of a DAG.
type schedule interface {
	// next is the first due time strictly after t (false: none).
	next(t time.Time) (time.Time, bool)
}

// parseSchedule parses a schedule as written in a DAG file; "" is manual
// only (nil). anchor is where @every intervals start.
func parseSchedule(spec string, loc *time.Location, anchor time.Time) (schedule, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, nil
	case strings.HasPrefix(spec, "@every"):
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every")))
		if err != nil {
			return nil, fmt.Errorf("bad @every duration in %q (want e.g. @every 5m): %v", spec, err)
		}
		if d < time.Second {
			return nil, fmt.Errorf("@every duration in %q must be at least 1s", spec)
		}
		return every{d: d, anchor: anchor}, nil
	case strings.Contains(spec, "TZ="):
		return nil, fmt.Errorf("bad cron %q: set the time zone with the timezone field, not in the schedule", spec)
	case strings.HasPrefix(spec, "@"):
		switch spec {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		default:
			return nil, fmt.Errorf("bad schedule %q (want a 5-field cron, @hourly, @daily, @weekly, @monthly, @yearly, @midnight or @every D)", spec)
		}
	default:
		if n := len(strings.Fields(spec)); n != 5 {
			return nil, fmt.Errorf("bad cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, n)
		}
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("bad cron %q: %v", spec, err)
	}
	return wallClock{s: s, loc: loc}, nil
}

// every is `@every D`: due times anchor + k·D in absolute time, so a day
// with a DST change neither skips nor doubles one (their wall times shift
// by the change instead).
type every struct {
	d      time.Duration
	anchor time.Time
}

func (e every) next(t time.Time) (time.Time, bool) {
	if t.Before(e.anchor) {
		return e.anchor, true
	}
	k := t.Sub(e.anchor)/e.d + 1
	// Sub saturates for spans over 292 years; step from there.
	n := e.anchor.Add(k * e.d)
	for !n.After(t) {
		n = n.Add(e.d)
	}
	return n, true
}

// wallClock is a cron schedule evaluated on the wall clock of loc, with
// the DST policy of the package doc: a wall time inside a spring-forward
// gap is due at the first instant after the gap (so several such wall
// times make one run), and a wall time that a fall-back change repeats is
// due once, at its first occurrence.
type wallClock struct {
	s   cron.Schedule
	loc *time.Location
}

// maxWallSteps bounds the search of next; a schedule matches at least once
// a year, and the gap/fold handling skips at most an hour's worth of ticks.
const maxWallSteps = 1 << 12

func (w wallClock) next(t time.Time) (time.Time, bool) {
	wall := naive(t.In(w.loc))
	for range maxWallSteps {
		wall = w.s.Next(wall)
		if wall.IsZero() {
			return time.Time{}, false
		}
		if at := wallToInstant(wall, w.loc); at.After(t) {
			return at, true
		}
		// A wall time already passed: its first occurrence was before t
		// (the repeated hour of a fall-back day) or the gap it falls into
		// was already run.
	}
	return time.Time{}, false
}

// naive is t's wall time as a UTC time, where no DST change interferes.
func naive(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// wallToInstant is the instant a wall time (given as a UTC time) is due in
// loc: its only occurrence, its first when it occurs twice, and the first
// instant after the gap when it does not occur.
func wallToInstant(wall time.Time, loc *time.Location) time.Time {
	var best time.Time
	for _, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		at := wall.Add(-time.Duration(off) * time.Second).In(loc)
		if naive(at).Equal(wall) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: read the wall time with the offset from before the
	// change, which lands after it; the change is where that zone starts.
	_, before := wall.Add(-26 * time.Hour).In(loc).Zone()
	after := wall.Add(-time.Duration(before) * time.Second).In(loc)
	start, _ := after.ZoneBounds()
	if start.IsZero() || start.After(after) {
		return after
	}
	return start
}
