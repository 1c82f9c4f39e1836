package appliance

import (
	"context"
	"log/slog"

	"github.com/cartwheel-analytics/cartwheel/broker"
)

// Broker runs a standalone embedded broker for multi-process set-ups until
// ctx is done. started receives its address.
func Broker(ctx context.Context, cfg Config, listen, dataDir string, started func(addr string), log *slog.Logger) error {
	opts := []broker.Option{
		broker.WithListen(listen),
		broker.WithTopics(broker.Topic{Name: cfg.Kafka.Topic, Partitions: cfg.Kafka.Partitions},
			broker.Topic{Name: cfg.Kafka.DLQTopic, Partitions: cfg.Kafka.Partitions}),
		broker.WithRetention(cfg.Kafka.RetentionBytes, cfg.Kafka.Retention),
		broker.WithSessionTimeout(cfg.Kafka.SessionTimeout),
		broker.WithLogger(log),
	}
	if dataDir != "" {
		opts = append(opts, broker.WithDataDir(dataDir))
	}
	b, err := broker.Start(opts...)
	if err != nil {
		return err
	}
	defer b.Close()
	log.Info("broker listening", "addr", b.Addrs()[0], "data_dir", dataDir, "session_timeout", cfg.Kafka.SessionTimeout)
	if started != nil {
		started(b.Addrs()[0])
	}
	return b.Run(ctx)
}
