package appliance

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zeebo/xxh3"
	"golang.org/x/sync/errgroup"

	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/producer"
	"github.com/cartwheel-analytics/cartwheel/streaming"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// ReplayResult sums up a replay.
type ReplayResult struct {
	Stream   string
	Produced int64
	Stats    streaming.Stats
	Elapsed  time.Duration
}

// Replay tuning. A replay commits batches of replayBatch records, unless
// streaming.batch_size is set to another value than its default. The
// broker holds at most three batches more than the warehouse has
// committed (about 150 MB of a typical file): enough for the pipeline to
// fill a batch while it commits the one before, and a bound on memory
// whatever the size of the file.
//
// The broker's log rolls a segment for every produced batch
// (replaySegmentBytes 1): kfake grows a heap-held segment by doubling it,
// so a segment of one batch holds no spare room, and deleting committed
// records frees them batch by batch.
const (
	replayBatch        = 200_000
	replaySegmentBytes = 1
)

// replayBatchSize is the batch size of a replay under cfg.
func replayBatchSize(cfg Config) int {
	if cfg.Streaming.BatchSize != streaming.DefaultBatchSize {
		return cfg.Streaming.BatchSize
	}
	return replayBatch
}

// Replay pushes a JSON-lines file through the same path as live traffic — an
// embedded broker, the consumer group, the pipeline — and closes every
// session at the end of the file. The stream is named after the file's
// content, so replaying a file again (say, after a crash) resumes it and
// never loads it twice. Blank lines (empty or JSON whitespace only) are not
// records and are skipped. A file with a line too large for a Kafka record
// (producer.MaxRecordBytes) is refused before anything is produced, and
// the warehouse is not even opened.
//
// The broker is in-process and private to the replay (its clients connect
// in memory), and it drops what the warehouse has committed: the producer
// stays at most three batches ahead. The file is read once to name and
// check it (a fast pass), then produced by producer.File's bulk loader.
func Replay(ctx context.Context, cfg Config, path string, log *slog.Logger) (ReplayResult, error) {
	start := time.Now()
	var res ReplayResult
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	sum, err := fileDigest(path)
	if err != nil {
		return res, err
	}
	res.Stream = "replay:" + sum
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()

	b, err := broker.Start(broker.WithInProcessClients(), broker.WithSegmentBytes(replaySegmentBytes),
		broker.WithTopics(
			broker.Topic{Name: cfg.Kafka.Topic, Partitions: cfg.Kafka.Partitions},
			broker.Topic{Name: cfg.Kafka.DLQTopic, Partitions: cfg.Kafka.Partitions}))
	if err != nil {
		return res, err
	}
	defer b.Close()
	// The client sends File's produce requests and the deletes: it produces
	// no records itself.
	cl, err := kgo.NewClient(b.ClientOptions()...)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	var (
		batch = replayBatchSize(cfg)
		win   = newLogWindow(3 * int64(batch))
		// The producer sends at most an eighth of the window between gates.
		gateEvery = win.size / 8
		produced  = make(chan map[int32]int64, 1)
		db        *warehouse.DB
		p         *streaming.Pipeline
	)
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		pr, err := producer.File(gctx, cl, cfg.Kafka.Topic, f, producer.WithGate(win.wait, gateEvery))
		if errors.Is(err, producer.ErrRecordTooLarge) {
			err = fmt.Errorf("%s: %w", path, err)
		}
		if err != nil {
			return err
		}
		res.Produced = pr.Records
		produced <- pr.End
		return nil
	})
	g.Go(func() error {
		var err error
		if db, err = warehouse.Open(gctx, cfg.Warehouse, warehouse.BulkLoad()); err != nil {
			return err
		}
		// A resumed replay must not consume before its records are back on
		// the (fresh) broker: the stored offsets would be past the log's
		// end. The producer is then not held back either.
		committed, err := db.StreamOffsets(gctx, res.Stream)
		if err != nil {
			return err
		}
		var end map[int32]int64
		if len(committed) > 0 {
			log.Info("resuming an earlier replay of this file", "stream", res.Stream)
			win.open()
			select {
			case end = <-produced:
			case <-gctx.Done():
				return nil
			}
		}
		p, err = streaming.New(db,
			streaming.WithBrokers(b.Addrs()...),
			streaming.WithKafkaOptions(b.ClientOptions()...),
			streaming.WithTopics(cfg.Kafka.Topic, cfg.Kafka.DLQTopic),
			streaming.WithGroup("cartwheel-replay"),
			streaming.WithStream(res.Stream),
			streaming.WithWindows(cfg.Streaming.SessionGap, cfg.Streaming.AllowedLateness),
			streaming.WithBatch(batch, time.Second),
			streaming.WithStopAt(end),
			streaming.WithCommittedOffsets(win.committed),
			streaming.WithLogger(log),
		)
		if err != nil {
			return err
		}
		trimmed := make(chan struct{})
		defer func() { <-trimmed }()
		trimCtx, stopTrim := context.WithCancel(gctx)
		defer stopTrim()
		go func() {
			defer close(trimmed)
			win.trim(trimCtx, cl, cfg.Kafka.Topic, log)
		}()
		if end == nil {
			go func() {
				select {
				case end := <-produced:
					p.StopAt(end)
				case <-trimCtx.Done():
				}
			}()
		}
		return p.Run(gctx)
	})
	err = g.Wait()
	if cerr := ctx.Err(); cerr != nil {
		return res, fmt.Errorf("replay interrupted (run it again to resume): %w", cerr)
	}
	if err != nil {
		return res, err
	}
	res.Stats = p.Stats()
	res.Elapsed = time.Since(start)
	return res, nil
}

