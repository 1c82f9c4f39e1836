// Package appliance wires Cartwheel's components — broker, generator,
// streaming pipeline, warehouse, HTTP server — from one configuration.
package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
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
	// Token protects every HTTP route but the probes when HTTP is not
	// bound to loopback (and is the Postgres endpoint's password there); it
	// may also come from CARTWHEEL_TOKEN.
	Token string `yaml:"token"`
	// HTTPHosts are names besides loopback names and IP addresses that a
	// request's Host header may carry (a public name behind a proxy);
	// any other Host is refused, which defeats DNS rebinding.
	HTTPHosts []string `yaml:"http_hosts"`
	// PG is the listen address of the Postgres wire-protocol endpoint
	// (DuckDB warehouses; "" turns it off). Off loopback, clients must
	// send Token as their password.
	PG string `yaml:"pg"`
	// PGTLS is the certificate offered to Postgres clients asking for TLS.
	PGTLS PGTLSConfig `yaml:"pg_tls"`
	// Project is a dbt-style project directory (default: the built-in one,
	// see `cartwheel init`).
	Project   string          `yaml:"project"`
	Query     QueryConfig     `yaml:"query"`
	Kafka     KafkaConfig     `yaml:"kafka"`
	Streaming StreamingConfig `yaml:"streaming"`
	Generator GeneratorConfig `yaml:"generator"`
	Scheduler SchedulerConfig `yaml:"scheduler"`
	LogLevel  string          `yaml:"log_level"`
}

// QueryConfig bounds user SQL — the HTTP API, `cartwheel query`, the
// dashboards — so that no query can hold the appliance.
type QueryConfig struct {
	// Timeout stops a query (it is cancelled in the warehouse).
	Timeout time.Duration `yaml:"timeout"`
	// MaxRows cuts a longer result, which then says so (truncated).
	MaxRows int `yaml:"max_rows"`
}

// Limits returns the warehouse limits of user queries.
func (q QueryConfig) Limits() warehouse.Limits {
	return warehouse.Limits{Timeout: q.Timeout, MaxRows: q.MaxRows}
}

