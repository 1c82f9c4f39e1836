package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// modelFlags are the dbt-like flags shared by the models subcommands.
type modelFlags struct {
	dsn, project, vars string
	selects, excludes  []string
	fullRefresh        bool
	threads            int
}

func (f *modelFlags) register(cmd *cobra.Command, write bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.dsn, "warehouse", "", "warehouse DSN (default duckdb://data/cartwheel.duckdb)")
	fs.StringVar(&f.project, "project", "", "the project in `DIR` (default: the built-in project, which 'cartwheel init' writes out)")
	fs.StringSliceVarP(&f.selects, "select", "s", nil, "nodes to include: name, +name, name+, tag:x, path:…, source:…")
	fs.StringSliceVar(&f.excludes, "exclude", nil, "nodes to leave out (same syntax as --select)")
	fs.StringVar(&f.vars, "vars", "", `template variables as YAML, e.g. '{"session_lookback_minutes": 120}'`)
	if write {
		fs.BoolVar(&f.fullRefresh, "full-refresh", false, "rebuild incremental models from scratch")
		fs.IntVar(&f.threads, "threads", runtime.NumCPU(), "nodes run at once; one per core unless set")
	}
}

// config applies the flags over the configuration file.
func (f *modelFlags) config(cmd *cobra.Command, g *globals) (appliance.Config, error) {
	cfg, _, err := g.load()
	if err != nil {
		return cfg, err
	}
	if cmd.Flags().Changed("warehouse") {
		cfg.Warehouse = f.dsn
	}
	if cmd.Flags().Changed("project") {
		cfg.Project = f.project
	}
	return cfg, nil
}

func newModelsCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "models",
		Short: "Run, test, build, document and list the dbt-style models",
		Long: `The model layer is a dbt-style project (staging → marts) run by Cartwheel:
ref/source/config/var/is_incremental templates, view/table/incremental/
ephemeral materializations, generic and singular tests, docs with lineage.
The same SQL runs on DuckDB, PostgreSQL and Redshift.

While 'cartwheel run' holds the DuckDB file, run/test/build go through the
running appliance, which builds the project it was started with.`,
	}
	for _, c := range []struct{ name, short string }{
		{"run", "Build the selected models in dependency order"},
		{"test", "Run the data tests of the selected nodes"},
		{"build", "Seeds, models and tests in DAG order; a failure skips everything downstream"},
	} {
		f := &modelFlags{}
		cmd := &cobra.Command{
			Use:   c.name,
			Short: c.short,
			Example: "  cartwheel models " + c.name + "\n  cartwheel models " + c.name +
				" --select +fct_daily_revenue\n  cartwheel models " + c.name + " -s tag:marts --exclude dim_time",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := f.config(cmd, g)
				if err != nil {
					return err
				}
				err = runModels(cmd, g, cfg, appliance.ModelsRequest{
					Command: c.name, Select: f.selects, Exclude: f.excludes, FullRefresh: f.fullRefresh,
					Vars: f.vars, Threads: f.threads,
				})
				if errors.Is(err, models.ErrFailed) {
					return errors.New("models " + c.name + " failed (see above)")
				}
				return err
			},
		}
		f.register(cmd, c.name != "test")
		root.AddCommand(cmd)
	}

	docs := &modelFlags{}
	var out string
	docsCmd := &cobra.Command{
		Use:   "docs",
		Short: "Write the manifest and a static HTML site with the lineage graph",
		Long: `Write target/manifest.json (nodes, dependencies, columns, descriptions,
compiled SQL) and target/index.html, a self-contained page with the lineage
graph that opens in any browser without a network.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := docs.config(cmd, g)
			if err != nil {
				return err
			}
			p, err := appliance.LoadProject(cfg)
			if err != nil {
				return err
			}
			// Docs compile for the warehouse's dialect; they read nothing.
			dialect := warehouse.DuckDB
			if d, ok := dialectOf(cfg.Warehouse); ok {
				dialect = d
			}
			vars, err := varsOption(docs.vars)
			if err != nil {
				return err
			}
			m, err := models.Docs(cmd.Context(), nil, p, out, append(vars, models.WithDialect(dialect),
				models.WithSelect(docs.selects...), models.WithExclude(docs.excludes...))...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d nodes to %s and %s\n", len(m.Nodes),
				filepath.Join(out, "manifest.json"), filepath.Join(out, "index.html"))
			return nil
		},
	}
	docs.register(docsCmd, false)
	docsCmd.Flags().StringVar(&out, "out", "target", "output directory")
	root.AddCommand(docsCmd)

	ls := &modelFlags{}
	lsCmd := &cobra.Command{
		Use:   "ls",
		Short: "List the selected nodes in dependency order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := ls.config(cmd, g)
			if err != nil {
				return err
			}
			p, err := appliance.LoadProject(cfg)
			if err != nil {
				return err
			}
			nodes, err := models.List(p, models.WithSelect(ls.selects...), models.WithExclude(ls.excludes...))
			if err != nil {
				return err
			}
			for _, n := range nodes {
				fmt.Fprintln(cmd.OutOrStdout(), n.UniqueID)
			}
			return nil
		},
	}
	ls.register(lsCmd, false)
	root.AddCommand(lsCmd)
	return root
}

func varsOption(s string) ([]models.Option, error) {
	if s == "" {
		return nil, nil
	}
	v, err := models.ParseVars(s)
	if err != nil {
		return nil, err
	}
	return []models.Option{models.WithVars(v)}, nil
}

// dialectOf returns the dialect of a warehouse DSN, if it parses.
func dialectOf(dsn string) (warehouse.Dialect, bool) {
	d, err := warehouse.ParseDSN(dsn)
	if err != nil {
		return "", false
	}
	return d.Dialect, true
}

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init DIR",
		Short: "Write the built-in project (models, tests, seeds, macros) to DIR to change or extend it",
		Long: `Write the built-in project (models, tests, seeds, macros) to DIR to change or
extend it. The appliance builds it when started with --project DIR (or with
project: DIR in the config); 'cartwheel models build --project DIR' builds
it while no appliance runs on the DuckDB file. While one does, models
commands go through it and build the project it was started with, so
--project (or project: in the config) is refused there.`,
		Example: `  cartwheel init my-project
  cartwheel run --project my-project            # or  project: my-project  in the config
  cartwheel models build --project my-project   # with no appliance running`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := g.load(); err != nil {
				return err
			}
			if err := models.WriteProject(args[0], appliance.ProjectFS("")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), initHint, args[0])
			return nil
		},
	}
}

// initHint tells what to do with the written project (%[1]s: its directory).
// A running appliance builds the project it was started with and refuses a
// models command that names another (appliance.Models).
const initHint = `wrote the built-in project to %[1]s; to use it:
  cartwheel run --project %[1]s             the appliance builds it (or: project: %[1]s in the config)
  cartwheel models build --project %[1]s    builds it while no appliance runs on the DuckDB file
While an appliance runs on the DuckDB file, models commands go through it and build the project
it was started with; --project (or project: in the config) is refused there.
`

// buildAfterReplay builds the models on the replayed warehouse.
func buildAfterReplay(cmd *cobra.Command, g *globals, cfg appliance.Config) error {
	err := runModels(cmd, g, cfg, appliance.ModelsRequest{Command: "build"})
	if errors.Is(err, models.ErrFailed) {
		return errors.New("models build failed after the replay (see above)")
	}
	return err
}

// runModels runs a models command with its log on stdout and, when stderr
// is a terminal, a bar of the nodes done there (through a running
// appliance, which reports no progress: none).
func runModels(cmd *cobra.Command, g *globals, cfg appliance.Config, req appliance.ModelsRequest) error {
	out := cmd.OutOrStdout()
	if g.progress != nil {
		req.Progress = func(done, total int) {
			if !g.progress.started() && total > 0 {
				g.progress.start(int64(total), "models "+req.Command, "nodes", 0)
			}
			g.progress.set(int64(done))
		}
		out = g.progress.writer(out)
		defer g.progress.stop()
	}
	return appliance.Models(cmd.Context(), cfg, req, out)
}
