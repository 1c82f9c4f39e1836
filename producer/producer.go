// Package producer writes event records to Kafka — from JSON-lines files and
// from the traffic generator — keyed by user_id, so that one user's events
// stay in one partition, in order.
package producer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/streaming"
)

// ClientOptions are the producer settings for bulk throughput: the records
// of one partition stay in order (idempotent producer, franz-go's default).
func ClientOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(200_000),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// A broker that stays unreachable fails the produce instead of
		// hanging forever.
		kgo.RecordDeliveryTimeout(time.Minute),
	}
}

// Result sums up what was produced.
type Result struct {
	Records int64
	// End is, per partition, the offset after the last record produced.
	End map[int32]int64
}

// tracker collects the produce results of asynchronous records.
type tracker struct {
	mu   sync.Mutex
	end  map[int32]int64
	err  error
	n    int64
	wait sync.WaitGroup
}

func (t *tracker) done(r *kgo.Record, err error) {
	t.mu.Lock()
	if err != nil && t.err == nil {
		t.err = err
	}
	if err == nil {
		t.n++
		if r.Offset+1 > t.end[r.Partition] {
			t.end[r.Partition] = r.Offset + 1
		}
	}
	t.mu.Unlock()
	t.wait.Done()
}

func (t *tracker) firstErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// KeyOf returns the record key of a JSON-lines record: its user_id, or, for
// a record without a usable one, the record itself — so the partition of
// every record, malformed or not, is the same on every run.
func KeyOf(line []byte) []byte {
	if u, ok := streaming.UserIDOf(line); ok {
		return []byte(u)
	}
	return line
}

// File produces every line of r (one record per line; empty lines are
// skipped) to topic and waits until all are acknowledged.
func File(ctx context.Context, cl *kgo.Client, topic string, r io.Reader) (Result, error) {
	t := &tracker{end: make(map[int32]int64)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		val := make([]byte, len(b))
		copy(val, b)
		t.wait.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: KeyOf(val), Value: val}, t.done)
		if line%65536 == 0 {
			if err := t.firstErr(); err != nil {
				break
			}
		}
	}
	t.wait.Wait()
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("read line %d: %w", line+1, err)
	}
	if err := t.firstErr(); err != nil {
		return Result{}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return Result{Records: t.n, End: t.end}, nil
}

// Pace says how fast Generated produces.
type Pace struct {
	// Rate caps records per wall-clock second; 0 means no cap.
	Rate float64
	// Clock, when set, holds each record until the simulated clock reaches
	// its emit time. Without it a record is held only while its emit time
	// is ahead of the wall clock: either way no event_time is in the future.
	Clock *generator.Clock
	// Records and Until bound the run (0 / zero: unbounded).
	Records int64
	Until   time.Time
}

// Generated produces records from g until the pace's bound or ctx ends, and
// waits until all are acknowledged.
func Generated(ctx context.Context, cl *kgo.Client, topic string, g *generator.Generator, pace Pace) (Result, error) {
	t := &tracker{end: make(map[int32]int64)}
	start := time.Now()
	var produced int64
	var buf []byte
	var err error
loop:
	for pace.Records == 0 || produced < pace.Records {
		rec, key, emitAt := g.Next(buf[:0])
		due := time.Time{}
		if pace.Rate > 0 {
			due = start.Add(time.Duration(float64(produced) / pace.Rate * float64(time.Second)))
		}
		if pace.Clock != nil {
			if d := pace.Clock.Due(emitAt); d.After(due) {
				due = d
			}
		} else if emitAt.After(due) {
			due = emitAt
		}
		if !pace.Until.IsZero() && due.After(pace.Until) {
			break
		}
		if wait := time.Until(due); wait > time.Millisecond {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			break
		}
		val := append([]byte(nil), rec...)
		t.wait.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: append([]byte(nil), key...), Value: val}, t.done)
		produced++
		if produced%4096 == 0 {
			if err = t.firstErr(); err != nil {
				break
			}
		}
	}
	t.wait.Wait()
	if err := t.firstErr(); err != nil && !errors.Is(err, context.Canceled) {
		return Result{Records: t.n, End: t.end}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return Result{Records: t.n, End: t.end}, nil
}
