package streaming

import (
	"log/slog"
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

	// groupProtocol is GroupProtocolConsumer or GroupProtocolClassic.
	groupProtocol string
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
// stored (default LiveStream(topic, group)).
func WithStream(name string) Option { return func(c *config) { c.stream = name } }

// LiveStream is the name of the input stream of a consumer group reading a
// topic: "kafka:" + topic + "/" + group. Offsets and state are stored under
// it, so queries about the live pipeline select it by this name.
func LiveStream(topic, group string) string { return "kafka:" + topic + "/" + group }

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
