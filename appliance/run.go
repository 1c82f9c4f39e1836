package appliance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/internal/authlimit"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/pgwire"
	"github.com/cartwheel-analytics/cartwheel/producer"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
	"github.com/cartwheel-analytics/cartwheel/scheduler/web"
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
	// Before anything starts: a bad setting must not surface only once the
	// broker, the warehouse and the HTTP server run.
	if err := cfg.Validate(); err != nil {
		return err
	}
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
	// kopts secure every client of an external cluster (TLS, SASL); the
	// embedded broker is plaintext.
	var kopts []kgo.Opt
	if len(brokers) > 0 {
		var err error
		if kopts, err = cfg.Kafka.SecurityOptions(); err != nil {
			return err
		}
		cfg.Kafka.WarnInsecure(log)
	} else if cfg.Kafka.TLS.Enabled || cfg.Kafka.SASL.Mechanism != "" {
		log.Warn("kafka.tls and kafka.sasl apply to external brokers only: the embedded broker is plaintext")
	}
	topics := []broker.Topic{{Name: cfg.Kafka.Topic, Partitions: cfg.Kafka.Partitions}, {Name: cfg.Kafka.DLQTopic, Partitions: cfg.Kafka.Partitions}}
	var embedded *broker.Broker
	if len(brokers) == 0 {
		bopts := []broker.Option{
			broker.WithDataDir(filepath.Join(cfg.DataDir, "kafka")), broker.WithTopics(topics...),
			broker.WithRetention(cfg.Kafka.RetentionBytes, cfg.Kafka.Retention), broker.WithLogger(log),
			broker.WithSessionTimeout(cfg.Kafka.SessionTimeout),
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
	} else if err := broker.EnsureTopics(ctx, brokers, topics, kopts...); err != nil {
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
	db, err := warehouse.Open(ctx, cfg.Warehouse, warehouse.QueryLimits(cfg.Query.Limits()), warehouse.WithLogger(log))
	if err != nil {
		return err
	}
	defer db.Close()

	popts := []streaming.Option{
		streaming.WithBrokers(brokers...),
		streaming.WithTopics(cfg.Kafka.Topic, cfg.Kafka.DLQTopic),
		streaming.WithGroup(cfg.Kafka.Group),
		streaming.WithGroupProtocol(cfg.Kafka.Protocol()),
		streaming.WithStream(liveStream(cfg)),
		streaming.WithWindows(cfg.Streaming.SessionGap, cfg.Streaming.AllowedLateness),
		streaming.WithBatch(cfg.Streaming.BatchSize, cfg.Streaming.BatchDelay),
		streaming.WithMetrics(metrics),
		streaming.WithLogger(log),
		streaming.WithKafkaOptions(kopts...), // its consumer and the DLQ producer
	}
	if cfg.Streaming.IdleTimeout > 0 {
		popts = append(popts, streaming.WithLive(cfg.Streaming.IdleTimeout))
	}
	if cfg.Kafka.InstanceID != "" {
		popts = append(popts, streaming.WithKafkaOptions(kgo.InstanceID(cfg.Kafka.InstanceID)))
	}
	// The dashboard's consumer lag: the topic's end offsets less the
	// committed ones.
	admin, err := kgo.NewClient(append(append([]kgo.Opt{}, kopts...), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return err
	}
	defer admin.Close()
	lag := dashboard.NewLag(func(ctx context.Context) (map[int32]int64, error) {
		return broker.EndOffsets(ctx, admin, cfg.Kafka.Topic)
	})
	popts = append(popts, streaming.WithCommittedOffsets(lag.Committed))
	pipeline, err := streaming.New(db, popts...)
	if err != nil {
		return err
	}

	project, err := LoadProject(cfg)
	if err != nil {
		return err
	}
	dags, err := LoadDAGs(cfg)
	if err != nil {
		return err
	}
	gate := newModelsGate() // DAG models tasks and POST /api/models, one at a time
	sched, err := scheduler.New(ctx, db, dags, schedulerOptions(cfg, db, project, gate, log, reg)...)
	if err != nil {
		return err
	}
	panels, err := dashboard.Load(ProjectFS(cfg.Project))
	if err != nil {
		return err
	}
	dash := dashboard.New(panels, db, dashboard.WithMetrics(reg), dashboard.WithLag(lag.Measure), dashboard.WithLogger(log),
		dashboard.WithLastDAGRun(sched.LastRunState), dashboard.WithLink("DAGs", "/dags"),
		dashboard.WithDocs(dashboard.LazyDir(filepath.Join(cfg.DataDir, "docs"), func(ctx context.Context, dir string) error {
			_, err := models.Docs(ctx, db, project, dir)
			return err
		})))
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	token := cfg.Token
	if token == "" {
		token = randomToken()
	}
	started := time.Now()
	sopts := []api.Option{}
	for pattern, h := range dash.Routes() {
		sopts = append(sopts, api.WithGET(pattern, h))
	}
	dagPages := web.New(sched, web.WithLogger(log))
	for pattern, h := range dagPages.Routes() {
		sopts = append(sopts, api.WithGET(pattern, h))
	}
	for pattern, h := range dagPages.Actions() {
		sopts = append(sopts, api.WithPOST(pattern, h))
	}
	// One budget of wrong tokens per client address, over HTTP and Postgres.
	attempts := authlimit.New()
	server := api.New(db, append(sopts,
		api.WithAllowedHosts(cfg.HTTPHosts...),
		api.WithToken(token),
		api.WithAuthLimiter(attempts),
		api.WithGatherer(reg),
		api.WithLogger(log),
		api.WithAction("/api/models", gate.action(modelsHandler(db, project))),
		api.WithReady(func() error { return pipeline.Health().Ready() }),
		api.WithStatus(func() any {
			s, h := pipeline.Stats(), pipeline.ConsumerHealth()
			consumer := map[string]any{"group_protocol": cfg.Kafka.Protocol(), "partitions": h.Partitions, "retrying": h.Retrying, "errors": h.Errors}
			if h.Retrying {
				consumer["error_kind"], consumer["error"], consumer["retrying_since"] = h.Kind, h.Err.Error(), h.Since
			}
			return map[string]any{"warehouse": string(db.Dialect()), "brokers": brokers, "uptime_seconds": time.Since(started).Seconds(),
				"records": s.Records, "accepted": s.Accepted, "late": s.Late, "rejected": s.Rejected, "sessions": s.Sessions,
				"batches": s.Batches, "last_commit": s.LastCommit, "consumer": consumer}
		}),
	)...)
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
	if !cfg.Scheduler.Disabled {
		g.Go(func() error { return sched.Run(gctx) })
	}
	g.Go(func() error { return servePG(gctx, cfg, db, token, reg, log, pgwire.WithAuthLimiter(attempts)) })
	if embedded != nil {
		g.Go(func() error { return embedded.Run(gctx) })
	}
	if cfg.Generator.Rate > 0 {
		g.Go(func() error { return runGenerator(gctx, cfg, db, brokers, kopts, log) })
	}
	log.Info("cartwheel is running", "dashboard", "http://"+httpAddr+"/", "warehouse", warehouse.RedactDSN(cfg.Warehouse),
		"generator_rate", cfg.Generator.Rate, "group_protocol", cfg.Kafka.Protocol())
	if opts.Started != nil {
		opts.Started(httpAddr)
	}
	err = g.Wait()
	s := pipeline.Stats()
	log.Info("cartwheel stopped", "records", s.Records, "accepted", s.Accepted, "rejected", s.Rejected, "sessions", s.Sessions)
	return exitErr(ctx, err)
}

// exitErr is what run returns for the error its components stopped with:
// nil for a stop asked for through ctx. A component that failed on its own
// is a failure even when its error wraps a context error (a query of its
// own canceled): swallowed, a pipeline that stopped made `cartwheel run`
// exit with status 0.
func exitErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil
	}
	return err
}