// KafkaConfig selects the event stream.
type KafkaConfig struct {
	// Brokers of an external cluster; empty runs the embedded broker.
	Brokers []string `yaml:"brokers"`
	// Topic and DLQTopic are two distinct, valid Kafka topic names; Group
	// is not empty.
	Topic    string `yaml:"topic"`
	DLQTopic string `yaml:"dlq_topic"`
	Group    string `yaml:"group"`
	// InstanceID makes this consumer a static group member (KIP-345): a
	// restarted process takes its partitions back without a rebalance wait.
	InstanceID string `yaml:"instance_id"`
	// GroupProtocol is the consumer group protocol: "consumer" (KIP-848;
	// the client falls back to classic on a broker without it),
	// "classic", or "" to choose: classic with InstanceID (a restarted
	// static member takes its partitions back at once; under the
	// consumer protocol it waits for its old session to time out),
	// consumer otherwise (see GroupProtocol).
	GroupProtocol string `yaml:"group_protocol"`
	Partitions    int32  `yaml:"partitions"`
	// RetentionBytes bounds each embedded partition's log, and Retention
	// the age of its records. Both must be positive (Retention at least
	// 1ms): there is no "unlimited", and to the embedded broker 0 would
	// mean deleting every record. A restart applies changed values to the
	// existing log.
	RetentionBytes int64         `yaml:"retention_bytes"`
	Retention      time.Duration `yaml:"retention"`
	// SyncWrites fsyncs the embedded log on every produce.
	SyncWrites bool `yaml:"sync_writes"`
	// SessionTimeout is the embedded broker's (and `cartwheel broker`'s)
	// KIP-848 group session timeout, heartbeats every fifth of it: a
	// consumer restarted after a crash gets the dead process's
	// partitions once it expires. At least 500ms. An external cluster
	// sets its own (group.consumer.session.timeout.ms, 45 s in Kafka).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// TLS and SASL secure every client of an external cluster (see
	// SecurityOptions); the embedded broker ignores them.
	TLS  KafkaTLSConfig  `yaml:"tls"`
	SASL KafkaSASLConfig `yaml:"sasl"`
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

// SchedulerConfig drives the DAG scheduler of `cartwheel run` (SPEC §5.2).
type SchedulerConfig struct {
	// Disabled stops this appliance from scheduling and running DAGs (its
	// pages and API still show the history): for an instance that must
	// leave that to others on a shared warehouse.
	Disabled bool `yaml:"disabled"`
	// Lease is how long the scheduling lease in the warehouse lasts without
	// renewal; another instance takes over after it (0: the scheduler's
	// default, 30s).
	Lease time.Duration `yaml:"lease"`
	// Instance names this appliance as a lease holder (default
	// hostname:pid:random).
	Instance string `yaml:"instance"`
	// BackfillConcurrency bounds the backfill runs at once (0: default 2).
	BackfillConcurrency int `yaml:"backfill_concurrency"`
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
	// Bad-record rates, each in [0, 1], together at most 1.
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
		PG:        DefaultPG,
		Query:     QueryConfig{Timeout: warehouse.DefaultLimits.Timeout, MaxRows: warehouse.DefaultLimits.MaxRows},
		Kafka: KafkaConfig{
			Topic: streaming.DefaultTopic, DLQTopic: streaming.DefaultDLQTopic, Group: streaming.DefaultGroup,
			Partitions: broker.DefaultPartitions, RetentionBytes: broker.DefaultRetentionBytes, Retention: broker.DefaultRetention,
			SessionTimeout: broker.DefaultSessionTimeout,
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

// LoadConfig reads a YAML file over the defaults; unknown keys are errors,
// and so is a second YAML document (after a "---" line), which would
// otherwise be ignored. An empty path returns the defaults. The result is
// validated (see Validate).
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			if !errors.Is(err, io.EOF) {
				return c, fmt.Errorf("config %s: %w", path, err)
			}
		} else {
			var next yaml.Node
			switch err := dec.Decode(&next); {
			case err == nil:
				return c, fmt.Errorf("config %s: a second YAML document starts at line %d; put every setting in one document", path, next.Line)
			case !errors.Is(err, io.EOF):
				return c, fmt.Errorf("config %s: %w", path, err)
			}
		}
	}
	if c.Token == "" {
		c.Token = os.Getenv("CARTWHEEL_TOKEN")
	}
	return c, c.Validate()
}

// Validate reports every invalid setting, or nil: one error, "invalid
// config: " followed by a message per invalid setting, separated by "; ",
// always in the same order (that of the configuration's sections).
func (c Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if _, err := warehouse.ParseDSN(c.Warehouse); err != nil {
		bad("%v", err)
	}
	if c.Streaming.SessionGap <= 0 {
		bad("streaming.session_gap must be positive")
	}
	if c.Streaming.IdleTimeout < 0 {
		bad("streaming.idle_timeout must not be negative")
	}
	if c.Streaming.AllowedLateness < 0 {
		bad("streaming.allowed_lateness must not be negative")
	}
	if c.Streaming.BatchSize <= 0 || c.Streaming.BatchDelay <= 0 {
		bad("streaming.batch_size and batch_delay must be positive")
	}
	if c.Query.Timeout <= 0 || c.Query.MaxRows <= 0 {
		bad("query.timeout and query.max_rows must be positive")
	}
	if c.Scheduler.Lease < 0 || c.Scheduler.BackfillConcurrency < 0 {
		bad("scheduler.lease and scheduler.backfill_concurrency must not be negative")
	}
	for _, h := range c.HTTPHosts {
		if h == "" || strings.ContainsAny(h, ":/ ") {
			bad("http_hosts: %q is not a host name (no port, scheme or path)", h)
		}
	}
	if c.PG != "" {
		if _, _, err := net.SplitHostPort(c.PG); err != nil {
			bad("pg: %q is not a host:port address", c.PG)
		}
	}
	if (c.PGTLS.Cert == "") != (c.PGTLS.Key == "") {
		bad("pg_tls: cert and key go together")
	}
	c.Kafka.validate(bad)
	c.Generator.validate(bad)
	if len(errs) > 0 {
		return errors.New("invalid config: " + strings.Join(errs, "; "))
	}
	return nil
}

