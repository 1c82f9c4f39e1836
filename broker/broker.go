// Package broker runs Cartwheel's embedded Kafka broker (franz-go's kfake)
// and administers topics on it or on an external cluster through kadm:
// creating them, listing and deleting their offsets, reading their tail.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults for the embedded broker.
const (
	DefaultPartitions     = 8
	DefaultRetentionBytes = 512 << 20 // per partition
	DefaultRetention      = 7 * 24 * time.Hour
	segmentBytes          = 16 << 20
	retentionInterval     = time.Minute
	// DefaultSessionTimeout is the KIP-848 group session timeout: how long
	// the coordinator keeps a member that stopped heartbeating — a crashed
	// consumer — and its partitions. A restarted consumer is a new member
	// and waits that long for the partitions its dead predecessor held.
	// Kafka's 45 s is made for networks and multi-second pauses; the
	// embedded broker serves loopback clients, so 10 s (heartbeats every
	// 2 s: four can be missed) keeps crash recovery short without fencing
	// a consumer that is merely busy.
	DefaultSessionTimeout = 10 * time.Second
)

// minSessionTimeout bounds WithSessionTimeout from below: a heartbeat
// every 100ms is already a busy loop for the coordinator and the client.
const minSessionTimeout = 500 * time.Millisecond

// Topic is a topic to create.
type Topic struct {
	Name       string
	Partitions int32
}

type config struct {
	dataDir        string
	listen         string
	topics         []Topic
	retentionBytes int64
	retention      time.Duration
	syncWrites     bool
	inMemory       bool
	segmentBytes   int
	sessionTimeout time.Duration
	log            *slog.Logger
}

// Option configures an embedded broker.
type Option func(*config)

// WithDataDir persists the log under dir (kfake's DataDir), so a restart
// continues where it stopped. Without it the log lives on the heap.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithListen sets the listen address (default 127.0.0.1 on a free port).
func WithListen(addr string) Option { return func(c *config) { c.listen = addr } }

// WithTopics sets the topics to create at start.
func WithTopics(t ...Topic) Option { return func(c *config) { c.topics = t } }

// WithRetention bounds each partition's log by bytes and age; both must be
// positive (Start refuses anything else: to kfake a retention.bytes of 0
// deletes every record). The bounds are set on the topics Start creates and
// on those it finds in the data dir, so a restart with other values applies
// them.
func WithRetention(bytes int64, age time.Duration) Option {
	return func(c *config) { c.retentionBytes, c.retention = bytes, age }
}

