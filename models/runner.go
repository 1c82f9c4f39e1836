package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/internal/english"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Status is the outcome of one node.
type Status string

// Node outcomes: models and seeds end in success, error or skipped; tests
// in pass, warn, fail, error or skipped.
const (
	StatusSuccess Status = "success"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
	StatusPass    Status = "pass"
	StatusWarn    Status = "warn"
	StatusFail    Status = "fail"
)

// NodeResult is what happened to one node.
type NodeResult struct {
	Node     *Node
	Index    int    // 1-based, in start order
	Status   Status //
	Rows     int64  // rows of the built table (incremental: rows applied; seed: rows loaded); failing rows of a test; -1 for views
	Started  time.Time
	Duration time.Duration
	Message  string // the error, the failing-row count, or why it was skipped
	SQL      string // the compiled SQL that ran
}

// Report is the outcome of a command.
type Report struct {
	Command  string // run, test or build
	Results  []NodeResult
	Started  time.Time
	Elapsed  time.Duration
	Warnings []string
	// SnapshotAt is the snapshot_at every node of the command saw (UTC,
	// "2006-01-02 15:04:05.000000"); "" when there was none (no source
	// with a loaded_at_field, or snapshot_at passed as null).
	SnapshotAt string
}

// Counts returns dbt's summary figures: PASS (success and pass), WARN,
// ERROR (error and fail), SKIP and TOTAL.
func (r *Report) Counts() (pass, warn, errs, skip, total int) {
	for _, res := range r.Results {
		switch res.Status {
		case StatusSuccess, StatusPass:
			pass++
		case StatusWarn:
			warn++
		case StatusError, StatusFail:
			errs++
		case StatusSkipped:
			skip++
		}
	}
	return pass, warn, errs, skip, len(r.Results)
}

// Failed reports whether a node ended in error or a test failed.
func (r *Report) Failed() bool {
	_, _, errs, _, _ := r.Counts()
	return errs > 0
}

// Result returns the result of the node with this name or unique id.
func (r *Report) Result(name string) (NodeResult, bool) {
	for _, res := range r.Results {
		if res.Node.Name == name || res.Node.UniqueID == name {
			return res, true
		}
	}
	return NodeResult{}, false
}

// Run builds the selected models (and loads the selected seeds) in DAG
// order, independent ones in parallel. It returns an error wrapping
// ErrFailed when a node failed; the report is returned either way.
func Run(ctx context.Context, db DB, p *Project, opts ...Option) (*Report, error) {
	return execute(ctx, db, p, "run", opts)
}

// Test runs the selected tests, and the tests of the selected models.
func Test(ctx context.Context, db DB, p *Project, opts ...Option) (*Report, error) {
	return execute(ctx, db, p, "test", opts)
}

// Build runs seeds, models and tests in DAG order: the tests of a node run
// before the nodes that depend on it, and a failure (an error, or a failing
// test of severity error) skips everything downstream.
func Build(ctx context.Context, db DB, p *Project, opts ...Option) (*Report, error) {
	return execute(ctx, db, p, "build", opts)
}

// plan is the graph of the nodes a command executes.
type plan struct {
	order    []string            // dependencies first
	deps     map[string][]string // within the plan
	children map[string][]string
	pos      map[string]int
}

