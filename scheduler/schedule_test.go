package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sleepUntil sleeps on the bubble's fake clock until t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// idle waits until no run is queued or running.
func idle(t *testing.T, s *Scheduler, name string) []Run {
	t.Helper()
	var runs []Run
	waitFor(t, "the runs of "+name, func() bool {
		var err error
		if runs, err = s.Runs(context.Background(), name, 0); err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.State == StateQueued || r.State == StateRunning {
				return false
			}
		}
		return true
	})
	sort.Slice(runs, func(i, j int) bool { return runs[i].LogicalDate.Before(runs[j].LogicalDate) })
	return runs
}

func format(ts []time.Time, loc *time.Location) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.In(loc).Format(time.RFC3339)
	}
	return out
}

// TestCatchup: after downtime, a DAG with catchup gets one run per missed
// interval, oldest first; without it only the latest. Each run starts
// when its interval ends.
func TestCatchup(t *testing.T) {
	for _, catchup := range []bool{true, false} {
		t.Run(fmt.Sprint("catchup=", catchup), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := openMemory(t)
				dags := parseDAGs(t, fmt.Sprintf(`name: hourly
schedule: "0 * * * *"
start_date: 2000-01-01T00:00:00Z
catchup: %v
max_active_runs: 1
tasks: [{id: a, sql: SELECT 1}]
`, catchup))
				t0 := time.Now() // 2000-01-01 00:00 UTC in a bubble
				h := start(t, db, dags, WithLease(time.Hour), withPoll(time.Minute))
				sleepUntil(t0.Add(90 * time.Minute))
				runs := idle(t, h.Scheduler, "hourly")
				if len(runs) != 1 || !runs[0].LogicalDate.Equal(t0) || !runs[0].StartedAt.Equal(t0.Add(time.Hour)) {
					t.Fatalf("before the gap: %+v; want the 00:00 run, started at 01:00", runs)
				}
				h.stop()
				sleepUntil(t0.Add(5*time.Hour + 30*time.Minute))
				h = start(t, db, dags, WithLease(time.Hour), withPoll(time.Minute))
				synctest.Wait()
				time.Sleep(time.Second)
				runs = idle(t, h.Scheduler, "hourly")
				var logical, started []time.Time
				for _, r := range runs {
					if r.State != StateSuccess || r.RunType != RunScheduled {
						t.Errorf("run %s: %s %s", r.RunID, r.RunType, r.State)
					}
					logical = append(logical, r.LogicalDate)
					started = append(started, *r.StartedAt)
				}
				want := []time.Time{t0}
				if catchup {
					for h := 1; h <= 4; h++ {
						want = append(want, t0.Add(time.Duration(h)*time.Hour))
					}
				} else {
					want = append(want, t0.Add(4*time.Hour))
				}
				if diff := cmp.Diff(format(want, time.UTC), format(logical, time.UTC)); diff != "" {
					t.Errorf("logical dates (-want +got):\n%s", diff)
				}
				if !sort.SliceIsSorted(started, func(i, j int) bool { return started[i].Before(started[j]) }) {
					t.Errorf("catch-up runs did not start oldest first: %v", started)
				}
			})
		})
	}
}