// logWindow keeps a replay's producer at most size records ahead of what
// the pipeline has committed, and tells the broker to drop what is
// committed. On a fresh broker, the offsets of a partition count its
// records, so the sum of the committed next offsets is the number of
// records committed.
type logWindow struct {
	size int64

	mu      sync.Mutex
	next    map[int32]int64 // committed, per partition
	total   int64           // sum of next
	changed chan struct{}   // closed and replaced on every change
}

func newLogWindow(size int64) *logWindow {
	return &logWindow{size: size, next: make(map[int32]int64), changed: make(chan struct{})}
}

// wait blocks while produced is more than the window ahead of what is
// committed (producer.WithGate).
func (w *logWindow) wait(ctx context.Context, produced int64) error {
	for {
		w.mu.Lock()
		ok, changed := produced-w.total < w.size, w.changed
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// open lifts the bound: a resumed replay produces the whole file before
// it consumes.
func (w *logWindow) open() {
	w.mu.Lock()
	w.size = 1<<63 - 1
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// committed records the next offsets of a commit
// (streaming.WithCommittedOffsets).
func (w *logWindow) committed(next map[int32]int64) {
	w.mu.Lock()
	for id, off := range next {
		w.total += off - w.next[id]
		w.next[id] = off
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// trim deletes the committed records from the broker after each commit,
// until ctx is done. A failure only costs memory: it is logged once.
func (w *logWindow) trim(ctx context.Context, cl *kgo.Client, topic string, log *slog.Logger) {
	done := make(map[int32]int64)
	warned := false
	for {
		w.mu.Lock()
		changed := w.changed
		todo := make(map[int32]int64)
		for id, off := range w.next {
			if off > done[id] {
				todo[id] = off
			}
		}
		w.mu.Unlock()
		if len(todo) > 0 {
			if err := broker.DeleteRecords(ctx, cl, topic, todo); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !warned {
					log.Warn("replay: could not drop committed records from the broker (memory grows with the file)", "err", err)
					warned = true
				}
			} else {
				for id, off := range todo {
					done[id] = off
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// fileDigest names a file by its content, and checks in the same read that
// producer.File can produce every line of it (producer.CheckFile): a file
// with a line too large for a Kafka record fails here, with the line
// number and the limit.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// xxh3, not a cryptographic hash: the name tells a user's own files
	// apart, and the digest must cost little next to the replay itself
	// (SHA-256 took a tenth of a 1M-event replay's CPU).
	h := xxh3.New()
	r := io.TeeReader(f, h)
	if err := producer.CheckFile(r); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // CheckFile reads to the end; to be sure
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	sum := h.Sum128().Bytes()
	return hex.EncodeToString(sum[:8]), nil
}
