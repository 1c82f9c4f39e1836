package e2e

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
	"github.com/cartwheel-analytics/cartwheel/producer"
	"github.com/cartwheel-analytics/cartwheel/streaming"
	"github.com/cartwheel-analytics/cartwheel/warehouse"

	_ "github.com/duckdb/duckdb-go/v2" // the baseline runs DuckDB's own SQL
)

// The figures of `make bench`: whole-pipeline measurements printed as a
// table, never asserted (the machines are noisy; compare within one run).
var (
	figures     = flag.Bool("bench-figures", false, "run the whole-pipeline benchmarks and print their figures")
	pipeProfile = flag.String("pipeline-cpuprofile", "", "write a CPU profile of the pipeline benchmark's consuming phase to this file")
)

type figure struct{ name, value, target string }

var (
	figMu sync.Mutex
	figs  []figure
)

func report(name, target, format string, args ...any) {
	figMu.Lock()
	defer figMu.Unlock()
	figs = append(figs, figure{name, fmt.Sprintf(format, args...), target})
	fmt.Printf("FIGURE %-62s %s\n", name, fmt.Sprintf(format, args...))
}

func TestBenchFigures(t *testing.T) {
	if !*figures {
		t.Skip("run with -bench-figures (make bench)")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("Pipeline", func(t *testing.T) { benchPipeline(t, quiet, 2_000_000) })
	t.Run("ReplayVsDuckDB", func(t *testing.T) { benchReplayVsSQL(t, 1_000_000) })
	t.Run("Freshness", func(t *testing.T) { benchFreshness(t, quiet, 20_000, 20*time.Second) })
	t.Run("PostgresLoad", func(t *testing.T) { benchPostgresLoad(t, 200_000) })
	t.Run("PostgresPipeline", func(t *testing.T) { benchPostgresPipeline(t, quiet, 500_000) })
	fmt.Println()
	fmt.Println("| figure | measured | target |")
	fmt.Println("|---|---|---|")
	for _, f := range figs {
		fmt.Printf("| %s | %s | %s |\n", f.name, f.value, f.target)
	}
}

// preload starts an in-memory embedded broker and puts n generated events on
// its events topic.
func preload(t *testing.T, n int64, seed uint64) (*broker.Broker, map[int32]int64) {
	t.Helper()
	b, err := broker.Start(broker.WithTopics(broker.Topic{Name: "events", Partitions: 8}, broker.Topic{Name: "events.dlq", Partitions: 8}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	gc := generator.DefaultConfig()
	gc.Seed, gc.Users = seed, 100_000
	gc.OutOfOrder, gc.Late, gc.Duplicate = 0.02, 0.005, 0.01
	g, err := generator.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(producer.ClientOptions(), kgo.SeedBrokers(b.Addrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := producer.Generated(context.Background(), cl, "events", g, producer.Pace{Records: n})
	if err != nil {
		t.Fatal(err)
	}
	return b, res.End
}

// benchPipeline: pre-loaded topic → all sessions committed in DuckDB.
func benchPipeline(t *testing.T, log *slog.Logger, n int64) {
	b, end := preload(t, n, 1)
	const runs = 3
	var rates, cpus []float64
	var size int64
	for run := range runs {
		path := filepath.Join(t.TempDir(), "w.duckdb")
		db, err := warehouse.Open(context.Background(), "duckdb://"+path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := streaming.New(db, streaming.WithBrokers(b.Addrs()...), streaming.WithStopAt(end),
			streaming.WithGroup(fmt.Sprintf("bench-%d", run)),
			streaming.WithBatch(200_000, time.Second), streaming.WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		if *pipeProfile != "" && run == 0 {
			f, err := os.Create(*pipeProfile)
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
		}
		cpu0 := cpuTime()
		start := time.Now()
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		cpu := cpuTime() - cpu0
		if *pipeProfile != "" && run == 0 {
			pprof.StopCPUProfile()
		}
		if s := p.Stats(); s.Records != n {
			t.Fatalf("committed %d of %d records", s.Records, n)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		rates = append(rates, float64(n)/el.Seconds())
		cpus = append(cpus, float64(cpu.Microseconds())/float64(n))
		t.Logf("run %d: %.0f events/s, %.2f µs CPU/event", run+1, rates[run], cpus[run])
	}
	slices.Sort(rates)
	slices.Sort(cpus)
	report(fmt.Sprintf("pipeline, pre-loaded topic → sessions committed (DuckDB, %s, %dM events), median of %d [min–max]", warehouse.BulkLoader, n/1e6, runs),
		"≥ 500,000 (goal 1M)", "%.0f events/s [%.0f–%.0f]", rates[runs/2], rates[0], rates[runs-1])
	report("CPU time per event in that benchmark (all threads: broker, pipeline, DuckDB), median", "", "%.2f µs", cpus[runs/2])
	report("DuckDB file after the pipeline benchmark, per event", "", "%.0f bytes", float64(size)/float64(n))
}

// benchReplayVsSQL compares `cartwheel replay --no-models` with DuckDB's own
// read_json + SQL sessionization of the same file.
func benchReplayVsSQL(t *testing.T, n int) {
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	cartwheel(t, "generate", "--seed", "2", "--events", fmt.Sprint(n), "--users", "100000", "--out", file,
		"--out-of-order", "0.02", "--late", "0.005", "--duplicate", "0.01")
	// The baseline: DuckDB does the same job itself — load the file with
	// the validity rules of spec §1, de-duplicate by event_id, sessionize
	// with lag + running sum — to a file, closed (checkpointed) as replay
	// closes its own.
	baseline := func() time.Duration {
		path := filepath.Join(dir, fmt.Sprintf("sql-%d.duckdb", time.Now().UnixNano()))
		db, err := sql.Open("duckdb", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		start := time.Now()
		for _, q := range []string{
			`CREATE TABLE events AS
			 WITH raw AS (
				SELECT event_id, event_type, user_id, TRY_CAST(event_time AS TIMESTAMP) AS event_time, product_id,
					CAST(price AS DECIMAL(12,2)) AS price, coalesce(quantity, 1) AS quantity
				FROM read_json('` + file + `', format = 'newline_delimited', ignore_errors = true,
					columns = {event_id: 'VARCHAR', event_type: 'VARCHAR', user_id: 'VARCHAR', event_time: 'VARCHAR',
					           product_id: 'VARCHAR', price: 'DOUBLE', quantity: 'INTEGER'}))
			 SELECT event_id, event_type, user_id, event_time, product_id, price, quantity,
				CASE WHEN event_type = 'purchase' THEN price * quantity ELSE 0 END AS revenue,
				0 AS stream_id, 0 AS kafka_partition, false AS is_late
			 FROM raw
			 WHERE event_id <> '' AND user_id <> '' AND event_time IS NOT NULL
				AND event_type IN ('page_view', 'add_to_cart', 'purchase')
				AND (event_type = 'page_view' OR coalesce(product_id, '') <> '')
				AND (event_type <> 'purchase' OR price BETWEEN 0 AND 1000000)
				AND quantity BETWEEN 1 AND 1000
			 QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY event_time) = 1`,
			`CREATE TABLE sessions AS ` + sessionSQL,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	replay := func() time.Duration {
		start := time.Now()
		cartwheel(t, "replay", "--events", file, "--warehouse", "duckdb://"+filepath.Join(dir, fmt.Sprintf("r-%d.duckdb", time.Now().UnixNano())), "--no-models")
		return time.Since(start)
	}
	var sqls, replays []time.Duration
	for range 3 { // interleaved, medians
		sqls = append(sqls, baseline())
		replays = append(replays, replay())
	}
	ms, mr := median(sqls), median(replays)
	report(fmt.Sprintf("replay --no-models, %dM-event file (median of 3)", n/1e6), "", "%.2f s (%.0f events/s)", mr.Seconds(), float64(n)/mr.Seconds())
	report("DuckDB read_json + SQL sessionization, same file (median of 3)", "", "%.2f s", ms.Seconds())
	report("ratio: DuckDB SQL time / replay time", "≥ 0.5 (goal ≥ 1.0)", "%.2f", ms.Seconds()/mr.Seconds())
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// benchFreshness produces at a steady rate into a live appliance pipeline
// and records, per record, produce → commit (visible to queries); a poller
// also checks marker events with real queries.
func benchFreshness(t *testing.T, log *slog.Logger, rate float64, d time.Duration) {
	b, err := broker.Start(broker.WithTopics(broker.Topic{Name: "events", Partitions: 8}, broker.Topic{Name: "events.dlq", Partitions: 8}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, err := warehouse.Open(context.Background(), "duckdb://"+filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	var lat []float64
	warm := time.Now().Add(3 * time.Second)
	timed := &timedStore{DB: db, warm: warm}
	p, err := streaming.New(timed, streaming.WithBrokers(b.Addrs()...), streaming.WithLive(streaming.DefaultIdleTimeout),
		streaming.WithLogger(log), streaming.WithCommitObserver(func(produced []int64, at time.Time) {
			if at.Before(warm) {
				return
			}
			mu.Lock()
			for _, us := range produced {
				lat = append(lat, float64(at.UnixMicro()-us)/1000)
			}
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	gc := generator.DefaultConfig()
	gc.Seed, gc.Users, gc.Start = 77, 200_000, time.Now().Add(-24*time.Hour).UTC()
	g, _ := generator.New(gc)
	cl, err := kgo.NewClient(append(producer.ClientOptions(), kgo.SeedBrokers(b.Addrs()...), kgo.ProducerLinger(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// Markers: every 100 ms a record with a known id; a poller queries for
	// them and notes when each becomes visible.
	var qlat []float64
	markers := map[string]time.Time{}
	var mmu sync.Mutex
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(5 * time.Millisecond):
			}
			mmu.Lock()
			ids := make([]string, 0, len(markers))
			for id := range markers {
				ids = append(ids, "'"+id+"'")
			}
			mmu.Unlock()
			if len(ids) == 0 {
				continue
			}
			r, err := db.QueryReadOnly(context.Background(), "SELECT event_id FROM events WHERE event_id IN ("+strings.Join(ids, ",")+")")
			if err != nil {
				continue
			}
			now := time.Now()
			mmu.Lock()
			for _, row := range r.Rows {
				id := row[0].(string)
				if at, ok := markers[id]; ok {
					if at.After(warm) {
						qlat = append(qlat, float64(now.Sub(at).Microseconds())/1000)
					}
					delete(markers, id)
				}
			}
			mmu.Unlock()
		}
	}()
	start := time.Now()
	var buf []byte
	var sent int64
	nextMarker := start
	for time.Since(start) < d {
		due := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		rec, key, _ := g.Next(buf[:0])
		val := append([]byte(nil), rec...)
		k := append([]byte(nil), key...)
		if now := time.Now(); now.After(nextMarker) {
			id := fmt.Sprintf("marker-%d", sent)
			val = []byte(fmt.Sprintf(`{"event_id":%q,"event_type":"page_view","user_id":"marker","event_time":%q}`, id, now.UTC().Format(time.RFC3339Nano)))
			k = []byte("marker")
			mmu.Lock()
			markers[id] = now
			mmu.Unlock()
			nextMarker = now.Add(100 * time.Millisecond)
		}
		cl.Produce(context.Background(), &kgo.Record{Topic: "events", Key: k, Value: val}, nil)
		sent++
	}
	cl.Flush(context.Background())
	time.Sleep(time.Second)
	close(stopPoll)
	<-pollDone
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	slices.Sort(qlat)
	report(fmt.Sprintf("freshness at %.0f events/s, produce → committed, p50 / p99 (%d records)", rate, len(lat)),
		"p99 ≤ 500 ms (goal 250)", "%.0f / %.0f ms", percentile(lat, 0.5), percentile(lat, 0.99))
	slices.Sort(timed.ms)
	report(fmt.Sprintf("warehouse commit time in that run, p50 / p99 / max (%d commits)", len(timed.ms)),
		"", "%.1f / %.1f / %.0f ms", percentile(timed.ms, 0.5), percentile(timed.ms, 0.99), percentile(timed.ms, 1))
	report(fmt.Sprintf("freshness seen by a polling query (markers, 5 ms poll), p50 / p99 (%d)", len(qlat)),
		"", "%.0f / %.0f ms", percentile(qlat, 0.5), percentile(qlat, 0.99))
}

// timedStore records how long each warehouse commit takes (after warm).
type timedStore struct {
	*warehouse.DB
	warm time.Time
	mu   sync.Mutex
	ms   []float64
}

func (s *timedStore) Commit(ctx context.Context, b *event.Batch) error {
	start := time.Now()
	err := s.DB.Commit(ctx, b)
	if start.After(s.warm) {
		s.mu.Lock()
		s.ms = append(s.ms, float64(time.Since(start).Microseconds())/1000)
		s.mu.Unlock()
	}
	return err
}

// benchPostgresLoad compares COPY with multi-row INSERT into PostgreSQL.
func benchPostgresLoad(t *testing.T, n int) {
	dsn := pgtest.Get(t).NewDatabase(t)
	out, err := exec.Command("go", "test", "-count=1", "-run", "^TestFigurePostgresLoad$", "-v", "../warehouse/",
		"-args", "-figure-dsn", dsn, "-figure-rows", fmt.Sprint(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if name, val, ok := strings.Cut(strings.TrimPrefix(line, "FIGURE "), ": "); ok && strings.HasPrefix(line, "FIGURE ") {
			report(name, "", "%s", val)
		}
	}
}

// benchPostgresPipeline: pre-loaded topic → sessions committed in PostgreSQL.
func benchPostgresPipeline(t *testing.T, log *slog.Logger, n int64) {
	dsn := pgtest.Get(t).NewDatabase(t)
	b, end := preload(t, n, 4)
	db, err := warehouse.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := streaming.New(db, streaming.WithBrokers(b.Addrs()...), streaming.WithStopAt(end),
		streaming.WithBatch(50_000, time.Second), streaming.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	report(fmt.Sprintf("pipeline, pre-loaded topic → sessions committed (PostgreSQL, %dK events)", n/1000), "",
		"%.0f events/s", float64(n)/time.Since(start).Seconds())
}

// cpuTime is the CPU time this process has used (user + system): unlike
// wall time, it barely moves when other work shares the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
