// Package producer writes event records to Kafka — from JSON-lines files and
// from the traffic generator — keyed by user_id, so that one user's events
// stay in one partition, in order.
package producer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/generator"
)

// batchMaxBytes bounds a produced batch (ClientOptions, and File's own
// batches); it is within the max.message.bytes default of Kafka and kfake
// (1048588).
const batchMaxBytes = 1 << 20

// MaxRecordBytes is the largest record, key plus value, that File produces:
// the batch bound less 1 KiB for the batch and record headers (under 100
// bytes in fact). A larger record could never be produced: the broker
// would refuse its batch with MESSAGE_TOO_LARGE.
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
// user_id, or one longer than the spec's event.MaxUserIDBytes, which
// the consumer rejects anyway), a digest of the whole record: the first 16
// hex digits of its SHA-256. The digest is deterministic, so the partition
// of every record, malformed or not, is the same on every run (a replayed
// file partitions the same way each time), and short, so a large malformed
// record is not sent twice over (as key and value). A key is thus never
// longer than MaxUserIDBytes. A user_id spelled without escapes is
// returned as a slice of line, not a copy.
func KeyOf(line []byte) []byte {
	if u, ok := event.UserIDBytes(line); ok && len(u) <= event.MaxUserIDBytes {
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
	if len(line)+event.MaxUserIDBytes <= MaxRecordBytes {
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

// lines scans the lines of r as File reads them. A line too long to be a
// record at all stops the scan with ErrTooLong (see scanErr).
func lines(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	// MaxRecordBytes of content, plus "\r\n".
	sc.Buffer(make([]byte, 0, 256<<10), MaxRecordBytes+2)
	return sc
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
	if errors.Is(err, bufio.ErrTooLong) {
		return tooLarge(line+1, -1)
	}
	return fmt.Errorf("read line %d: %w", line+1, err)
}

// CheckFile reads r as File would and returns the number of records File
// would produce, or the first line File would refuse — one whose record
// exceeds MaxRecordBytes — or a read error, without producing anything.
// Replay runs it first, so that such a file fails before any of it is
// produced, and so that it knows how many records to expect.
func CheckFile(r io.Reader) (records int64, err error) {
	sc := lines(r)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if blank(b) {
			continue
		}
		if n := recordSize(b); n > MaxRecordBytes {
			return records, tooLarge(line, n)
		}
		records++
	}
	if err := sc.Err(); err != nil {
		return records, scanErr(err, line)
	}
	return records, nil
}

// FileOption configures File.
type FileOption func(*fileConfig)

type fileConfig struct {
	gate      func(ctx context.Context, produced int64) error
	gateEvery int64
}

// WithGate makes File call gate, with the number of records sent so far,
// after each send of at most every records: File waits while gate blocks,
// and stops with gate's error. Replay gates on its consumer, so that the
// broker holds only a window of the file however large the file is.
func WithGate(gate func(ctx context.Context, produced int64) error, every int64) FileOption {
	return func(c *fileConfig) { c.gate, c.gateEvery = gate, max(1, every) }
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
//
// File is a bulk loader for a single-broker cluster, such as replay's
// embedded broker: it builds record batches itself (see batch.go) and
// sends each produce request to the cluster's one broker.
func File(ctx context.Context, cl *kgo.Client, topic string, r io.Reader, opts ...FileOption) (Result, error) {
	var cfg fileConfig
	for _, o := range opts {
		o(&cfg)
	}
	n, id, err := topicPartitions(ctx, cl, topic)
	if err != nil {
		return Result{}, err
	}
	s := &sender{cl: cl, topic: topic, id: id, end: make(map[int32]int64), free: make(chan []byte, 2*n)}
	// One request in flight, the next one queued while File builds more.
	reqs := make(chan produceReq, 1)
	sent := make(chan struct{})
	var sendErr atomic.Pointer[error]
	go func() {
		defer close(sent)
		for r := range reqs {
			if sendErr.Load() == nil {
				if err := s.send(ctx, r); err != nil {
					sendErr.Store(&err)
				}
			}
		}
	}()
	finished := false
	finish := func() error {
		if !finished {
			finished = true
			close(reqs)
			<-sent
		}
		if err := sendErr.Load(); err != nil {
			return *err
		}
		return nil
	}
	defer finish()

	batches := make([]recordBatch, n)
	for i := range batches {
		batches[i].reset(make([]byte, 0, batchMaxBytes))
	}
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	var (
		keyed   kgo.Record // the partitioner's view of a record
		pending int64      // records in batches not yet sent
		handed  int64      // records handed to the sender
		line    int
		stop    error
	)
	flush := func() error {
		var req produceReq
		for p := range batches {
			b := &batches[p]
			if b.n == 0 {
				continue
			}
			req.parts = append(req.parts, int32(p))
			req.batches = append(req.batches, b.seal())
			req.counts = append(req.counts, b.n)
			var buf []byte
			select {
			case buf = <-s.free:
			default:
				buf = make([]byte, 0, batchMaxBytes)
			}
			b.reset(buf)
		}
		if len(req.parts) == 0 {
			return nil
		}
		if err := sendErr.Load(); err != nil {
			return *err
		}
		select {
		case reqs <- req:
		case <-ctx.Done():
			return ctx.Err()
		}
		handed += pending
		pending = 0
		if cfg.gate != nil {
			return cfg.gate(ctx, handed)
		}
		return nil
	}
	flushAt := int64(flushRecords)
	if cfg.gate != nil {
		flushAt = min(flushAt, cfg.gateEvery)
	}
	sc := lines(r)
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if blank(b) {
			continue
		}
		// The batch copies key and value: b may change at the next Scan.
		key := KeyOf(b)
		size := len(key) + len(b)
		if size > MaxRecordBytes {
			stop = tooLarge(line, size)
			break
		}
		keyed.Key = key
		p := part.Partition(&keyed, n)
		if len(batches[p].buf)+size+maxRecordOverhead > batchMaxBytes {
			if stop = flush(); stop != nil {
				break
			}
		}
		batches[p].add(key, b)
		if pending++; pending >= flushAt {
			if stop = flush(); stop != nil {
				break
			}
		}
	}
	// What was read before a line too large is still produced.
	if stop == nil || errors.Is(stop, ErrRecordTooLarge) {
		if err := flush(); stop == nil {
			stop = err
		}
	}
	if err := finish(); stop == nil {
		stop = err
	}
	if stop != nil {
		return Result{}, stop
	}
	if err := sc.Err(); err != nil {
		return Result{}, scanErr(err, line)
	}
	return Result{Records: s.n, End: s.end}, nil
}

// flushRecords bounds the records File holds before it sends them: the
// consumer sees nothing of them until then.
const flushRecords = 16384

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