func (k KafkaConfig) validate(bad func(string, ...any)) {
	if k.Partitions <= 0 {
		bad("kafka.partitions must be positive")
	}
	if slices.Contains(k.Brokers, "") {
		bad("kafka.brokers must not hold an empty address")
	}
	for _, t := range []struct{ key, name string }{{"topic", k.Topic}, {"dlq_topic", k.DLQTopic}} {
		if msg := topicNameProblem(t.name); msg != "" {
			bad("kafka.%s %s", t.key, msg)
		}
	}
	if k.Topic != "" && k.Topic == k.DLQTopic {
		bad("kafka.topic and kafka.dlq_topic must differ (both are %q)", k.Topic)
	}
	if k.Group == "" {
		bad("kafka.group must not be empty")
	}
	if !slices.Contains([]string{"", streaming.GroupProtocolConsumer, streaming.GroupProtocolClassic}, k.GroupProtocol) {
		bad("kafka.group_protocol must be %q, %q or empty (chosen by instance_id), not %q",
			streaming.GroupProtocolConsumer, streaming.GroupProtocolClassic, k.GroupProtocol)
	}
	// To kfake a retention.bytes (or retention.ms) of 0 deletes every
	// record, and -1 is unlimited: neither is what such a setting says.
	if k.RetentionBytes <= 0 {
		bad("kafka.retention_bytes must be positive")
	}
	if k.SessionTimeout < 500*time.Millisecond {
		bad("kafka.session_timeout must be at least 500ms")
	}
	if k.Retention < time.Millisecond {
		bad("kafka.retention must be at least 1ms")
	}
	k.validateSecurity(bad)
}

// Protocol returns the consumer group protocol to use: GroupProtocol if
// set; otherwise classic for a static member (InstanceID), whose restart
// replaces its old member at once, and the KIP-848 consumer protocol for a
// dynamic one, whose restart after a crash the embedded broker's classic
// coordinator can leave without partitions indefinitely (issue 13).
func (k KafkaConfig) Protocol() string {
	switch {
	case k.GroupProtocol != "":
		return k.GroupProtocol
	case k.InstanceID != "":
		return streaming.GroupProtocolClassic
	}
	return streaming.GroupProtocolConsumer
}

// topicNameProblem says what is wrong with a Kafka topic name, or "":
// Kafka allows 1 to 249 ASCII letters, digits, '.', '_' and '-', but not
// "." or "..".
func topicNameProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a valid Kafka topic name", name)
	case len(name) > 249:
		return "is longer than 249 characters, the limit of a Kafka topic name"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("%q is not a valid Kafka topic name (ASCII letters, digits, '.', '_' and '-' only)", name)
		}
	}
	return ""
}

func (g GeneratorConfig) validate(bad func(string, ...any)) {
	n := 0
	gbad := func(format string, args ...any) { n++; bad(format, args...) }
	switch {
	case g.Rate < 0:
		gbad("generator.rate must not be negative")
	case math.IsNaN(g.Rate) || math.IsInf(g.Rate, 0):
		gbad("generator.rate must be a finite number")
	}
	if !(g.Speedup > 0 && g.Speedup <= maxSpeedup) { // also rejects NaN
		gbad("generator.speedup must be in (0, %g]", maxSpeedup)
	}
	if g.Backfill < 0 {
		gbad("generator.backfill must not be negative")
	}
	rates := []struct {
		name string
		v    float64
	}{{"out_of_order", g.OutOfOrder}, {"late", g.Late}, {"duplicate", g.Duplicate}, {"malformed", g.Malformed}}
	inRange := true
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) { // also rejects NaN
			gbad("generator.%s must be in [0, 1]", r.name)
			inRange = false
		}
	}
	if sum := g.OutOfOrder + g.Late + g.Duplicate + g.Malformed; inRange && sum > 1+1e-9 {
		gbad("generator.out_of_order + late + duplicate + malformed must be at most 1, got %.6g", sum)
	}
	if n > 0 {
		return
	}
	// Whatever else the generator itself refuses (its Validate), reported
	// now rather than once the appliance runs.
	if err := demoConfig(g, time.Now(), History{}).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			bad("%s", line)
		}
	}
}

// maxSpeedup is the generator's bound on Speedup.
const maxSpeedup = 1e6

// DuckDBPath returns the file of a duckdb:// DSN, or "" (not DuckDB, an
// in-memory database, or no path at all).
func DuckDBPath(dsn string) string { return warehouse.DuckDBFile(dsn) }