// liveStream is the name under which the pipeline of `cartwheel run`
// stores the events of its topic and consumer group.
func liveStream(cfg Config) string { return streaming.LiveStream(cfg.Kafka.Topic, cfg.Kafka.Group) }

// History is what the live stream already holds when the appliance starts,
// so that a restarted demo generator continues it instead of going back in
// time.
type History struct {
	// Last is the latest event time of the stream (zero: none yet).
	Last time.Time
	// LastSeen holds the latest event time of each user active shortly
	// before Last (within the demo generator's session spacing).
	LastSeen map[string]time.Time
}

// DemoGenerator returns the generator of the live demo: its simulated clock
// starts Backfill ago, or where the stream's history stops if that is
// later, and runs Speedup times faster than the wall clock until it catches
// up; the user population is sized so that the compressed traffic comes at
// about Rate events per second. Each call is a new run of the same shop:
// its event ids carry a fresh run id (never those of an earlier run) and
// its users take up where History left them.
func DemoGenerator(c GeneratorConfig, now time.Time, h History) (*generator.Generator, generator.Clock, error) {
	gc := demoConfig(c, now, h)
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
	g.ContinueUsers(h.LastSeen)
	return g, g.Clock(now), nil
}

// demoConfig is the configuration of DemoGenerator before it sizes the
// user population (Config.Validate checks it too).
func demoConfig(c GeneratorConfig, now time.Time, h History) generator.Config {
	gc := generator.DefaultConfig()
	gc.Seed = c.Seed
	gc.RunID = generator.NewRunID(now)
	gc.Start = now.Add(-c.Backfill).UTC()
	if h.Last.After(gc.Start) {
		// New events then come after everything stored or queued, so the
		// restored watermarks find them on time; never ahead of the wall
		// clock.
		gc.Start = h.Last.UTC()
		if gc.Start.After(now) {
			gc.Start = now.UTC()
		}
	}
	gc.Speedup = c.Speedup
	gc.OutOfOrder, gc.Late, gc.Duplicate, gc.Malformed = c.OutOfOrder, c.Late, c.Duplicate, c.Malformed
	return gc
}

