package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func start(t *testing.T, opts ...Option) *Broker {
	t.Helper()
	b, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func client(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(b.ClientOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// partitions returns the partition count of each topic on the cluster.
func partitions(t *testing.T, ctx context.Context, cl *kgo.Client) map[string]int {
	t.Helper()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int)
	for name, td := range topics {
		out[name] = len(td.Partitions)
	}
	return out
}

// topicConfigs returns the given configs of a topic.
func topicConfigs(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, names ...string) map[string]string {
	t.Helper()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	out := make(map[string]string)
	for _, c := range rc.Configs {
		if slices.Contains(names, c.Key) && c.Value != nil {
			out[c.Key] = *c.Value
		}
	}
	return out
}

// produce writes values to topic, keyed by keys[i%len(keys)], in one
// synchronous call, with timestamp ts (zero: now).
func produce(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, n int, keys []string, ts time.Time) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(keys[i%len(keys)]), Value: []byte(fmt.Sprintf("v%03d", i)), Timestamp: ts}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// consumeAll reads n records of topic from the start.
func consumeAll(t *testing.T, ctx context.Context, b *Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := client(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s before the deadline", len(got), n, topic)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		got = append(got, fs.Records()...)
	}
	cl.Close()
	return got
}

// logStarts returns the first offset still in the log of each partition.
func logStarts(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) map[int32]int64 {
	t.Helper()
	start, err := StartOffsets(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	return start
}

func sum(m map[int32]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

func TestStartCreatesTopics(t *testing.T) {
	tests := []struct {
		name   string
		topics []Topic
		want   map[string]int
	}{
		{"none", nil, map[string]int{}},
		{"events and dlq", []Topic{{"events", 8}, {"events.dlq", 3}}, map[string]int{"events": 8, "events.dlq": 3}},
		{"one partition", []Topic{{"t", 1}}, map[string]int{"t": 1}},
		{"zero partitions takes the default", []Topic{{"t", 0}}, map[string]int{"t": DefaultPartitions}},
		{"a topic named twice is created once", []Topic{{"t", 2}, {"t", 5}}, map[string]int{"t": 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := start(t, WithTopics(tc.topics...))
			got := partitions(t, ctx, client(t, b))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("topics = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTopicRetentionConfigs(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want map[string]string
	}{
		{"defaults", nil, map[string]string{
			"retention.bytes": strconv.Itoa(DefaultRetentionBytes),
			"retention.ms":    strconv.FormatInt(DefaultRetention.Milliseconds(), 10),
			"segment.bytes":   strconv.Itoa(segmentBytes),
		}},
		{"configured", []Option{WithRetention(1<<20, 90*time.Minute)}, map[string]string{
			"retention.bytes": "1048576",
			"retention.ms":    "5400000",
			"segment.bytes":   strconv.Itoa(segmentBytes),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := start(t, append(tc.opts, WithTopics(Topic{"events", 2}, Topic{"events.dlq", 2}))...)
			cl := client(t, b)
			for _, topic := range []string{"events", "events.dlq"} {
				got := topicConfigs(t, ctx, cl, topic, "retention.bytes", "retention.ms", "segment.bytes")
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("%s configs = %v, want %v", topic, got, tc.want)
				}
			}
		})
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(WithDataDir(dir), WithTopics(Topic{"events", 1}))
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addrs()[0]
	for i := range 3 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d = %v", i+1, err)
		}
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the broker still accepts connections after Close")
	}
	// Close released the data dir.
	b2, err := Start(WithDataDir(dir))
	if err != nil {
		t.Fatalf("start again on the closed broker's data dir: %v", err)
	}
	b2.Close()
}

func TestWithListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// The port is taken: Start fails and leaves nothing behind.
	if b, err := Start(WithListen(addr)); err == nil {
		b.Close()
		t.Fatalf("Start on a port in use succeeded")
	}
	ln.Close()

	b := start(t, WithListen(addr), WithTopics(Topic{"events", 1}))
	if got := b.Addrs(); len(got) != 1 || got[0] != addr {
		t.Fatalf("Addrs = %v, want [%s]", got, addr)
	}
	ctx := testCtx(t)
	if got := partitions(t, ctx, client(t, b)); got["events"] != 1 {
		t.Errorf("topics on %s = %v", addr, got)
	}
}

func TestDefaultListenIsLoopback(t *testing.T) {
	b := start(t)
	host, _, err := net.SplitHostPort(b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("default listen address %s is not loopback", b.Addrs()[0])
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithTopics(Topic{"events", 4}))
	cl := client(t, b)
	keys := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7"}
	const n = 70
	sent := produce(t, ctx, cl, "events", n, keys, time.Time{})

	end, err := EndOffsets(ctx, cl, "events")
	if err != nil {
		t.Fatal(err)
	}
	if len(end) != 4 || sum(end) != n {
		t.Fatalf("EndOffsets = %v, want 4 partitions summing to %d", end, n)
	}
	for _, r := range sent {
		if r.Offset >= end[r.Partition] {
			t.Errorf("record at %d/%d is past the end offset %d", r.Partition, r.Offset, end[r.Partition])
		}
	}

	got := consumeAll(t, ctx, b, "events", n)
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
	partOf := make(map[string]int32)
	lastOf := make(map[string]int)
	values := make(map[string]bool)
	for _, r := range got {
		k := string(r.Key)
		if p, ok := partOf[k]; ok && p != r.Partition {
			t.Errorf("key %s in partitions %d and %d", k, p, r.Partition)
		}
		partOf[k] = r.Partition
		// One key's records stay in produce order.
		i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "v"))
		if last, ok := lastOf[k]; ok && i <= last {
			t.Errorf("key %s: %s after v%03d", k, r.Value, last)
		}
		lastOf[k] = i
		values[string(r.Value)] = true
	}
	if len(values) != n || len(partOf) != len(keys) {
		t.Errorf("got %d distinct values for %d keys, want %d and %d", len(values), len(partOf), n, len(keys))
	}
}

func TestEndOffsets(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithTopics(Topic{"empty", 3}, Topic{"one", 1}))
	cl := client(t, b)
	produce(t, ctx, cl, "one", 5, []string{"k"}, time.Time{})

	tests := []struct {
		topic   string
		want    map[int32]int64
		wantErr bool
	}{
		{"empty", map[int32]int64{0: 0, 1: 0, 2: 0}, false},
		{"one", map[int32]int64{0: 5}, false},
		{"missing", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			got, err := EndOffsets(ctx, cl, tc.topic)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("EndOffsets of a missing topic = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("EndOffsets = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEnsureTopics(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithTopics(Topic{"existing", 2}))
	topics := []Topic{{"existing", 6}, {"a", 3}, {"b", 1}}
	for i := range 2 { // idempotent
		if err := EnsureTopics(ctx, b.Addrs(), topics); err != nil {
			t.Fatalf("EnsureTopics #%d: %v", i+1, err)
		}
	}
	want := map[string]int{"existing": 2, "a": 3, "b": 1} // an existing topic is left alone
	if got := partitions(t, ctx, client(t, b)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topics = %v, want %v", got, want)
	}
}

func TestEnsureTopicsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, []string{addr}, []Topic{{"events", 1}}); err == nil {
		t.Fatal("EnsureTopics against a closed port succeeded")
	}
}

func TestDataDirPersistsRecords(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "kafka") // created by Start
	topics := WithTopics(Topic{"events", 3}, Topic{"events.dlq", 3})

	b, err := Start(WithDataDir(dir), topics)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "events", 30, []string{"a", "b", "c", "d"}, time.Time{})
	before, err := EndOffsets(ctx, cl, "events")
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Restarted on the same dir (the topics exist: creating them again is
	// not an error), every record is still there.
	b2 := start(t, WithDataDir(dir), topics)
	cl2 := client(t, b2)
	after, err := EndOffsets(ctx, cl2, "events")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("end offsets after restart = %v, before = %v", after, before)
	}
	got := consumeAll(t, ctx, b2, "events", 30)
	seen := make(map[string]bool)
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	if len(got) != 30 || len(seen) != 30 {
		t.Errorf("after restart: %d records, %d distinct, want 30", len(got), len(seen))
	}
	// New records continue the offsets.
	produced := produce(t, ctx, cl2, "events", 1, []string{"a"}, time.Time{})
	if r := produced[0]; r.Offset != before[r.Partition] {
		t.Errorf("first record after restart at offset %d of partition %d, want %d", r.Offset, r.Partition, before[r.Partition])
	}
}

