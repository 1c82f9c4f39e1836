//go:build torture

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
)

// TestTortureScaleOut: three instances of `cartwheel run` in one consumer
// group on one empty PostgreSQL database, started at the same moment (so
// they also create the schema concurrently); a fourth joins; one is frozen
// with SIGSTOP past its session timeout and resumed (its in-flight commit
// is fenced), one killed with SIGKILL, one stopped with SIGTERM; the rest
// finish the stream. The
// tables must equal those of a single uninterrupted instance, row for row.
// It reports how long the partitions of the killed and of the stopped
// instance went unowned: from the signal until the survivors own (and have
// loaded) every partition again.
func TestTortureScaleOut(t *testing.T) {
	const events = 3_000_000
	pg := pgtest.Get(t)
	began := time.Now()
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "4242", "--events", fmt.Sprint(events), "--users", "20000", "--out", file,
		"--out-of-order", "0.03", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.005")
	addr := startBroker(t, dir) // the default session timeout
	total := produceFile(t, addr, file)

	ref := pg.NewDatabase(t)
	refCfg := filepath.Join(dir, "ref.yaml")
	writeFile(t, refCfg, fmt.Sprintf("warehouse: %s\ndata_dir: %s\nhttp: 127.0.0.1:0\nkafka:\n  brokers: [%q]\n  group: ref\nstreaming:\n  idle_timeout: 0s\ngenerator:\n  rate: 0\n",
		ref, filepath.Join(dir, "ref-data"), addr))
	consumeAll(t, refCfg, ref, total)
	t.Logf("scale-out: %d records, uninterrupted reference after %v", total, time.Since(began).Round(100*time.Millisecond))

	dsn := pg.NewDatabase(t)
	progress := pgCommitted(t, dsn)
	type instance struct {
		name, http string
		c          *runChild
		gone       bool // killed or stopped
		paused     bool // SIGSTOPped
	}
	var all []*instance
	launch := func() *instance {
		i := &instance{name: fmt.Sprintf("i%d", len(all)+1), http: freeAddr(t)}
		cfg := filepath.Join(dir, i.name+".yaml")
		// The defaults (group cartwheel, KIP-848), but for the paths, the
		// HTTP address and idle_timeout.
		writeFile(t, cfg, fmt.Sprintf("warehouse: %s\ndata_dir: %s\nhttp: %s\nstreaming:\n  idle_timeout: 0s\n",
			dsn, filepath.Join(dir, i.name+"-data"), i.http))
		i.c = startRun(t, "run", "--config", cfg, "--brokers", addr, "--rate", "0")
		all = append(all, i)
		return i
	}
	// owned sums the partitions the live instances own; it fails the test
	// if one of them exited.
	owned := func() int {
		n := 0
		for _, i := range all {
			if i.gone || i.paused {
				continue
			}
			select {
			case err := <-i.c.done:
				i.c.done <- err
				t.Fatalf("%s exited: %v\n%s", i.name, err, tail(i.c.log.String(), 30))
			default:
			}
			if st, ok := appStatus(i.http); ok {
				n += st.Consumer.Partitions
			}
		}
		return n
	}
	waitFor := func(what string, d time.Duration, cond func() bool) time.Duration {
		begin := time.Now()
		for !cond() {
			if time.Since(begin) > d {
				var logs []string
				for _, i := range all {
					logs = append(logs, i.name+":\n"+tail(i.c.log.String(), 15))
				}
				t.Fatalf("%s: not within %v (%d of %d records committed, %d partitions owned)\n%s",
					what, d, progress(), total, owned(), strings.Join(logs, "\n"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(begin)
	}
	partitionsOf := func(i *instance) int {
		st, _ := appStatus(i.http)
		return st.Consumer.Partitions
	}

	// Three at once, on an empty database.
	for range 3 {
		launch()
	}
	waitFor("three instances own every partition", time.Minute, func() bool { return owned() == tortureParts })
	waitFor("10% committed", 2*time.Minute, func() bool { return progress() >= total/10 })

	// A fourth joins and takes its share.
	fourth := launch()
	t.Logf("%s: %s started", time.Now().Format(time.RFC3339Nano), fourth.name)
	joined := waitFor("the fourth instance gets partitions", time.Minute, func() bool { return partitionsOf(fourth) > 0 && owned() == tortureParts })
	at4 := progress()

	// SIGSTOP one for longer than the session timeout, then SIGCONT it:
	// the coordinator fences it and gives its partitions to the others;
	// when it runs again, kgo reports them lost, and a batch it had in
	// flight meets the new owners' checkpoints: the commit is fenced and
	// the pipeline restarts from the stored checkpoints.
	var paused *instance
	for _, i := range all {
		if partitionsOf(i) > 0 {
			paused = i
			break
		}
	}
	pausedParts, atPause := partitionsOf(paused), progress()
	t.Logf("%s: SIGSTOP %s", time.Now().Format(time.RFC3339Nano), paused.name)
	paused.c.cmd.Process.Signal(syscall.SIGSTOP)
	paused.paused = true
	pauseGap := waitFor("the paused instance's partitions are taken over", 2*time.Minute, func() bool { return owned() == tortureParts })
	time.Sleep(2 * time.Second)
	t.Logf("%s: SIGCONT %s", time.Now().Format(time.RFC3339Nano), paused.name)
	paused.c.cmd.Process.Signal(syscall.SIGCONT)
	paused.paused = false
	// Settled: every partition owned, for 3 s on end — right after
	// SIGCONT the resumed instance still reports what it owned before
	// it was fenced, and the sum can pass through 8 mid-rebalance.
	var settled time.Time
	waitFor("the resumed instance settles", 2*time.Minute, func() bool {
		if owned() != tortureParts {
			settled = time.Time{}
			return false
		}
		if settled.IsZero() {
			settled = time.Now()
		}
		return time.Since(settled) >= 3*time.Second
	})

	// SIGKILL one that owns partitions: they stay unowned until its
	// session times out on the broker.
	var victim *instance
	waitFor("an instance besides the resumed one owns partitions", time.Minute, func() bool {
		for _, i := range all {
			if i != paused && partitionsOf(i) > 0 {
				victim = i
				return true
			}
		}
		return false
	})
	killedParts, atKill := partitionsOf(victim), progress()
	t.Logf("%s: SIGKILL %s", time.Now().Format(time.RFC3339Nano), victim.name)
	victim.c.stop(t, syscall.SIGKILL)
	victim.gone = true
	killGap := waitFor("the killed instance's partitions are taken over", 2*time.Minute, func() bool { return owned() == tortureParts })

	// SIGTERM another: it commits what it read and leaves the group, so
	// its partitions move at once.
	var stopped *instance
	for _, i := range all {
		if !i.gone && partitionsOf(i) > 0 {
			stopped = i
			break
		}
	}
	stoppedParts, atStop := partitionsOf(stopped), progress()
	stopBegin := time.Now()
	t.Logf("%s: SIGTERM %s", stopBegin.Format(time.RFC3339Nano), stopped.name)
	if err := stopped.c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("%s exit after SIGTERM: %v\n%s", stopped.name, err, tail(stopped.c.log.String(), 20))
	}
	stopped.gone = true
	stopGap := time.Since(stopBegin) + waitFor("the stopped instance's partitions are taken over", 2*time.Minute, func() bool { return owned() == tortureParts })

	// The two left finish the stream.
	waitFor("the rest finish the stream", 5*time.Minute, func() bool { return progress() >= total })
	restarts, fenced := 0, 0
	for _, i := range all {
		log := i.c.log.String()
		restarts += strings.Count(log, "pipeline restarting from the stored checkpoints")
		fenced += strings.Count(log, "was committed by another consumer")
		if i.gone {
			continue
		}
		if err := i.c.stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("%s exit after SIGTERM: %v\n%s", i.name, err, tail(log, 20))
		}
	}

	// The instances' assignment timeline, for reading the figures.
	for _, i := range all {
		for _, line := range strings.Split(i.c.log.String(), "\n") {
			if strings.Contains(line, "partition assigned") || strings.Contains(line, "restarting") ||
				strings.Contains(line, "consumer error") || strings.Contains(line, "dropped uncommitted") {
				t.Logf("%s: %s", i.name, line)
			}
		}
	}
	rows := compareTables(t, ref, dsn)
	pct := func(n int64) string { return fmt.Sprintf("%d%%", n*100/total) }
	tortureReport(t, "scale-out",
		fmt.Sprintf("3 instances started at once + a 4th (owning partitions %v after it started, at %s of %d records)", joined.Round(10*time.Millisecond), pct(at4), total),
		fmt.Sprintf("SIGSTOP of one with %d partitions at %s: taken over after %v", pausedParts, pct(atPause), pauseGap.Round(10*time.Millisecond)),
		fmt.Sprintf("SIGKILL of one with %d partitions at %s: unowned %v", killedParts, pct(atKill), killGap.Round(10*time.Millisecond)),
		fmt.Sprintf("SIGTERM of one with %d partitions at %s: unowned %v", stoppedParts, pct(atStop), stopGap.Round(10*time.Millisecond)),
		fmt.Sprintf("%d pipeline restarts, %d fenced-commit log lines", restarts, fenced),
		rows,
		fmt.Sprintf("total %v", time.Since(began).Round(time.Second)))
}

// pgCommitted returns a function that reads how many records are committed
// to a PostgreSQL warehouse (0 before its schema exists): a plain
// connection, so that reading does not take part in creating the schema.
func pgCommitted(t *testing.T, dsn string) func() int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return func() int64 {
		var n int64
		if err := conn.QueryRow(context.Background(), "SELECT coalesce(sum(next_offset), 0)::bigint FROM stream_checkpoints").Scan(&n); err != nil {
			return 0
		}
		return n
	}
}