// TestSchedulingAcrossDST runs the scheduler on the fake clock over DST
// changes: the run whose wall time falls in the spring-forward gap starts
// at the end of the gap, the repeated hour of a fall-back day starts no
// second run, and @every keeps its absolute spacing.
func TestSchedulingAcrossDST(t *testing.T) {
	for _, tc := range []struct {
		name, zone, schedule, from, until string
		wantStarted                       []string
	}{
		{"berlin spring cron", "Europe/Berlin", "30 2 * * *", "2026-03-27T00:00:00+01:00", "2026-03-31T00:00:00+02:00",
			[]string{"2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"berlin spring @every 6h", "Europe/Berlin", "@every 6h", "2026-03-28T12:00:00+01:00", "2026-03-29T14:00:00+02:00",
			[]string{"2026-03-28T18:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-29T07:00:00+02:00", "2026-03-29T13:00:00+02:00"}},
		{"new york fall cron", "America/New_York", "30 1 * * *", "2026-10-30T00:00:00-04:00", "2026-11-03T00:00:00-05:00",
			[]string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"new york fall @every 30m", "America/New_York", "@every 30m", "2026-11-01T00:30:00-04:00", "2026-11-01T01:45:00-05:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				from, _ := time.Parse(time.RFC3339, tc.from)
				until, _ := time.Parse(time.RFC3339, tc.until)
				sleepUntil(from)
				db := openMemory(t)
				dags := parseDAGs(t, fmt.Sprintf(`name: dst
schedule: %q
timezone: %s
start_date: %s
catchup: true
tasks: [{id: a, sql: SELECT 1}]
`, tc.schedule, tc.zone, tc.from))
				h := start(t, db, dags, withPoll(time.Hour), WithLease(24*time.Hour))
				sleepUntil(until)
				runs := idle(t, h.Scheduler, "dst")
				var started []time.Time
				for _, r := range runs {
					started = append(started, *r.StartedAt)
					if !r.DataIntervalEnd.Equal(*r.StartedAt) {
						t.Errorf("run %s started at %v, not at the end of its interval %v", r.RunID, r.StartedAt, r.DataIntervalEnd)
					}
				}
				if diff := cmp.Diff(tc.wantStarted, format(started, dags[0].Location)); diff != "" {
					t.Errorf("run starts (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// gate is a ModelsFunc that blocks until released and records how many
// ran at once.
type gate struct {
	mu       sync.Mutex
	now, max int
	release  chan struct{}
	fail     func(v map[string]any) bool
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) models(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
	g.mu.Lock()
	g.now++
	g.max = max(g.max, g.now)
	fail := g.fail != nil && g.fail(v)
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.now--; g.mu.Unlock() }()
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if fail {
		return errors.New("failing on purpose")
	}
	return nil
}

func (g *gate) peak() int { g.mu.Lock(); defer g.mu.Unlock(); return g.max }

// TestMaxActiveRuns: manual runs beyond max_active_runs wait queued.
func TestMaxActiveRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openMemory(t)
		g := newGate()
		h := start(t, db, parseDAGs(t, `name: limited
max_active_runs: 2
tasks: [{id: a, models: run}]
`), WithModels(g.models))
		t0 := time.Now()
		var ids []string
		for i := range 4 {
			r, err := h.Trigger(context.Background(), "limited", t0.Add(time.Duration(i)*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.RunID)
		}
		if _, err := h.Trigger(context.Background(), "limited", t0); !errors.Is(err, ErrRunExists) {
			t.Errorf("a second trigger of the same run id: %v, want ErrRunExists", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		var got []string
		for _, id := range ids {
			r, _, err := h.GetRun(context.Background(), "limited", id)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r.State)
		}
		if diff := cmp.Diff([]string{"running", "running", "queued", "queued"}, got); diff != "" {
			t.Errorf("run states with max_active_runs 2 (-want +got):\n%s", diff)
		}
		close(g.release)
		for _, r := range idle(t, h.Scheduler, "limited") {
			if r.State != StateSuccess {
				t.Errorf("run %s: %s", r.RunID, r.State)
			}
		}
		if g.peak() != 2 {
			t.Errorf("%d runs at once, want 2", g.peak())
		}
	})
}

// TestBackfill: one run per interval, its own concurrency limit, and each
// reprocess mode, dry and for real.
func TestBackfill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openMemory(t)
		g := newGate()
		close(g.release)
		failing := true
		g.fail = func(v map[string]any) bool { return failing && v["ds"] == "1999-12-02" }
		slow := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
			time.Sleep(time.Minute) // runs overlap, so that the limit shows
			return g.models(ctx, cmd, sel, v, w)
		}
		var peak, now int
		var mu sync.Mutex
		counting := func(ctx context.Context, cmd, sel string, v map[string]any, w io.Writer) error {
			mu.Lock()
			now++
			peak = max(peak, now)
			mu.Unlock()
			defer func() { mu.Lock(); now--; mu.Unlock() }()
			return slow(ctx, cmd, sel, v, w)
		}
		h := start(t, db, parseDAGs(t, `name: daily
schedule: "@daily"
paused: true
tasks: [{id: a, models: build}]
`, `name: manual
tasks: [{id: a, sql: SELECT 1}]
`), WithModels(counting), WithBackfillConcurrency(2))
		ctx := context.Background()
		day := func(d int) time.Time { return time.Date(1999, 12, d, 0, 0, 0, 0, time.UTC) }
		days := func(runs []Run) []string {
			var out []string
			for _, r := range runs {
				out = append(out, r.LogicalDate.Format("01-02"))
			}
			return out
		}
		queued, err := h.Backfill(ctx, "daily", day(1), day(3), ReprocessNone, false)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"12-01", "12-02", "12-03"}, days(queued)); diff != "" {
			t.Errorf("first backfill (-want +got):\n%s", diff)
		}
		runs := idle(t, h.Scheduler, "daily")
		var got []string
		for _, r := range runs {
			got = append(got, r.LogicalDate.Format("01-02")+" "+r.RunType+" "+r.State)
		}
		if diff := cmp.Diff([]string{"12-01 backfill success", "12-02 backfill failed", "12-03 backfill success"}, got); diff != "" {
			t.Errorf("after the first backfill (-want +got):\n%s", diff)
		}
		if peak != 2 {
			t.Errorf("%d backfill runs at once, want 2 (WithBackfillConcurrency)", peak)
		}
		for _, tc := range []struct {
			reprocess Reprocess
			want      []string
		}{
			{ReprocessNone, []string{"12-04", "12-05"}},
			{ReprocessFailed, []string{"12-02", "12-04", "12-05"}},
			{ReprocessAll, []string{"12-01", "12-02", "12-03", "12-04", "12-05"}},
		} {
			dry, err := h.Backfill(ctx, "daily", day(1), day(5), tc.reprocess, true)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, days(dry)); diff != "" {
				t.Errorf("dry run, reprocess %s (-want +got):\n%s", tc.reprocess, diff)
			}
		}
		if runs, _ := h.Runs(ctx, "daily", 0); len(runs) != 3 {
			t.Errorf("dry runs wrote runs: %d, want 3", len(runs))
		}
		failing = false
		if _, err := h.Backfill(ctx, "daily", day(1), day(5), ReprocessFailed, false); err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, r := range idle(t, h.Scheduler, "daily") {
			got = append(got, r.LogicalDate.Format("01-02")+" "+r.State)
		}
		if diff := cmp.Diff([]string{"12-01 success", "12-02 success", "12-03 success", "12-04 success", "12-05 success"}, got); diff != "" {
			t.Errorf("after reprocessing the failed (-want +got):\n%s", diff)
		}
		if ti, err := h.TaskLog(ctx, "daily", "backfill__1999-12-02T00:00:00Z", "a", 0); err != nil || ti.Try != 2 || ti.State != StateSuccess {
			t.Errorf("the reprocessed run's task: %+v, %v; want try 2 success", ti, err)
		}
		if _, err := h.Backfill(ctx, "daily", day(1), day(5), "some", true); err == nil {
			t.Error("an unknown reprocess was accepted")
		}
		if _, err := h.Backfill(ctx, "manual", day(1), day(5), ReprocessNone, true); err == nil {
			t.Error("a backfill of a DAG without a schedule was accepted")
		}
		if _, err := h.Backfill(ctx, "nope", day(1), day(5), ReprocessNone, true); !errors.Is(err, ErrUnknownDAG) {
			t.Errorf("unknown DAG: %v", err)
		}
	})
}
