package appliance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/producer"
	"github.com/cartwheel-analytics/cartwheel/streaming"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// RunOptions are the knobs of Run that are not configuration.
type RunOptions struct {
	// Duration stops the appliance after this long (0: until ctx ends).
	Duration time.Duration
	// Started, if set, receives the HTTP address once everything serves.
	Started func(httpAddr string)
}

// Run runs the appliance — embedded broker (unless external brokers are
// configured), demo traffic, streaming pipeline, warehouse and HTTP server —
// until ctx is done, then shuts down in order with a final commit.
func Run(ctx context.Context, cfg Config, opts RunOptions, log *slog.Logger) error {
	err := run(ctx, cfg, opts, log)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // stopped while starting: a clean shutdown
	}
	return err
}

func run(ctx context.Context, cfg Config, opts RunOptions, log *slog.Logger) error {
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := streaming.NewMetrics(reg)

	brokers := cfg.Kafka.Brokers
	topics := []broker.Topic{{Name: cfg.Kafka.Topic, Partitions: cfg.Kafka.Partitions}, {Name: cfg.Kafka.DLQTopic, Partitions: cfg.Kafka.Partitions}}
	var embedded *broker.Broker
	if len(brokers) == 0 {
		bopts := []broker.Option{
			broker.WithDataDir(filepath.Join(cfg.DataDir, "kafka")), broker.WithTopics(topics...),
			broker.WithRetention(cfg.Kafka.RetentionBytes, cfg.Kafka.Retention), broker.WithLogger(log),
		}
		if cfg.Kafka.SyncWrites {
			bopts = append(bopts, broker.WithSyncWrites())
		}
		b, err := broker.Start(bopts...)
		if err != nil {
			return err
		}
		defer b.Close()
		embedded, brokers = b, b.Addrs()
		log.Info("embedded broker started", "addr", brokers[0], "data_dir", filepath.Join(cfg.DataDir, "kafka"))
	} else if err := broker.EnsureTopics(ctx, brokers, topics); err != nil {
		return err
	}

	dbPath := DuckDBPath(cfg.Warehouse)
	if dbPath != "" {
		lock, err := lockAppliance(ctx, dbPath)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	db, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		return err
	}
	defer db.Close()

	popts := []streaming.Option{
		streaming.WithBrokers(brokers...),
		streaming.WithTopics(cfg.Kafka.Topic, cfg.Kafka.DLQTopic),
		streaming.WithGroup(cfg.Kafka.Group),
		streaming.WithWindows(cfg.Streaming.SessionGap, cfg.Streaming.AllowedLateness),
		streaming.WithBatch(cfg.Streaming.BatchSize, cfg.Streaming.BatchDelay),
		streaming.WithMetrics(metrics),
		streaming.WithLogger(log),
	}
	if cfg.Streaming.IdleTimeout > 0 {
		popts = append(popts, streaming.WithLive(cfg.Streaming.IdleTimeout))
	}
	if cfg.Kafka.InstanceID != "" {
		popts = append(popts, streaming.WithKafkaOptions(kgo.InstanceID(cfg.Kafka.InstanceID)))
	}
	pipeline, err := streaming.New(db, popts...)
	if err != nil {
		return err
	}

	project, err := LoadProject(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	token := cfg.Token
	if token == "" {
		token = randomToken()
	}
	started := time.Now()
	server := api.New(db,
		api.WithToken(token),
		api.WithGatherer(reg),
		api.WithLogger(log),
		api.WithAction("/api/models", modelsHandler(db, project)),
		api.WithReady(func() error {
			if s := pipeline.Stats(); s.Batches == 0 && time.Since(started) > time.Minute {
				return errors.New("no batch committed yet")
			}
			return nil
		}),
		api.WithStatus(func() any {
			s := pipeline.Stats()
			return map[string]any{"warehouse": string(db.Dialect()), "brokers": brokers, "uptime_seconds": time.Since(started).Seconds(),
				"records": s.Records, "accepted": s.Accepted, "late": s.Late, "rejected": s.Rejected, "sessions": s.Sessions,
				"batches": s.Batches, "last_commit": s.LastCommit}
		}),
	)
	httpAddr := ln.Addr().String()
	if dbPath != "" {
		if err := writeRuntime(dbPath, runtimeInfo{PID: os.Getpid(), HTTP: httpAddr, Token: token}); err != nil {
			ln.Close()
			return err
		}
		defer os.Remove(runtimePath(dbPath))
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return server.Serve(gctx, ln) })
	g.Go(func() error { return pipeline.Run(gctx) })
	if embedded != nil {
		g.Go(func() error { return embedded.Run(gctx) })
	}
	if cfg.Generator.Rate > 0 {
		g.Go(func() error { return runGenerator(gctx, cfg, brokers, log) })
	}
	log.Info("cartwheel is running", "dashboard", "http://"+httpAddr+"/", "warehouse", warehouse.RedactDSN(cfg.Warehouse),
		"generator_rate", cfg.Generator.Rate)
	if opts.Started != nil {
		opts.Started(httpAddr)
	}
	err = g.Wait()
	s := pipeline.Stats()
	log.Info("cartwheel stopped", "records", s.Records, "accepted", s.Accepted, "rejected", s.Rejected, "sessions", s.Sessions)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// DemoGenerator returns the generator of the live demo: its simulated clock
// starts Backfill ago and runs Speedup times faster than the wall clock
// until it catches up; the user population is sized so that the compressed
// traffic comes at about Rate events per second.
func DemoGenerator(c GeneratorConfig, now time.Time) (*generator.Generator, generator.Clock, error) {
	gc := generator.DefaultConfig()
	gc.Seed = c.Seed
	gc.Start = now.Add(-c.Backfill).UTC()
	gc.Speedup = c.Speedup
	gc.OutOfOrder, gc.Late, gc.Duplicate, gc.Malformed = c.OutOfOrder, c.Late, c.Duplicate, c.Malformed
	probe, err := generator.New(gc)
	if err != nil {
		return nil, generator.Clock{}, err
	}
	perUser := probe.RecordsPerSimSecond() / float64(gc.Users)
	users := c.Rate / (perUser * c.Speedup)
	gc.Users = int(math.Min(math.Max(users, 100), generator.MaxUsers))
	g, err := generator.New(gc)
	if err != nil {
		return nil, generator.Clock{}, err
	}
	return g, g.Clock(now), nil
}

func runGenerator(ctx context.Context, cfg Config, brokers []string, log *slog.Logger) error {
	g, clock, err := DemoGenerator(cfg.Generator, time.Now())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(producer.ClientOptions(), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	log.Info("generator started", "rate", cfg.Generator.Rate, "users", g.Config().Users, "speedup", cfg.Generator.Speedup,
		"sim_start", g.Config().Start)
	_, err = producer.Generated(ctx, cl, cfg.Kafka.Topic, g, producer.Pace{Rate: cfg.Generator.Rate, Clock: &clock})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
