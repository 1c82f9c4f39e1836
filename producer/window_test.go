package producer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/broker"
)

// TestWindowGate: Wait lets the producer run up to the window ahead of
// what is committed, then waits for commits; Open lifts the bound; a
// canceled context ends the wait.
func TestWindowGate(t *testing.T) {
	w := NewWindow(100)
	ctx := testCtx(t)
	if err := w.Wait(ctx, 99); err != nil {
		t.Fatal(err)
	}
	passed := make(chan error, 1)
	go func() { passed <- w.Wait(ctx, 150) }()
	select {
	case err := <-passed:
		t.Fatalf("Wait 150 ahead of 0 committed returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.Committed(map[int32]int64{0: 30})
	select {
	case err := <-passed:
		t.Fatalf("Wait 150 ahead of 30 committed returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.Committed(map[int32]int64{1: 25}) // 55 committed
	if err := <-passed; err != nil {
		t.Fatal(err)
	}
	w.Committed(map[int32]int64{0: 40}) // a partition moves on: 65 in all
	if produced, committed := w.Progress(); produced != 150 || committed != 65 {
		t.Errorf("Progress = %d, %d; want 150, 65", produced, committed)
	}
	canceled, cancel := context.WithCancel(ctx)
	go func() { passed <- w.Wait(canceled, 1000) }()
	cancel()
	if err := <-passed; err != context.Canceled {
		t.Errorf("Wait on a canceled context = %v", err)
	}
	w.Open()
	if err := w.Wait(ctx, 1<<40); err != nil {
		t.Errorf("Wait after Open = %v", err)
	}
}

// TestWindowTrim: after each commit the window deletes the committed
// records from the broker.
func TestWindowTrim(t *testing.T) {
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
	ctx := testCtx(t)
	for i := range 200 {
		r := &kgo.Record{Topic: "t", Partition: int32(i % 2), Value: fmt.Appendf(nil, "record %d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWindow(1000)
	trimCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Trim(trimCtx, cl, "t", slog.New(slog.DiscardHandler)) }()
	for _, want := range []map[int32]int64{{0: 60, 1: 40}, {0: 80, 1: 40}} {
		w.Committed(want)
		for {
			got, err := broker.StartOffsets(ctx, cl, "t")
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
	}
	stop()
	<-done
}

// TestFileWithWindow: File gated by a window keeps the broker's log within
// the window (plus the eighth File sends between waits) of what is
// committed, and produces everything as commits come.
func TestFileWithWindow(t *testing.T) {
	const lines, size = 2000, 200
	_, cl := setup(t, 4)
	ctx := testCtx(t)
	var in strings.Builder
	for i := range lines {
		fmt.Fprintf(&in, `{"user_id": "u%d", "n": %d}`+"\n", i%37, i)
	}
	w := NewWindow(size)
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := File(ctx, cl, topic, strings.NewReader(in.String()), WithWindow(w))
		done <- result{res, err}
	}()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.res.Records != lines {
				t.Errorf("File produced %d records, want %d", r.res.Records, lines)
			}
			return
		case <-time.After(5 * time.Millisecond):
		}
		end, err := broker.EndOffsets(ctx, cl, topic)
		if err != nil {
			t.Fatal(err)
		}
		_, committed := w.Progress()
		if ahead := sum(end) - committed; ahead >= size+size/8 {
			t.Fatalf("%d records ahead of the commits, window %d", ahead, size)
		}
		w.Committed(end) // the "consumer" commits what it finds
	}
}