func TestWithoutDataDirNothingPersists(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithTopics(Topic{"events", 1}))
	cl := client(t, b)
	produce(t, ctx, cl, "events", 3, []string{"k"}, time.Time{})
	cl.Close()
	b.Close()
	b2 := start(t, WithTopics(Topic{"events", 1}))
	end, err := EndOffsets(ctx, client(t, b2), "events")
	if err != nil {
		t.Fatal(err)
	}
	if end[0] != 0 {
		t.Errorf("an in-memory broker kept %d records over a restart", end[0])
	}
}

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	b := start(t, WithDataDir(dir), WithTopics(Topic{"events", 1}))

	tests := []struct {
		name string
		dir  string
	}{
		{"same path", dir},
		{"same dir through another path", filepath.Join(dir, "..", filepath.Base(dir))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b2, err := Start(WithDataDir(tc.dir), WithTopics(Topic{"events", 1}))
			if err == nil {
				b2.Close()
				t.Fatal("a second broker started on a data dir in use")
			}
			if !strings.Contains(err.Error(), "in use") {
				t.Errorf("error = %v, want one saying the dir is in use", err)
			}
		})
	}
	// The refused start did not disturb the running broker.
	ctx := testCtx(t)
	cl := client(t, b)
	produce(t, ctx, cl, "events", 1, []string{"k"}, time.Time{})

	cl.Close()
	b.Close()
	b3, err := Start(WithDataDir(dir))
	if err != nil {
		t.Fatalf("start after the first broker closed: %v", err)
	}
	b3.Close()
}

