package streaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of spec §2 and of the micro-batching.
const (
	DefaultGap         = 30 * time.Minute
	DefaultLateness    = 10 * time.Minute
	DefaultIdleTimeout = 30 * time.Second
	DefaultTopic       = "events"
	DefaultDLQTopic    = "events.dlq"
	DefaultGroup       = "cartwheel"
	DefaultBatchSize   = 100_000
	DefaultBatchDelay  = 50 * time.Millisecond
)

type config struct {
	brokers     []string
	topic, dlq  string
	group       string
	stream      string
	gap         time.Duration
	lateness    time.Duration
	idleTimeout time.Duration
	live        bool
	batchSize   int
	batchDelay  time.Duration
	stopAt      map[int32]int64
	now         func() time.Time
	log         *slog.Logger
	metrics     *Metrics
	kopts       []kgo.Opt
	observe     func(producedAt []int64, committedAt time.Time)
	onOffsets   func(next map[int32]int64)
}

// Option configures a Pipeline.
type Option func(*config)

// WithBrokers sets the Kafka seed brokers (required).
func WithBrokers(addrs ...string) Option { return func(c *config) { c.brokers = addrs } }

// WithTopics sets the input topic and the dead-letter topic.
func WithTopics(topic, dlq string) Option { return func(c *config) { c.topic, c.dlq = topic, dlq } }

// WithGroup sets the consumer group.
func WithGroup(group string) Option { return func(c *config) { c.group = group } }

// WithStream names the input stream under which offsets and state are
// stored (default "kafka:" + topic + "/" + group).
func WithStream(name string) Option { return func(c *config) { c.stream = name } }

// WithWindows sets the session gap and the allowed lateness.
func WithWindows(gap, lateness time.Duration) Option {
	return func(c *config) { c.gap, c.lateness = gap, lateness }
}

// WithLive turns on live mode: a partition idle for idleTimeout advances
// its watermark with the wall clock.
func WithLive(idleTimeout time.Duration) Option {
	return func(c *config) { c.live, c.idleTimeout = true, idleTimeout }
}

// WithBatch bounds a micro-batch by records and by the time since its first
// record.
func WithBatch(records int, delay time.Duration) Option {
	return func(c *config) { c.batchSize, c.batchDelay = records, delay }
}

// WithStopAt makes Run finish once every listed partition has been read up
// to its end offset (exclusive); it then closes every open session, commits
// and returns. This is how a finite input (replay) ends.
func WithStopAt(end map[int32]int64) Option { return func(c *config) { c.stopAt = end } }

// WithClock sets the wall clock (for tests).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMetrics sets the metrics to update.
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }

// WithCommitObserver calls fn after each commit with the produce timestamps
// (µs) of the batch's records and the commit time: from that moment the
// records are visible to queries. The benchmarks measure freshness with it.
// fn must not keep producedAt: the slice is reused.
func WithCommitObserver(fn func(producedAt []int64, committedAt time.Time)) Option {
	return func(c *config) { c.observe = fn }
}

// WithCommittedOffsets calls fn after each commit with, for each partition
// the commit covered, the next offset to consume: every record before it is
// in the warehouse, so the broker may drop it (replay does, to keep its log
// short). fn runs on the committing goroutine and must not block; it may
// keep next.
func WithCommittedOffsets(fn func(next map[int32]int64)) Option {
	return func(c *config) { c.onOffsets = fn }
}

// WithKafkaOptions adds franz-go client options (TLS, SASL, …).
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.kopts = append(c.kopts, opts...) }
}

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
	dec     *Decoder
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
}

// Stats are running totals of a pipeline, as committed.
type Stats struct {
	Records, Accepted, Late, Rejected, Sessions, Batches int64
	LastCommit                                           time.Time
}

// pendingBatch is a batch being built or committed, with the produce
// timestamps of its records for the freshness figure.
type pendingBatch struct {
	Batch
	first    time.Time
	produced []int64 // µs
	records  int
}

