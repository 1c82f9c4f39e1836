package appliance

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// ReplayProgress is how far a replay is.
type ReplayProgress struct {
	// Produced counts the records sent to the broker so far.
	Produced int64
	// Committed counts the records in the warehouse; on a resumed replay
	// it includes those of the earlier runs.
	Committed int64
	// Total is the number of records of the file.
	Total int64
}

// ReplayOption configures Replay.
type ReplayOption func(*replayOptions)

type replayOptions struct {
	progress func(ReplayProgress)
}

// progressEvery is how often Replay reports progress (WithProgress).
const progressEvery = 100 * time.Millisecond

// WithProgress makes Replay report its progress to fn: once the file is
// checked, then about ten times a second while it streams, and once when
// streaming ends (a successful replay ends with Committed == Total). Calls
// come one at a time, from a goroutine of their own: a slow fn (a terminal
// progress bar) delays only the next report. Without it Replay reports
// nothing.
func WithProgress(fn func(ReplayProgress)) ReplayOption {
	return func(o *replayOptions) { o.progress = fn }
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
func Replay(ctx context.Context, cfg Config, path string, log *slog.Logger, opts ...ReplayOption) (ReplayResult, error) {
	start := time.Now()
	var o replayOptions
	for _, opt := range opts {
		opt(&o)
	}
	var res ReplayResult
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	sum, records, err := fileDigest(path)
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
		batch    = replayBatchSize(cfg)
		win      = producer.NewWindow(3 * int64(batch))
		produced = make(chan map[int32]int64, 1)
		db       *warehouse.DB
		p        *streaming.Pipeline
	)
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	stopProgress := reportProgress(o.progress, win, records)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		pr, err := producer.File(gctx, cl, cfg.Kafka.Topic, f, producer.WithWindow(win))
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
		if db, err = warehouse.Open(gctx, cfg.Warehouse, warehouse.BulkLoad(), warehouse.WithLogger(log)); err != nil {
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
			win.Open()
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
			streaming.WithCommittedOffsets(win.Committed),
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
			win.Trim(trimCtx, cl, cfg.Kafka.Topic, log.With("replay", res.Stream))
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
	stopProgress()
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

// reportProgress calls fn (if any) with the progress of win at once, then
// every progressEvery until stop is called, and once more then.
func reportProgress(fn func(ReplayProgress), win *producer.Window, total int64) (stop func()) {
	if fn == nil {
		return func() {}
	}
	report := func() {
		produced, committed := win.Progress()
		fn(ReplayProgress{Produced: produced, Committed: committed, Total: total})
	}
	// The first report before anything starts: from the ticker's goroutine
	// it could come after the producer's first records.
	report()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		report()
	}
}

// fileDigest names a file by its content, and checks in the same read that
// producer.File can produce every line of it (producer.CheckFile): a file
// with a line too large for a Kafka record fails here, with the line
// number and the limit. It also counts the file's records.
func fileDigest(path string) (digest string, records int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	// xxh3, not a cryptographic hash: the name tells a user's own files
	// apart, and the digest must cost little next to the replay itself
	// (SHA-256 took a tenth of a 1M-event replay's CPU).
	h := xxh3.New()
	r := io.TeeReader(f, h)
	if records, err = producer.CheckFile(r); err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // CheckFile reads to the end; to be sure
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	sum := h.Sum128().Bytes()
	return hex.EncodeToString(sum[:8]), records, nil
}
