package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadTail reads the last records of every partition, from the log
// start when fewer are left.
func TestReadTail(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithInProcessClients(), WithSegmentBytes(64),
		WithTopics(Topic{"events", 3}, Topic{"empty", 2}, Topic{"trimmed", 1}))
	cl := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// events/0: 10 records, events/1: 2 records, events/2: none;
	// trimmed/0: 6 records, the first 4 deleted.
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "events", Partition: 0, Value: fmt.Appendf(nil, "p0-%d", i)})
	}
	for i := range 2 {
		recs = append(recs, &kgo.Record{Topic: "events", Partition: 1, Value: fmt.Appendf(nil, "p1-%d", i)})
	}
	for i := range 6 {
		recs = append(recs, &kgo.Record{Topic: "trimmed", Value: fmt.Appendf(nil, "t-%d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := DeleteRecords(ctx, cl, "trimmed", map[int32]int64{0: 4}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		topic string
		n     int64
		want  []string
	}{
		{"events", 3, []string{"p0-7", "p0-8", "p0-9", "p1-0", "p1-1"}},
		{"events", 1, []string{"p0-9", "p1-1"}},
		{"events", 100, []string{"p0-0", "p0-1", "p0-2", "p0-3", "p0-4", "p0-5", "p0-6", "p0-7", "p0-8", "p0-9", "p1-0", "p1-1"}},
		{"events", 0, nil},
		{"empty", 5, nil},
		{"trimmed", 5, []string{"t-4", "t-5"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.topic, tc.n), func(t *testing.T) {
			var got []string
			began := time.Now()
			err := ReadTail(ctx, nil, tc.topic, tc.n, func(r *kgo.Record) { got = append(got, string(r.Value)) }, b.ClientOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ReadTail = %q, want %q", got, tc.want)
			}
			// It stops at the end offsets instead of waiting out tailWait.
			if d := time.Since(began); d > tailWait-time.Second {
				t.Errorf("ReadTail took %v", d)
			}
		})
	}
	if err := ReadTail(ctx, nil, "missing", 5, func(*kgo.Record) {}, b.ClientOptions()...); err == nil {
		t.Error("ReadTail of a missing topic succeeded")
	}
}

// TestReadTailOverTCP: the brokers argument alone connects.
func TestReadTailOverTCP(t *testing.T) {
	ctx := testCtx(t)
	b := start(t, WithTopics(Topic{"events", 1}))
	produce(t, ctx, client(t, b), "events", 3, []string{"k"}, time.Time{})
	var got []string
	if err := ReadTail(ctx, b.Addrs(), "events", 2, func(r *kgo.Record) { got = append(got, string(r.Value)) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"v001", "v002"}) {
		t.Errorf("ReadTail = %q", got)
	}
}
