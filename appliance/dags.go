package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
	"github.com/cartwheel-analytics/cartwheel/scheduler/web"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// LoadDAGs loads the DAG files of the project of cfg (its dags/ folder).
func LoadDAGs(cfg Config) ([]*dag.DAG, error) {
	dags, err := dag.Load(ProjectFS(cfg.Project))
	if err != nil {
		where := "the built-in project"
		if cfg.Project != "" {
			where = cfg.Project
		}
		return nil, fmt.Errorf("load the DAGs of %s: %w", where, err)
	}
	return dags, nil
}

// modelsGate lets one models command run at a time on a warehouse: two
// builds of the same models at once collide there (on their temporary
// tables) — a backfill beside the scheduled runs, or POST /api/models
// during a scheduled run, would otherwise do that.
type modelsGate chan struct{}

func newModelsGate() modelsGate { return make(modelsGate, 1) }

// enter waits for the gate (saying so on w when it must wait) or ctx.
func (g modelsGate) enter(ctx context.Context, w io.Writer) error {
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	fmt.Fprintln(w, "waiting for another models command to finish (one at a time)")
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g modelsGate) leave() { <-g }

// action puts the models action of the API (POST /api/models) behind the gate.
func (g modelsGate) action(a api.Action) api.Action {
	return func(ctx context.Context, body io.Reader) (any, int) {
		if err := g.enter(ctx, io.Discard); err != nil {
			return api.ModelsResponse{Error: "waiting for another models command: " + err.Error()}, http.StatusServiceUnavailable
		}
		defer g.leave()
		return a(ctx, body)
	}
}