func TestDataDirNotCreatable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Start(WithDataDir(filepath.Join(file, "kafka"))); err == nil {
		b.Close()
		t.Fatal("Start with a data dir under a regular file succeeded")
	}
}

// TestRetentionApplied: what Run does on each tick (ApplyRetention) drops
// what the configured retention says, also after a reload from the data
// dir, whose kfake timer does not run.
func TestRetentionApplied(t *testing.T) {
	tests := []struct {
		name      string
		bytes     int64
		age       time.Duration
		old, new  int // records produced two hours ago, and now
		wantStart int64
	}{
		{"age drops old batches only", DefaultRetentionBytes, time.Hour, 4, 3, 4},
		{"age keeps recent batches", DefaultRetentionBytes, 3 * time.Hour, 4, 3, 0},
		{"bytes drop the oldest batches", 1, DefaultRetention, 4, 3, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, restart := range []bool{false, true} {
				t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
					ctx := testCtx(t)
					dir := t.TempDir()
					opts := []Option{WithDataDir(dir), WithTopics(Topic{"events", 1}), WithRetention(tc.bytes, tc.age)}
					b := start(t, opts...)
					cl := client(t, b)
					produce(t, ctx, cl, "events", tc.old, []string{"k"}, time.Now().Add(-2*time.Hour))
					produce(t, ctx, cl, "events", tc.new, []string{"k"}, time.Time{})
					if restart {
						cl.Close()
						b.Close()
						b = start(t, opts...)
						cl = client(t, b)
					}
					if got := logStarts(t, ctx, cl, "events")[0]; got != 0 {
						t.Fatalf("log start before retention = %d", got)
					}
					b.cluster.ApplyRetention()
					if got := logStarts(t, ctx, cl, "events")[0]; got != tc.wantStart {
						t.Errorf("log start after retention = %d, want %d", got, tc.wantStart)
					}
					end, err := EndOffsets(ctx, cl, "events")
					if err != nil {
						t.Fatal(err)
					}
					if want := int64(tc.old + tc.new); end[0] != want {
						t.Errorf("end offset = %d, want %d (retention never moves it)", end[0], want)
					}
				})
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned before its context ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestRestartAppliesNewRetention: a broker restarted on its data dir with
// another retention sets it on the topics it finds there (it was once
// applied only when a topic was created, so changing kafka.retention or
// kafka.retention_bytes in cartwheel.yaml had no effect on an existing
// log), keeps their records, and creates the topics that are new.
func TestRestartAppliesNewRetention(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	b, err := Start(WithDataDir(dir), WithTopics(Topic{"events", 1}), WithRetention(1000, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cl := client(t, b)
	produce(t, ctx, cl, "events", 3, []string{"k"}, time.Now().Add(-2*time.Hour))
	cl.Close()
	b.Close()

	b2 := start(t, WithDataDir(dir), WithTopics(Topic{"events", 1}, Topic{"events.dlq", 1}), WithRetention(2000, 2*time.Hour))
	cl2 := client(t, b2)
	want := map[string]string{"retention.bytes": "2000", "retention.ms": "7200000", "segment.bytes": strconv.Itoa(segmentBytes)}
	for _, topic := range []string{"events", "events.dlq"} {
		got := topicConfigs(t, ctx, cl2, topic, "retention.bytes", "retention.ms", "segment.bytes")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s after a restart with a new retention: %v, want %v", topic, got, want)
		}
	}
	if end, err := EndOffsets(ctx, cl2, "events"); err != nil || end[0] != 3 {
		t.Errorf("end offset after the restart = %v, %v; want the 3 records kept", end, err)
	}
	cl2.Close()
	b2.Close()

	// The change is persisted: a third start with the same settings finds
	// them.
	b3 := start(t, WithDataDir(dir), WithTopics(Topic{"events", 1}), WithRetention(2000, 2*time.Hour))
	if got := topicConfigs(t, ctx, client(t, b3), "events", "retention.bytes", "retention.ms"); got["retention.bytes"] != "2000" || got["retention.ms"] != "7200000" {
		t.Errorf("after a second restart the topic has %v", got)
	}
}

// TestRestartWithShorterRetention: a shorter age configured at a restart
// drops the records it no longer covers when retention runs.
func TestRestartWithShorterRetention(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	b, err := Start(WithDataDir(dir), WithTopics(Topic{"events", 1}), WithRetention(DefaultRetentionBytes, 3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cl := client(t, b)
	produce(t, ctx, cl, "events", 4, []string{"k"}, time.Now().Add(-2*time.Hour))
	produce(t, ctx, cl, "events", 3, []string{"k"}, time.Time{})
	b.cluster.ApplyRetention()
	if got := logStarts(t, ctx, cl, "events")[0]; got != 0 {
		t.Fatalf("log start under a 3h retention = %d, want 0", got)
	}
	cl.Close()
	b.Close()

	b2 := start(t, WithDataDir(dir), WithTopics(Topic{"events", 1}), WithRetention(DefaultRetentionBytes, time.Hour))
	b2.cluster.ApplyRetention()
	if got := logStarts(t, ctx, client(t, b2), "events")[0]; got != 4 {
		t.Errorf("log start under the new 1h retention = %d, want 4", got)
	}
}

// TestStartRefusesNonPositiveRetention: to kfake a retention.bytes of 0
// deletes every record; Start refuses it, and an age under a millisecond
// (retention.ms 0) likewise.
func TestStartRefusesNonPositiveRetention(t *testing.T) {
	tests := []struct {
		name  string
		bytes int64
		age   time.Duration
		want  string
	}{
		{"zero bytes", 0, time.Hour, "retention bytes must be positive"},
		{"negative bytes", -1, time.Hour, "retention bytes must be positive"},
		{"zero age", 1 << 20, 0, "retention must be at least 1ms"},
		{"negative age", 1 << 20, -time.Hour, "retention must be at least 1ms"},
		{"under a millisecond", 1 << 20, time.Microsecond, "retention must be at least 1ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := Start(WithDataDir(dir), WithTopics(Topic{"events", 1}), WithRetention(tc.bytes, tc.age))
			if err == nil {
				b.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
			// Nothing was started: the data dir is free.
			b2, err := Start(WithDataDir(dir))
			if err != nil {
				t.Fatalf("the data dir is still held: %v", err)
			}
			b2.Close()
		})
	}
}

// TestInProcessClients: a broker for in-process clients serves them over
// in-memory connections — records go round trip, keys stay in their
// partitions — while nothing reaches it over the network, and closing it
// fails new connections instead of leaving them hanging.
func TestInProcessClients(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithInProcessClients(), WithTopics(Topic{"events", 3}))
	cl := client(t, b)
	const n = 300
	produce(t, ctx, cl, "events", n, []string{"a", "b", "c", "d"}, time.Time{})
	end, err := EndOffsets(ctx, cl, "events")
	if err != nil || sum(end) != n {
		t.Fatalf("EndOffsets = %v, %v; want %d records", end, err, n)
	}
	if got := consumeAll(t, ctx, b, "events", n); len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}

	if addr := b.Addrs()[0]; addr != "127.0.0.1:1" {
		t.Errorf("advertised address %s, want 127.0.0.1:1 (where nothing listens)", addr)
	}
	if c, err := net.DialTimeout("tcp", b.Addrs()[0], time.Second); err == nil {
		c.Close()
		t.Error("the advertised address accepted a TCP connection")
	}
	tcp, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RetryTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := EndOffsets(short, tcp, "events"); err == nil {
		t.Error("a client without the in-memory dialer reached the broker")
	}

	b.Close()
	late, err := kgo.NewClient(b.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if err := late.Ping(ctx); err == nil {
		t.Error("a client reached a closed broker")
	}
}

// TestDeleteRecords: DeleteRecords moves each listed partition's log start
// up to the offset given, and refuses an offset past the end.
func TestDeleteRecords(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithInProcessClients(), WithSegmentBytes(512), WithTopics(Topic{"events", 2}))
	cl := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 100 {
		r := &kgo.Record{Topic: "events", Partition: int32(i % 2), Value: fmt.Appendf(nil, "record %03d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := DeleteRecords(ctx, cl, "events", map[int32]int64{0: 30, 1: 7}); err != nil {
		t.Fatal(err)
	}
	start, err := StartOffsets(ctx, cl, "events")
	if err != nil || start[0] != 30 || start[1] != 7 {
		t.Errorf("StartOffsets after DeleteRecords = %v, %v; want 0:30 1:7", start, err)
	}
	err = DeleteRecords(ctx, cl, "events", map[int32]int64{1: 51})
	if !errors.Is(err, kerr.OffsetOutOfRange) || !strings.Contains(err.Error(), "events/1") {
		t.Errorf("DeleteRecords past the end = %v, want OFFSET_OUT_OF_RANGE for events/1", err)
	}
}
