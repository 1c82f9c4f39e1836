package streaming

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Metrics are the pipeline's Prometheus instruments.
type Metrics struct {
	Records       prometheus.Counter
	Accepted      prometheus.Counter
	Late          prometheus.Counter
	Rejected      *prometheus.CounterVec
	Sessions      prometheus.Counter
	Batches       prometheus.Counter
	CommitErrors  prometheus.Counter
	CommitSeconds prometheus.Histogram
	Freshness     prometheus.Histogram
	OpenSessions  prometheus.Gauge
	Watermark     *prometheus.GaugeVec
	LastCommit    prometheus.Gauge

	// ConsumerErrors counts retried consumer errors by kind (group,
	// coordinator, connection, broker); ConsumerRetrying is 1 while they
	// are being retried; ConsumerPartitions is the partitions owned.
	ConsumerErrors     *prometheus.CounterVec
	ConsumerRetrying   prometheus.Gauge
	ConsumerPartitions prometheus.Gauge
	// CommitRetrying is 1 while a commit is being retried (the warehouse
	// is unreachable or full); Restarts counts restarts of the pipeline
	// from the stored checkpoints (a fenced commit, a transient failure
	// outside a commit).
	CommitRetrying prometheus.Gauge
	Restarts       prometheus.Counter
}

// NewMetrics creates the instruments and registers them with reg (when not
// nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records:  prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_records_total", Help: "Records read from the events topic."}),
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_events_accepted_total", Help: "Events committed to the events table."}),
		Late:     prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_events_late_total", Help: "Accepted events that arrived behind the watermark."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cartwheel_events_rejected_total", Help: "Records committed to rejected_events, by reason."}, []string{"reason"}),
		Sessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_sessions_closed_total", Help: "Sessions closed and committed."}),
		Batches:  prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_batches_committed_total", Help: "Micro-batches committed."}),
		CommitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_commit_errors_total",
			Help: "Failed commit attempts (retried when transient)."}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cartwheel_commit_seconds",
			Help: "Duration of a batch commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		Freshness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cartwheel_freshness_seconds",
			Help: "Time from a record's produce timestamp to its commit (visible to queries).", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		OpenSessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cartwheel_open_sessions", Help: "Sessions held open in memory."}),
		Watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cartwheel_watermark_seconds",
			Help: "Event-time watermark per partition, Unix seconds."}, []string{"partition"}),
		LastCommit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cartwheel_last_commit_timestamp_seconds", Help: "Wall time of the last commit."}),
		ConsumerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cartwheel_consumer_errors_total",
			Help: "Consumer errors retried, by kind (group, coordinator, connection, broker)."}, []string{"kind"}),
		ConsumerRetrying: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cartwheel_consumer_retrying",
			Help: "1 while the consumer retries a group, coordinator or connection error."}),
		ConsumerPartitions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cartwheel_consumer_partitions",
			Help: "Partitions of the events topic this consumer owns."}),
		CommitRetrying: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cartwheel_commit_retrying",
			Help: "1 while a batch commit is being retried."}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "cartwheel_pipeline_restarts_total",
			Help: "Restarts of the pipeline from the stored checkpoints after a fenced commit or a transient failure."}),
	}
	for _, k := range []string{ErrorKindGroup, ErrorKindCoordinator, ErrorKindConnection, ErrorKindBroker} {
		m.ConsumerErrors.WithLabelValues(k)
	}
	for _, r := range event.Reasons() {
		m.Rejected.WithLabelValues(r.String())
	}
	if reg != nil {
		reg.MustRegister(m.Records, m.Accepted, m.Late, m.Rejected, m.Sessions, m.Batches, m.CommitErrors,
			m.CommitSeconds, m.Freshness, m.OpenSessions, m.Watermark, m.LastCommit,
			m.ConsumerErrors, m.ConsumerRetrying, m.ConsumerPartitions, m.CommitRetrying, m.Restarts)
	}
	return m
}
