package scheduler

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dag"
)

// TestSchedulerFigures prints the scheduler's figures (CARTWHEEL_BENCH=1;
// `make bench` runs it): due time → first task started, task finished →
// dependent started, and the overhead of 100 DAGs of 20 tasks, with
// `sql: SELECT 1` tasks on an in-memory DuckDB, on the real clock.
func TestSchedulerFigures(t *testing.T) {
	if os.Getenv("CARTWHEEL_BENCH") == "" {
		t.Skip("set CARTWHEEL_BENCH=1")
	}
	t.Run("DueToFirstTask", figureDueToFirstTask)
	t.Run("TaskToDependent", figureTaskToDependent)
	t.Run("Overhead", figureOverhead)
}

func figure(name, format string, args ...any) {
	fmt.Printf("FIGURE scheduler %-52s %s\n", name, fmt.Sprintf(format, args...))
}

func quantiles(ds []time.Duration) (median, p95 time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[(len(ds)*95+99)/100-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// starts records the first start of each task.
type starts struct {
	mu sync.Mutex
	at map[string]time.Time // run + "/" + task
}

func (s *starts) record(_, run, task string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[run+"/"+task] = at
}

func (s *starts) get(run, task string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[run+"/"+task]
	return t, ok
}

func figureDueToFirstTask(t *testing.T) {
	db := openMemory(t)
	st := &starts{at: map[string]time.Time{}}
	dags := parseDAGs(t, `name: tick
schedule: "@every 1s"
tasks: [{id: a, sql: SELECT 1}, {id: b, sql: SELECT 1, depends_on: [a]}]
`)
	s, err := New(context.Background(), db, dags, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	s.onTaskStart = st.record
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(31 * time.Second)
	cancel()
	<-done
	runs, err := s.Runs(context.Background(), "tick", 100)
	if err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for _, r := range runs {
		if r.RunType != RunScheduled {
			continue
		}
		if at, ok := st.get(r.RunID, "a"); ok {
			lat = append(lat, at.Sub(r.DataIntervalEnd))
		}
	}
	// The first run is the interval that ended before the start.
	if len(lat) < 10 {
		t.Fatalf("only %d scheduled runs", len(lat))
	}
	med, p95 := quantiles(lat[:len(lat)-1])
	figure("due time -> first task started (@every 1s, ms)", "median %.2f, p95 %.2f (%d runs; target <= 1000)", ms(med), ms(p95), len(lat)-1)
}

func chainDAG(name string, n int, schedule string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", name)
	if schedule != "" {
		fmt.Fprintf(&b, "schedule: %q\n", schedule)
	}
	b.WriteString("max_active_runs: 1\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: t%02d\n    sql: SELECT 1\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on: [t%02d]\n", i-1)
		}
	}
	return b.String()
}

func figureTaskToDependent(t *testing.T) {
	db := openMemory(t)
	dags := parseDAGs(t, chainDAG("chain", 20, ""))
	h := start(t, db, dags)
	ctx := context.Background()
	var gaps []time.Duration
	t0 := time.Now()
	for i := range 10 {
		r, err := h.Trigger(ctx, "chain", t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_, tis := waitRun(t, h.Scheduler, "chain", r.RunID)
		for j := 1; j < len(tis); j++ {
			gaps = append(gaps, tis[j].StartedAt.Sub(*tis[j-1].EndedAt))
		}
	}
	med, p95 := quantiles(gaps)
	figure("task finished -> dependent started (ms)", "median %.2f, p95 %.2f (%d edges; target <= 100)", ms(med), ms(p95), len(gaps))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

func figureOverhead(t *testing.T) {
	db := openMemory(t)
	var dags []*dag.DAG
	for i := range 100 {
		d, err := dag.Parse(fmt.Sprintf("dags/d%03d.yml", i), []byte(chainDAG(fmt.Sprintf("d%03d", i), 20, "* * * * *")))
		if err != nil {
			t.Fatal(err)
		}
		dags = append(dags, d)
	}
	s, err := New(context.Background(), db, dags, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	// The first minute runs the interval that ended before the start;
	// measure the next full minute.
	time.Sleep(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute + 500*time.Millisecond)))
	cpu0, wall0 := cpuTime(), time.Now()
	time.Sleep(time.Minute)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	rss := rssMiB()
	cancel()
	<-done
	rs, err := db.Query(context.Background(), `SELECT state, COUNT(*) FROM task_instances WHERE started_at >= $1 GROUP BY state ORDER BY state`, ts(wall0))
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for _, r := range rs.Rows {
		counts = append(counts, fmt.Sprintf("%s %d", r[0], intOf(r[1])))
	}
	due := ts(wall0.Truncate(time.Minute))
	rs, err = db.Query(context.Background(), `SELECT COUNT(*), MAX(ended_at) FROM dag_runs WHERE data_interval_end = $1 AND state = 'success'`, due)
	if err != nil {
		t.Fatal(err)
	}
	if n := intOf(rs.Rows[0][0]); n == 100 {
		figure("100 DAGs x 20 tasks: due time -> all 100 runs done (s)", "%.2f", timeOf(rs.Rows[0][1]).Sub(due).Seconds())
	} else {
		t.Errorf("%d of the 100 runs due at %v succeeded", n, due)
	}
	figure("100 DAGs x 20 tasks each minute: CPU s per wall minute", "%.2f (process, DuckDB included; tasks: %s)", cpu.Seconds()/wall.Minutes(), strings.Join(counts, ", "))
	figure("100 DAGs x 20 tasks: Go heap in use / process RSS (MiB)", "%.1f / %.1f", float64(ms.HeapInuse)/(1<<20), rss)
}
