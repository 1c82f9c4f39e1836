package appliance

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/producer"
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
		res, err := Query(shortCtx(t, 30*time.Second), dsnConfig(dsn), q)
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
	replay := func(name string, batch int, opts ...ReplayOption) map[string][][]any {
		cfg := DefaultConfig()
		cfg.Warehouse = "duckdb://" + filepath.Join(dir, name+".duckdb")
		cfg.Streaming.BatchSize = batch
		res, err := Replay(shortCtx(t, 2*time.Minute), cfg, file, slog.New(slog.DiscardHandler), opts...)
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
	var progress []ReplayProgress // one goroutine reports: no lock needed until Replay returns
	got := replay("windowed", 300, WithProgress(func(p ReplayProgress) { progress = append(progress, p) }))
	checkProgress(t, progress, 20_000, 3*300)
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

// checkProgress checks the reports of a fresh replay of total records with
// a window of size records: the first comes before anything is produced,
// counts only grow, the producer stays within the window (plus the eighth
// File sends between two waits), and the last has everything committed.
func checkProgress(t *testing.T, reports []ReplayProgress, total, size int64) {
	t.Helper()
	if len(reports) < 2 {
		t.Fatalf("%d progress reports, want at least the first and the last", len(reports))
	}
	if first := reports[0]; first != (ReplayProgress{Total: total}) {
		t.Errorf("first report %+v, want nothing done of %d", first, total)
	}
	for i, p := range reports[1:] {
		prev := reports[i]
		if p.Total != total || p.Produced < prev.Produced || p.Committed < prev.Committed || p.Committed > p.Produced ||
			p.Produced-p.Committed >= size+size/8 {
			t.Fatalf("report %d %+v after %+v (window %d)", i+1, p, prev, size)
		}
	}
	if last := reports[len(reports)-1]; last != (ReplayProgress{Produced: total, Committed: total, Total: total}) {
		t.Errorf("last report %+v, want all %d records produced and committed", last, total)
	}
}

// TestReportProgressStops: without a hook nothing runs, and with one the
// reports stop when told, after a last one.
func TestReportProgressStops(t *testing.T) {
	stop := reportProgress(nil, producer.NewWindow(10), 5)
	stop()
	win := producer.NewWindow(10)
	var reports []ReplayProgress
	stop = reportProgress(func(p ReplayProgress) { reports = append(reports, p) }, win, 5)
	win.Wait(context.Background(), 4)
	win.Committed(map[int32]int64{0: 3})
	stop()
	n := len(reports)
	time.Sleep(3 * progressEvery)
	if len(reports) != n {
		t.Errorf("%d reports after stop", len(reports)-n)
	}
	if last := reports[n-1]; last != (ReplayProgress{Produced: 4, Committed: 3, Total: 5}) {
		t.Errorf("last report %+v", last)
	}
}
