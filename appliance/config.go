// Package appliance wires Cartwheel's components — broker, generator,
// streaming pipeline, warehouse, HTTP server — from one configuration.
package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/streaming"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Config is the appliance configuration (YAML, see `cartwheel run --help`).
// Zero values take the defaults of DefaultConfig.
type Config struct {
	// DataDir holds the embedded broker's log and the runtime file.
	DataDir string `yaml:"data_dir"`
	// Warehouse is a DSN: duckdb://PATH, postgres://… or redshift://….
	Warehouse string `yaml:"warehouse"`
	// HTTP is the listen address of the dashboard and API.
	HTTP string `yaml:"http"`
	// Token protects POST actions when HTTP is not bound to loopback; it
	// may also come from CARTWHEEL_TOKEN.
	Token string `yaml:"token"`
	// Project is a dbt-style project directory (default: the built-in one,
	// see `cartwheel init`).
	Project   string          `yaml:"project"`
	Kafka     KafkaConfig     `yaml:"kafka"`
	Streaming StreamingConfig `yaml:"streaming"`
	Generator GeneratorConfig `yaml:"generator"`
	LogLevel  string          `yaml:"log_level"`
}

// KafkaConfig selects the event stream.
type KafkaConfig struct {
	// Brokers of an external cluster; empty runs the embedded broker.
	Brokers  []string `yaml:"brokers"`
	Topic    string   `yaml:"topic"`
	DLQTopic string   `yaml:"dlq_topic"`
	Group    string   `yaml:"group"`
	// InstanceID makes this consumer a static group member (KIP-345): a
	// restarted process takes its partitions back without a rebalance wait.
	InstanceID string `yaml:"instance_id"`
	Partitions int32  `yaml:"partitions"`
	// RetentionBytes bounds each embedded partition's log.
	RetentionBytes int64         `yaml:"retention_bytes"`
	Retention      time.Duration `yaml:"retention"`
	// SyncWrites fsyncs the embedded log on every produce.
	SyncWrites bool `yaml:"sync_writes"`
}

// StreamingConfig holds the sessionization and micro-batch settings.
type StreamingConfig struct {
	SessionGap      time.Duration `yaml:"session_gap"`
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// IdleTimeout: a partition silent this long advances its watermark with
	// the wall clock; 0 turns that off (deterministic consumption).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	BatchSize   int           `yaml:"batch_size"`
	BatchDelay  time.Duration `yaml:"batch_delay"`
}

// GeneratorConfig drives the demo traffic of `cartwheel run`.
type GeneratorConfig struct {
	// Rate in events per second; 0 turns the generator off.
	Rate float64 `yaml:"rate"`
	// Seed selects the shop (catalog and users). Every run also draws a
	// run id, part of its event ids (e-<seed>-<run>-<n>), so a restart
	// never repeats an event id of an earlier run.
	Seed uint64 `yaml:"seed"`
	// Speedup compresses simulated time (60: a day in 24 minutes) until it
	// catches up with the wall clock; Backfill is how far in the past the
	// simulated clock starts — on a restart, where the stream's events
	// stop if that is later.
	Speedup  float64       `yaml:"speedup"`
	Backfill time.Duration `yaml:"backfill"`
	// Bad-record rates, each in [0, 1].
	OutOfOrder float64 `yaml:"out_of_order"`
	Late       float64 `yaml:"late"`
	Duplicate  float64 `yaml:"duplicate"`
	Malformed  float64 `yaml:"malformed"`
}

// DefaultConfig returns the laptop-demo configuration.
func DefaultConfig() Config {
	return Config{
		DataDir:   "data",
		Warehouse: warehouse.DefaultDSN,
		HTTP:      "127.0.0.1:8080",
		Kafka: KafkaConfig{
			Topic: streaming.DefaultTopic, DLQTopic: streaming.DefaultDLQTopic, Group: streaming.DefaultGroup,
			Partitions: broker.DefaultPartitions, RetentionBytes: broker.DefaultRetentionBytes, Retention: broker.DefaultRetention,
		},
		Streaming: StreamingConfig{
			SessionGap: streaming.DefaultGap, AllowedLateness: streaming.DefaultLateness, IdleTimeout: streaming.DefaultIdleTimeout,
			BatchSize: streaming.DefaultBatchSize, BatchDelay: streaming.DefaultBatchDelay,
		},
		Generator: GeneratorConfig{Rate: 2000, Seed: 1, Speedup: 60, Backfill: 24 * time.Hour,
			OutOfOrder: 0.01, Late: 0.001, Duplicate: 0.001, Malformed: 0.0005},
		LogLevel: "info",
	}
}

// LoadConfig reads a YAML file over the defaults; unknown keys are errors.
// An empty path returns the defaults.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if c.Token == "" {
		c.Token = os.Getenv("CARTWHEEL_TOKEN")
	}
	return c, c.Validate()
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	var errs []string
	if c.Streaming.SessionGap <= 0 {
		errs = append(errs, "streaming.session_gap must be positive")
	}
	if c.Streaming.IdleTimeout < 0 {
		errs = append(errs, "streaming.idle_timeout must not be negative")
	}
	if c.Streaming.AllowedLateness < 0 {
		errs = append(errs, "streaming.allowed_lateness must not be negative")
	}
	if c.Streaming.BatchSize <= 0 || c.Streaming.BatchDelay <= 0 {
		errs = append(errs, "streaming.batch_size and batch_delay must be positive")
	}
	if c.Kafka.Partitions <= 0 {
		errs = append(errs, "kafka.partitions must be positive")
	}
	if c.Generator.Rate < 0 {
		errs = append(errs, "generator.rate must not be negative")
	}
	for name, r := range map[string]float64{"out_of_order": c.Generator.OutOfOrder, "late": c.Generator.Late,
		"duplicate": c.Generator.Duplicate, "malformed": c.Generator.Malformed} {
		if r < 0 || r > 1 {
			errs = append(errs, "generator."+name+" must be in [0, 1]")
		}
	}
	if len(errs) > 0 {
		return errors.New("invalid config: " + strings.Join(errs, "; "))
	}
	return nil
}

// DuckDBPath returns the file of a duckdb:// DSN, or "".
func DuckDBPath(dsn string) string {
	if p, ok := strings.CutPrefix(dsn, "duckdb://"); ok && p != ":memory:" {
		return filepath.Clean(p)
	}
	return ""
}
