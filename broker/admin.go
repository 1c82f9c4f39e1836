package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adminTimeoutMillis bounds the broker-side work of a create-topics or
// delete-records request (kadm's default is 15 s).
const adminTimeoutMillis = 30_000

func newAdmin(cl *kgo.Client) *kadm.Client {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(adminTimeoutMillis)
	return adm
}

// EnsureTopics creates the topics on a cluster (embedded or external) when
// they are missing; an existing topic is left as it is.
func EnsureTopics(ctx context.Context, brokers []string, topics []Topic, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := newAdmin(cl)
	for _, t := range topics {
		// Replication factor -1: the cluster's default.
		_, err := adm.CreateTopic(ctx, t.Partitions, -1, nil, t.Name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	return nil
}

// alterTopicConfigs sets configs on topics (IncrementalAlterConfigs SET;
// the topics' other configs are left as they are).
func alterTopicConfigs(ctx context.Context, opts []kgo.Opt, topics []string, configs map[string]string) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var alter []kadm.AlterConfig
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: kadm.StringPtr(configs[name])})
	}
	resps, err := newAdmin(cl).AlterTopicConfigs(ctx, alter, topics...)
	if err != nil {
		return fmt.Errorf("set the configs of topics %v: %w", topics, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			return fmt.Errorf("set the configs of topic %s: %w", r.Name, r.Err)
		}
	}
	return nil
}

// EndOffsets returns the end offset (the next offset to be written) of each
// partition of topic.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := newAdmin(cl).ListEndOffsets(ctx, topic)
	return offsets(topic, "end", listed, err)
}

// StartOffsets returns the first offset still in the log (older ones were
// removed by retention or DeleteRecords) of each partition of topic.
func StartOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := newAdmin(cl).ListStartOffsets(ctx, topic)
	return offsets(topic, "start", listed, err)
}

// offsets turns kadm's listing of topic into offsets by partition. A
// missing topic is an error (kadm lists it as partition -1 with
// UNKNOWN_TOPIC_OR_PARTITION).
func offsets(topic, which string, listed kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, err)
	}
	ps, ok := listed[topic]
	if !ok {
		return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, kerr.UnknownTopicOrPartition)
	}
	out := make(map[int32]int64, len(ps))
	for _, p := range slices.Sorted(maps.Keys(ps)) {
		o := ps[p]
		if o.Err != nil {
			if p < 0 {
				return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, o.Err)
			}
			return nil, fmt.Errorf("list %s offsets of %s/%d: %w", which, topic, p, o.Err)
		}
		out[p] = o.Offset
	}
	return out, nil
}

// DeleteRecords deletes, in each listed partition of topic, the records
// before the given offset (Kafka's DeleteRecords: the log start moves up,
// and whole segments below it are dropped).
func DeleteRecords(ctx context.Context, cl *kgo.Client, topic string, before map[int32]int64) error {
	var os kadm.Offsets
	for p, off := range before {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: off, LeaderEpoch: -1})
	}
	resps, err := newAdmin(cl).DeleteRecords(ctx, os)
	if err != nil {
		return fmt.Errorf("delete records of %s: %w", topic, err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			return fmt.Errorf("delete records of %s/%d: %w", topic, r.Partition, r.Err)
		}
	}
	return nil
}
