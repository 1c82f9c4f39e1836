//go:build torture

package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// The kill cases: 100 SIGKILLs of `cartwheel run --brokers ADDR --rate 0`
// in its default configuration (but for streaming.idle_timeout: 0, which
// makes the output depend on the input alone) against a standalone
// `cartwheel broker`, each at a random point of the run's progress, then a
// last run that catches up. The tables must equal those of an uninterrupted
// run over the same input, row for row.

// tortureKills is the number of SIGKILLs per kill case (a smaller number
// for a quick try: -torture-kills 5).
var tortureKills = flag.Int("torture-kills", 100, "SIGKILLs per torture kill case")

const (
	tortureKillEvents = 2_000_000
	tortureParts      = 8 // the default kafka.partitions of `cartwheel broker`
	// tortureMinStep: a run that commits at all commits tens of
	// thousands of records (its first batches after a restart, at the
	// default batch_size and batch_delay); once the share of the input
	// left per kill is below this, targets in records would overshoot to
	// the end, and runs are killed at a random moment instead.
	tortureMinStep = 20_000
)

// TestTortureKillDefault: the default configuration of `cartwheel run`, a
// dynamic member of the KIP-848 consumer group: each restart waits for the
// killed process's session to expire before it gets the partitions. The
// broker's session timeout is 2 s instead of its default 10 s so that a
// hundred restarts fit in CI's budget (at 10 s the case took 18m48s, a
// median of 10.27 s per restart); TestRejoinAfterCrashes in make test
// runs the broker's default.
func TestTortureKillDefault(t *testing.T) {
	dir := t.TempDir()
	tortureKill(t, killCase{name: "kill-default", dir: dir, broker: "kafka:\n  session_timeout: 2s\n",
		dsn: "duckdb://" + filepath.Join(dir, "victim.duckdb"), ref: "duckdb://" + filepath.Join(dir, "ref.duckdb")})
}

// TestTortureKillStatic: the same with static membership (kafka.instance_id,
// hence the classic protocol): a restart takes its partitions back at once.
func TestTortureKillStatic(t *testing.T) {
	dir := t.TempDir()
	tortureKill(t, killCase{name: "kill-static", dir: dir, kafka: "  instance_id: torture-1\n",
		dsn: "duckdb://" + filepath.Join(dir, "victim.duckdb"), ref: "duckdb://" + filepath.Join(dir, "ref.duckdb")})
}

// TestTortureKillPostgres: the default configuration of `cartwheel run` on
// PostgreSQL. The broker's session timeout is 2 s instead of 10, so that
// the hundred restarts fit in minutes; the restart wait is the session
// timeout, which TestTortureKillDefault measures at the default.
func TestTortureKillPostgres(t *testing.T) {
	pg := pgtest.Get(t)
	tortureKill(t, killCase{name: "kill-postgres", dir: t.TempDir(), broker: "kafka:\n  session_timeout: 2s\n",
		dsn: pg.NewDatabase(t), ref: pg.NewDatabase(t)})
}

type killCase struct {
	name, dir string
	dsn, ref  string // the victim's and the uninterrupted run's warehouses
	kafka     string // lines of the victim's kafka: section
	broker    string // the broker's configuration
}

