//go:build torture

package e2e

// Warehouse faults mid-stream: PostgreSQL stopped for 30 s, the disk under
// DuckDB full. A `cartwheel run` consumes a standalone broker (the
// production shape: the broker outlives the fault); while the warehouse
// cannot commit the pipeline must pause and say so on all three channels
// an operator watches — the log, /readyz, the cartwheel_commit_retrying
// gauge — and afterwards resume to tables equal to an uninterrupted run's.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
)

// faultConfig writes the configuration of a consumer of the broker at addr
// committing to dsn and serving HTTP on httpAddr: no demo traffic, no
// wall-clock watermark (the results depend on the input alone), small
// batches so that a fault finds many commits before and after it.
func faultConfig(t *testing.T, dir, name, addr, dsn, httpAddr string) string {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	writeFile(t, path, fmt.Sprintf(`warehouse: %q
data_dir: %s
http: %s
kafka:
  brokers: [%q]
  group: %s
  instance_id: %s-1
streaming:
  idle_timeout: 0s
  batch_size: 5000
  batch_delay: 10ms
generator:
  rate: 0
`, dsn, filepath.Join(dir, name+"-data"), httpAddr, addr, name, name))
	return path
}

// faultSignals is what an operator sees of a paused commit.
type faultSignals struct {
	ready    int    // /readyz status
	reason   string // /readyz body
	retrying string // cartwheel_commit_retrying
	logged   bool   // "commit failed, retrying" in the log
}

func (s faultSignals) String() string {
	return fmt.Sprintf("/readyz %d %q, cartwheel_commit_retrying %s, log line %v", s.ready, strings.TrimSpace(s.reason), s.retrying, s.logged)
}

func readSignals(httpAddr string, log *syncBuffer) faultSignals {
	var s faultSignals
	if resp, err := httpClient.Get("http://" + httpAddr + "/readyz"); err == nil {
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		s.ready, s.reason = resp.StatusCode, string(b[:n])
	}
	s.retrying = metricValue(httpAddr, "cartwheel_commit_retrying")
	s.logged = strings.Contains(log.String(), "commit failed, retrying")
	return s
}

