package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/event"
)

func TestConsumeErrorKind(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err   error
		kind  string
		retry bool
	}{
		// Issue 13: the error that made `cartwheel run` exit.
		{&kgo.ErrGroupSession{Err: timeout}, ErrorKindGroup, true},
		{&kgo.ErrGroupSession{Err: kerr.UnknownMemberID}, ErrorKindGroup, true},
		{kerr.NotCoordinator, ErrorKindCoordinator, true},
		{fmt.Errorf("x: %w", kerr.CoordinatorNotAvailable), ErrorKindCoordinator, true},
		{timeout, ErrorKindConnection, true},
		{io.EOF, ErrorKindConnection, true},
		{kerr.UnknownTopicOrPartition, ErrorKindBroker, true},
		{kerr.OffsetOutOfRange, "fetch", false},
		{&kgo.ErrDataLoss{}, "fetch", false},
		{errors.New("invalid record batch"), "fetch", false},
		{kerr.TopicAuthorizationFailed, "fetch", false},
	} {
		kind, retry := consumeErrorKind(tc.err)
		if kind != tc.kind || retry != tc.retry {
			t.Errorf("consumeErrorKind(%v) = %s, %v; want %s, %v", tc.err, kind, retry, tc.kind, tc.retry)
		}
	}
}

// A lost partition's records leave the batch being built: committed
// without their checkpoint they would be written again once the partition
// is read again from its stored checkpoint.
func TestLostDropsPending(t *testing.T) {
	p, err := New(nil, WithBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{0, 1, 2} {
		p.parts[id] = newPartition(id, DefaultGap.Microseconds(), DefaultLateness.Microseconds())
		p.touched[id] = true
	}
	b := p.pending
	for i := range 6 {
		id := int32(i % 3)
		if i%2 == 0 {
			b.Events = append(b.Events, event.Event{Partition: id, Offset: int64(i)})
		} else {
			b.Rejected = append(b.Rejected, event.Rejected{Partition: id, Offset: int64(i)})
		}
		b.produced = append(b.produced, int64(i))
		b.records++
	}
	p.lost(nil, nil, map[string][]int32{DefaultTopic: {1, 2}})
	if len(p.parts) != 1 || p.parts[0] == nil || len(p.touched) != 1 {
		t.Errorf("after losing 1 and 2: parts %v, touched %v", p.parts, p.touched)
	}
	for _, e := range b.Events {
		if e.Partition != 0 {
			t.Errorf("event of lost partition %d still pending", e.Partition)
		}
	}
	for _, r := range b.Rejected {
		if r.Partition != 0 {
			t.Errorf("rejected record of lost partition %d still pending", r.Partition)
		}
	}
	if b.records != 2 || len(b.Events)+len(b.Rejected) != 2 || len(b.produced) != 2 {
		t.Errorf("records %d, events %d, rejected %d, produced %d; want 2 in all", b.records, len(b.Events), len(b.Rejected), len(b.produced))
	}
	if h := p.ConsumerHealth(); h.Partitions != 1 {
		t.Errorf("ConsumerHealth().Partitions = %d, want 1", h.Partitions)
	}
}

// ctxStore fails LoadPartition as a warehouse does when its ctx is done.
type ctxStore struct{ Store }

func (ctxStore) LoadPartition(ctx context.Context, _, _ int32) (*event.Snapshot, error) {
	return nil, ctx.Err()
}

// A group session that ends while its partitions are loaded (the member
// was frozen past its session timeout and is fenced on waking) cancels the
// ctx kgo gives assign: the load is abandoned, not fatal — the pipeline
// stays up and the next session loads them. Taken for a failure, it made
// TestTortureScaleOut's resumed instance exit with status 0.
func TestAssignAbandonedWhenSessionEnds(t *testing.T) {
	p, err := New(ctxStore{}, WithBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	var cause error
	runCtx, cancel := context.WithCancelCause(context.Background())
	p.cancel = func(err error) { cause = err; cancel(err) }
	session, end := context.WithCancel(context.Background())
	end()
	offsets := map[string]map[int32]kgo.Offset{DefaultTopic: {0: kgo.NewOffset(), 1: kgo.NewOffset()}}
	if _, err := p.assign(session, offsets); !errors.Is(err, context.Canceled) {
		t.Fatalf("assign in an ended session: %v, want context.Canceled", err)
	}
	if err := p.fatalErr(); err != nil || cause != nil || runCtx.Err() != nil {
		t.Errorf("an ended session stopped the pipeline: fatal %v, cancel cause %v", err, cause)
	}
	if len(p.parts) != 0 {
		t.Errorf("%d partitions owned after an abandoned load", len(p.parts))
	}

	// The same failure with the session live is the warehouse's: fatal.
	live, stop := context.WithCancel(context.Background())
	defer stop()
	p2, _ := New(failStore{}, WithBrokers("127.0.0.1:1"))
	p2.cancel = func(error) {}
	if _, err := p2.assign(live, offsets); err == nil || p2.fatalErr() == nil {
		t.Errorf("a failed load in a live session: err %v, fatal %v; want both", err, p2.fatalErr())
	}
}

type failStore struct{ Store }

func (failStore) LoadPartition(context.Context, int32, int32) (*event.Snapshot, error) {
	return nil, errors.New("relation cartwheel_checkpoints does not exist")
}
