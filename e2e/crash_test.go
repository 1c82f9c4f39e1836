package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/producer"
)

// child is a cartwheel process running in the background.
type child struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func start(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(binary, args...), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	return c
}

// stop sends sig and waits for the exit.
func (c *child) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	c.cmd.Process.Signal(sig)
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not stop after %v:\n%s", c.cmd.Args, sig, tail(c.stderr.String(), 20))
		return nil
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBroker runs `cartwheel broker` with a data dir and returns its address.
func startBroker(t *testing.T, dir string) string {
	t.Helper()
	addr := freeAddr(t)
	start(t, "broker", "--listen", addr, "--data-dir", filepath.Join(dir, "kafka"))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("broker at %s did not come up", addr)
	return ""
}

// produceFile puts a JSON-lines file on the broker's events topic.
func produceFile(t *testing.T, addr, file string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(append(producer.ClientOptions(), kgo.SeedBrokers(addr))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := producer.File(context.Background(), cl, "events", f)
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}

// consumerConfig writes the configuration of a deterministic consumer of an
// external broker: no demo traffic, no wall-clock watermark advance, small
// batches so that a kill finds commits in flight.
func consumerConfig(t *testing.T, dir, name, addr string) string {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	cfg := fmt.Sprintf(`warehouse: duckdb://%s
data_dir: %s
http: 127.0.0.1:0
kafka:
  brokers: [%q]
  group: %s
  instance_id: %s-1
streaming:
  idle_timeout: 0s
  batch_size: 2000
  batch_delay: 10ms
generator:
  rate: 0
`, filepath.Join(dir, name+".duckdb"), filepath.Join(dir, name+"-data"), addr, name, name)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// committed asks a (possibly running) appliance how many records it has
// committed; -1 while it cannot answer.
func committed(dsn string) int64 {
	out, err := exec.Command(binary, "query", "--warehouse", dsn, "--format", "csv",
		"SELECT coalesce(sum(next_offset), 0) FROM stream_checkpoints").Output()
	if err != nil {
		return -1
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// consumeAll runs the consumer until it has committed total records, then
// stops it with SIGTERM (a clean shutdown).
func consumeAll(t *testing.T, cfg, dsn string, total int64) {
	t.Helper()
	c := start(t, "run", "--config", cfg)
	deadline := time.Now().Add(5 * time.Minute)
	for committed(dsn) < total {
		if time.Now().After(deadline) {
			t.Fatalf("consumer did not finish:\n%s", tail(c.stderr.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("consumer exit after SIGTERM: %v\n%s", err, tail(c.stderr.String(), 20))
	}
}

// TestCrashRecovery kills a consumer with SIGKILL at random moments while it
// reads from a separate broker process; once a last run finishes, events,
// sessions and rejections equal those of an uninterrupted run.
func TestCrashRecovery(t *testing.T) {
	short(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "5", "--events", "2000000", "--users", "20000", "--out", file,
		"--out-of-order", "0.03", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.005")
	addr := startBroker(t, dir)
	total := produceFile(t, addr, file)

	refDSN := "duckdb://" + filepath.Join(dir, "ref.duckdb")
	consumeAll(t, consumerConfig(t, dir, "ref", addr), refDSN, total)

	crashDSN := "duckdb://" + filepath.Join(dir, "crash.duckdb")
	crashCfg := consumerConfig(t, dir, "crash", addr)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	// Kill until ten kills have landed before the end of the input. Each
	// run is killed at a random point of its progress — once it has
	// committed past a random target short of the end, after a random
	// few milliseconds more — rather than after a random time, which a
	// faster pipeline outruns.
	var progress []int64
	for midStream := 0; midStream < 10; {
		if len(progress) == 30 {
			t.Fatalf("only %d of 30 kills landed before the end of the input: %v", midStream, progress)
		}
		from := max(committed(crashDSN), 0)
		target := from + 1 + rng.Int64N(max(1, (total-from)/4))
		c := start(t, "run", "--config", crashCfg)
		deadline := time.Now().Add(2 * time.Minute)
		for committed(crashDSN) < target && time.Now().Before(deadline) {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		c.stop(t, syscall.SIGKILL)
		n := committed(crashDSN)
		progress = append(progress, n)
		if n < total {
			midStream++
		}
	}
	t.Logf("committed records after each SIGKILL: %v of %d", progress, total)
	consumeAll(t, crashCfg, crashDSN, total)

	ref, crash := openDB(t, refDSN), openDB(t, crashDSN)
	for _, q := range []string{
		`SELECT event_id, event_type, user_id, event_time, product_id, price, quantity, revenue, client_session_id, device,
			country, category, referrer, is_late, kafka_partition, kafka_offset FROM events ORDER BY kafka_partition, kafka_offset`,
		`SELECT session_id, user_id, session_start, session_end, event_count, page_views, add_to_carts, purchases, revenue,
			kafka_partition FROM sessions ORDER BY session_id`,
		`SELECT payload, reason, detail, kafka_partition, kafka_offset FROM rejected_events ORDER BY kafka_partition, kafka_offset`,
	} {
		want, got := query(t, ref, q), query(t, crash, q)
		if len(want) == 0 {
			t.Fatalf("reference run has no rows for %s", q)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after crashes, %s\ndiffers (-uninterrupted +crashed):\n%s", q, firstLines(diff, 40))
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
