package scheduler

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	pgtest.Terminate()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// parseDAGs parses DAG files given as name → YAML.
func parseDAGs(t *testing.T, files ...string) []*dag.DAG {
	t.Helper()
	var out []*dag.DAG
	for i, src := range files {
		d, err := dag.Parse("dags/"+string(rune('a'+i))+".yml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// openMemory opens an in-memory DuckDB warehouse; inside a synctest bubble
// its goroutines belong to the bubble.
func openMemory(t *testing.T) *warehouse.DB {
	t.Helper()
	db, err := warehouse.Open(context.Background(), "duckdb://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// harness is a scheduler running in the background.
type harness struct {
	*Scheduler
	db     DB
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, db DB, dags []*dag.DAG, opts ...Option) *harness {
	t.Helper()
	s, err := New(context.Background(), db, dags, append([]Option{WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{Scheduler: s, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// stop ends Run and waits for it; safe to call twice.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
}

// waitFor polls cond until it holds; on the fake clock of a bubble the
// waits cost nothing; it gives up after ten minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(waitStep)
	}
}

// waitRun waits until a run has ended and returns it with its tasks.
func waitRun(t *testing.T, s *Scheduler, name, runID string) (Run, []TaskInstance) {
	t.Helper()
	var (
		r   Run
		tis []TaskInstance
	)
	waitFor(t, "run "+runID, func() bool {
		var err error
		r, tis, err = s.GetRun(context.Background(), name, runID)
		if err != nil {
			t.Fatal(err)
		}
		return r.State == StateSuccess || r.State == StateFailed
	})
	return r, tis
}

func states(tis []TaskInstance) map[string]string {
	out := map[string]string{}
	for _, ti := range tis {
		out[ti.TaskID] = ti.State
	}
	return out
}

// calls records ModelsFunc calls.
type calls struct {
	mu  sync.Mutex
	at  []time.Time
	sel []string
}

func (c *calls) add(sel string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, time.Now())
	c.sel = append(c.sel, sel)
	return len(c.at)
}

func (c *calls) times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...)
}

// waitStep is waitFor's polling step.
const waitStep = 200 * time.Millisecond