// metricValue returns a gauge or counter without labels from /metrics
// ("" when absent or unreachable).
func metricValue(httpAddr, name string) string {
	resp, err := httpClient.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// metricNumber is metricValue as an integer (-1 when absent): Prometheus
// writes large values with an exponent.
func metricNumber(httpAddr, name string) int64 {
	f, err := strconv.ParseFloat(metricValue(httpAddr, name), 64)
	if err != nil {
		return -1
	}
	return int64(f)
}

// waitPaused waits until the log, /readyz (503, naming the commit and
// want) and the gauge all report the paused commit, and returns how long
// that took.
func waitPaused(t *testing.T, c *runChild, httpAddr, want string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	var s faultSignals
	for {
		s = readSignals(httpAddr, c.log)
		if s.ready == http.StatusServiceUnavailable && strings.Contains(s.reason, "commit to the warehouse retrying") &&
			strings.Contains(s.reason, want) && s.retrying == "1" && s.logged {
			return time.Since(began)
		}
		if c.exited() {
			t.Fatalf("cartwheel exited during the fault (%v):\n%s", <-c.done, tail(c.log.String(), 30))
		}
		if time.Since(began) > within {
			t.Fatalf("the pause was not reported within %v: %v\n%s", within, s, tail(c.log.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitResumed waits until /readyz is 200 and the gauge 0 again.
func waitResumed(t *testing.T, c *runChild, httpAddr string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		s := readSignals(httpAddr, c.log)
		if s.ready == http.StatusOK && s.retrying == "0" {
			return time.Since(began)
		}
		if c.exited() {
			t.Fatalf("cartwheel exited after the fault (%v):\n%s", <-c.done, tail(c.log.String(), 30))
		}
		if time.Since(began) > within {
			t.Fatalf("no recovery within %v: %v\n%s", within, s, tail(c.log.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCommitted waits until the consumer has committed total records.
func waitCommitted(t *testing.T, c *runChild, dsn string, total int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for n := committed(dsn); n < total; n = committed(dsn) {
		if c.exited() {
			t.Fatalf("cartwheel exited at %d of %d records (%v):\n%s", n, total, <-c.done, tail(c.log.String(), 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records committed after %v:\n%s", n, total, within, tail(c.log.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopRun stops a consumer with SIGTERM and requires a clean exit.
func stopRun(t *testing.T, c *runChild) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, tail(c.log.String(), 20))
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("no exit within 2m of SIGTERM:\n%s", tail(c.log.String(), 20))
	}
}

// splitFile writes the first n lines of file to a and the rest to b.
func splitFile(t *testing.T, file string, n int, a, b string) {
	t.Helper()
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	outs := [2]*os.File{}
	for i, p := range []string{a, b} {
		if outs[i], err = os.Create(p); err != nil {
			t.Fatal(err)
		}
		defer outs[i].Close()
	}
	w := [2]*bufio.Writer{bufio.NewWriterSize(outs[0], 1<<20), bufio.NewWriterSize(outs[1], 1<<20)}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<21)
	for i := 0; sc.Scan(); i++ {
		out := w[0]
		if i >= n {
			out = w[1]
		}
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, x := range w {
		if err := x.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// sameTables compares events, sessions and rejected_events of two
// warehouses row by row (without the wall-clock columns) and returns
// their row counts.
func sameTables(t *testing.T, wantDSN, gotDSN string) string {
	t.Helper()
	want, got := openDB(t, wantDSN), openDB(t, gotDSN)
	var counts []string
	for _, name := range []string{"events", "sessions", "rejected_events"} {
		w, g := canonical(t, want, parityQueries[name]), canonical(t, got, parityQueries[name])
		if len(w) == 0 {
			t.Errorf("%s: the reference run has no rows", name)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s differs from the uninterrupted run (%d rows, got %d; -want +got):\n%s", name, len(w), len(g), firstLines(diff, 30))
		}
		counts = append(counts, fmt.Sprintf("%s %d", name, len(g)))
	}
	return strings.Join(counts, ", ")
}

// TestTortureOutagePostgres stops the PostgreSQL warehouse for 30 s while
// a consumer has records to commit, then starts it again.
func TestTortureOutagePostgres(t *testing.T) {
	pg := pgtest.Get(t)
	if !pg.CanRestart() {
		t.Skip("the outage needs a container (CARTWHEEL_TEST_POSTGRES_DSN is an external server)")
	}
	const outage = 30 * time.Second
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "13", "--events", "300000", "--users", "8000", "--out", file,
		"--out-of-order", "0.03", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.01")
	before, after := filepath.Join(dir, "before.jsonl"), filepath.Join(dir, "after.jsonl")
	splitFile(t, file, 150000, before, after)

	addr := startBroker(t, dir)
	n1 := produceFile(t, addr, before)
	victim, httpAddr := pg.NewDatabase(t), freeAddr(t)
	c := startRun(t, "run", "--config", faultConfig(t, dir, "victim", addr, victim, httpAddr))
	waitCommitted(t, c, victim, n1, 3*time.Minute)
	waitResumed(t, c, httpAddr, time.Minute) // ready before the fault

	// The outage: the server goes down, then the rest of the stream
	// arrives, which the consumer reads and cannot commit.
	stopBegan := time.Now()
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	total := n1 + produceFile(t, addr, after)
	waitPaused(t, c, httpAddr, "", outage)
	paused := time.Since(down)
	during := readSignals(httpAddr, c.log)
	if n := metricNumber(httpAddr, "cartwheel_records_total"); n != n1 {
		t.Errorf("cartwheel_records_total %d during the outage, want the %d committed before it", n, n1)
	}
	time.Sleep(time.Until(down.Add(outage)))
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	recovered := waitResumed(t, c, httpAddr, 2*time.Minute)
	waitCommitted(t, c, victim, total, 3*time.Minute)
	caughtUp := time.Since(up)
	if !strings.Contains(c.log.String(), "commit recovered") {
		t.Errorf("no \"commit recovered\" log line:\n%s", tail(c.log.String(), 20))
	}
	stopRun(t, c)

	ref := pg.NewDatabase(t)
	consumeAll(t, faultConfig(t, dir, "ref", addr, ref, "127.0.0.1:0"), ref, total)
	counts := sameTables(t, ref, victim)
	t.Logf("during the outage: %v", during)
	tortureReport(t, "OutagePostgres",
		fmt.Sprintf("server down %.1fs (docker stop took %.1fs)", up.Sub(down).Seconds(), down.Sub(stopBegan).Seconds()),
		fmt.Sprintf("%d records (%d before the outage, %d during)", total, n1, total-n1),
		fmt.Sprintf("pause reported %.1fs after the server went down (log, /readyz 503, cartwheel_commit_retrying 1)", paused.Seconds()),
		fmt.Sprintf("ready %.1fs after the server is back", recovered.Seconds()),
		fmt.Sprintf("all committed %.1fs after", caughtUp.Seconds()),
		counts+" equal to an uninterrupted run")
}

// TestTortureFullDisk puts the DuckDB file on a small tmpfs and fills it
// twice while a consumer commits: first with little room left (a commit's
// WAL write fails), then with room for the WAL to reach its checkpoint
// threshold but not for the checkpoint (DuckDB invalidates the database,
// which the warehouse reopens once there is space). Each time the
// pipeline pauses, says so, and resumes when the filler is deleted.
func TestTortureFullDisk(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", disk).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("the full-disk case mounts a small tmpfs, which needs root: %v %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Registered before any child starts, so it runs after they are killed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", disk, err, out)
		}
	})

	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "17", "--events", "1500000", "--users", "30000", "--out", file,
		"--out-of-order", "0.03", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.01")
	addr := startBroker(t, dir)
	total := produceFile(t, addr, file)

	db := filepath.Join(disk, "w.duckdb")
	victim, httpAddr := "duckdb://"+db, freeAddr(t)
	c := startRun(t, "run", "--config", faultConfig(t, dir, "victim", addr, victim, httpAddr))
	waitFor(t, c.child, time.Minute, "a first commit", func() bool { return committed(victim) > 0 })

	type round struct {
		what                  string
		at, wal               int64 // records committed and WAL bytes when the disk filled
		paused, held, resumed time.Duration
	}
	var rounds []round
	fillAndFree := func(what string, leave int64) {
		t.Helper()
		filler := filepath.Join(disk, "filler-"+strconv.Itoa(len(rounds)))
		filled := time.Now()
		fillDisk(t, disk, filler, leave)
		paused := waitPaused(t, c, httpAddr, "No space left on device", 2*time.Minute)
		// Paused means paused: nothing commits while the disk is full.
		// (The process's own count: `cartwheel query` fails while DuckDB
		// is invalidated.)
		at := metricNumber(httpAddr, "cartwheel_records_total")
		wal := fileSize(db + ".wal")
		time.Sleep(3 * time.Second)
		if n := metricNumber(httpAddr, "cartwheel_records_total"); n != at {
			t.Errorf("%s: %d records committed while paused at %d", what, n-at, at)
		}
		held := time.Since(filled)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		resumed := waitResumed(t, c, httpAddr, 2*time.Minute)
		rounds = append(rounds, round{what, at, wal, paused, held, resumed})
	}

	// Round 1: 4 MiB left — the next few batches' WAL writes fail.
	fillAndFree("wal", 4<<20)
	// Round 2: room for the WAL to pass the 64 MB checkpoint threshold,
	// plus 2 MiB — not enough for the checkpoint's new blocks.
	wal := fileSize(db + ".wal")
	fillAndFree("checkpoint", max(64<<20-wal, 0)+2<<20)
	reopened := strings.Contains(c.log.String(), "invalidated") || strings.Contains(c.log.String(), "Failed to create checkpoint")

	waitCommitted(t, c, victim, total, 5*time.Minute)
	stopRun(t, c)

	ref := "duckdb://" + filepath.Join(dir, "ref.duckdb")
	consumeAll(t, faultConfig(t, dir, "ref", addr, ref, "127.0.0.1:0"), ref, total)
	counts := sameTables(t, ref, victim)
	figures := []string{fmt.Sprintf("%d records", total)}
	for i, r := range rounds {
		figures = append(figures, fmt.Sprintf("fill %d (%s) at %d records, WAL %d MB: pause reported %.1fs after, disk full %.1fs, ready %.2fs after freeing",
			i+1, r.what, r.at, r.wal>>20, r.paused.Seconds(), r.held.Seconds(), r.resumed.Seconds()))
	}
	figures = append(figures, fmt.Sprintf("DuckDB invalidated and reopened: %v", reopened), counts+" equal to an uninterrupted run")
	tortureReport(t, "FullDisk", figures...)
}

// fillDisk writes filler until the file system of dir has about leave bytes
// free (or none: a write that finds the disk already full is the point).
func fillDisk(t *testing.T, dir, filler string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	n := int64(st.Bavail)*st.Bsize - leave
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for ; n > 0; n -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n)]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
