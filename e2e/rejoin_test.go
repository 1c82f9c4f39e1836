package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/internal/syncbuf"
)

// TestRejoinAfterCrashes is issue 13, finding 1: a consumer with the
// default configuration (no kafka.instance_id) against a standalone
// `cartwheel broker`, SIGKILLed 1–4 s after each start — while it waits to
// join the group — and restarted, must get every partition back within the
// group session timeout (45 s) plus a margin, consume what is produced,
// and never exit. On the embedded broker's classic group protocol the
// members the kills left held partitions for minutes, and the last run
// exited on "unable to join group session: … i/o timeout".
func TestRejoinAfterCrashes(t *testing.T) {
	short(t)
	const (
		partitions = 8
		restarts   = 5                               // killed while joining, after run 0 that owns everything
		bound      = 45*time.Second + 30*time.Second // session timeout + margin
	)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	cartwheel(t, "generate", "--seed", "13", "--events", "100000", "--users", "5000", "--out", first)
	cartwheel(t, "generate", "--seed", "14", "--events", "20000", "--users", "5000", "--out", second)
	addr := startBroker(t, dir)
	total := produceFile(t, addr, first)

	dsn := "duckdb://" + filepath.Join(dir, "rejoin.duckdb")
	cfg := filepath.Join(dir, "rejoin.yaml")
	// The defaults but for the broker and the demo traffic: no instance_id,
	// the default group protocol.
	writeFile(t, cfg, fmt.Sprintf("warehouse: %s\ndata_dir: %s\nhttp: 127.0.0.1:0\nkafka:\n  brokers: [%q]\ngenerator:\n  rate: 0\n",
		dsn, filepath.Join(dir, "data"), addr))

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 13))
	t.Logf("kill delays seeded with %d", seed)

	// Run 0 joins an empty group and owns every partition when it dies:
	// the runs after it wait for the group while it still holds them.
	c := startRun(t, "run", "--config", cfg)
	if got := waitAssigned(c, partitions, 30*time.Second); got < partitions {
		t.Fatalf("first run got %d of %d partitions in 30s:\n%s", got, partitions, tail(c.log.String(), 20))
	}
	c.stop(t, syscall.SIGKILL)
	for i := range restarts {
		c := startRun(t, "run", "--config", cfg)
		delay := time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("run %d exited before its kill: %v\n%s", i+1, err, tail(c.log.String(), 20))
		case <-time.After(delay):
		}
		c.stop(t, syscall.SIGKILL)
		t.Logf("run %d killed after %v with %d partitions assigned", i+1, delay.Round(time.Millisecond), assigned(c))
	}

	// The last run: every partition within the bound, then everything
	// produced meanwhile consumed, without ever exiting.
	begin := time.Now()
	c = startRun(t, "run", "--config", cfg)
	total += produceFile(t, addr, second)
	var allAt time.Duration
	for {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("last run exited after %v (%d of %d partitions assigned): %v\n%s",
				time.Since(begin).Round(time.Second), assigned(c), partitions, err, tail(c.log.String(), 30))
		case <-time.After(200 * time.Millisecond):
		}
		if allAt == 0 && assigned(c) == partitions {
			allAt = time.Since(begin)
			t.Logf("last run: all %d partitions assigned after %v", partitions, allAt.Round(100*time.Millisecond))
		}
		if allAt > 0 && committed(dsn) == total {
			break
		}
		if time.Since(begin) > bound {
			t.Fatalf("last run: %d of %d partitions assigned and %d of %d records committed after %v (bound: session timeout + margin):\n%s",
				assigned(c), partitions, committed(dsn), total, bound, tail(c.log.String(), 30))
		}
	}
	t.Logf("last run: all %d records committed after %v", total, time.Since(begin).Round(100*time.Millisecond))
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("last run exit after SIGTERM: %v\n%s", err, tail(c.log.String(), 20))
	}

	// The kills lost nothing and wrote nothing twice.
	db := openDB(t, dsn)
	if n := count(t, db, "SELECT count(*) FROM events") + count(t, db, "SELECT count(*) FROM rejected_events"); n != total {
		t.Errorf("events + rejected_events = %d, want %d", n, total)
	}
	if n := count(t, db, "SELECT count(*) FROM (SELECT kafka_partition, kafka_offset FROM events GROUP BY ALL HAVING count(*) > 1)"); n != 0 {
		t.Errorf("%d offsets are in events more than once", n)
	}
}

// runChild is a child whose log can be read while it runs.
type runChild struct {
	*child
	log *syncBuffer
}

// syncBuffer is a log read while it is written.
type syncBuffer = syncbuf.Buffer

// startRun is start with a log readable while the process runs.
func startRun(t *testing.T, args ...string) *runChild {
	t.Helper()
	c := &runChild{child: &child{cmd: exec.Command(binary, args...), stderr: &bytes.Buffer{}, done: make(chan error, 1)}, log: &syncBuffer{}}
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	return c
}

var assignedRE = regexp.MustCompile(`msg="partition assigned" partition=(\d+)`)

// assigned counts the distinct partitions a run has logged as assigned.
func assigned(c *runChild) int {
	seen := map[string]bool{}
	for _, m := range assignedRE.FindAllStringSubmatch(c.log.String(), -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// waitAssigned waits until a run has logged n partitions as assigned, or
// for d, and returns how many it has.
func waitAssigned(c *runChild, n int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for assigned(c) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return assigned(c)
}
