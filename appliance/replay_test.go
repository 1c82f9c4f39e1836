package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/generator"
)

// replayFile writes n generated records, with every kind of disorder and
// bad record, to a file.
func replayFile(t *testing.T, n int) string {
	t.Helper()
	gc := generator.DefaultConfig()
	gc.Seed, gc.Users = 7, 500
	gc.OutOfOrder, gc.Late, gc.Duplicate, gc.Malformed = 0.03, 0.01, 0.02, 0.01
	g, err := generator.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "e.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := g.WriteJSONL(f, n); err != nil {
		t.Fatal(err)
	}
	return path
}

// tables reads what a replay loaded, in a stable order.
func tables(t *testing.T, dsn string) map[string][][]any {
	t.Helper()
	out := make(map[string][][]any)
	for name, q := range map[string]string{
		"events":   `SELECT event_id, user_id, event_time, is_late, kafka_partition, kafka_offset FROM events ORDER BY kafka_partition, kafka_offset`,
		"sessions": `SELECT session_id, user_id, session_start, session_end, event_count, revenue FROM sessions ORDER BY session_id`,
		"rejected": `SELECT kafka_partition, kafka_offset, reason FROM rejected_events ORDER BY kafka_partition, kafka_offset`,
	} {
		res, err := Query(shortCtx(t, 30*time.Second), dsn, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = res.Rows
	}
	return out
}

// TestReplayWindowMatchesDefault: a replay whose producer is held to a
// window of three small batches — waiting for commits and dropping them
// from the broker all along — loads the same tables as a replay in the
// default batches, which holds the whole file at once.
func TestReplayWindowMatchesDefault(t *testing.T) {
	file := replayFile(t, 20_000)
	dir := t.TempDir()
	replay := func(name string, batch int) map[string][][]any {
		cfg := DefaultConfig()
		cfg.Warehouse = "duckdb://" + filepath.Join(dir, name+".duckdb")
		cfg.Streaming.BatchSize = batch
		res, err := Replay(shortCtx(t, 2*time.Minute), cfg, file, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Stats.Records != 20_000 || res.Produced != 20_000 {
			t.Fatalf("%s: %d records committed of %d produced, want 20000", name, res.Stats.Records, res.Produced)
		}
		// A batch is cut after the poll that fills it, so it may be larger
		// than the batch size, but never than the window.
		if batch < 20_000 && res.Stats.Batches < int64(20_000/(3*batch)) {
			t.Errorf("%s: %d batches, want at least %d", name, res.Stats.Batches, 20_000/(3*batch))
		}
		return tables(t, cfg.Warehouse)
	}
	want := replay("default", DefaultConfig().Streaming.BatchSize)
	got := replay("windowed", 300)
	for _, name := range []string{"events", "sessions", "rejected"} {
		if len(want[name]) == 0 {
			t.Errorf("%s: empty", name)
		}
		if d := cmp.Diff(want[name], got[name]); d != "" {
			t.Errorf("%s differ (-default +windowed):\n%s", name, d)
		}
	}
}

// interruptAfter is a log handler that cancels a context after the n-th
// committed batch.
type interruptAfter struct {
	n      int
	cancel context.CancelFunc
	seen   *int
}

func (h interruptAfter) Enabled(context.Context, slog.Level) bool { return true }
func (h interruptAfter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "committed batch" {
		if *h.seen++; *h.seen == h.n {
			h.cancel()
		}
	}
	return nil
}
func (h interruptAfter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h interruptAfter) WithGroup(string) slog.Handler      { return h }

// TestReplayResumes: a replay interrupted after a few commits, run again,
// ends with the tables of an uninterrupted replay — the resumed run
// produces the whole file again, unbounded by the window, and consumes
// from the committed offsets.
func TestReplayResumes(t *testing.T) {
	file := replayFile(t, 20_000)
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Streaming.BatchSize = 500
	cfg.Warehouse = "duckdb://" + filepath.Join(dir, "ref.duckdb")
	if _, err := Replay(shortCtx(t, 2*time.Minute), cfg, file, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	want := tables(t, cfg.Warehouse)

	cfg.Warehouse = "duckdb://" + filepath.Join(dir, "resumed.duckdb")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := 0
	_, err := Replay(ctx, cfg, file, slog.New(interruptAfter{n: 4, cancel: cancel, seen: &seen}))
	if err == nil {
		t.Fatal("the interrupted replay succeeded")
	}
	if part := tables(t, cfg.Warehouse); len(part["events"]) == 0 || len(part["events"]) >= len(want["events"]) {
		t.Fatalf("the interrupted replay loaded %d of %d events; want some, not all", len(part["events"]), len(want["events"]))
	}
	res, err := Replay(shortCtx(t, 2*time.Minute), cfg, file, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if res.Produced != 20_000 {
		t.Errorf("the resumed replay produced %d records, want the whole file", res.Produced)
	}
	got := tables(t, cfg.Warehouse)
	for _, name := range []string{"events", "sessions", "rejected"} {
		if d := cmp.Diff(want[name], got[name]); d != "" {
			t.Errorf("%s differ (-uninterrupted +resumed):\n%s", name, d)
		}
	}
}

// TestLogWindowGate: the producer's gate lets it run up to the window
// ahead of what is committed, then waits for commits; open lifts it; a
// canceled context ends the wait.
func TestLogWindowGate(t *testing.T) {
	w := newLogWindow(100)
	ctx := shortCtx(t, 10*time.Second)
	if err := w.wait(ctx, 99); err != nil {
		t.Fatal(err)
	}
	passed := make(chan error, 1)
	go func() { passed <- w.wait(ctx, 150) }()
	select {
	case err := <-passed:
		t.Fatalf("wait 150 ahead of 0 committed returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.committed(map[int32]int64{0: 30})
	select {
	case err := <-passed:
		t.Fatalf("wait 150 ahead of 30 committed returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.committed(map[int32]int64{1: 25}) // 55 committed
	if err := <-passed; err != nil {
		t.Fatal(err)
	}
	w.committed(map[int32]int64{0: 40}) // a partition moves on: 65 in all
	if w.total != 65 {
		t.Errorf("total %d, want 65", w.total)
	}
	canceled, cancel := context.WithCancel(ctx)
	go func() { passed <- w.wait(canceled, 1000) }()
	cancel()
	if err := <-passed; err != context.Canceled {
		t.Errorf("wait on a canceled context = %v", err)
	}
	w.open()
	if err := w.wait(ctx, 1<<40); err != nil {
		t.Errorf("wait after open = %v", err)
	}
}

// TestLogWindowTrim: after each commit the window deletes the committed
// records from the broker.
func TestLogWindowTrim(t *testing.T) {
	b, err := broker.Start(broker.WithInProcessClients(), broker.WithSegmentBytes(1024),
		broker.WithTopics(broker.Topic{Name: "t", Partitions: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(append(b.ClientOptions(), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := shortCtx(t, 20*time.Second)
	for i := range 200 {
		r := &kgo.Record{Topic: "t", Partition: int32(i % 2), Value: fmt.Appendf(nil, "record %d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w := newLogWindow(1000)
	trimCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.trim(trimCtx, cl, "t", slog.New(slog.DiscardHandler)) }()
	w.committed(map[int32]int64{0: 60, 1: 40})
	want := map[int32]int64{0: 60, 1: 40}
	for {
		got, err := broker.StartOffsets(ctx, cl, "t", []int32{0, 1})
		if err != nil {
			t.Fatal(err)
		}
		if cmp.Equal(got, want) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("start offsets %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
}
