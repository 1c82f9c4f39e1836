package appliance

import (
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cartwheel.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDefaultConfigMatchesREADME pins the documented defaults.
func TestDefaultConfigMatchesREADME(t *testing.T) {
	want := Config{
		DataDir:   "data",
		Warehouse: "duckdb://data/cartwheel.duckdb",
		HTTP:      "127.0.0.1:8080",
		PG:        "127.0.0.1:5433",
		Query:     QueryConfig{Timeout: 30 * time.Second, MaxRows: 100000},
		Kafka: KafkaConfig{Topic: "events", DLQTopic: "events.dlq", Group: "cartwheel", Partitions: 8,
			RetentionBytes: 536870912, Retention: 168 * time.Hour, SessionTimeout: 10 * time.Second},
		Streaming: StreamingConfig{SessionGap: 30 * time.Minute, AllowedLateness: 10 * time.Minute,
			IdleTimeout: 30 * time.Second, BatchSize: 100000, BatchDelay: 50 * time.Millisecond},
		Generator: GeneratorConfig{Rate: 2000, Seed: 1, Speedup: 60, Backfill: 24 * time.Hour,
			OutOfOrder: 0.01, Late: 0.001, Duplicate: 0.001, Malformed: 0.0005},
		LogLevel: "info",
	}
	if diff := cmp.Diff(want, DefaultConfig()); diff != "" {
		t.Errorf("DefaultConfig (-README +got):\n%s", diff)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("CARTWHEEL_TOKEN", "")
	tests := []struct {
		name string
		yaml string
		// edit turns the defaults into the expected configuration.
		edit func(*Config)
	}{
		{"empty file", "", func(*Config) {}},
		{"comments only", "# nothing\n", func(*Config) {}},
		{"null document", "~\n", func(*Config) {}},
		{"top-level keys", "data_dir: /var/lib/cartwheel\nwarehouse: postgres://u@h/db\nhttp: 0.0.0.0:9000\ntoken: t0k\nproject: proj\nlog_level: debug\n",
			func(c *Config) {
				c.DataDir, c.Warehouse, c.HTTP, c.Token, c.Project, c.LogLevel = "/var/lib/cartwheel", "postgres://u@h/db", "0.0.0.0:9000", "t0k", "proj", "debug"
			}},
		{"a nested key keeps the other nested defaults", "kafka:\n  partitions: 3\n",
			func(c *Config) { c.Kafka.Partitions = 3 }},
		{"kafka", "kafka:\n  brokers: [k1:9092, k2:9092]\n  topic: t\n  dlq_topic: t.dlq\n  group: g\n  instance_id: i1\n  retention_bytes: 1024\n  retention: 1h30m\n  sync_writes: true\n",
			func(c *Config) {
				c.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
				c.Kafka.Topic, c.Kafka.DLQTopic, c.Kafka.Group, c.Kafka.InstanceID = "t", "t.dlq", "g", "i1"
				c.Kafka.RetentionBytes, c.Kafka.Retention, c.Kafka.SyncWrites = 1024, 90*time.Minute, true
			}},
		{"streaming durations", "streaming:\n  session_gap: 45m\n  allowed_lateness: 0s\n  idle_timeout: 0s\n  batch_size: 10\n  batch_delay: 5ms\n",
			func(c *Config) {
				c.Streaming = StreamingConfig{SessionGap: 45 * time.Minute, BatchSize: 10, BatchDelay: 5 * time.Millisecond}
			}},
		{"generator", "generator:\n  rate: 0\n  seed: 42\n  speedup: 1\n  backfill: 0s\n  out_of_order: 0\n  late: 1\n  duplicate: 0\n  malformed: 0\n",
			func(c *Config) {
				c.Generator = GeneratorConfig{Seed: 42, Speedup: 1, Late: 1}
			}},
		{"an empty section keeps its defaults", "kafka:\nstreaming: {}\n", func(*Config) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadConfig(writeConfig(t, tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultConfig()
			tc.edit(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("LoadConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigNoPath(t *testing.T) {
	t.Setenv("CARTWHEEL_TOKEN", "")
	got, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, DefaultConfig()) {
		t.Errorf("LoadConfig(\"\") = %+v, want the defaults", got)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Setenv("CARTWHEEL_TOKEN", "")
	tests := []struct {
		name string
		yaml string
		want []string // parts of the error
	}{
		{"unknown top-level key", "nope: 1\n", []string{"field nope not found"}},
		{"unknown nested key", "kafka:\n  partition: 3\n", []string{"field partition not found"}},
		{"key of another section", "streaming:\n  rate: 3\n", []string{"field rate not found"}},
		{"wrong type", "kafka:\n  partitions: many\n", []string{"line 2", "many", "int32"}},
		{"duration without unit", "streaming:\n  session_gap: 60\n", []string{"time.Duration"}},
		{"duration in days", "streaming:\n  session_gap: 1d\n", []string{"1d"}},
		{"not a mapping", "[]\n", []string{"cannot unmarshal"}},
		{"invalid yaml", "kafka: [\n", []string{"yaml"}},
		{"invalid value", "streaming:\n  session_gap: 0s\n", []string{"invalid config: streaming.session_gap must be positive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.yaml)
			_, err := LoadConfig(p)
			if err == nil {
				t.Fatal("LoadConfig succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(tc.want[0], "invalid config") && !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), "read config") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadConfig of a missing file = %v", err)
	}
}

func TestLoadConfigToken(t *testing.T) {
	tests := []struct {
		name, yaml, env, want string
	}{
		{"none", "", "", ""},
		{"from the environment", "", "env-token", "env-token"},
		{"from the environment over an empty key", "token: \"\"\n", "env-token", "env-token"},
		{"the file wins", "token: file-token\n", "env-token", "file-token"},
		{"file only", "token: file-token\n", "", "file-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CARTWHEEL_TOKEN", tc.env)
			for _, path := range []string{writeConfig(t, tc.yaml), ""} {
				if path == "" && tc.yaml != "" {
					continue
				}
				c, err := LoadConfig(path)
				if err != nil {
					t.Fatal(err)
				}
				if c.Token != tc.want {
					t.Errorf("LoadConfig(%q).Token = %q, want %q", path, c.Token, tc.want)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string // each message in the error; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"zero lateness and idle timeout are allowed", func(c *Config) { c.Streaming.AllowedLateness, c.Streaming.IdleTimeout = 0, 0 }, nil},
		{"generator off", func(c *Config) { c.Generator.Rate = 0 }, nil},
		{"rates at the bounds", func(c *Config) {
			c.Generator.OutOfOrder, c.Generator.Late, c.Generator.Duplicate, c.Generator.Malformed = 0, 0, 0, 1
		}, nil},
		{"rates summing to 1", func(c *Config) {
			c.Generator.OutOfOrder, c.Generator.Late, c.Generator.Duplicate, c.Generator.Malformed = 0.25, 0.25, 0.25, 0.25
		}, nil},
		{"smallest retention", func(c *Config) { c.Kafka.RetentionBytes, c.Kafka.Retention = 1, time.Millisecond }, nil},
		{"smallest session timeout", func(c *Config) { c.Kafka.SessionTimeout = 500 * time.Millisecond }, nil},
		{"session timeout too short", func(c *Config) { c.Kafka.SessionTimeout = 499 * time.Millisecond },
			[]string{"kafka.session_timeout must be at least 500ms"}},
		{"other warehouses", func(c *Config) { c.Warehouse = "postgresql://u@h/db" }, nil},
		{"in-memory DuckDB", func(c *Config) { c.Warehouse = "duckdb://:memory:" }, nil},
		{"longest topic name", func(c *Config) { c.Kafka.Topic = strings.Repeat("a", 249) }, nil},
		{"zero backfill and speedup at the maximum", func(c *Config) { c.Generator.Backfill, c.Generator.Speedup = 0, 1e6 }, nil},

		{"zero session gap", func(c *Config) { c.Streaming.SessionGap = 0 }, []string{"streaming.session_gap must be positive"}},
		{"negative session gap", func(c *Config) { c.Streaming.SessionGap = -time.Minute }, []string{"streaming.session_gap must be positive"}},
		{"negative idle timeout", func(c *Config) { c.Streaming.IdleTimeout = -time.Second }, []string{"streaming.idle_timeout must not be negative"}},
		{"negative lateness", func(c *Config) { c.Streaming.AllowedLateness = -time.Second }, []string{"streaming.allowed_lateness must not be negative"}},
		{"zero batch size", func(c *Config) { c.Streaming.BatchSize = 0 }, []string{"streaming.batch_size and batch_delay must be positive"}},
		{"zero batch delay", func(c *Config) { c.Streaming.BatchDelay = 0 }, []string{"streaming.batch_size and batch_delay must be positive"}},
		{"zero partitions", func(c *Config) { c.Kafka.Partitions = 0 }, []string{"kafka.partitions must be positive"}},
		{"negative rate", func(c *Config) { c.Generator.Rate = -1 }, []string{"generator.rate must not be negative"}},
		{"out_of_order above 1", func(c *Config) { c.Generator.OutOfOrder = 1.01 }, []string{"generator.out_of_order must be in [0, 1]"}},
		{"negative late", func(c *Config) { c.Generator.Late = -0.1 }, []string{"generator.late must be in [0, 1]"}},
		{"duplicate above 1", func(c *Config) { c.Generator.Duplicate = 2 }, []string{"generator.duplicate must be in [0, 1]"}},
		{"negative malformed", func(c *Config) { c.Generator.Malformed = -1 }, []string{"generator.malformed must be in [0, 1]"}},
		{"rates summing over 1", func(c *Config) { c.Generator.OutOfOrder, c.Generator.Late = 0.6, 0.6 },
			[]string{"generator.out_of_order + late + duplicate + malformed must be at most 1, got 1.2015"}},
		{"NaN rate", func(c *Config) { c.Generator.Duplicate = math.NaN() }, []string{"generator.duplicate must be in [0, 1]"}},
		{"NaN generator rate", func(c *Config) { c.Generator.Rate = math.NaN() }, []string{"generator.rate must be a finite number"}},
		{"infinite generator rate", func(c *Config) { c.Generator.Rate = math.Inf(1) }, []string{"generator.rate must be a finite number"}},
		{"zero speedup", func(c *Config) { c.Generator.Speedup = 0 }, []string{"generator.speedup must be in (0, 1e+06]"}},
		{"NaN speedup", func(c *Config) { c.Generator.Speedup = math.NaN() }, []string{"generator.speedup must be in (0, 1e+06]"}},
		{"speedup too high", func(c *Config) { c.Generator.Speedup = 2e6 }, []string{"generator.speedup must be in (0, 1e+06]"}},
		{"negative backfill", func(c *Config) { c.Generator.Backfill = -time.Hour }, []string{"generator.backfill must not be negative"}},

		{"empty topic", func(c *Config) { c.Kafka.Topic = "" }, []string{"kafka.topic must not be empty"}},
		{"empty dlq topic", func(c *Config) { c.Kafka.DLQTopic = "" }, []string{"kafka.dlq_topic must not be empty"}},
		{"dlq topic is the topic", func(c *Config) { c.Kafka.DLQTopic = "events" },
			[]string{`kafka.topic and kafka.dlq_topic must differ (both are "events")`}},
		{"invalid topic name", func(c *Config) { c.Kafka.Topic = "my events" },
			[]string{`kafka.topic "my events" is not a valid Kafka topic name (ASCII letters, digits, '.', '_' and '-' only)`}},
		{"topic named ..", func(c *Config) { c.Kafka.DLQTopic = ".." }, []string{`kafka.dlq_topic ".." is not a valid Kafka topic name`}},
		{"topic name too long", func(c *Config) { c.Kafka.Topic = strings.Repeat("a", 250) },
			[]string{"kafka.topic is longer than 249 characters, the limit of a Kafka topic name"}},
		{"empty group", func(c *Config) { c.Kafka.Group = "" }, []string{"kafka.group must not be empty"}},
		{"empty broker address", func(c *Config) { c.Kafka.Brokers = []string{"k1:9092", ""} },
			[]string{"kafka.brokers must not hold an empty address"}},
		{"zero retention bytes", func(c *Config) { c.Kafka.RetentionBytes = 0 }, []string{"kafka.retention_bytes must be positive"}},
		{"negative retention bytes", func(c *Config) { c.Kafka.RetentionBytes = -1 }, []string{"kafka.retention_bytes must be positive"}},
		{"zero retention", func(c *Config) { c.Kafka.Retention = 0 }, []string{"kafka.retention must be at least 1ms"}},
		{"negative retention", func(c *Config) { c.Kafka.Retention = -time.Hour }, []string{"kafka.retention must be at least 1ms"}},
		{"retention under 1ms", func(c *Config) { c.Kafka.Retention = time.Microsecond }, []string{"kafka.retention must be at least 1ms"}},

		{"duckdb without a path", func(c *Config) { c.Warehouse = "duckdb://" },
			[]string{`warehouse DSN "duckdb://": empty path (want duckdb://PATH or duckdb://:memory:)`}},
		{"warehouse without a scheme", func(c *Config) { c.Warehouse = "data/cartwheel.duckdb" },
			[]string{`warehouse DSN "data/cartwheel.duckdb": want duckdb://PATH, postgres://… or redshift://…`}},
		{"empty warehouse", func(c *Config) { c.Warehouse = "" },
			[]string{`warehouse DSN "": want duckdb://PATH, postgres://… or redshift://…`}},
		{"unknown warehouse scheme", func(c *Config) { c.Warehouse = "mysql://u:secret@h/db" },
			[]string{`warehouse DSN "mysql://u:xxxxx@h/db": unknown scheme "mysql" (want duckdb://PATH, postgres://… or redshift://…)`}},
		{"no query time limit", func(c *Config) { c.Query.Timeout = 0 },
			[]string{"query.timeout and query.max_rows must be positive"}},
		{"negative row limit", func(c *Config) { c.Query.MaxRows = -1 },
			[]string{"query.timeout and query.max_rows must be positive"}},
		{"http host with a port", func(c *Config) { c.HTTPHosts = []string{"dash.example.com:443"} },
			[]string{`http_hosts: "dash.example.com:443" is not a host name (no port, scheme or path)`}},
		{"duckdb threads not a number", func(c *Config) { c.Warehouse = "duckdb://x.duckdb?threads=abc" },
			[]string{`warehouse DSN "duckdb://x.duckdb?threads=abc": threads=abc: want a positive number`}},
		{"redshift staging without a role", func(c *Config) { c.Warehouse = "redshift://u:secret@h/db?s3_bucket=b1b" },
			[]string{`warehouse DSN "redshift://u:xxxxx@h/db?s3_bucket=b1b": S3 staging: iam_role is required with s3_bucket: ` +
				"the ARN of the IAM role that Redshift assumes to read the bucket (e.g. iam_role=arn:aws:iam::123456789012:role/cartwheel-copy, or iam_role=default)"}},

		{"every error is listed", func(c *Config) {
			c.Streaming.SessionGap, c.Streaming.IdleTimeout, c.Streaming.AllowedLateness = 0, -1, -1
			c.Streaming.BatchSize, c.Kafka.Partitions, c.Generator.Rate, c.Generator.Late = 0, -1, -1, 5
		}, []string{
			"streaming.session_gap must be positive", "streaming.idle_timeout must not be negative",
			"streaming.allowed_lateness must not be negative", "streaming.batch_size and batch_delay must be positive",
			"kafka.partitions must be positive", "generator.rate must not be negative", "generator.late must be in [0, 1]",
		}},
		{"every error is listed, in the order of the sections", func(c *Config) {
			c.Warehouse = "duckdb://"
			c.Streaming.BatchDelay = 0
			c.Kafka.Topic, c.Kafka.DLQTopic, c.Kafka.Group, c.Kafka.RetentionBytes, c.Kafka.Retention = "x", "x", "", 0, 0
			c.Generator.Speedup, c.Generator.Backfill = 0, -1
			c.Generator.OutOfOrder, c.Generator.Late, c.Generator.Duplicate, c.Generator.Malformed = 2, -1, math.NaN(), 3
		}, []string{
			`warehouse DSN "duckdb://": empty path (want duckdb://PATH or duckdb://:memory:)`,
			"streaming.batch_size and batch_delay must be positive",
			`kafka.topic and kafka.dlq_topic must differ (both are "x")`, "kafka.group must not be empty",
			"kafka.retention_bytes must be positive", "kafka.retention must be at least 1ms",
			"generator.speedup must be in (0, 1e+06]", "generator.backfill must not be negative",
			"generator.out_of_order must be in [0, 1]", "generator.late must be in [0, 1]",
			"generator.duplicate must be in [0, 1]", "generator.malformed must be in [0, 1]",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil")
			}
			msg, ok := strings.CutPrefix(err.Error(), "invalid config: ")
			if !ok {
				t.Fatalf("error %q lacks the prefix", err)
			}
			got := strings.Split(msg, "; ")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateErrorOrder: the generator's rates were checked in the order
// of a map, so the message of a configuration with several bad rates
// changed from one run to the next.
func TestValidateErrorOrder(t *testing.T) {
	c := DefaultConfig()
	c.Generator.OutOfOrder, c.Generator.Late, c.Generator.Duplicate, c.Generator.Malformed = 2, 2, 2, 2
	first := c.Validate().Error()
	for range 50 {
		if got := c.Validate().Error(); got != first {
			t.Fatalf("Validate messages differ between calls:\n%s\n%s", first, got)
		}
	}
}

// TestValidateCatchesWhatRunFailsOn: settings that LoadConfig accepted but
// that made `cartwheel run` fail (or misbehave) after it had started the
// broker, the warehouse and the HTTP server.
func TestValidateCatchesWhatRunFailsOn(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		// generator.Config: "together they must not exceed 1".
		{"rates summing over 1", func(c *Config) { c.Generator.OutOfOrder, c.Generator.Late = 0.6, 0.6 }},
		{"NaN rate", func(c *Config) { c.Generator.Duplicate = math.NaN() }},
		{"zero speedup", func(c *Config) { c.Generator.Speedup = 0 }},
		{"backfill before 1900", func(c *Config) { c.Generator.Backfill = 200 * 365 * 24 * time.Hour }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if _, _, err := DemoGenerator(c.Generator, time.Now(), History{}); err == nil {
				t.Fatal("bad fixture: the generator accepts it")
			}
			if err := c.Validate(); err == nil {
				t.Error("Validate = nil for a configuration the demo generator rejects")
			}
		})
	}
}

// TestValidateUsesTheGeneratorsValidation: what only the generator's own
// validation knows — here a simulated start before the year 1900 — is
// reported by Validate too, in the generator's words.
func TestValidateUsesTheGeneratorsValidation(t *testing.T) {
	c := DefaultConfig()
	c.Generator.Backfill = 200 * 365 * 24 * time.Hour
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "invalid config: generator: Start must be set, between the years 1900 and 9000, got ") {
		t.Errorf("Validate = %v, want the generator's complaint about its start", err)
	}
}

// TestLoadConfigSecondDocument: unknown keys are errors — and a second
// YAML document, which was silently ignored, is one too.
func TestLoadConfigSecondDocument(t *testing.T) {
	t.Setenv("CARTWHEEL_TOKEN", "")
	tests := []struct{ name, yaml, line string }{
		{"unknown key in the second", "log_level: debug\n---\nnope: 1\n", "line 2"},
		{"valid second", "log_level: debug\n---\nlog_level: warn\n", "line 2"},
		{"empty second", "kafka:\n  partitions: 2\n---\n", "line 3"},
		{"third", "---\nlog_level: debug\n---\nlog_level: warn\n---\n", "line 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.yaml)
			_, err := LoadConfig(p)
			if err == nil {
				t.Fatal("a config file with a second document was accepted")
			}
			for _, w := range []string{p, "second YAML document", tc.line} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// One document, with its optional markers, is fine.
	for _, y := range []string{"---\nlog_level: debug\n", "log_level: debug\n...\n", "---\nlog_level: debug\n...\n"} {
		c, err := LoadConfig(writeConfig(t, y))
		if err != nil || c.LogLevel != "debug" {
			t.Errorf("LoadConfig(%q) = %q, %v", y, c.LogLevel, err)
		}
	}
}

func TestDuckDBPath(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"duckdb://data/cartwheel.duckdb", "data/cartwheel.duckdb"},
		{"duckdb:///var/lib/cartwheel/w.duckdb", "/var/lib/cartwheel/w.duckdb"},
		{"duckdb://./data/../w.duckdb", "w.duckdb"},
		{"duckdb://data//x.duckdb", "data/x.duckdb"},
		{"duckdb://:memory:", ""},
		{"postgres://u@localhost:5432/db", ""},
		{"redshift://u@cluster:5439/db", ""},
		{"DUCKDB://x.duckdb", ""},
		{"data/cartwheel.duckdb", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := DuckDBPath(tc.dsn); got != tc.want {
			t.Errorf("DuckDBPath(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

// TestDuckDBPathEmpty: "duckdb://" names no file, but DuckDBPath returned
// filepath.Clean("") = ".", so Query and Run looked for the appliance lock
// "..appliance.lock" in the working directory (creating it) before the
// warehouse refused the empty path.
func TestDuckDBPathEmpty(t *testing.T) {
	if got := DuckDBPath("duckdb://"); got != "" {
		t.Errorf(`DuckDBPath("duckdb://") = %q, want ""`, got)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	c := DefaultConfig()
	c.Warehouse = "duckdb://"
	if _, err := Query(shortCtx(t, 10*time.Second), c, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "empty path") {
		t.Errorf(`Query("duckdb://") = %v, want the warehouse's "empty path"`, err)
	}
	if _, err := Replay(shortCtx(t, 10*time.Second), c, filepath.Join(dir, "missing.jsonl"), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), `warehouse DSN "duckdb://": empty path`) {
		t.Errorf(`Replay into "duckdb://" = %v, want the invalid configuration`, err)
	}
	if err := Run(shortCtx(t, 10*time.Second), c, RunOptions{}, slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), `warehouse DSN "duckdb://": empty path`) {
		t.Errorf(`Run on "duckdb://" = %v, want the invalid configuration`, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left in the working directory: %v", entries)
	}
	if l, err := lockAppliance(shortCtx(t, time.Second), ""); err == nil {
		l.Unlock()
		t.Error(`lockAppliance("") took a lock`)
	}
}

func TestLiveStream(t *testing.T) {
	c := DefaultConfig()
	if got := liveStream(c); got != "kafka:events/cartwheel" {
		t.Errorf("liveStream(defaults) = %q", got)
	}
	c.Kafka.Topic, c.Kafka.Group = "clicks", "g2"
	if got := liveStream(c); got != "kafka:clicks/g2" {
		t.Errorf("liveStream = %q", got)
	}
}
