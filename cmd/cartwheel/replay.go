package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
)

func newReplayCmd(g *globals) *cobra.Command {
	var (
		events, dsn, project string
		noModels             bool
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Push a JSON-lines file through the streaming path, close every session, then build the models",
		Long: `Replay a JSON-lines file through the same path as live traffic: an embedded
broker, the consumer group, validation, de-duplication, event-time
sessionization and exactly-once commits. At the end of the file every open
session is closed; then the models are built (unless --no-models).

The file is identified by its content: replaying it again resumes an
interrupted replay and never loads it twice. Blank lines (empty, or spaces
and tabs only) are not records and are skipped; every other line is one
record, rejected into rejected_events if it is not a valid event. A line too
large for a Kafka record (about 1 MiB) fails the replay before anything is
produced.`,
		Example: `  cartwheel replay --events events.jsonl
  cartwheel replay --events events.jsonl --warehouse duckdb:///tmp/test.duckdb --no-models`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			if events == "" {
				return fmt.Errorf("--events FILE.jsonl is required")
			}
			if cmd.Flags().Changed("warehouse") {
				cfg.Warehouse = dsn
			}
			if cmd.Flags().Changed("project") {
				cfg.Project = project
			}
			var opts []appliance.ReplayOption
			if g.progress != nil {
				opts = append(opts, appliance.WithProgress(func(p appliance.ReplayProgress) {
					if !g.progress.started() && p.Total > 0 {
						g.progress.start(p.Total, "replaying", "records", 100*time.Millisecond)
					}
					g.progress.set(p.Committed)
				}))
			}
			res, err := appliance.Replay(cmd.Context(), cfg, events, log, opts...)
			g.progress.stop() // for the summary or the error
			if err != nil {
				return err
			}
			s := res.Stats
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d records in %s (%.0f records/s): %d accepted (%d late), %d rejected, %d sessions\n",
				s.Records, res.Elapsed.Round(time.Millisecond), float64(s.Records)/res.Elapsed.Seconds(), s.Accepted, s.Late, s.Rejected, s.Sessions)
			if noModels {
				return nil
			}
			return buildAfterReplay(cmd, g, cfg)
		},
	}
	cmd.Flags().StringVar(&events, "events", "", "JSON-lines file of events (required)")
	cmd.Flags().StringVar(&dsn, "warehouse", "", "warehouse DSN (default duckdb://data/cartwheel.duckdb)")
	cmd.Flags().StringVar(&project, "project", "", "build the project in `DIR` (default: the built-in project)")
	cmd.Flags().BoolVar(&noModels, "no-models", false, "do not build the models after streaming")
	return cmd
}