// demoSpacing is the least time between two sessions of a user of the demo
// generator (its session gap and margin): users last seen longer ago than
// that before the generator's start need no history.
func demoSpacing() time.Duration { return generator.DefaultConfig().SessionGap + time.Minute }

// runGenerator produces the demo traffic; kopts are the security options
// of an external cluster (none for the embedded broker).
func runGenerator(ctx context.Context, cfg Config, db *warehouse.DB, brokers []string, kopts []kgo.Opt, log *slog.Logger) error {
	cl, err := kgo.NewClient(append(append(producer.ClientOptions(), kopts...), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	h, err := streamHistory(ctx, cfg, db, brokers, kopts, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// Event ids are unique per run whatever the history; without it
		// the first events may only come late.
		log.Warn("generator: cannot read the stream's history; starting from the backfill", "err", err)
	}
	g, clock, err := DemoGenerator(cfg.Generator, time.Now(), h)
	if err != nil {
		return err
	}
	gc := g.Config()
	attrs := []any{"rate", cfg.Generator.Rate, "users", gc.Users, "speedup", cfg.Generator.Speedup,
		"run_id", gc.RunID, "sim_start", gc.Start}
	if !h.Last.IsZero() {
		attrs = append(attrs, "stream_until", h.Last, "recent_users", len(h.LastSeen))
	}
	// The first two simulated hours (or less, up to now) go out at once, so
	// that sessions close and every dashboard panel has data within
	// seconds of a fresh start; the same records in the same order, only
	// sooner. Then the clock paces the rest from where the burst ended.
	burst := min(demoBurst, time.Since(gc.Start))
	if n := int64(g.RecordsPerSimSecond() * burst.Seconds()); n > 0 {
		log.Info("generator started", append(attrs, "burst", burst, "burst_records", n)...)
		if _, err := producer.Generated(ctx, cl, cfg.Kafka.Topic, g, producer.Pace{Records: n}); err != nil || ctx.Err() != nil {
			return err
		}
		clock.Start, clock.WallStart = gc.Start.Add(burst), time.Now()
	} else {
		log.Info("generator started", attrs...)
	}
	_, err = producer.Generated(ctx, cl, cfg.Kafka.Topic, g, producer.Pace{Rate: cfg.Generator.Rate, Clock: &clock})
	return err
}

// demoBurst is how much simulated time the demo generator produces at once
// when it starts: well past the 40 minutes (the session gap and the allowed
// lateness) after which its first sessions close, so that the sessions of
// the dashboard's first minutes of range are closed too. (The records are
// counted from the generator's average rate, which runs ahead of its
// ramp-up: an hour's worth reached 43 minutes of shop time and closed only
// the sessions of the first three, most before the page's range starts.)
const demoBurst = 2 * time.Hour

// tailRecords is how many records at the end of each partition of the
// topic streamHistory reads: more than a crash can leave unconsumed.
const tailRecords = 512

// streamHistory finds where the live stream stops: the latest event time
// among its stored events, its checkpoints' watermarks and the records at
// the end of its topic that may not be consumed yet; and when the users
// active just before that were last seen. Event times after now are
// ignored (a consumer rejects or tolerates them; the demo never makes them).
func streamHistory(ctx context.Context, cfg Config, db *warehouse.DB, brokers []string, kopts []kgo.Opt, now time.Time) (History, error) {
	h := History{LastSeen: make(map[string]time.Time)}
	see := func(user string, t time.Time) {
		if t.After(now) {
			return
		}
		if t.After(h.Last) {
			h.Last = t
		}
		if user != "" && t.After(h.LastSeen[user]) {
			h.LastSeen[user] = t
		}
	}
	err := broker.ReadTail(ctx, brokers, cfg.Kafka.Topic, tailRecords, func(r *kgo.Record) {
		var e struct {
			UserID    string `json:"user_id"`
			EventTime string `json:"event_time"`
		}
		if json.Unmarshal(r.Value, &e) != nil || e.UserID == "" {
			return
		}
		if t, err := time.Parse(time.RFC3339Nano, e.EventTime); err == nil {
			see(e.UserID, t.UTC())
		}
	}, kopts...)
	if err != nil {
		return h, fmt.Errorf("read the end of topic %s: %w", cfg.Kafka.Topic, err)
	}

	latest, err := db.LatestEventTime(ctx, liveStream(cfg))
	if err != nil {
		return h, err
	}
	see("", latest) // the zero time when there is none: no effect
	// Users last seen before the generator's start minus its session
	// spacing cannot be too close to their next session.
	from := now.Add(-cfg.Generator.Backfill)
	if h.Last.After(from) {
		from = h.Last
	}
	from = from.Add(-demoSpacing())
	for u, t := range h.LastSeen {
		if t.Before(from) {
			delete(h.LastSeen, u)
		}
	}
	if h.Last.Before(from) {
		return h, nil
	}
	recent, err := db.UsersSeenSince(ctx, liveStream(cfg), from)
	if err != nil {
		return h, err
	}
	for u, t := range recent {
		see(u, t)
	}
	return h, nil
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
