// Command cartwheel is the Cartwheel appliance: a real-time e-commerce
// analytics pipeline in one process. See `cartwheel --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs a command line and returns its exit status; a failure is
// one line on stderr.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "cartwheel: "+oneLine(err.Error()))
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	return 1
}

// exitCode lets a command choose its exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// globals are the flags every command shares.
type globals struct {
	configPath string
	logLevel   string
	cpuProfile string
	// progress is stderr's last line when stderr is a terminal (nil
	// otherwise), where long work draws its progress; logs erase it first.
	progress *progressLine
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "cartwheel",
		Short: "A local-first, real-time e-commerce analytics appliance",
		Long: `Cartwheel does in one process what Kafka, Spark Structured Streaming,
Redshift, dbt, Airflow and Grafana do together: it ingests shop events,
sessionizes them in event time, commits them exactly once to a warehouse
(DuckDB locally; PostgreSQL or Redshift in production) and serves the results.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "YAML configuration file (defaults apply to what it leaves out)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn or error (default from config: info)")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	var profile *os.File
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		g.progress = newProgressLine(cmd.ErrOrStderr())
		if g.cpuProfile == "" {
			return nil
		}
		f, err := os.Create(g.cpuProfile)
		if err != nil {
			return err
		}
		profile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if profile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		return profile.Close()
	}
	root.AddCommand(newRunCmd(g), newGenerateCmd(g), newReplayCmd(g), newBrokerCmd(g), newQueryCmd(g), newModelsCmd(g), newInitCmd(g))
	root.AddCommand(newGrafanaCmd(g))
	root.AddCommand(newDagsCmd(g))
	// Cobra adds these two at Execute; added now, they get the checks below.
	root.InitDefaultCompletionCmd()
	strictHelp(root)
	rejectUnknownSubcommands(root)
	groupUsage(root)
	return root
}

// load reads the configuration and builds the logger.
func (g *globals) load() (appliance.Config, *slog.Logger, error) {
	cfg, err := appliance.LoadConfig(g.configPath)
	if err != nil {
		return cfg, nil, err
	}
	if g.logLevel != "" {
		cfg.LogLevel = g.logLevel
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return cfg, nil, fmt.Errorf("log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	log := slog.New(slog.NewTextHandler(g.progress.writer(os.Stderr), &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	return cfg, log, nil
}
