package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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

// Replay pushes a JSON-lines file through the same path as live traffic — an
// embedded broker, the consumer group, the pipeline — and closes every
// session at the end of the file. The stream is named after the file's
// content, so replaying a file again (say, after a crash) resumes it and
// never loads it twice. Blank lines (empty or JSON whitespace only) are not
// records and are skipped. A file with a line too large for a Kafka record
// (producer.MaxRecordBytes) is refused before anything is produced.
func Replay(ctx context.Context, cfg Config, path string, log *slog.Logger) (ReplayResult, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return ReplayResult{}, err
	}
	sum, err := fileDigest(path)
	if err != nil {
		return ReplayResult{}, err
	}
	res := ReplayResult{Stream: "replay:" + sum}

	b, err := broker.Start(broker.WithTopics(
		broker.Topic{Name: cfg.Kafka.Topic, Partitions: cfg.Kafka.Partitions},
		broker.Topic{Name: cfg.Kafka.DLQTopic, Partitions: cfg.Kafka.Partitions}))
	if err != nil {
		return res, err
	}
	defer b.Close()

	db, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		return res, err
	}
	defer db.Close()

	batch := max(cfg.Streaming.BatchSize, 200_000)
	p, err := streaming.New(db,
		streaming.WithBrokers(b.Addrs()...),
		streaming.WithTopics(cfg.Kafka.Topic, cfg.Kafka.DLQTopic),
		streaming.WithGroup("cartwheel-replay"),
		streaming.WithStream(res.Stream),
		streaming.WithWindows(cfg.Streaming.SessionGap, cfg.Streaming.AllowedLateness),
		streaming.WithBatch(batch, time.Second),
		streaming.WithLogger(log),
	)
	if err != nil {
		return res, err
	}
	cl, err := kgo.NewClient(append(producer.ClientOptions(), kgo.SeedBrokers(b.Addrs()...))...)
	if err != nil {
		return res, err
	}
	defer cl.Close()

	// A resumed replay must not consume before its records are back on the
	// (fresh) broker: the stored offsets would be past the log's end.
	committed, err := db.StreamOffsets(ctx, res.Stream)
	if err != nil {
		return res, err
	}
	produced := make(chan struct{})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if len(committed) > 0 {
			log.Info("resuming an earlier replay of this file", "stream", res.Stream)
			select {
			case <-produced:
			case <-gctx.Done():
				return nil
			}
		}
		return p.Run(gctx)
	})
	g.Go(func() error {
		defer close(produced)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		pr, err := producer.File(gctx, cl, cfg.Kafka.Topic, f)
		if err != nil {
			return err
		}
		res.Produced = pr.Records
		p.StopAt(pr.End)
		return nil
	})
	if err := g.Wait(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("replay interrupted (run it again to resume): %w", err)
	}
	res.Stats = p.Stats()
	res.Elapsed = time.Since(start)
	return res, nil
}

// fileDigest names a file by its content, and checks in the same read that
// producer.File can produce every line of it (producer.CheckFile): a file
// with a line too large for a Kafka record fails here, before any of it is
// produced, with the line number and the limit.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	r := io.TeeReader(f, h)
	if err := producer.CheckFile(r); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // CheckFile reads to the end; to be sure
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