func (p *Project) plan(cmd string, sel map[string]bool) *plan {
	exec := map[string]bool{}
	for id := range sel {
		n := p.Nodes[id]
		switch n.ResourceType {
		case ModelType:
			exec[id] = cmd != "test" && n.Config.Materialized != Ephemeral
		case SeedType:
			exec[id] = cmd != "test"
		case TestType:
			exec[id] = cmd != "run"
		}
		if !exec[id] {
			delete(exec, id)
		}
	}
	// Dependencies within the plan, through nodes outside it (ephemeral
	// models, unselected nodes) so the DAG's order is kept.
	memo := map[string][]string{}
	var reach func(id string) []string
	reach = func(id string) []string {
		if r, ok := memo[id]; ok {
			return r
		}
		var out []string
		for _, d := range p.Nodes[id].DependsOn {
			if exec[d] {
				out = append(out, d)
			} else {
				out = append(out, reach(d)...)
			}
		}
		out = dedupe(out)
		memo[id] = out
		return out
	}
	pl := &plan{deps: map[string][]string{}, children: map[string][]string{}, pos: map[string]int{}}
	for id := range exec {
		pl.deps[id] = reach(id)
	}
	if cmd == "build" {
		// A test of severity error runs before the dependents of the nodes
		// it tests, unless such a dependent is upstream of the test itself.
		// (A warning skips nothing, so nothing waits for it.)
		ids := slices.Sorted(maps.Keys(exec))
		for _, t := range ids {
			if p.Nodes[t].ResourceType != TestType || p.Nodes[t].Config.Severity == "warn" {
				continue
			}
			for _, parent := range pl.deps[t] {
				for _, id := range ids {
					n := p.Nodes[id]
					if n.ResourceType == TestType || !slices.Contains(pl.deps[id], parent) || slices.Contains(pl.deps[id], t) {
						continue
					}
					if pl.upstream(t)[id] {
						continue
					}
					pl.deps[id] = append(pl.deps[id], t)
				}
			}
		}
	}
	for id, ds := range pl.deps {
		slices.Sort(ds)
		for _, d := range ds {
			pl.children[d] = append(pl.children[d], id)
		}
	}
	// A stable order: ties go by unique id.
	pl.order = topoSort(exec, func(id string) []string { return pl.deps[id] })
	for i, id := range pl.order {
		pl.pos[id] = i
	}
	return pl
}

// upstream returns everything id transitively depends on in the plan.
func (pl *plan) upstream(id string) map[string]bool {
	out := map[string]bool{}
	stack := slices.Clone(pl.deps[id])
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !out[d] {
			out[d] = true
			stack = append(stack, pl.deps[d]...)
		}
	}
	return out
}

// runner executes one command.
type runner struct {
	p       *Project
	db      DB
	o       *options
	dialect warehouse.Dialect
	out     *printer
	pl      *plan
	// snapshot is the log line of the invocation's snapshot, or "".
	snapshot string

	mu      sync.Mutex
	schemas map[string]bool
}

func execute(ctx context.Context, db DB, p *Project, cmd string, opts []Option) (*Report, error) {
	o := newOptions(opts)
	sel, excluded, warnings, err := p.selectNodes(o.selects, o.excludes)
	if err != nil {
		return nil, err
	}
	if cmd != "run" && len(splitTerms(o.selects)) > 0 {
		p.withTests(sel, excluded)
	}
	// One invocation reads one snapshot of the streaming sources, fixed
	// before anything runs.
	started := o.now()
	vars, snap, hasSnap, err := p.fixSnapshot(ctx, db, o.vars)
	if err != nil {
		return nil, fmt.Errorf("models %s: %w", cmd, err)
	}
	o.vars = vars
	r := &runner{p: p, db: db, o: o, dialect: db.Dialect(), pl: p.plan(cmd, sel), schemas: map[string]bool{}}
	r.out = &printer{w: o.out, now: o.now, total: len(r.pl.order)}
	rep := &Report{Command: cmd, Started: started, Warnings: append(slices.Clone(p.Warnings), warnings...)}
	if at, ok := snap.at.(string); ok {
		rep.SnapshotAt = at
	}
	if hasSnap {
		r.snapshot = snap.describe()
	}
	r.header(cmd, rep)
	results := r.schedule(ctx)
	rep.Elapsed = o.now().Sub(rep.Started)
	for _, id := range r.pl.order {
		if res := results[id]; res != nil {
			rep.Results = append(rep.Results, *res)
		}
	}
	slices.SortStableFunc(rep.Results, func(a, b NodeResult) int { return a.Index - b.Index })
	if o.history && len(rep.Results) > 0 {
		if err := recordHistory(context.WithoutCancel(ctx), db, rep); err != nil {
			r.out.line("Warning: could not record the run in cartwheel_model_runs: %v", err)
		}
	}
	r.footer(rep)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("models %s: %w", cmd, err)
	}
	if rep.Failed() {
		_, _, errs, skip, _ := rep.Counts()
		return rep, fmt.Errorf("models %s: %d failed, %d skipped: %w", cmd, errs, skip, ErrFailed)
	}
	return rep, nil
}

