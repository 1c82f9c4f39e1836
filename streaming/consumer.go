package streaming

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Group protocols (WithGroupProtocol).
const (
	// GroupProtocolConsumer is the KIP-848 "consumer" protocol: the group
	// coordinator assigns partitions and fences a member that stops
	// heartbeating; a member joins without waiting for the others. The
	// client falls back to the classic protocol by itself when the broker
	// does not offer it (Kafka before 4.0).
	GroupProtocolConsumer = "consumer"
	// GroupProtocolClassic is the JoinGroup/SyncGroup protocol with
	// client-side assignment.
	GroupProtocolClassic = "classic"
	// DefaultGroupProtocol is the consumer protocol: the embedded broker's
	// classic coordinator (kfake, groups.go as of v0.0.0-20260918054303)
	// can keep a crashed member's partitions away from a restarted
	// consumer indefinitely (issue 13). A member killed while waiting in
	// JoinGroup stays in the group, and whether its session timer starts
	// depends on a random select between its closed connection and a
	// send buffer (reply, client_conn.go); completeRebalance never sets
	// foundLeader, so a dead member can become the leader and hold the
	// live one in SyncGroup; once the group is Stable, dead members
	// without timers keep their partitions for good, while the live
	// member's own session expires in JoinGroup and its request is
	// dropped unanswered. Upstream would need to: set foundLeader when a
	// leader is chosen; start the session timer of every member whose
	// join completes, delivered or not (Kafka's
	// completeAndScheduleNextHeartbeatExpiration); not expire a member
	// waiting in JoinGroup or SyncGroup (Kafka's shouldKeepAlive), and
	// answer a removed member's pending request with an error.
	DefaultGroupProtocol = GroupProtocolConsumer
)

// WithGroupProtocol selects the consumer group protocol,
// GroupProtocolConsumer (the default) or GroupProtocolClassic.
func WithGroupProtocol(protocol string) Option {
	return func(c *config) { c.groupProtocol = protocol }
}

// Kinds of consumer errors (the kind label of cartwheel_consumer_errors_total).
const (
	ErrorKindGroup       = "group"       // the group session was lost or could not be joined
	ErrorKindCoordinator = "coordinator" // the group coordinator moved or is not available
	ErrorKindConnection  = "connection"  // a broker connection failed or timed out
	ErrorKindBroker      = "broker"      // another retriable broker error
)

// ConsumerHealth is the state of the pipeline's Kafka consumer: Retrying
// while a group, coordinator or connection error is being retried, from
// the first error until the consumer gets partitions or records again.
type ConsumerHealth struct {
	Retrying bool
	Kind     string    // of the last error
	Err      error     // the last error
	Since    time.Time // first error of the current retry spell
	Attempts int       // errors in the current retry spell
	// Errors counts every retried error since the start.
	Errors int64
	// Partitions is the number of partitions this consumer owns.
	Partitions int
}

// consumerState tracks ConsumerHealth and the retry backoff.
type consumerState struct {
	mu      sync.Mutex
	health  ConsumerHealth
	backoff time.Duration
}

const (
	minConsumeBackoff = 100 * time.Millisecond
	maxConsumeBackoff = 5 * time.Second
)

// ConsumerHealth reports whether the consumer is retrying errors, and how
// many partitions it owns.
func (p *Pipeline) ConsumerHealth() ConsumerHealth {
	p.consumer.mu.Lock()
	defer p.consumer.mu.Unlock()
	return p.consumer.health
}