func tortureKill(t *testing.T, k killCase) {
	began := time.Now()
	name, dir, dsn := k.name, k.dir, k.dsn
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "1313", "--events", fmt.Sprint(tortureKillEvents), "--users", "20000", "--out", file,
		"--out-of-order", "0.03", "--late", "0.01", "--duplicate", "0.02", "--malformed", "0.005")
	addr := startBrokerConfig(t, dir, k.broker)
	total := produceFile(t, addr, file)
	t.Logf("%s: %d records generated and produced in %v", name, total, time.Since(began).Round(100*time.Millisecond))

	// The uninterrupted reference, in a group of its own.
	refCfg := filepath.Join(dir, "ref.yaml")
	writeFile(t, refCfg, fmt.Sprintf("warehouse: %s\ndata_dir: %s\nhttp: 127.0.0.1:0\nkafka:\n  brokers: [%q]\n  group: ref\nstreaming:\n  idle_timeout: 0s\ngenerator:\n  rate: 0\n",
		k.ref, filepath.Join(dir, "ref-data"), addr))
	refBegan := time.Now()
	consumeAll(t, refCfg, k.ref, total)
	t.Logf("%s: uninterrupted run in %v", name, time.Since(refBegan).Round(100*time.Millisecond))

	// The victim's configuration: the defaults, but for the paths, a
	// known HTTP address (the test reads /api/status) and idle_timeout.
	httpAddr := freeAddr(t)
	cfg := filepath.Join(dir, "victim.yaml")
	writeFile(t, cfg, fmt.Sprintf("warehouse: %s\ndata_dir: %s\nhttp: %s\nkafka:\n%sstreaming:\n  idle_timeout: 0s\n",
		dsn, filepath.Join(dir, "victim-data"), httpAddr, k.kafka))
	run := func() *runChild { return startRun(t, "run", "--config", cfg, "--brokers", addr, "--rate", "0") }

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 13))
	t.Logf("%s: kill points seeded with %d", name, seed)

	var (
		toParts   []time.Duration // per restart: start → every partition assigned and loaded
		midStream int             // kills that left records uncommitted
		early     int             // kills at a random moment of a run's first 300 ms with partitions
		progress  []int64
	)
	kills := *tortureKills
	for i := range kills {
		from := committed(dsn)
		if from < 0 && i == 0 {
			from = 0 // no warehouse yet
		}
		if from < 0 {
			t.Fatalf("kill %d: cannot read the committed offsets of %s", i, dsn)
		}
		// A run is killed once it has committed past a random target, a
		// share of what is left, so that the kills land before the end of
		// the input — or, one in four and whenever the share is smaller
		// than a run's first commits, at a random moment of its first
		// 300 ms with partitions: while their state is being restored,
		// records fetched and decoded, the first batch committed.
		step := (total - from) / int64(kills-i+5)
		soon := step < tortureMinStep || rng.IntN(4) == 0
		target := from + 1 + rng.Int64N(max(1, 2*step))
		c := run()
		begin := time.Now()
		var parts time.Duration
		for {
			select {
			case err := <-c.done:
				c.done <- err
				t.Fatalf("kill %d: run exited before its kill: %v\n%s", i, err, tail(c.log.String(), 30))
			default:
			}
			if time.Since(begin) > 3*time.Minute {
				t.Fatalf("kill %d: run did not reach %d of %d records in 3m (at %d):\n%s", i, target, total, committed(dsn), tail(c.log.String(), 30))
			}
			st, ok := appStatus(httpAddr)
			if ok && parts == 0 && st.Consumer.Partitions == tortureParts {
				parts = time.Since(begin)
				if soon {
					time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
					early++
					break
				}
			}
			if ok && parts > 0 && from+st.Records >= target {
				time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
				break
			}
			time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
		}
		c.stop(t, syscall.SIGKILL)
		toParts = append(toParts, parts)
		n := committed(dsn)
		progress = append(progress, n)
		if n < total {
			midStream++
		}
	}
	t.Logf("committed records after each SIGKILL: %v of %d", progress, total)
	t.Logf("%s: kills done after %v", name, time.Since(began).Round(100*time.Millisecond))

	// The last run catches up and stops cleanly.
	c := run()
	begin := time.Now()
	var parts time.Duration
	for {
		if time.Since(begin) > 5*time.Minute {
			t.Fatalf("catch-up did not finish: %d of %d records committed:\n%s", committed(dsn), total, tail(c.log.String(), 30))
		}
		st, ok := appStatus(httpAddr)
		if ok && parts == 0 && st.Consumer.Partitions == tortureParts {
			parts = time.Since(begin)
		}
		if parts > 0 && committed(dsn) >= total {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	toParts = append(toParts, parts)
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("catch-up exit after SIGTERM: %v\n%s", err, tail(c.log.String(), 20))
	}
	t.Logf("%s: caught up after %v", name, time.Since(began).Round(100*time.Millisecond))

	rows := compareTables(t, k.ref, dsn)
	tortureReport(t, name,
		fmt.Sprintf("%d SIGKILLs (%d mid-stream, %d in a run's first 300ms with partitions)", kills, midStream, early),
		fmt.Sprintf("%d records", total),
		fmt.Sprintf("restart to all %d partitions median %v max %v", tortureParts, median(toParts).Round(10*time.Millisecond),
			slices.Max(toParts).Round(10*time.Millisecond)),
		rows,
		fmt.Sprintf("total %v", time.Since(began).Round(time.Second)))
}