// schedule runs the plan with at most o.threads nodes at once.
func (r *runner) schedule(ctx context.Context) map[string]*NodeResult {
	pl := r.pl
	results := map[string]*NodeResult{}
	indeg := map[string]int{}
	var ready []string
	for _, id := range pl.order {
		indeg[id] = len(pl.deps[id])
		if indeg[id] == 0 {
			ready = append(ready, id)
		}
	}
	done := make(chan *NodeResult)
	running, next := 0, 1
	progress := func() {
		if r.o.progress != nil {
			r.o.progress(len(results), len(pl.order))
		}
	}
	progress()
	finish := func(res *NodeResult) {
		id := res.Node.UniqueID
		results[id] = res
		r.out.result(res, r.dialect)
		progress()
		for _, c := range pl.children[id] {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
		slices.SortFunc(ready, func(a, b string) int { return pl.pos[a] - pl.pos[b] })
	}
	for len(ready) > 0 || running > 0 {
		for running < r.o.threads && len(ready) > 0 {
			id := ready[0]
			ready = ready[1:]
			res := &NodeResult{Node: r.p.Nodes[id], Index: next, Rows: -1, Started: r.o.now()}
			next++
			if why := r.blocked(ctx, id, results); why != "" {
				res.Status, res.Message = StatusSkipped, why
				finish(res)
				continue
			}
			running++
			go func() {
				r.exec(ctx, res)
				done <- res
			}()
		}
		if running > 0 {
			res := <-done
			running--
			finish(res)
		}
	}
	return results
}

// blocked says why a node must be skipped, or "".
func (r *runner) blocked(ctx context.Context, id string, results map[string]*NodeResult) string {
	if ctx.Err() != nil {
		return "cancelled"
	}
	for _, d := range r.pl.deps[id] {
		switch res := results[d]; res.Status {
		case StatusError, StatusFail, StatusSkipped:
			return fmt.Sprintf("upstream %s %s %s", res.Node.ResourceType, res.Node.Name, res.Status)
		}
	}
	return ""
}

// exec runs one node and fills in its result.
func (r *runner) exec(ctx context.Context, res *NodeResult) {
	n := res.Node
	start := r.o.now()
	t0 := time.Now()
	defer func() { res.Duration = time.Since(t0) }()
	res.Started = start
	fail := func(err error) {
		res.Status, res.Message = StatusError, err.Error()
	}
	if n.Config.Schema != "" && n.ResourceType != TestType {
		if err := r.ensureSchema(ctx, n.Config.Schema); err != nil {
			fail(fmt.Errorf("create schema %s: %w", n.Config.Schema, err))
			return
		}
	}
	switch n.ResourceType {
	case SeedType:
		rows, err := loadSeed(ctx, r.db, n)
		if err != nil {
			fail(err)
			return
		}
		res.Status, res.Rows = StatusSuccess, rows
	case ModelType:
		incr := false
		if n.Config.Materialized == Incremental {
			kind, err := relationKind(ctx, r.db, n.relation())
			if err != nil {
				fail(err)
				return
			}
			full := r.o.fullRefresh && (n.Config.FullRefresh == nil || *n.Config.FullRefresh)
			incr = kind == "table" && !full
		}
		c, err := r.p.compileNode(n, r.dialect, r.o.vars, incr)
		if err != nil {
			fail(err)
			return
		}
		res.SQL = c.sql
		var rows int64 = -1
		switch {
		case n.Config.Materialized == View:
			err = materializeView(ctx, r.db, n, c.sql)
		case incr:
			rows, err = materializeIncremental(ctx, r.db, n, c.sql)
		default:
			rows, err = materializeTable(ctx, r.db, n, c.sql)
		}
		if err != nil {
			fail(err)
			return
		}
		res.Status, res.Rows = StatusSuccess, rows
	case TestType:
		c, err := r.p.compileNode(n, r.dialect, r.o.vars, false)
		if err != nil {
			fail(err)
			return
		}
		res.SQL = c.sql
		out, err := r.db.Query(ctx, "SELECT COUNT(*) FROM (\n"+c.sql+"\n) AS dbt_internal_test")
		if err != nil {
			fail(err)
			return
		}
		if len(out.Rows) != 1 {
			fail(errors.New("the test query returned no count"))
			return
		}
		failures, err := toInt64(out.Rows[0][0])
		if err != nil {
			fail(err)
			return
		}
		res.Rows = failures
		switch {
		case failures == 0:
			res.Status = StatusPass
		case n.Config.Severity == "warn":
			res.Status = StatusWarn
		default:
			res.Status = StatusFail
		}
		if failures > 0 {
			res.Message = fmt.Sprintf("Got %d result%s, configured to %s if != 0", failures, english.Plural(failures), map[bool]string{true: "warn", false: "fail"}[n.Config.Severity == "warn"])
		}
	}
}

func (r *runner) ensureSchema(ctx context.Context, schema string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.schemas[schema] {
		return nil
	}
	if err := ensureSchema(ctx, r.db, schema); err != nil {
		return err
	}
	r.schemas[schema] = true
	return nil
}

// recordHistory appends the run to cartwheel_model_runs.
func recordHistory(ctx context.Context, db DB, rep *Report) error {
	d := db.Dialect()
	text := typeFor(d, "VARCHAR", "TEXT", "VARCHAR(4096)")
	if err := db.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS cartwheel_model_runs (
		run_id VARCHAR(64) NOT NULL,
		command VARCHAR(16) NOT NULL,
		unique_id VARCHAR(512) NOT NULL,
		name VARCHAR(256) NOT NULL,
		resource_type VARCHAR(16) NOT NULL,
		status VARCHAR(16) NOT NULL,
		rows_affected BIGINT,
		seconds DOUBLE PRECISION NOT NULL,
		started_at TIMESTAMP NOT NULL,
		compiled_sql_hash VARCHAR(64),
		message %s
	)`, text)); err != nil {
		return err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	runID := rep.Started.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:4])
	var vals []string
	for _, res := range rep.Results {
		hash, rows := "NULL", "NULL"
		if res.SQL != "" {
			h := sha256.Sum256([]byte(res.SQL))
			hash = literal(hex.EncodeToString(h[:8]))
		}
		if res.Rows >= 0 {
			rows = fmt.Sprint(res.Rows)
		}
		msg := res.Message
		if len(msg) > 4000 {
			msg = msg[:4000]
		}
		vals = append(vals, fmt.Sprintf("(%s, %s, %s, %s, %s, %s, %s, %f, CAST(%s AS TIMESTAMP), %s, %s)",
			literal(runID), literal(rep.Command), literal(res.Node.UniqueID), literal(res.Node.Name),
			literal(string(res.Node.ResourceType)), literal(string(res.Status)), rows, res.Duration.Seconds(),
			literal(res.Started.UTC().Format("2006-01-02 15:04:05.000000")), hash, literal(strings.ToValidUTF8(msg, "?"))))
	}
	return db.Exec(ctx, "INSERT INTO cartwheel_model_runs VALUES "+strings.Join(vals, ",\n"))
}