// modelsTask runs a DAG's models task as `cartwheel models CMD --select
// SELECTOR --vars VARS` would, over the project the appliance builds, one
// at a time through gate; the run's template variables (logical_date,
// data_interval_start, …) are the models' vars.
func modelsTask(db models.DB, p *models.Project, gate modelsGate) scheduler.ModelsFunc {
	return func(ctx context.Context, cmd, selector string, vars map[string]any, w io.Writer) error {
		run, ok := modelsCommands[cmd]
		if !ok {
			return fmt.Errorf("unknown models command %q (want run, test or build)", cmd)
		}
		if err := gate.enter(ctx, w); err != nil {
			return err
		}
		defer gate.leave()
		// Selectors as on the command line: blanks or commas between them.
		sel := strings.FieldsFunc(selector, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
		_, err := run(ctx, db, p, models.WithOutput(w), models.WithSelect(sel...), models.WithVars(vars))
		return err
	}
}

// schedulerOptions are the scheduler's options from cfg.
func schedulerOptions(cfg Config, db models.DB, p *models.Project, gate modelsGate, log *slog.Logger, reg prometheus.Registerer) []scheduler.Option {
	opts := []scheduler.Option{scheduler.WithModels(modelsTask(db, p, gate))}
	if log != nil {
		opts = append(opts, scheduler.WithLogger(log))
	}
	if reg != nil {
		opts = append(opts, scheduler.WithMetrics(reg))
	}
	if cfg.Scheduler.Lease > 0 {
		opts = append(opts, scheduler.WithLease(cfg.Scheduler.Lease))
	}
	if cfg.Scheduler.Instance != "" {
		opts = append(opts, scheduler.WithInstance(cfg.Scheduler.Instance))
	}
	if cfg.Scheduler.BackfillConcurrency > 0 {
		opts = append(opts, scheduler.WithBackfillConcurrency(cfg.Scheduler.BackfillConcurrency))
	}
	return opts
}

// DAGs is the scheduler as the dags commands reach it: through the HTTP
// API of the appliance that holds the DuckDB file, or opened here on the
// warehouse (PostgreSQL or Redshift, or DuckDB with no appliance running).
type DAGs struct {
	web.Scheduler
	local *scheduler.Scheduler // nil through an appliance
	db    *warehouse.DB
	log   *slog.Logger
	// runner executes the runs queued here (Wait): a scheduler over the
	// same DAGs made manual-only, so that it creates no scheduled runs of
	// its own — a command is not an appliance.
	runner func(ctx context.Context) (*scheduler.Scheduler, error)
}

// OpenDAGs reaches the scheduler of cfg's warehouse. Through a running
// appliance the DAGs are those of the project it runs.
func OpenDAGs(ctx context.Context, cfg Config, log *slog.Logger) (*DAGs, error) {
	if log == nil {
		log = slog.Default()
	}
	if path := DuckDBPath(cfg.Warehouse); path != "" {
		info, lock, err := findAppliance(ctx, path)
		switch {
		case err == nil:
			return &DAGs{Scheduler: applianceClient(info), log: log}, nil
		case !errors.Is(err, errNoAppliance):
			return nil, err
		}
		if lock != nil {
			lock.Unlock() // we write: the file lock of DuckDB itself protects us
		}
	}
	p, err := LoadProject(cfg)
	if err != nil {
		return nil, err
	}
	dags, err := LoadDAGs(cfg)
	if err != nil {
		return nil, err
	}
	db, err := warehouse.Open(ctx, cfg.Warehouse, warehouse.WithLogger(log))
	if err != nil {
		return nil, err
	}
	gate := newModelsGate()
	s, err := scheduler.New(ctx, db, dags, schedulerOptions(cfg, db, p, gate, log, nil)...)
	if err != nil {
		db.Close()
		return nil, err
	}
	runner := func(ctx context.Context) (*scheduler.Scheduler, error) {
		manual := make([]*dag.DAG, len(dags))
		for i, d := range dags {
			c := *d
			c.Schedule = "" // the scheduler creates no scheduled runs of a manual-only DAG
			manual[i] = &c
		}
		// Its lease and start-up news are not the command's output.
		quiet := slog.New(minLevel{log.Handler(), slog.LevelWarn})
		return scheduler.New(ctx, db, manual, schedulerOptions(cfg, db, p, gate, quiet, nil)...)
	}
	return &DAGs{Scheduler: s, local: s, db: db, log: log, runner: runner}, nil
}

// ThroughAppliance reports whether the calls go to a running appliance.
func (d *DAGs) ThroughAppliance() bool { return d.local == nil }

// Close closes the warehouse opened here, if any.
func (d *DAGs) Close() error {
	if d.db == nil {
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}

// pollEvery is how often Wait looks at the runs it waits for.
const pollEvery = 250 * time.Millisecond

// Wait polls done until it reports true. With the warehouse opened here
// it executes queued runs meanwhile — no appliance is there to do it — as
// an instance that creates no scheduled runs (on a PostgreSQL/Redshift
// warehouse shared with a running appliance, whichever holds the lease
// executes them); it stops once done.
func (d *DAGs) Wait(ctx context.Context, done func(context.Context) (bool, error)) error {
	var stop context.CancelFunc
	ran := make(chan error, 1)
	if d.runner != nil {
		runner, err := d.runner(ctx)
		if err != nil {
			return err
		}
		var runCtx context.Context
		runCtx, stop = context.WithCancel(ctx)
		go func() { ran <- runner.Run(runCtx) }()
	}
	stopped := func() error {
		if stop == nil {
			return nil
		}
		stop()
		if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := done(ctx)
		if err != nil || ok {
			if serr := stopped(); err == nil {
				err = serr
			}
			return err
		}
		select {
		case <-ctx.Done():
			stopped()
			return ctx.Err()
		case err := <-ran:
			stop = nil
			if err == nil {
				err = errors.New("the scheduler stopped")
			}
			return fmt.Errorf("run the DAGs: %w", err)
		case <-t.C:
		}
	}
}

// Finished reports whether a run is over: success or failed.
func Finished(state string) bool { return state == "success" || state == "failed" }

// WaitRun waits for a run to end and returns it with its tasks.
func (d *DAGs) WaitRun(ctx context.Context, name, runID string) (scheduler.Run, []scheduler.TaskInstance, error) {
	var (
		run   scheduler.Run
		tasks []scheduler.TaskInstance
	)
	err := d.Wait(ctx, func(ctx context.Context) (bool, error) {
		var err error
		run, tasks, err = d.GetRun(ctx, name, runID)
		return err == nil && Finished(run.State), err
	})
	return run, tasks, err
}

// WaitRuns waits for the runs of a DAG with the given ids to end; progress,
// if set, is told how many have.
func (d *DAGs) WaitRuns(ctx context.Context, name string, ids []string, progress func(done int)) ([]scheduler.Run, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	final := map[string]scheduler.Run{}
	err := d.Wait(ctx, func(ctx context.Context) (bool, error) {
		// The newest runs first: those the backfill queued are among them
		// unless more runs came since; ask for the rest one by one.
		runs, err := d.Runs(ctx, name, min(web.MaxRunLimit, len(ids)+100))
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, r := range runs {
			if want[r.RunID] {
				seen[r.RunID] = true
				if Finished(r.State) {
					final[r.RunID] = r
				}
			}
		}
		for id := range want {
			if !seen[id] && !Finished(final[id].State) {
				r, _, err := d.GetRun(ctx, name, id)
				if err != nil {
					return false, err
				}
				if Finished(r.State) {
					final[id] = r
				}
			}
		}
		if progress != nil {
			progress(len(final))
		}
		return len(final) == len(want), nil
	})
	out := make([]scheduler.Run, 0, len(ids))
	for _, id := range ids {
		if r, ok := final[id]; ok {
			out = append(out, r)
		}
	}
	return out, err
}

// minLevel drops the records of a handler below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
