package streaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Pipeline consumes the events topic in a consumer group and commits
// micro-batches to a Store exactly once.
type Pipeline struct {
	cfg    config
	store  Store
	stream int32

	// mu guards the partition state; the polling goroutine holds it while it
	// processes records, the rebalance callbacks while they change the
	// assignment.
	mu      sync.Mutex
	parts   map[int32]*partition
	touched map[int32]bool
	pending *pendingBatch
	dec     *event.Decoder
	closing bool
	commits chan *pendingBatch
	free    chan *pendingBatch // committed batches, for reuse
	// lastEvents and lastRecords size a new batch like the last one cut.
	lastEvents, lastRecords int
	inflight                sync.WaitGroup

	pollCancel context.CancelFunc // interrupts the current poll

	fatalMu sync.Mutex
	fatal   error
	cancel  context.CancelCauseFunc

	statsMu sync.Mutex
	stats   Stats

	consumer consumerState
	health   healthState
}

// Stats are running totals of a pipeline, as committed.
type Stats struct {
	Records, Accepted, Late, Rejected, Sessions, Batches int64
	LastCommit                                           time.Time
}

// pendingBatch is a batch being built or committed, with the produce
// timestamps of its records for the freshness figure.
type pendingBatch struct {
	event.Batch
	first    time.Time
	produced []int64 // µs
	records  int
}

// New returns a pipeline that commits to store.
func New(store Store, opts ...Option) (*Pipeline, error) {
	c := config{
		topic: DefaultTopic, dlq: DefaultDLQTopic, group: DefaultGroup, groupProtocol: DefaultGroupProtocol,
		gap: DefaultGap, lateness: DefaultLateness, idleTimeout: DefaultIdleTimeout,
		batchSize: DefaultBatchSize, batchDelay: DefaultBatchDelay,
		now: time.Now, log: slog.Default(),
	}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case len(c.brokers) == 0:
		return nil, errors.New("streaming: no brokers")
	case c.gap <= 0 || c.lateness < 0:
		return nil, fmt.Errorf("streaming: session gap %v and lateness %v must be positive", c.gap, c.lateness)
	case c.batchSize <= 0 || c.batchDelay <= 0:
		return nil, errors.New("streaming: batch size and delay must be positive")
	case c.groupProtocol != GroupProtocolConsumer && c.groupProtocol != GroupProtocolClassic:
		return nil, fmt.Errorf("streaming: group protocol %q: want %q or %q", c.groupProtocol, GroupProtocolConsumer, GroupProtocolClassic)
	}
	if c.stream == "" {
		c.stream = LiveStream(c.topic, c.group)
	}
	if c.metrics == nil {
		c.metrics = NewMetrics(nil)
	}
	p := &Pipeline{
		cfg: c, store: store,
		parts: make(map[int32]*partition), touched: make(map[int32]bool),
		dec: event.NewDecoder(),
	}
	p.pending = p.newBatch(time.Time{})
	return p, nil
}

// Stats returns the totals committed so far.
func (p *Pipeline) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

// newBatch returns an empty batch, reusing a committed one when there is
// one: a full batch is tens of megabytes of events, and growing a fresh one
// each time costs more than filling it.
//
// A batch's slices are sized ahead, a quarter over the last batch cut (the
// first for a full batch): growing a slice of 200,000 events by append
// copies it several times over and touches fresh memory each time.
func (p *Pipeline) newBatch(now time.Time) *pendingBatch {
	events, records := p.lastEvents+p.lastEvents/4, p.lastRecords+p.lastRecords/4
	if records == 0 {
		events, records = min(p.cfg.batchSize, maxPresized), min(p.cfg.batchSize, maxPresized)
	}
	var b *pendingBatch
	select {
	case b = <-p.free:
	default:
		b = &pendingBatch{}
	}
	b.first = now
	if cap(b.Events) < events-events/8 {
		b.Events = make([]event.Event, 0, events)
	}
	if cap(b.produced) < records-records/8 {
		b.produced = make([]int64, 0, records)
	}
	return b
}

// maxPresized bounds the records a first batch is sized for (about 50 MB of
// events); a larger batch grows as it fills.
const maxPresized = 1 << 18

// recycle empties a committed batch (dropping its references to record
// values) and keeps it for newBatch.
func (p *Pipeline) recycle(b *pendingBatch) {
	clear(b.Events)
	clear(b.Rejected)
	clear(b.Sessions)
	*b = pendingBatch{Batch: event.Batch{
		Events: b.Events[:0], Rejected: b.Rejected[:0], Sessions: b.Sessions[:0], Checkpoints: b.Checkpoints[:0],
	}, produced: b.produced[:0]}
	select {
	case p.free <- b:
	default:
	}
}

func (p *Pipeline) setFatal(err error) {
	p.fatalMu.Lock()
	if p.fatal == nil {
		p.fatal = err
		p.cfg.log.Error("pipeline stopping", "err", err)
	}
	p.fatalMu.Unlock()
	if p.cancel != nil {
		p.cancel(err)
	}
}

func (p *Pipeline) fatalErr() error {
	p.fatalMu.Lock()
	defer p.fatalMu.Unlock()
	return p.fatal
}

// OpenSessions returns the number of sessions held open, and the bytes of
// heap they are estimated to take is measured by the benchmarks.
func (p *Pipeline) OpenSessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, part := range p.parts {
		n += part.sessions.open
	}
	return n
}
