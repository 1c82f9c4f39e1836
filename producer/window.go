package producer

import (
	"context"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/broker"
)

// Window keeps a producer at most a number of records ahead of what its
// consumer has committed, and drops the committed records from the broker
// (Trim), so that the broker holds a bounded part of the input however
// large the input is. Replay gates File on one (WithWindow).
//
// A Window counts records by offsets: on a topic whose partitions start at
// offset 0, such as one of a fresh broker, the sum of the committed next
// offsets is the number of records committed.
type Window struct {
	mu        sync.Mutex
	size      int64
	produced  int64           // the latest count Wait was given
	next      map[int32]int64 // committed next offset, per partition
	committed int64           // sum of next
	changed   chan struct{}   // closed and replaced on every change
}

// NewWindow returns a window of size records.
func NewWindow(size int64) *Window {
	return &Window{size: size, next: make(map[int32]int64), changed: make(chan struct{})}
}

// Wait blocks while produced records are size or more ahead of those
// committed, until ctx is done. It is File's gate (WithWindow).
func (w *Window) Wait(ctx context.Context, produced int64) error {
	for {
		w.mu.Lock()
		w.produced = max(w.produced, produced)
		ok, changed := produced-w.committed < w.size, w.changed
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Open lifts the bound for good: a resumed replay produces its whole input
// before it consumes.
func (w *Window) Open() {
	w.mu.Lock()
	w.size = 1<<63 - 1
	w.notify()
	w.mu.Unlock()
}

// Committed records the next offsets of a commit, per partition
// (streaming.WithCommittedOffsets); it does not block.
func (w *Window) Committed(next map[int32]int64) {
	w.mu.Lock()
	for p, off := range next {
		w.committed += off - w.next[p]
		w.next[p] = off
	}
	w.notify()
	w.mu.Unlock()
}

// Progress returns the records produced, as last given to Wait, and the
// records committed.
func (w *Window) Progress() (produced, committed int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.produced, w.committed
}

// notify wakes the waiters; w.mu is held.
func (w *Window) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// Trim deletes the committed records of topic from the broker of cl after
// each commit, until ctx is done. A failure only costs memory: it is
// logged once, and the next commit tries again.
func (w *Window) Trim(ctx context.Context, cl *kgo.Client, topic string, log *slog.Logger) {
	done := make(map[int32]int64)
	warned := false
	for {
		w.mu.Lock()
		changed := w.changed
		todo := make(map[int32]int64)
		for p, off := range w.next {
			if off > done[p] {
				todo[p] = off
			}
		}
		w.mu.Unlock()
		if len(todo) > 0 {
			if err := broker.DeleteRecords(ctx, cl, topic, todo); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !warned {
					log.Warn("could not drop committed records from the broker (its memory grows with the input)", "topic", topic, "err", err)
					warned = true
				}
			} else {
				for p, off := range todo {
					done[p] = off
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// WithWindow gates File on w (WithGate): File sends at most an eighth of
// the window between two waits, so the pipeline has records to consume
// while the producer waits.
func WithWindow(w *Window) FileOption {
	w.mu.Lock()
	every := w.size / 8
	w.mu.Unlock()
	return WithGate(w.Wait, every)
}
