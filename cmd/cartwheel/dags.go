package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
	"github.com/cartwheel-analytics/cartwheel/scheduler/web"
)

// dagFlags are the flags every dags subcommand takes.
type dagFlags struct {
	dsn, project string
}

func (f *dagFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dsn, "warehouse", "", "warehouse DSN (default duckdb://data/cartwheel.duckdb)")
	cmd.Flags().StringVar(&f.project, "project", "", "the project in `DIR` whose dags/ to use when no appliance runs (default: the built-in project)")
}

// open reaches the scheduler: the running appliance's, or one on the
// warehouse opened here.
func (f *dagFlags) open(cmd *cobra.Command, g *globals) (*appliance.DAGs, error) {
	cfg, log, err := g.load()
	if err != nil {
		return nil, err
	}
	if cmd.Flags().Changed("warehouse") {
		cfg.Warehouse = f.dsn
	}
	if cmd.Flags().Changed("project") {
		cfg.Project = f.project
	}
	return appliance.OpenDAGs(cmd.Context(), cfg, log)
}

const dagsLong = `DAGs are YAML files in the project's dags/ folder (SPEC §5.2): tasks that
build models, check SQL, run a statement or call a URL, with dependencies,
trigger rules, retries with exponential backoff and timeouts, on a cron
schedule in a time zone. 'cartwheel run' schedules them; these commands
list, trigger, pause, backfill and test them, and show their runs and logs.

While 'cartwheel run' holds the DuckDB file, the commands go through the
running appliance (its project's DAGs). Otherwise they open the warehouse
themselves, with the DAGs of --project (or project: in the config, or the
built-in project).`

func newDagsCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "dags",
		Short: "List, trigger, pause, backfill and test the DAGs; show their runs and logs",
		Long:  dagsLong,
	}
	root.AddCommand(newDagsListCmd(g), newDagsTriggerCmd(g), newDagsRunsCmd(g), newDagsLogsCmd(g), newDagsBackfillCmd(g),
		newDagsPauseCmd(g, true), newDagsPauseCmd(g, false), newDagsTestCmd(g))
	return root
}

// checkFormat refuses an unknown --format before anything runs.
func checkFormat(format string) error {
	switch format {
	case "table", "csv", "json":
		return nil
	}
	return fmt.Errorf("--format %q: want table, csv or json", format)
}

func newDagsListCmd(g *globals) *cobra.Command {
	f := &dagFlags{}
	var format string
	cmd := &cobra.Command{
		Use:   "list [--format table|csv|json]",
		Short: "List the DAGs with their schedule, state, next run and last run",
		Example: `  cartwheel dags list
  cartwheel dags list --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			sts, err := d.DAGs(cmd.Context())
			if err != nil {
				return err
			}
			res := &result.Set{Columns: columns("dag", result.KindText, "schedule", result.KindText, "timezone", result.KindText,
				"paused", result.KindBool, "next_run", result.KindTimestamp, "last_run", result.KindText, "last_state", result.KindText,
				"tasks", result.KindInt), Rows: [][]any{}}
			for _, st := range sts {
				var next, lastRun, lastState any
				if st.NextRun != nil {
					next = st.NextRun.UTC()
				}
				if len(st.LastRuns) > 0 {
					lastRun, lastState = st.LastRuns[0].RunID, st.LastRuns[0].State
				}
				res.Rows = append(res.Rows, []any{st.DAG.Name, st.DAG.Schedule, st.DAG.Timezone, st.Paused, next, lastRun, lastState,
					int64(len(st.DAG.Tasks))})
			}
			return writeResult(cmd.OutOrStdout(), res, format)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	return cmd
}

func newDagsTriggerCmd(g *globals) *cobra.Command {
	f := &dagFlags{}
	var (
		wait bool
		date string
	)
	cmd := &cobra.Command{
		Use:   "trigger NAME [--wait] [--date T]",
		Short: "Queue a manual run of a DAG",
		Long: `Queue a manual run of a DAG (run type manual, logical date now or --date).

With a running appliance, its scheduler runs it (a paused DAG's run waits
for unpause, and max_active_runs apply): without --wait the command prints
the run id and returns. A paused DAG with --wait is an error. With --wait it waits for the run to end and its exit status is
the run's outcome: 0 when the run succeeded, 1 when it failed (the failed
tasks are listed).

With no appliance running on the DuckDB file, no scheduler is there to run
the run: the command queues it and runs it in the foreground, history
written, as if --wait were given (meanwhile it takes part in scheduling like
any instance, so on a PostgreSQL/Redshift warehouse shared with a running
appliance, whichever holds the lease runs it).`,
		Example: `  cartwheel dags trigger analytics
  cartwheel dags trigger analytics --wait && echo "marts are fresh"
  cartwheel dags trigger quality --date 2026-11-01T00:00:00Z --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			logical, err := web.ParseTime(date)
			if err != nil {
				return fmt.Errorf("--date: %w", err)
			}
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			out := cmd.OutOrStdout()
			st, err := d.DAG(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			waits := wait || !d.ThroughAppliance()
			if st.Paused && waits {
				// Its run would stay queued until someone unpauses it.
				return fmt.Errorf("%s is paused: a run of it waits for 'cartwheel dags unpause %s'", args[0], args[0])
			}
			run, err := d.Trigger(cmd.Context(), args[0], logical)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "queued %s run %s (logical date %s)\n", run.DAG, run.RunID, run.LogicalDate.UTC().Format(time.RFC3339))
			if !waits {
				if st.Paused {
					fmt.Fprintf(out, "%s is paused: the run starts once it is unpaused\n", run.DAG)
				}
				return nil
			}
			run, tasks, err := d.WaitRun(cmd.Context(), run.DAG, run.RunID)
			if err != nil {
				return err
			}
			return runOutcome(out, run, tasks)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end; the exit status is its outcome (0 success, 1 failed)")
	cmd.Flags().StringVar(&date, "date", "", "the run's logical date, RFC 3339 or YYYY-MM-DD (default now)")
	return cmd
}

