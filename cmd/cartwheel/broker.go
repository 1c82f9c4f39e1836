package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
)

func newBrokerCmd(g *globals) *cobra.Command {
	var listen, dataDir string
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a standalone embedded Kafka broker for multi-process set-ups",
		Long: `Run the embedded Kafka broker (franz-go kfake) on its own, with the events
and events.dlq topics, so that several cartwheel processes (generate, run)
can share it. With --data-dir the log survives restarts. Its consumer groups
fence a member that stopped heartbeating after kafka.session_timeout (10s
by default; heartbeats every fifth of it): a consumer restarted after a
crash gets the dead process's partitions that long after the crash.`,
		Example: `  cartwheel broker --listen 127.0.0.1:9092 --data-dir data/kafka
  cartwheel run --brokers 127.0.0.1:9092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				return err
			}
			return appliance.Broker(cmd.Context(), cfg, listen, dataDir, func(addr string) {
				fmt.Fprintln(cmd.OutOrStdout(), addr)
			}, log)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9092", "listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "persist the log in this directory (default: in memory)")
	return cmd
}
