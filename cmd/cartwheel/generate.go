package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/generator"
	"github.com/cartwheel-analytics/cartwheel/producer"
)

func newGenerateCmd(g *globals) *cobra.Command {
	var (
		gc                  = generator.DefaultConfig()
		events              int64
		duration            time.Duration
		rate                float64
		out, brokers, topic string
		start               string
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate realistic shop traffic to a JSON-lines file or a Kafka topic",
		Long: `Generate a deterministic clickstream: a user population with skewed activity,
sessions with a funnel (page views, add to cart, purchase), a product
catalog, device and country mix and a daily traffic curve. The same seed and
flags give byte-identical output.

To a file (--out), --duration is a span of simulated time starting at
--start (default 2026-11-01T00:00:00Z); nothing waits for the wall clock.
To Kafka (--brokers), records are paced at --rate per second, starting at
simulated time --start (default 24h ago); a record whose time is still
ahead of the wall clock waits, so no event_time is ever in the future.
The config's kafka.tls and kafka.sasl settings secure the connection (the
password from CARTWHEEL_KAFKA_PASSWORD or CARTWHEEL_KAFKA_PASSWORD_FILE).

--out-of-order, --late, --duplicate and --malformed inject irregular records
at the given rate (each in [0, 1]).`,
		Example: `  cartwheel generate --seed 7 --events 1000000 --out events.jsonl
  cartwheel generate --seed 7 --duration 24h --late 0.01 --malformed 0.001 --out day.jsonl
  cartwheel generate --seed 7 --duration 10m --rate 5000 --brokers 127.0.0.1:9092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("events") == f.Changed("duration") {
				return errors.New("give exactly one of --events and --duration")
			}
			if (out == "") == (brokers == "") {
				return errors.New("give exactly one of --out and --brokers")
			}
			if events < 0 || duration < 0 || rate < 0 {
				return errors.New("--events, --duration and --rate must not be negative")
			}
			if start != "" {
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return fmt.Errorf("--start: %w", err)
				}
				gc.Start = t.UTC()
			} else if brokers != "" {
				gc.Start = time.Now().Add(-24 * time.Hour).UTC()
			}
			var kopts []kgo.Opt // TLS and SASL of the config's kafka section
			if brokers != "" {
				if kopts, err = cfg.Kafka.SecurityOptions(); err != nil {
					return err
				}
				cfg.Kafka.WarnInsecure(log)
			}
			gen, err := generator.New(gc)
			if err != nil {
				return err
			}
			began := time.Now()
			var st generator.Stats
			if out != "" {
				// A bar of the records written, unless they go to stdout.
				var progress *progressLine
				if out != "-" {
					progress = g.progress
				}
				st, err = generateFile(gen, out, events, duration, rate, progress)
			} else {
				st, err = generateKafka(cmd, gen, splitList(brokers), kopts, topic, events, duration, rate)
			}
			if err != nil {
				return err
			}
			el := time.Since(began)
			fmt.Fprintf(cmd.ErrOrStderr(), "generated %d records in %s (%.0f/s): %d page views, %d add to carts, %d purchases, %d out of order, %d late, %d duplicates, %d malformed\n",
				st.Records, el.Round(time.Millisecond), float64(st.Records)/el.Seconds(), st.PageViews, st.AddToCarts, st.Purchases,
				st.OutOfOrder, st.Late, st.Duplicates, st.MalformedTotal())
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&gc.Seed, "seed", gc.Seed, "random seed")
	f.Int64Var(&events, "events", 0, "number of records")
	f.DurationVar(&duration, "duration", 0, "simulated time span (file) or wall-clock time (Kafka)")
	f.Float64Var(&rate, "rate", 0, "records per second (default: as fast as possible to a file, 5000 to Kafka)")
	f.StringVar(&out, "out", "", "write JSON lines to this file (- for stdout)")
	f.StringVar(&brokers, "brokers", "", "produce to these comma-separated Kafka brokers")
	f.StringVar(&topic, "topic", "events", "Kafka topic")
	f.StringVar(&start, "start", "", "simulated start time, RFC 3339")
	f.IntVar(&gc.Users, "users", gc.Users, "user population")
	f.IntVar(&gc.Products, "products", gc.Products, "product catalog size")
	f.Float64Var(&gc.CartRate, "cart-rate", gc.CartRate, "share of sessions that add to cart")
	f.Float64Var(&gc.PurchaseRate, "purchase-rate", gc.PurchaseRate, "share of carts that are bought")
	f.Float64Var(&gc.OutOfOrder, "out-of-order", 0, "rate of records emitted a little after newer ones (still on time)")
	f.Float64Var(&gc.Late, "late", 0, "rate of records emitted later than the allowed lateness")
	f.Float64Var(&gc.Duplicate, "duplicate", 0, "rate of records emitted twice")
	f.Float64Var(&gc.Malformed, "malformed", 0, "rate of malformed records (every rejection reason)")
	f.BoolVar(&gc.ExoticUserIDs, "exotic-user-ids", gc.ExoticUserIDs, "include user ids with quotes, commas and non-Latin letters")
	return cmd
}

// generateFile writes to path ("-": stdout), with a bar of the records on
// progress (when not nil).
func generateFile(gen *generator.Generator, path string, events int64, duration time.Duration, rate float64, progress *progressLine) (generator.Stats, error) {
	var w io.Writer = os.Stdout
	var file *os.File // nil: stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return generator.Stats{}, err
		}
		defer f.Close()
		w, file = f, f
	}
	if progress != nil {
		total := int64(-1) // --duration: unknown
		if events > 0 || duration == 0 {
			total = events
		}
		if total != 0 {
			progress.start(total, "generating", "records", 100*time.Millisecond)
			defer progress.stop() // the summary follows
			w = lineCounter{w: w, l: progress}
		}
	}
	if rate > 0 {
		return generatePaced(gen, w, events, duration, rate)
	}
	var st generator.Stats
	var err error
	if events > 0 || duration == 0 {
		st, err = gen.WriteJSONL(w, int(events))
	} else {
		st, err = gen.WriteJSONLUntil(w, gen.Config().Start.Add(duration))
	}
	if err != nil {
		return st, fmt.Errorf("write %s: %w", path, err)
	}
	if file != nil {
		return st, file.Sync()
	}
	return st, nil
}

// generatePaced writes at most rate records per second.
func generatePaced(gen *generator.Generator, w io.Writer, events int64, duration time.Duration, rate float64) (generator.Stats, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	began := time.Now()
	end := gen.Config().Start.Add(duration)
	var buf []byte
	for n := int64(0); ; n++ {
		if events > 0 && n >= events {
			break
		}
		rec, _, emitAt := gen.Next(buf[:0])
		if events == 0 && !emitAt.Before(end) {
			break
		}
		if d := time.Until(began.Add(time.Duration(float64(n) / rate * float64(time.Second)))); d > 0 {
			bw.Flush()
			time.Sleep(d)
		}
		bw.Write(rec)
		bw.WriteByte('\n')
		buf = rec
	}
	return gen.Stats(), bw.Flush()
}

func generateKafka(cmd *cobra.Command, gen *generator.Generator, brokers []string, kopts []kgo.Opt, topic string, events int64, duration time.Duration, rate float64) (generator.Stats, error) {
	if rate == 0 {
		rate = 5000
	}
	cl, err := kgo.NewClient(append(append(producer.ClientOptions(), kopts...), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return generator.Stats{}, err
	}
	defer cl.Close()
	pace := producer.Pace{Rate: rate, Records: events}
	if duration > 0 {
		pace.Until = time.Now().Add(duration)
	}
	_, err = producer.Generated(cmd.Context(), cl, topic, gen, pace)
	return gen.Stats(), err
}