// New returns a pipeline that commits to store.
func New(store Store, opts ...Option) (*Pipeline, error) {
	c := config{
		topic: DefaultTopic, dlq: DefaultDLQTopic, group: DefaultGroup,
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
	}
	if c.stream == "" {
		c.stream = "kafka:" + c.topic + "/" + c.group
	}
	if c.metrics == nil {
		c.metrics = NewMetrics(nil)
	}
	p := &Pipeline{
		cfg: c, store: store,
		parts: make(map[int32]*partition), touched: make(map[int32]bool),
		dec: NewDecoder(),
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

// Run consumes until ctx is done (then commits what it has read and returns
// nil) or, with WithStopAt, until the end of the input. A failure to commit
// or to consume returns an error; what was committed stays consistent.
func (p *Pipeline) Run(ctx context.Context) error {
	id, err := p.store.Stream(ctx, p.cfg.stream)
	if err != nil {
		return fmt.Errorf("register stream %q: %w", p.cfg.stream, err)
	}
	p.stream = id

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel

	opts := append([]kgo.Opt{
		kgo.SeedBrokers(p.cfg.brokers...),
		kgo.ConsumerGroup(p.cfg.group),
		kgo.ConsumeTopics(p.cfg.topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Offsets live in the warehouse; a stored offset outside the log
		// is a broker reset or lost data, and must stop us loudly.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.AdjustFetchOffsetsFn(p.assign),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.lost),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// Fetches of a few MiB: larger ones cost more than they save. The
		// embedded broker builds each response by growing a slice and the
		// client reads it into a fresh buffer, so tens of MiB per fetch
		// meant fresh memory, and page faults, for every fetch.
		kgo.FetchMaxBytes(8 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
		kgo.ProducerLinger(0),
	}, p.cfg.kopts...)
	if os.Getenv("CARTWHEEL_KAFKA_DEBUG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	p.commits = make(chan *pendingBatch, 1)
	p.free = make(chan *pendingBatch, 2)
	commitDone := make(chan struct{})
	// The committer outlives runCtx so that a shutdown still commits what
	// was read; it has its own bound.
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCommits()
	go func() {
		defer close(commitDone)
		p.commitLoop(commitCtx, cl)
	}()

	finish := func(final bool) error {
		p.mu.Lock()
		p.closing = true
		if p.fatalErr() == nil {
			p.cut(final)
		}
		p.mu.Unlock()
		close(p.commits)
		// Give the last commit a bounded time after a shutdown signal.
		timer := time.AfterFunc(30*time.Second, stopCommits)
		<-commitDone
		timer.Stop()
		cl.CloseAllowingRebalance()
		return p.fatalErr()
	}

	for {
		pollCtx, cancelPoll := context.WithTimeout(runCtx, p.pollTimeout())
		p.mu.Lock()
		p.pollCancel = cancelPoll
		p.mu.Unlock()
		fetches := cl.PollRecords(pollCtx, 50_000)
		cancelPoll()
		if err := p.fatalErr(); err != nil {
			cl.AllowRebalance()
			return finish(false)
		}
		if runCtx.Err() != nil {
			cl.AllowRebalance()
			// The caller's cancellation or deadline (cartwheel run
			// --duration) is a normal stop, with a final commit; another
			// cause is a failure.
			if err := context.Cause(runCtx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				p.setFatal(err)
			}
			return finish(false)
		}
		var consumeErr error
		fetches.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			if consumeErr == nil {
				consumeErr = fmt.Errorf("consume %s partition %d: %w", topic, part, err)
			}
		})
		if consumeErr != nil {
			p.setFatal(consumeErr)
			cl.AllowRebalance()
			return finish(false)
		}

		p.mu.Lock()
		now := p.cfg.now()
		fetches.EachPartition(func(ft kgo.FetchTopicPartition) {
			p.process(ft.Partition, ft.Records, now)
		})
		done := p.reachedEnd()
		if done || p.shouldCut(now) {
			p.cut(false)
		}
		p.mu.Unlock()
		cl.AllowRebalance()
		if done {
			return finish(true)
		}
	}
}

func (p *Pipeline) pollTimeout() time.Duration {
	wait := time.Second
	p.mu.Lock()
	if p.pending.records > 0 {
		wait = min(wait, max(time.Until(p.pending.first.Add(p.cfg.batchDelay)), time.Millisecond))
	}
	p.mu.Unlock()
	return wait
}

// process applies the records of one partition.
func (p *Pipeline) process(id int32, recs []*kgo.Record, now time.Time) {
	part := p.parts[id]
	if part == nil || len(recs) == 0 {
		return // not ours (any more)
	}
	nowUS := now.UnixMicro()
	b := p.pending
	if b.records == 0 {
		b.first = now
	}
	for _, r := range recs {
		if r.Offset < part.next {
			continue // already applied
		}
		b.records++
		b.produced = append(b.produced, r.Timestamp.UnixMicro())
		e, err := p.dec.Decode(r.Value, nowUS)
		if err == nil {
			e.Partition, e.Offset = id, r.Offset
			if part.accept(&e) {
				err = reject(Duplicate, "event_id %s was already accepted", quote(e.EventID, 64))
			} else {
				b.Events = append(b.Events, e)
			}
		}
		if err != nil {
			re := err.(*RejectError)
			b.Rejected = append(b.Rejected, Rejected{
				Payload: r.Value, Key: r.Key, Reason: re.Reason, Detail: re.Detail,
				Partition: id, Offset: r.Offset,
			})
		}
		part.seen(r.Offset, nowUS)
	}
	p.touched[id] = true
}

func (p *Pipeline) shouldCut(now time.Time) bool {
	b := p.pending
	if b.records >= p.cfg.batchSize {
		return true
	}
	if b.records > 0 && now.Sub(b.first) >= p.cfg.batchDelay {
		return true
	}
	// Live mode: idle partitions and session closing need no records.
	return p.cfg.live && now.Sub(b.first) >= p.cfg.batchDelay*4
}

// StopAt sets the end offsets of a finite input while Run is going, for
// inputs whose end is known only once they are fully produced.
func (p *Pipeline) StopAt(end map[int32]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.stopAt = end
	if p.pollCancel != nil {
		p.pollCancel()
	}
}

// reachedEnd reports whether a finite input has been read to its end.
func (p *Pipeline) reachedEnd() bool {
	if p.cfg.stopAt == nil {
		return false
	}
	for id, end := range p.cfg.stopAt {
		if end <= 0 {
			continue
		}
		part := p.parts[id]
		if part == nil || part.next < end {
			return false
		}
	}
	return true
}

// cut closes what is ready, checkpoints the changed partitions and hands the
// batch to the committer. It blocks while the committer is busy: that is
// the back-pressure that pauses consumption while the warehouse is slow or
// down.
func (p *Pipeline) cut(final bool) {
	now := p.cfg.now()
	b := p.pending
	ids := slices.Sorted(maps.Keys(p.parts))
	for _, id := range ids {
		part := p.parts[id]
		if p.cfg.live {
			part.idle(now.UnixMicro(), p.cfg.idleTimeout.Microseconds())
		}
		if !final && !p.touched[id] && !part.dirty {
			continue
		}
		if !final && !part.dirty && part.committed == part.next {
			continue
		}
		if final && part.next < 0 {
			continue
		}
		var cp Checkpoint
		b.Sessions, cp = part.checkpoint(b.Sessions, final)
		if cp.NextOffset >= 0 {
			b.Checkpoints = append(b.Checkpoints, cp)
		}
	}
	clear(p.touched)
	p.lastEvents, p.lastRecords = len(b.Events), len(b.produced)
	p.pending = p.newBatch(now)
	if b.records == 0 && len(b.Sessions) == 0 && len(b.Checkpoints) == 0 {
		return
	}
	b.Stream = p.stream
	b.IngestedAt = now.UnixMicro()
	var open int64
	for _, part := range p.parts {
		open += int64(part.sessions.open)
		if wm := part.watermark(); wm != NoTime {
			p.cfg.metrics.Watermark.WithLabelValues(strconv.Itoa(int(part.id))).Set(float64(wm) / 1e6)
		}
	}
	p.cfg.metrics.OpenSessions.Set(float64(open))
	if pr, ok := p.store.(Preparer); ok {
		pr.Prepare(&b.Batch)
	}
	p.inflight.Add(1)
	p.commits <- b
}

// flush commits everything read so far and waits until it is committed.
func (p *Pipeline) flush() {
	p.cut(false)
	p.inflight.Wait()
}

// commitLoop commits batches in order, retrying transient failures with
// exponential backoff; the first permanent failure stops the pipeline.
func (p *Pipeline) commitLoop(ctx context.Context, cl *kgo.Client) {
	for b := range p.commits {
		if p.fatalErr() == nil {
			if err := p.commitWithRetry(ctx, cl, b); err != nil {
				p.setFatal(err)
			}
		}
		p.inflight.Done()
		p.recycle(b)
	}
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
		b.Events = make([]Event, 0, events)
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
	*b = pendingBatch{Batch: Batch{
		Events: b.Events[:0], Rejected: b.Rejected[:0], Sessions: b.Sessions[:0], Checkpoints: b.Checkpoints[:0],
	}, produced: b.produced[:0]}
	select {
	case p.free <- b:
	default:
	}
}

func (p *Pipeline) commitWithRetry(ctx context.Context, cl *kgo.Client, b *pendingBatch) error {
	backoff := 100 * time.Millisecond
	uncertain := false // an earlier attempt may have committed before failing
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := p.commit(ctx, cl, b)
		if err != nil && uncertain && IsFenced(err) && p.landed(ctx, b) {
			err = nil // the connection broke after our COMMIT went through
		}
		if err == nil {
			p.committed(b, time.Since(start))
			return nil
		}
		uncertain = uncertain || IsTransient(err)
		p.cfg.metrics.CommitErrors.Inc()
		if !IsTransient(err) || ctx.Err() != nil {
			return fmt.Errorf("commit batch: %w", err)
		}
		p.cfg.log.Warn("commit failed, retrying", "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("commit batch: %w (gave up: %w)", err, ctx.Err())
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// landed reports whether every checkpoint of b is what the store holds:
// then b was committed by an attempt whose answer was lost.
func (p *Pipeline) landed(ctx context.Context, b *pendingBatch) bool {
	for _, cp := range b.Checkpoints {
		snap, err := p.store.LoadPartition(ctx, b.Stream, cp.Partition)
		if err != nil || snap.Checkpoint == nil || snap.Checkpoint.NextOffset != cp.NextOffset {
			return false
		}
	}
	return len(b.Checkpoints) > 0
}

// commit sends the batch's rejected records to the dead-letter topic
// (at least once: they are acknowledged before the warehouse commit) and
// commits the batch.
func (p *Pipeline) commit(ctx context.Context, cl *kgo.Client, b *pendingBatch) error {
	if len(b.Rejected) > 0 && p.cfg.dlq != "" {
		recs := make([]*kgo.Record, len(b.Rejected))
		for i, r := range b.Rejected {
			recs[i] = &kgo.Record{
				Topic: p.cfg.dlq, Key: r.Key, Value: r.Payload,
				Headers: []kgo.RecordHeader{
					{Key: "reason", Value: []byte(r.Reason.String())},
					{Key: "detail", Value: []byte(r.Detail)},
					{Key: "source", Value: []byte(p.cfg.topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10))},
				},
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return transientError{fmt.Errorf("produce to %s: %w", p.cfg.dlq, err)}
		}
	}
	return p.store.Commit(ctx, &b.Batch)
}

func (p *Pipeline) committed(b *pendingBatch, took time.Duration) {
	m := p.cfg.metrics
	now := time.Now()
	nowUS := now.UnixMicro()
	for _, ts := range b.produced {
		m.Freshness.Observe(float64(nowUS-ts) / 1e6)
	}
	late := 0
	for i := range b.Events {
		if b.Events[i].Late {
			late++
		}
	}
	m.Records.Add(float64(b.records))
	m.Accepted.Add(float64(len(b.Events)))
	m.Late.Add(float64(late))
	for _, r := range b.Rejected {
		m.Rejected.WithLabelValues(r.Reason.String()).Inc()
	}
	m.Sessions.Add(float64(len(b.Sessions)))
	m.Batches.Inc()
	m.CommitSeconds.Observe(took.Seconds())
	m.LastCommit.Set(float64(now.UnixNano()) / 1e9)
	if p.cfg.observe != nil {
		p.cfg.observe(b.produced, now)
	}
	if p.cfg.onOffsets != nil && len(b.Checkpoints) > 0 {
		next := make(map[int32]int64, len(b.Checkpoints))
		for _, cp := range b.Checkpoints {
			next[cp.Partition] = cp.NextOffset
		}
		p.cfg.onOffsets(next)
	}

	p.statsMu.Lock()
	s := &p.stats
	s.Records += int64(b.records)
	s.Accepted += int64(len(b.Events))
	s.Late += int64(late)
	s.Rejected += int64(len(b.Rejected))
	s.Sessions += int64(len(b.Sessions))
	s.Batches++
	s.LastCommit = now
	p.statsMu.Unlock()
	if len(b.Sessions) > 0 || len(b.Rejected) > 0 {
		p.cfg.log.Debug("committed batch", "events", len(b.Events), "rejected", len(b.Rejected),
			"sessions", len(b.Sessions), "took", took)
	}
}

// assign loads the state of newly assigned partitions and points the
// consumer at their committed offsets (kgo calls it after a group join).
func (p *Pipeline) assign(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	parts := offsets[p.cfg.topic]
	ids := slices.Sorted(maps.Keys(parts))
	loaded := make(map[int32]*partition, len(ids))
	for _, id := range ids {
		snap, err := p.store.LoadPartition(ctx, p.stream, id)
		if err != nil {
			err = fmt.Errorf("load partition %d: %w", id, err)
			p.setFatal(err)
			return nil, err
		}
		part := newPartition(id, p.cfg.gap.Microseconds(), p.cfg.lateness.Microseconds())
		part.restore(snap, p.cfg.now().UnixMicro())
		loaded[id] = part
		if part.next >= 0 {
			parts[id] = kgo.NewOffset().At(part.next).WithEpoch(-1)
		} else {
			parts[id] = kgo.NewOffset().AtStart()
		}
		p.cfg.log.Info("partition assigned", "partition", id, "offset", part.next,
			"open_sessions", part.sessions.open, "remembered_ids", part.dedupe.size())
	}
	p.mu.Lock()
	maps.Copy(p.parts, loaded)
	p.mu.Unlock()
	return offsets, nil
}

// revoked commits what was read from the partitions being taken away, then
// forgets them.
func (p *Pipeline) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing && p.fatalErr() == nil {
		p.flush()
	}
	for _, id := range lost[p.cfg.topic] {
		delete(p.parts, id)
	}
}

// lost forgets partitions without committing: another member may own them.
func (p *Pipeline) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range lost[p.cfg.topic] {
		delete(p.parts, id)
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

// transientError marks a failure worth retrying.
type transientError struct{ error }

func (e transientError) Unwrap() error   { return e.error }
func (e transientError) Transient() bool { return true }

// IsTransient reports whether err (or an error it wraps) says it is worth
// retrying, through a Transient() bool method. Stores mark connection loss
// and serialization failures this way.
func IsTransient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}
