// Package producer writes event records to Kafka — from JSON-lines files and
// from the traffic generator — keyed by user_id, so that one user's events
// stay in one partition, in order.
package producer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/streaming"
)

// batchMaxBytes bounds a produced batch (ClientOptions); it is within the
// max.message.bytes default of Kafka and kfake (1048588).
const batchMaxBytes = 1 << 20

// MaxRecordBytes is the largest record, key plus value, that File produces:
// the batch bound of ClientOptions less 1 KiB for the batch and record
// headers (under 100 bytes in fact). A larger record could never be
// produced: franz-go would fail it with MESSAGE_TOO_LARGE.
const MaxRecordBytes = batchMaxBytes - 1<<10

// ClientOptions are the producer settings for bulk throughput: the records
// of one partition stay in order (idempotent producer, franz-go's default).
func ClientOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(200_000),
		kgo.ProducerBatchMaxBytes(batchMaxBytes),
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
// a record without a usable one (not a JSON object, no non-empty string
// user_id, or one longer than the spec's streaming.MaxUserIDBytes, which
// the consumer rejects anyway), a digest of the whole record: the first 16
// hex digits of its SHA-256. The digest is deterministic, so the partition
// of every record, malformed or not, is the same on every run (a replayed
// file partitions the same way each time), and short, so a large malformed
// record is not sent twice over (as key and value). A key is thus never
// longer than MaxUserIDBytes. A user_id spelled without escapes is
// returned as a slice of line, not a copy.
func KeyOf(line []byte) []byte {
	if u, ok := streaming.UserIDBytes(line); ok && len(u) <= streaming.MaxUserIDBytes {
		return u
	}
	return digestKey(line)
}

// digestKeyLen is the length of the key of a record without a user id.
const digestKeyLen = 16

func digestKey(line []byte) []byte {
	sum := sha256.Sum256(line)
	return hex.AppendEncode(make([]byte, 0, digestKeyLen), sum[:digestKeyLen/2])
}

// recordSize returns the size, key plus value, of the record File produces
// for line, or 0 for a line short enough that its record is under
// MaxRecordBytes whatever its key (at most MaxUserIDBytes).
func recordSize(line []byte) int {
	if len(line)+streaming.MaxUserIDBytes <= MaxRecordBytes {
		return 0
	}
	return len(line) + len(KeyOf(line))
}

// blank reports whether a line holds nothing but JSON whitespace (spaces,
// tabs, carriage returns): such a line is not a record.
func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// ErrRecordTooLarge is the error of a line whose record exceeds
// MaxRecordBytes.
var ErrRecordTooLarge = errors.New("record too large")

func tooLarge(line, size int) error {
	if size < 0 {
		return fmt.Errorf("line %d is longer than %d bytes, the limit of a Kafka record (key + value): %w", line, MaxRecordBytes, ErrRecordTooLarge)
	}
	return fmt.Errorf("line %d makes a record of %d bytes (key + value), over the limit of %d bytes: %w", line, size, MaxRecordBytes, ErrRecordTooLarge)
}

// scanErr is the error that ended a scan of lines at line (the last line
// read whole).
func scanErr(err error, line int) error {
	if errors.Is(err, errLineTooLong) {
		return tooLarge(line+1, -1)
	}
	return fmt.Errorf("read line %d: %w", line+1, err)
}

// CheckFile reads r as File would and reports the first line File would
// refuse — one whose record exceeds MaxRecordBytes — or a read error,
// without producing anything. Replay runs it first, so that such a file
// fails before any of it is produced.
func CheckFile(r io.Reader) error {
	lr := newLineReader(r)
	defer lr.close()
	line := 0
	for {
		b, _, ok := lr.next()
		if !ok {
			break
		}
		line++
		if blank(b) {
			continue
		}
		if n := recordSize(b); n > MaxRecordBytes {
			return tooLarge(line, n)
		}
	}
	if lr.err != nil {
		return scanErr(lr.err, line)
	}
	return nil
}

// FileOption configures File.
type FileOption func(*fileConfig)

type fileConfig struct {
	gate func(ctx context.Context, produced int64) error
}

// gateEvery is how many records File produces between calls to its gate.
const gateEvery = 1024

// WithGate makes File call gate, with the number of records produced so
// far, before each run of gateEvery records: File waits while gate blocks,
// and stops with gate's error. Replay gates on its consumer, so that the
// broker holds only a window of the file however large the file is.
func WithGate(gate func(ctx context.Context, produced int64) error) FileOption {
	return func(c *fileConfig) { c.gate = gate }
}

// File produces every line of r to topic, one record per line keyed by
// KeyOf, and waits until all are acknowledged. Empty lines and lines of
// JSON whitespace only (spaces, tabs, carriage returns) are not records:
// they are skipped, and nothing of them reaches the warehouse. Every other
// line is produced as it is, malformed or not (the consumer rejects it).
//
// A line whose record would exceed MaxRecordBytes cannot be produced: File
// stops there with an error (wrapping ErrRecordTooLarge) that names the
// line and the limit, after the lines before it were acknowledged. Run
// CheckFile first to refuse such a file before producing any of it.
func File(ctx context.Context, cl *kgo.Client, topic string, r io.Reader, opts ...FileOption) (Result, error) {
	var cfg fileConfig
	for _, o := range opts {
		o(&cfg)
	}
	t := &tracker{end: make(map[int32]int64)}
	var sent int64
	lr := newLineReader(r)
	defer lr.close()
	// Records point into the chunks the file is read into, and a chunk is
	// reused once its records are acknowledged (each chunk's promise
	// releases it); records are allocated a slab at a time.
	var (
		promiseOf *chunk
		promise   func(*kgo.Record, error)
		slab      []kgo.Record
	)
	line := 0
	var stop error
	for {
		b, c, ok := lr.next()
		if !ok {
			break
		}
		line++
		if blank(b) {
			continue
		}
		key := KeyOf(b)
		if n := len(key) + len(b); n > MaxRecordBytes {
			stop = tooLarge(line, n)
			break
		}
		if cfg.gate != nil && sent%gateEvery == 0 {
			if stop = cfg.gate(ctx, sent); stop != nil {
				break
			}
		}
		if c != promiseOf {
			promiseOf, promise = c, func(r *kgo.Record, err error) {
				t.done(r, err)
				c.release()
			}
		}
		if len(slab) == 0 {
			slab = make([]kgo.Record, recordSlab)
		}
		rec := &slab[0]
		slab = slab[1:]
		rec.Topic, rec.Key, rec.Value = topic, key, b
		sent++
		c.refs.Add(1)
		t.wait.Add(1)
		cl.Produce(ctx, rec, promise)
		if line%65536 == 0 {
			if err := t.firstErr(); err != nil {
				break
			}
		}
	}
	t.wait.Wait()
	if stop != nil {
		return Result{}, stop
	}
	if lr.err != nil {
		return Result{}, scanErr(lr.err, line)
	}
	if err := t.firstErr(); err != nil {
		return Result{}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return Result{Records: t.n, End: t.end}, nil
}

// recordSlab is how many records File allocates at a time.
const recordSlab = 1024

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
// waits until all are acknowledged. The end of ctx, canceled or past its
// deadline, is a normal stop: the records still buffered then fail, and
// the result counts the acknowledged ones, with a nil error.
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
	if err := t.firstErr(); err != nil && !stopped(ctx, err) {
		return Result{Records: t.n, End: t.end}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return Result{Records: t.n, End: t.end}, nil
}

// stopped reports whether err is the end of ctx — canceled or past its
// deadline, both a normal stop of Generated — rather than a failure.
func stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