// WithSyncWrites fsyncs every produced batch: acknowledged records then
// survive an OS crash, not only a process crash.
func WithSyncWrites() Option { return func(c *config) { c.syncWrites = true } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithSegmentBytes sets the size at which a partition's log rolls to a new
// segment (default 16 MiB). Retention and deletion drop whole segments, and
// a heap-held log (no data dir) grows each segment by doubling, so small
// segments keep a short-lived log's memory close to its content.
func WithSegmentBytes(n int) Option { return func(c *config) { c.segmentBytes = n } }

// WithSessionTimeout sets the session timeout of KIP-848 consumer groups
// (group.consumer.session.timeout.ms, default DefaultSessionTimeout) and
// their heartbeat interval to a fifth of it: the coordinator sends the
// interval in every heartbeat response, and the client heartbeats at that
// pace. Start refuses a timeout under 500ms.
//
// Classic groups are not affected: there each client chooses its session
// timeout (franz-go: 45 s), and a static member (instance id) that
// restarts replaces its old self at once.
func WithSessionTimeout(d time.Duration) Option { return func(c *config) { c.sessionTimeout = d } }

// WithInProcessClients serves the broker to clients in this process only,
// over in-memory connections instead of TCP: they connect with
// ClientOptions, and nothing else can reach the broker (replay's broker is
// private to it). Each request and response is copied once, writer to
// reader, with no system calls; in a replay that saved little next to
// loopback TCP, within the noise of the measurement.
func WithInProcessClients() Option { return func(c *config) { c.inMemory = true } }

// Broker is a running embedded broker.
type Broker struct {
	cfg       config
	cluster   *kfake.Cluster
	mem       *memListener // with WithInProcessClients
	addrs     []string
	lock      *flock.Flock
	closeOnce sync.Once
}

// Start starts the embedded broker and creates its topics.
func Start(opts ...Option) (*Broker, error) {
	c := config{
		retentionBytes: DefaultRetentionBytes, retention: DefaultRetention, segmentBytes: segmentBytes,
		sessionTimeout: DefaultSessionTimeout, log: slog.Default(),
	}
	for _, o := range opts {
		o(&c)
	}
	if c.retentionBytes <= 0 {
		return nil, fmt.Errorf("broker: retention bytes must be positive, got %d", c.retentionBytes)
	}
	if c.retention < time.Millisecond {
		return nil, fmt.Errorf("broker: retention must be at least 1ms, got %v", c.retention)
	}
	if c.sessionTimeout < minSessionTimeout {
		return nil, fmt.Errorf("broker: session timeout must be at least %v, got %v", minSessionTimeout, c.sessionTimeout)
	}
	b := &Broker{cfg: c}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1), kfake.DefaultNumPartitions(DefaultPartitions),
		// Options win over configs persisted in the data dir, so a
		// restart applies a changed timeout.
		kfake.BrokerConfigs(map[string]string{
			"group.consumer.session.timeout.ms":    strconv.FormatInt(c.sessionTimeout.Milliseconds(), 10),
			"group.consumer.heartbeat.interval.ms": strconv.FormatInt((c.sessionTimeout / 5).Milliseconds(), 10),
		}),
	}
	switch {
	case c.inMemory:
		b.mem = newMemListener()
		kopts = append(kopts, kfake.ListenFn(func(string, string) (net.Listener, error) { return b.mem, nil }))
	case c.listen != "":
		addr := c.listen
		kopts = append(kopts, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, addr)
		}))
	}
	if c.dataDir != "" {
		if err := os.MkdirAll(c.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("broker data dir: %w", err)
		}
		// kfake does not stop two processes from sharing a data dir, which
		// corrupts it.
		b.lock = flock.New(filepath.Join(c.dataDir, ".lock"))
		ok, err := b.lock.TryLock()
		if err != nil {
			return nil, fmt.Errorf("lock broker data dir: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("broker data dir %s is in use by another process", c.dataDir)
		}
		kopts = append(kopts, kfake.DataDir(c.dataDir))
		if c.syncWrites {
			kopts = append(kopts, kfake.SyncWrites())
		}
	}
	cl, err := kfake.NewCluster(kopts...)
	if err != nil {
		b.unlock()
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	b.cluster = cl
	b.addrs = cl.ListenAddrs() // kfake blocks on it after Close
	configs := map[string]string{
		"retention.bytes": strconv.FormatInt(c.retentionBytes, 10),
		"retention.ms":    strconv.FormatInt(c.retention.Milliseconds(), 10),
		"segment.bytes":   strconv.Itoa(c.segmentBytes),
	}
	var existing []string
	for _, t := range c.topics {
		// SeedTopics is ignored when the data dir has data: create each
		// topic and accept that it exists.
		err := cl.CreateTopic(t.Name, t.Partitions, configs)
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			if !slices.Contains(existing, t.Name) {
				existing = append(existing, t.Name)
			}
		case err != nil:
			b.Close()
			return nil, fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	// A topic restored from the data dir keeps the configs it was created
	// with: set the configured ones (kfake persists the change).
	if len(existing) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := alterTopicConfigs(ctx, b.ClientOptions(), existing, configs)
		cancel()
		if err != nil {
			b.Close()
			return nil, err
		}
		c.log.Debug("broker: configs of existing topics set", "topics", existing, "retention_bytes", c.retentionBytes, "retention", c.retention)
	}
	return b, nil
}

// Addrs returns the broker's listen addresses. A broker started with
// WithInProcessClients has none that a client can dial: use ClientOptions.
func (b *Broker) Addrs() []string { return slices.Clone(b.addrs) }

// ClientOptions are the franz-go options that connect a client to this
// broker: its seed address and, with WithInProcessClients, the in-memory
// dialer.
func (b *Broker) ClientOptions() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(b.Addrs()...)}
	if b.mem != nil {
		opts = append(opts, kgo.Dialer(b.mem.dial))
	}
	return opts
}

// Run applies retention periodically until ctx is done: kfake's own
// retention timer does not restart after a reload from the data dir.
func (b *Broker) Run(ctx context.Context) error {
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			b.cluster.ApplyRetention()
		}
	}
}

// Close stops the broker, flushing its data dir; it is idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.cluster != nil {
			b.cluster.Close()
		}
		b.unlock()
	})
	return nil
}

func (b *Broker) unlock() {
	if b.lock != nil {
		b.lock.Unlock()
	}
}