// runOutcome prints how a run ended, each task's state, and returns an
// error with exit status 1 when the run failed.
func runOutcome(out io.Writer, run scheduler.Run, tasks []scheduler.TaskInstance) error {
	dur := ""
	if run.StartedAt != nil && run.EndedAt != nil {
		dur = " in " + run.EndedAt.Sub(*run.StartedAt).Round(time.Millisecond).String()
	}
	fmt.Fprintf(out, "run %s %s%s\n", run.RunID, run.State, dur)
	var failed []string
	width := 24
	for _, ti := range tasks {
		width = max(width, len(ti.TaskID))
	}
	for _, ti := range tasks {
		line := fmt.Sprintf("  %-*s %-16s try %d  %.1fs", width, ti.TaskID, ti.State, ti.Try, ti.Duration)
		if ti.Error != "" {
			line += "  " + oneLine(ti.Error)
		}
		fmt.Fprintln(out, line)
		if ti.State == "failed" || ti.State == "upstream_failed" {
			failed = append(failed, ti.TaskID+" ("+ti.State+")")
		}
	}
	if run.State != "success" {
		return &codeError{msg: fmt.Sprintf("%s run %s %s: %s", run.DAG, run.RunID, run.State, strings.Join(failed, ", ")), code: 1}
	}
	return nil
}

// codeError is a failure with its own exit status (exitCode).
type codeError struct {
	msg  string
	code exitCode
}

func (e *codeError) Error() string { return e.msg }
func (e *codeError) Unwrap() error { return e.code }

