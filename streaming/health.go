package streaming

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Health is what /readyz reports: whether the pipeline consumes and
// commits, and if not, why.
type Health struct {
	Consumer ConsumerHealth
	// CommitRetrying is set while a batch commit fails with a transient
	// error (the warehouse is unreachable, its disk is full) and is
	// retried; CommitErr is the last such error, since CommitSince.
	CommitRetrying bool
	CommitErr      error
	CommitSince    time.Time
	// Restarts counts restarts from the stored checkpoints; LastRestartErr
	// is the failure that caused the last one.
	Restarts       int64
	LastRestartErr error
	// Joined is set once the consumer has joined its group (with or
	// without partitions); CaughtUp while its last poll found nothing new
	// and nothing waits to be committed.
	Joined   bool
	CaughtUp bool
	// LastCommit is the wall time of the last commit (zero before one).
	LastCommit time.Time
}

// Ready returns nil when the pipeline is consuming and committing — it
// has committed a batch, or caught up with its partitions — and otherwise
// why not.
func (h Health) Ready() error {
	switch {
	case h.Consumer.Retrying:
		return fmt.Errorf("kafka consumer retrying a %s error since %s (%d attempts): %v",
			h.Consumer.Kind, h.Consumer.Since.UTC().Format(time.RFC3339), h.Consumer.Attempts, h.Consumer.Err)
	case h.CommitRetrying:
		return fmt.Errorf("commit to the warehouse retrying since %s: %v", h.CommitSince.UTC().Format(time.RFC3339), h.CommitErr)
	case !h.Joined:
		if h.LastRestartErr != nil {
			return fmt.Errorf("restarting from the stored checkpoints after: %v", h.LastRestartErr)
		}
		return errors.New("kafka consumer has not joined its group yet")
	case h.LastCommit.IsZero() && !h.CaughtUp:
		return errors.New("consuming, no batch committed yet")
	}
	return nil
}

// healthState holds the parts of Health the consumer state does not.
type healthState struct {
	mu             sync.Mutex
	commitRetrying bool
	commitErr      error
	commitSince    time.Time
	restarts       int64
	restartErr     error
	joined         bool
	caughtUp       bool
}

// Health returns the pipeline's health.
func (p *Pipeline) Health() Health {
	h := Health{Consumer: p.ConsumerHealth(), LastCommit: p.Stats().LastCommit}
	s := &p.health
	s.mu.Lock()
	defer s.mu.Unlock()
	h.CommitRetrying, h.CommitErr, h.CommitSince = s.commitRetrying, s.commitErr, s.commitSince
	h.Restarts, h.LastRestartErr = s.restarts, s.restartErr
	h.Joined, h.CaughtUp = s.joined, s.caughtUp
	return h
}

func (p *Pipeline) commitFailed(err error) {
	s := &p.health
	s.mu.Lock()
	if !s.commitRetrying {
		s.commitRetrying, s.commitSince = true, p.cfg.now()
	}
	s.commitErr = err
	s.mu.Unlock()
	p.cfg.metrics.CommitRetrying.Set(1)
}

func (p *Pipeline) commitRecovered(attempts int) {
	s := &p.health
	s.mu.Lock()
	was, since := s.commitRetrying, s.commitSince
	s.commitRetrying, s.commitErr = false, nil
	s.mu.Unlock()
	if was {
		p.cfg.metrics.CommitRetrying.Set(0)
		p.cfg.log.Info("commit recovered", "attempts", attempts, "after", p.cfg.now().Sub(since).Round(time.Millisecond))
	}
}

func (p *Pipeline) setJoined() {
	p.health.mu.Lock()
	p.health.joined = true
	p.health.mu.Unlock()
}

func (p *Pipeline) setCaughtUp(v bool) {
	p.health.mu.Lock()
	p.health.caughtUp = v
	p.health.mu.Unlock()
}

// Restart backoff: a restart reloads every owned partition from the
// warehouse, so it should not spin.
const (
	minRestartBackoff = time.Second
	maxRestartBackoff = 30 * time.Second
)

// restartable reports whether a failure of one run is worth a restart from
// the stored checkpoints: a fenced commit (the partition moved to another
// consumer while a batch was in flight) or a transient fault.
func restartable(err error) bool { return event.IsFenced(err) || event.IsTransient(err) }

func (p *Pipeline) restarting(err error) {
	s := &p.health
	s.mu.Lock()
	s.restarts++
	s.restartErr = err
	s.joined, s.caughtUp = false, false
	s.mu.Unlock()
	p.cfg.metrics.Restarts.Inc()
}

// reset drops the state of a failed run: partitions, the batch being built,
// the failure. The next run reloads what it owns from the stored
// checkpoints.
func (p *Pipeline) reset() {
	p.mu.Lock()
	p.parts = make(map[int32]*partition)
	p.touched = make(map[int32]bool)
	p.pending = p.newBatch(time.Time{})
	p.closing = false
	p.pollCancel = nil
	p.setOwned()
	p.mu.Unlock()
	p.fatalMu.Lock()
	p.fatal = nil
	p.fatalMu.Unlock()
}
