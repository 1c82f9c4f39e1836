package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/dashboard"
	"github.com/cartwheel-analytics/cartwheel/grafana"
)

func newGrafanaCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "grafana",
		Short: "Export the dashboard as Grafana provisioning",
	}
	var out, dsn, project, pgAddr, dashboardsPath string
	var force bool
	export := &cobra.Command{
		Use:   "export --out DIR",
		Short: "Write a Grafana data source, dashboards provider and dashboard for this warehouse",
		Long: `Write Grafana file provisioning under DIR:

  provisioning/datasources/cartwheel.yaml   a PostgreSQL data source
  provisioning/dashboards/cartwheel.yaml    a dashboards provider
  dashboards/cartwheel.json                 the dashboard

The dashboard has the project's panels (dashboards/ of the built-in project
or --project) with the same SQL, using Grafana's $__timeFilter, $__timeFrom,
$__timeTo and $__interval_ms macros for the range and the bucket width.

Over a DuckDB warehouse the data source is the appliance's Postgres
endpoint (pg: in the config, default 127.0.0.1:5433): Grafana reads the
live warehouse through the running 'cartwheel run'. Over postgres:// and
redshift:// it is the warehouse itself. No password is written: where one
is needed, Grafana reads it from its environment variable
` + grafana.PasswordEnv + ` (off loopback, the appliance's token).

Mount DIR/provisioning/datasources and DIR/provisioning/dashboards under
Grafana's /etc/grafana/provisioning/, and DIR/dashboards at
` + grafana.DefaultDashboardsPath + ` (--dashboards-path changes it).
A file already in DIR with other content is refused unless --force.`,
		Example: `  cartwheel grafana export --out grafana
  cartwheel grafana export --out grafana --warehouse postgres://grafana_reader@db.internal/analytics
  cartwheel grafana export --out grafana --pg 192.168.1.20:5433 --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("grafana export: --out DIR is required (the folder the provisioning is written to)")
			}
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("warehouse") {
				cfg.Warehouse = dsn
			}
			if cmd.Flags().Changed("project") {
				cfg.Project = project
			}
			if cmd.Flags().Changed("pg") {
				cfg.PG = pgAddr
			}
			where := "the built-in project"
			if cfg.Project != "" {
				where = cfg.Project
			}
			d, err := dashboard.Load(appliance.ProjectFS(cfg.Project))
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			ds, err := grafana.DataSourceFor(cfg.Warehouse, grafana.Endpoint{Addr: cfg.PG, TLS: cfg.PGTLS.Cert != ""})
			if err != nil {
				return err
			}
			files, err := grafana.Export(d, ds, grafana.WithDashboardsPath(dashboardsPath))
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			written, err := grafana.Write(out, files, force)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, f := range files {
				state := "unchanged"
				p := filepath.Join(out, filepath.FromSlash(f.Path))
				for _, x := range written {
					if x == p {
						state = "written"
					}
				}
				fmt.Fprintf(w, "%-9s %s\n", state, p)
			}
			fmt.Fprintf(w, "data source: %s %s, database %s, user %s, sslmode %s\n", ds.Dialect, ds.URL(), ds.Database, ds.User, ds.SSLMode)
			if ds.Password {
				fmt.Fprintf(w, "Grafana reads the password from its environment: %s\n", grafana.PasswordEnv)
			}
			if ds.Appliance && ds.Password && ds.SSLMode == "disable" {
				fmt.Fprintln(cmd.ErrOrStderr(), "cartwheel: warning: the Postgres endpoint is off loopback without pg_tls: Grafana will send the token in clear")
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				abs = out
			}
			fmt.Fprintf(w, "run Grafana with:\n  docker run --rm --network host \\\n"+
				"    -v %[1]s/provisioning/datasources:/etc/grafana/provisioning/datasources:ro \\\n"+
				"    -v %[1]s/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro \\\n"+
				"    -v %[1]s/dashboards:%[2]s:ro \\\n", abs, dashboardsPath)
			if ds.Password {
				fmt.Fprintf(w, "    -e %s \\\n", grafana.PasswordEnv)
			}
			fmt.Fprintln(w, "    grafana/grafana:11.3.0")
			return nil
		},
	}
	f := export.Flags()
	f.StringVar(&out, "out", "", "write the provisioning under `DIR` (created if missing)")
	f.StringVar(&dsn, "warehouse", "", "warehouse DSN (default duckdb://data/cartwheel.duckdb): DuckDB exports the appliance's Postgres endpoint, postgres:// and redshift:// the warehouse")
	f.StringVar(&project, "project", "", "export the panels of the project in `DIR` (default: the built-in project)")
	f.StringVar(&pgAddr, "pg", "", "the appliance's Postgres endpoint as Grafana reaches it, `HOST:PORT` (default: pg: of the config, 127.0.0.1:5433)")
	f.StringVar(&dashboardsPath, "dashboards-path", grafana.DefaultDashboardsPath, "where Grafana finds the exported dashboards/ folder, `PATH`")
	f.BoolVar(&force, "force", false, "overwrite files in DIR that differ from the export")
	root.AddCommand(export)
	return root
}