func newDagsRunsCmd(g *globals) *cobra.Command {
	f := &dagFlags{}
	var (
		format string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "runs NAME [--format table|csv|json] [--limit N]",
		Short: "List a DAG's latest runs, newest first",
		Example: `  cartwheel dags runs analytics
  cartwheel dags runs analytics --limit 100 --format csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if limit < 1 || limit > web.MaxRunLimit {
				return fmt.Errorf("--limit %d: want 1 to %d", limit, web.MaxRunLimit)
			}
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			runs, err := d.Runs(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			return writeResult(cmd.OutOrStdout(), runsResult(runs), format)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	cmd.Flags().IntVar(&limit, "limit", 25, "how many runs")
	return cmd
}

func runsResult(runs []scheduler.Run) *result.Set {
	res := &result.Set{Columns: columns("run_id", result.KindText, "run_type", result.KindText, "logical_date", result.KindTimestamp,
		"state", result.KindText, "started_at", result.KindTimestamp, "ended_at", result.KindTimestamp, "duration_s", result.KindFloat),
		Rows: [][]any{}}
	for _, r := range runs {
		var start, end, dur any
		if r.StartedAt != nil {
			start = r.StartedAt.UTC()
		}
		if r.EndedAt != nil {
			end = r.EndedAt.UTC()
			if r.StartedAt != nil {
				dur = math.Round(r.EndedAt.Sub(*r.StartedAt).Seconds()*1000) / 1000
			}
		}
		res.Rows = append(res.Rows, []any{r.RunID, r.RunType, r.LogicalDate.UTC(), r.State, start, end, dur})
	}
	return res
}

func columns(nameKinds ...any) []result.Column {
	var cols []result.Column
	for i := 0; i+1 < len(nameKinds); i += 2 {
		cols = append(cols, result.Column{Name: nameKinds[i].(string), Kind: nameKinds[i+1].(result.Kind)})
	}
	return cols
}

func newDagsLogsCmd(g *globals) *cobra.Command {
	f := &dagFlags{}
	var try int
	cmd := &cobra.Command{
		Use:   "logs NAME RUN_ID [TASK_ID] [--try N]",
		Short: "Print the logs of a run's tasks (latest tries), or of one task's try",
		Long: `Print the log of each task of a run (its latest try, in the DAG file's
order), or with TASK_ID the log of that task's latest try, or of try N. A
running task's log is what it has written so far.`,
		Example: `  cartwheel dags runs analytics --limit 1
  cartwheel dags logs analytics scheduled__2026-11-20T10:00:00Z
  cartwheel dags logs analytics scheduled__2026-11-20T10:00:00Z marts --try 1`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if try < 0 {
				return fmt.Errorf("--try %d: want a try number from 1 (0: the latest)", try)
			}
			if try > 0 && len(args) < 3 {
				return errors.New("--try needs a TASK_ID")
			}
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			out := cmd.OutOrStdout()
			name, runID := args[0], args[1]
			var ids []string
			if len(args) == 3 {
				ids = []string{args[2]}
			} else {
				_, tasks, err := d.GetRun(cmd.Context(), name, runID)
				if err != nil {
					return err
				}
				for _, ti := range tasks {
					ids = append(ids, ti.TaskID)
				}
			}
			for i, id := range ids {
				ti, err := d.TaskLog(cmd.Context(), name, runID, id, try)
				if err != nil {
					return err
				}
				if len(ids) > 1 {
					if i > 0 {
						fmt.Fprintln(out)
					}
					fmt.Fprintf(out, "=== %s (try %d, %s) ===\n", ti.TaskID, ti.Try, ti.State)
				}
				io.WriteString(out, ti.Log)
				if ti.Log != "" && !strings.HasSuffix(ti.Log, "\n") {
					fmt.Fprintln(out)
				}
				if ti.Error != "" && len(ids) > 1 {
					fmt.Fprintf(out, "error: %s\n", oneLine(ti.Error))
				}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&try, "try", 0, "the try number (default: the latest)")
	return cmd
}

func newDagsBackfillCmd(g *globals) *cobra.Command {
	f := &dagFlags{}
	var (
		from, to, reprocess string
		dryRun              bool
	)
	cmd := &cobra.Command{
		Use:   "backfill NAME --from T --to T [--reprocess none|failed|all] [--dry-run]",
		Short: "Queue one run per schedule interval between two times, and wait for them",
		Long: `Queue one backfill run per schedule interval whose logical date lies in
[--from, --to] (times in RFC 3339, or dates), and wait until they have all
ended, with a progress bar on a terminal. Intervals that already have a run
are left alone (--reprocess none), run again when their latest run failed
(failed) or run again in any case (all); a queued or running one is never
touched. --dry-run lists the runs it would queue.

The backfill runs have their own concurrency limit (scheduler.
backfill_concurrency, default 2) and scheduled runs go on meanwhile. With no
appliance running on the DuckDB file, this command runs them itself. The
exit status is 1 when a run failed.`,
		Example: `  cartwheel dags backfill analytics --from 2026-11-01 --to 2026-11-02 --dry-run
  cartwheel dags backfill analytics --from 2026-11-01T00:00:00Z --to 2026-11-01T06:00:00Z --reprocess failed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := web.BackfillRequest{From: from, To: to, Reprocess: reprocess, DryRun: dryRun}
			fromT, toT, mode, err := parseBackfill(req)
			if err != nil {
				return err
			}
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			out := cmd.OutOrStdout()
			runs, err := d.Backfill(cmd.Context(), args[0], fromT, toT, mode, dryRun)
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(out, "would queue %d run%s:\n", len(runs), plural(len(runs)))
				return writeResult(out, runsResult(runs), "table")
			}
			fmt.Fprintf(out, "queued %d backfill run%s of %s\n", len(runs), plural(len(runs)), args[0])
			if len(runs) == 0 {
				return nil
			}
			ids := make([]string, len(runs))
			for i, r := range runs {
				ids[i] = r.RunID
			}
			if g.progress != nil {
				g.progress.start(int64(len(ids)), "backfill "+args[0], "runs", 0)
				defer g.progress.stop()
			}
			final, err := d.WaitRuns(cmd.Context(), args[0], ids, func(done int) { g.progress.set(int64(done)) })
			g.progress.stop()
			if err != nil {
				return err
			}
			var failed []string
			for _, r := range final {
				if r.State != "success" {
					failed = append(failed, r.RunID)
				}
			}
			fmt.Fprintf(out, "%d run%s ended: %d success, %d failed\n", len(final), plural(len(final)), len(final)-len(failed), len(failed))
			if len(failed) > 0 {
				return &codeError{msg: fmt.Sprintf("backfill of %s: %d run%s failed: %s", args[0], len(failed), plural(len(failed)),
					strings.Join(failed, ", ")), code: 1}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "first logical date, RFC 3339 or YYYY-MM-DD (required)")
	cmd.Flags().StringVar(&to, "to", "", "last logical date, RFC 3339 or YYYY-MM-DD (required)")
	cmd.Flags().StringVar(&reprocess, "reprocess", "none", "intervals with a run: none, failed or all")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the runs, queue nothing")
	return cmd
}

// parseBackfill checks the backfill flags as the API checks its body.
func parseBackfill(req web.BackfillRequest) (from, to time.Time, mode scheduler.Reprocess, err error) {
	if req.From == "" || req.To == "" {
		return from, to, "", errors.New("backfill needs --from and --to")
	}
	if from, err = web.ParseTime(req.From); err != nil {
		return from, to, "", fmt.Errorf("--from: %w", err)
	}
	if to, err = web.ParseTime(req.To); err != nil {
		return from, to, "", fmt.Errorf("--to: %w", err)
	}
	if from.After(to) {
		return from, to, "", fmt.Errorf("--from %s is after --to %s", req.From, req.To)
	}
	mode, err = web.ParseReprocess(req.Reprocess)
	if err != nil {
		return from, to, "", fmt.Errorf("--%w", err)
	}
	return from, to, mode, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newDagsPauseCmd(g *globals, pause bool) *cobra.Command {
	f := &dagFlags{}
	name, short, long := "unpause", "Resume a DAG's schedule", `Resume a DAG's schedule: the scheduler starts its due runs again (with
catchup: true, one per interval missed while it was paused).`
	if pause {
		name, short, long = "pause", "Stop scheduling a DAG's runs (the pause survives restarts)", `Stop scheduling a DAG's runs; runs already going finish, and queued runs
wait. The pause is kept in the warehouse and survives restarts (the DAG
file's paused: is only the initial state).`
	}
	cmd := &cobra.Command{
		Use:     name + " NAME",
		Short:   short,
		Long:    long,
		Example: "  cartwheel dags " + name + " analytics",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.SetPaused(cmd.Context(), args[0], pause); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %sd\n", args[0], name)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newDagsTestCmd(g *globals) *cobra.Command {
	f := &dagFlags{}
	var date string
	cmd := &cobra.Command{
		Use:   "test NAME [--date T]",
		Short: "Run a DAG once now, in the foreground, writing no history",
		Long: `Run every task of a DAG once, now, in the foreground, as 'airflow dags test'
does: the tasks' logs are printed, nothing goes to dag_runs or
task_instances, retries and timeouts apply. The logical date is now or
--date. The exit status is 1 when the run failed. Through a running
appliance the log is printed when the run ends.`,
		Example: `  cartwheel dags test analytics
  cartwheel dags test quality --date 2026-11-01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			logical, err := web.ParseTime(date)
			if err != nil {
				return fmt.Errorf("--date: %w", err)
			}
			d, err := f.open(cmd, g)
			if err != nil {
				return err
			}
			defer d.Close()
			out := cmd.OutOrStdout()
			run, tasks, err := d.Test(cmd.Context(), args[0], logical, out)
			if err != nil {
				return err
			}
			return runOutcome(out, run, tasks)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&date, "date", "", "the run's logical date, RFC 3339 or YYYY-MM-DD (default now)")
	return cmd
}
