// Package broker runs Cartwheel's embedded Kafka broker (franz-go's kfake)
// and prepares the topics on it or on an external cluster.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults for the embedded broker.
const (
	DefaultPartitions     = 8
	DefaultRetentionBytes = 512 << 20 // per partition
	DefaultRetention      = 7 * 24 * time.Hour
	segmentBytes          = 16 << 20
	retentionInterval     = time.Minute
)

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
		retentionBytes: DefaultRetentionBytes, retention: DefaultRetention, segmentBytes: segmentBytes, log: slog.Default(),
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
	b := &Broker{cfg: c}
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(DefaultPartitions)}
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

// alterTopicConfigs sets configs on topics (IncrementalAlterConfigs SET;
// the topics' other configs are left as they are).
func alterTopicConfigs(ctx context.Context, opts []kgo.Opt, topics []string, configs map[string]string) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	names := slices.Sorted(maps.Keys(configs))
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, t := range topics {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeTopic
		r.ResourceName = t
		for _, name := range names {
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Name = name
			rc.Op = kmsg.IncrementalAlterConfigOpSet
			rc.Value = kmsg.StringPtr(configs[name])
			r.Configs = append(r.Configs, rc)
		}
		req.Resources = append(req.Resources, r)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("set the configs of topics %v: %w", topics, err)
	}
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("set the configs of topic %s: %w", r.ResourceName, err)
		}
	}
	return nil
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

// EnsureTopics creates the topics on a cluster (embedded or external) when
// they are missing.
func EnsureTopics(ctx context.Context, brokers []string, topics []Topic, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, t := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.Name
		rt.NumPartitions = t.Partitions
		rt.ReplicationFactor = -1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, err)
		}
	}
	return nil
}

// EndOffsets returns the end offset (the next offset to be written) of each
// partition of topic.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var parts []int32
	for _, t := range mresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.Partition)
		}
	}
	return listOffsets(ctx, cl, topic, parts, -1)
}

// DeleteRecords deletes, in each listed partition of topic, the records
// before the given offset (Kafka's DeleteRecords: the log start moves up,
// and whole segments below it are dropped).
func DeleteRecords(ctx context.Context, cl *kgo.Client, topic string, before map[int32]int64) error {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 30_000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for _, p := range slices.Sorted(maps.Keys(before)) {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition = p
		rp.Offset = before[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("delete records: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("delete records of %s/%d: %w", topic, p.Partition, err)
			}
		}
	}
	return nil
}

// StartOffsets returns the first offset still in the log (older ones were
// removed by retention) of each of the partitions of topic.
func StartOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions []int32) (map[int32]int64, error) {
	return listOffsets(ctx, cl, topic, partitions, -2)
}

// listOffsets asks for the offsets of partitions at timestamp: -1 latest,
// -2 earliest.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions []int32, timestamp int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = timestamp
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := make(map[int32]int64)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, p.Partition, err)
			}
			out[p.Partition] = p.Offset
		}
	}
	return out, nil
}