// startBrokerConfig is startBroker with a configuration file's content
// (none if empty).
func startBrokerConfig(t *testing.T, dir, config string) string {
	t.Helper()
	if config == "" {
		return startBroker(t, dir)
	}
	cfg := filepath.Join(dir, "broker.yaml")
	writeFile(t, cfg, config)
	addr := freeAddr(t)
	start(t, "broker", "--config", cfg, "--listen", addr, "--data-dir", filepath.Join(dir, "kafka"))
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

// appStatus is the part of a running appliance's /api/status the torture
// cases read; ok is false while it does not answer.
type appStatusInfo struct {
	Records  int64 `json:"records"` // committed by this process
	Consumer struct {
		Partitions int  `json:"partitions"`
		Retrying   bool `json:"retrying"`
	} `json:"consumer"`
}

var statusClient = &http.Client{Timeout: 2 * time.Second}

func appStatus(addr string) (appStatusInfo, bool) {
	var st appStatusInfo
	resp, err := statusClient.Get("http://" + addr + "/api/status")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return st, false
	}
	return st, true
}

// tortureTables are the tables the cases compare, without the columns
// that hold wall-clock times of the run (ingested_at, closed_at,
// received_at), with the key that orders them.
var tortureTables = []struct{ name, query, order string }{
	{"events", parityQueries["events"], "x.kafka_partition, x.kafka_offset"},
	{"rejected_events", parityQueries["rejected_events"], "x.kafka_partition, x.kafka_offset"},
	{"sessions", parityQueries["sessions"], "x.session_id"},
}

// compareTables requires events, rejected_events and sessions of got to
// equal those of want row for row, and returns their row counts for the
// report. Both are on the same kind of warehouse: the rows are compared
// by a hash of each row computed there (a million rows of text through
// the Go client took minutes), in key order; where they differ, the rows
// themselves are compared to show how.
func compareTables(t *testing.T, wantDSN, gotDSN string) string {
	t.Helper()
	want, got := openDB(t, wantDSN), openDB(t, gotDSN)
	var counts []string
	same := true
	for _, table := range tortureTables {
		w, g := rowHashes(t, want, table.query, table.order), rowHashes(t, got, table.query, table.order)
		if len(w) == 0 {
			t.Fatalf("the uninterrupted run has no rows in %s", table.name)
		}
		counts = append(counts, fmt.Sprintf("%d %s", len(g), table.name))
		if slices.Equal(w, g) {
			continue
		}
		same = false
		diff := cmp.Diff(canonical(t, want, table.query), canonical(t, got, table.query))
		t.Errorf("%s differs (-uninterrupted +tortured), %d vs %d rows:\n%s", table.name, len(w), len(g), firstLines(diff, 40))
	}
	if !same {
		return strings.Join(counts, " + ") + " DIFFERENT"
	}
	return strings.Join(counts, " + ") + " identical"
}

// rowHashes returns a hash of each row of q, in order.
func rowHashes(t *testing.T, db *warehouse.DB, q, order string) []string {
	t.Helper()
	h := "hash(x)" // DuckDB
	if db.Dialect() != warehouse.DuckDB {
		h = "md5(x::text)"
	}
	rows := query(t, db, fmt.Sprintf("SELECT %s FROM (%s) x ORDER BY %s", h, q, order))
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r[0])
	}
	return out
}