// consumeErrorKind classifies an error a poll returned: retry says whether
// the pipeline retries it (a transient group, coordinator or connection
// fault) or stops (an offset outside the log, lost data, a corrupt batch, a
// permanent broker error).
func consumeErrorKind(err error) (kind string, retry bool) {
	var session *kgo.ErrGroupSession
	var dataLoss *kgo.ErrDataLoss
	var netErr net.Error
	switch {
	case errors.As(err, &session):
		// kgo has already left the partitions (OnPartitionsLost) and
		// rejoins by itself, with its own backoff.
		return ErrorKindGroup, true
	case errors.Is(err, kerr.OffsetOutOfRange), errors.As(err, &dataLoss):
		// Offsets live in the warehouse: one outside the log is a broker
		// reset or lost data, never retried.
		return "fetch", false
	case errors.Is(err, kerr.NotCoordinator), errors.Is(err, kerr.CoordinatorNotAvailable),
		errors.Is(err, kerr.CoordinatorLoadInProgress):
		return ErrorKindCoordinator, true
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), kgo.IsRetryableBrokerErr(err):
		return ErrorKindConnection, true
	case kerr.IsRetriable(err):
		return ErrorKindBroker, true
	}
	return "fetch", false
}

// consumerFailed records a retried consumer error and returns how long to
// wait before the next poll.
func (p *Pipeline) consumerFailed(kind string, err error) (attempt int, backoff time.Duration) {
	s := &p.consumer
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.health
	if !h.Retrying {
		h.Retrying, h.Since, h.Attempts = true, p.cfg.now(), 0
		s.backoff = minConsumeBackoff
	} else {
		s.backoff = min(s.backoff*2, maxConsumeBackoff)
	}
	h.Kind, h.Err = kind, err
	h.Attempts++
	h.Errors++
	p.cfg.metrics.ConsumerErrors.WithLabelValues(kind).Inc()
	p.cfg.metrics.ConsumerRetrying.Set(1)
	return h.Attempts, s.backoff
}

// consumerProgress ends a retry spell: the consumer got partitions
// (assigned) or records, or, after an error that was not the group's, a
// poll came back clean.
func (p *Pipeline) consumerProgress(assigned, records bool) {
	s := &p.consumer
	s.mu.Lock()
	h := &s.health
	if !h.Retrying || (h.Kind == ErrorKindGroup && !assigned && !records) {
		s.mu.Unlock()
		return
	}
	kind, attempts, since := h.Kind, h.Attempts, h.Since
	h.Retrying, h.Attempts, h.Since = false, 0, time.Time{}
	s.mu.Unlock()
	p.cfg.metrics.ConsumerRetrying.Set(0)
	p.cfg.log.Info("consumer recovered", "kind", kind, "errors", attempts, "after", p.cfg.now().Sub(since).Round(time.Millisecond))
}

// setOwned records the number of partitions owned; p.mu is held.
func (p *Pipeline) setOwned() {
	n := len(p.parts)
	p.consumer.mu.Lock()
	p.consumer.health.Partitions = n
	p.consumer.mu.Unlock()
	p.cfg.metrics.ConsumerPartitions.Set(float64(n))
}

// dropPending removes from the batch being built the records of partitions
// that were lost without a commit: their checkpoints are no longer cut, so
// committing their events would write them twice once the partition is
// read again from its stored checkpoint. p.mu is held.
func (p *Pipeline) dropPending(ids []int32) {
	b := p.pending
	if len(ids) == 0 || b.records == 0 {
		return
	}
	gone := make(map[int32]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	n := len(b.Events) + len(b.Rejected)
	events := b.Events[:0]
	for _, e := range b.Events {
		if !gone[e.Partition] {
			events = append(events, e)
		}
	}
	clear(b.Events[len(events):])
	b.Events = events
	rejected := b.Rejected[:0]
	for _, r := range b.Rejected {
		if !gone[r.Partition] {
			rejected = append(rejected, r)
		}
	}
	clear(b.Rejected[len(rejected):])
	b.Rejected = rejected
	dropped := n - len(b.Events) - len(b.Rejected)
	if dropped == 0 {
		return
	}
	// produced holds a timestamp per record, not per partition: keep as
	// many as records remain (it only feeds the freshness histogram).
	b.records -= dropped
	b.produced = b.produced[:min(len(b.produced), b.records)]
	p.cfg.log.Warn("dropped uncommitted records of lost partitions", "partitions", ids, "records", dropped)
}
