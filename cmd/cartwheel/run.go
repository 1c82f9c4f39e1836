package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
)

func newRunCmd(g *globals) *cobra.Command {
	var (
		dsn, brokers, httpAddr, project string
		pgAddr                          string
		rate                            float64
		duration                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the appliance: broker, demo traffic, streaming pipeline, warehouse and HTTP server",
		Long: `Run the appliance until interrupted (SIGINT/SIGTERM; it then commits what it
has read and stops).

Locally it embeds a Kafka broker (franz-go kfake, log under data/kafka) and a
DuckDB warehouse (data/cartwheel.duckdb), and generates demo traffic: a
simulated day of shopping compressed into minutes. With --brokers it
consumes an external Kafka cluster instead; --warehouse postgres://… or
redshift://… selects a production warehouse.

While it runs, 'cartwheel query' reaches the DuckDB file through the
appliance's HTTP API.`,
		Example: `  cartwheel run
  cartwheel run --rate 0 --brokers kafka-1:9092,kafka-2:9092 --warehouse postgres://cartwheel@db/analytics
  cartwheel run --duration 2m --http 127.0.0.1:0
  cartwheel run --project my-project`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("warehouse") {
				cfg.Warehouse = dsn
			}
			if cmd.Flags().Changed("brokers") {
				cfg.Kafka.Brokers = splitList(brokers)
			}
			if cmd.Flags().Changed("http") {
				cfg.HTTP = httpAddr
			}
			if cmd.Flags().Changed("pg") {
				cfg.PG = pgAddr
			}
			if cmd.Flags().Changed("rate") {
				cfg.Generator.Rate = rate
			}
			if cmd.Flags().Changed("project") {
				cfg.Project = project
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return appliance.Run(cmd.Context(), cfg, appliance.RunOptions{Duration: duration}, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dsn, "warehouse", "", "warehouse DSN: duckdb://PATH, postgres://… or redshift://… (default duckdb://data/cartwheel.duckdb)")
	f.StringVar(&brokers, "brokers", "", "comma-separated Kafka brokers (default: the embedded broker)")
	f.StringVar(&httpAddr, "http", "", "HTTP listen address of the dashboard and API (default 127.0.0.1:8080)")
	f.StringVar(&pgAddr, "pg", "", `Postgres wire-protocol listen address for psql, Grafana and drivers; "" turns it off (default 127.0.0.1:5433)`)
	f.Float64Var(&rate, "rate", 0, "demo events per second; 0 turns the generator off (default 2000)")
	f.DurationVar(&duration, "duration", 0, "stop after this long (default: run until interrupted)")
	f.StringVar(&project, "project", "", "build the project in `DIR` (default: the built-in project, which 'cartwheel init' writes out)")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
