package models

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Option configures Run, Test, Build, List, Compile and Docs.
type Option func(*options)

type options struct {
	selects     []string
	excludes    []string
	fullRefresh bool
	vars        map[string]any
	out         io.Writer
	threads     int
	progress    func(done, total int)
	now         func() time.Time
	dialect     warehouse.Dialect
	history     bool
	types       []ResourceType
}

func newOptions(opts []Option) *options {
	o := &options{out: io.Discard, threads: runtime.NumCPU(), now: time.Now, history: true}
	for _, opt := range opts {
		opt(o)
	}
	if o.threads < 1 {
		o.threads = 1
	}
	return o
}

// WithSelect selects nodes with dbt's syntax (--select): each argument is a
// space-separated union of selectors such as "dim_users", "+fct_daily_revenue",
// "stg_events+", "tag:marts", "path:models/marts", "source:cartwheel.events+",
// "resource_type:seed"; a comma intersects ("tag:marts,config.materialized:table").
func WithSelect(selectors ...string) Option {
	return func(o *options) { o.selects = append(o.selects, selectors...) }
}

// WithExclude removes the nodes matched by these selectors (--exclude).
func WithExclude(selectors ...string) Option {
	return func(o *options) { o.excludes = append(o.excludes, selectors...) }
}

// WithFullRefresh rebuilds incremental models from scratch (--full-refresh).
func WithFullRefresh(on bool) Option { return func(o *options) { o.fullRefresh = on } }

// WithVars sets template variables, overriding dbt_project.yml's vars:
// (--vars; see ParseVars).
func WithVars(vars map[string]any) Option { return func(o *options) { o.vars = vars } }

// WithOutput is where the dbt-like log lines go (default: nowhere).
func WithOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithThreads bounds how many nodes run at once (default: the machine's
// cores, runtime.NumCPU).
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithProgress has Run, Test and Build report how many of the nodes they
// execute are done (skipped ones count): once with done 0 before the first
// node starts, then after each node. fn is called from one goroutine at a
// time and holds up the scheduler while it runs, so it should be quick.
func WithProgress(fn func(done, total int)) Option { return func(o *options) { o.progress = fn } }

// WithClock sets the clock of the log lines and the run history (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithDialect sets the dialect to compile for when no warehouse is given
// (Compile, Docs with a nil DB). Default: DuckDB.
func WithDialect(d warehouse.Dialect) Option { return func(o *options) { o.dialect = d } }

// WithRunHistory turns the cartwheel_model_runs table on or off (default
// on): one row per node and run with its status, rows, seconds, start time
// and the hash of its compiled SQL.
func WithRunHistory(on bool) Option { return func(o *options) { o.history = on } }

// WithResourceTypes restricts List to some node kinds (--resource-type).
func WithResourceTypes(types ...ResourceType) Option {
	return func(o *options) { o.types = append(o.types, types...) }
}

// ParseVars parses a --vars argument: a YAML (or JSON) mapping such as
// "{session_lookback_minutes: 120}".
func ParseVars(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("--vars must be a YAML mapping: %w", err)
	}
	return m, nil
}
