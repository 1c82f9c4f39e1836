// Package grafana exports a project's dashboard as Grafana file
// provisioning (SPEC §5.4): a PostgreSQL data source, a dashboards
// provider and a dashboard JSON whose panels run the project's panel SQL
// with Grafana's macros in place of the bound parameters.
//
// # Files
//
//	provisioning/datasources/cartwheel.yaml   the data source (uid DataSourceUID)
//	provisioning/dashboards/cartwheel.yaml    a file provider reading DashboardsPath
//	dashboards/cartwheel.json                 the dashboard (uid DashboardUID)
//
// Over a DuckDB warehouse the data source is the appliance's Postgres
// endpoint (only the running appliance can read the DuckDB file); over
// PostgreSQL and Redshift it is the warehouse itself. No password is ever
// written: where one is needed the file names the environment variable
// PasswordEnv, which Grafana expands when it reads its provisioning.
//
// # SQL
//
// A panel's SQL binds $1 (from, inclusive), $2 (to, exclusive) and $3 (the
// bucket width in seconds). Translate rewrites it for Grafana's PostgreSQL
// data source:
//
//	col >= CAST($1 AS TIMESTAMP) AND col < CAST($2 AS TIMESTAMP)
//	    -> $__timeFilter(col) AND col < CAST($__timeTo() AS TIMESTAMP)
//	CAST($1 AS TIMESTAMP)  ->  CAST($__timeFrom() AS TIMESTAMP)
//	CAST($2 AS TIMESTAMP)  ->  CAST($__timeTo() AS TIMESTAMP)
//	CAST($3 AS BIGINT)     ->  CAST(GREATEST(FLOOR($__interval_ms / 1000), 1) AS BIGINT)
//
// and refuses, naming the panel and the line, any other use of a parameter
// and any other '$' (Grafana would read it as a variable or a macro).
// Comments are dropped: they describe the parameters the export replaces.
// $__timeFilter is BETWEEN, which includes the range's end; the second
// bound keeps the panels' meaning (to exclusive), which matters for
// pre-aggregated rows such as user_activity's buckets, one of which starts
// exactly at the end of an absolute range. The range filter is recognised
// only where nothing binds tighter than AND around it; elsewhere the two
// casts are translated one by one, with the same meaning.
//
// Time-series panels (chart timeseries and bars) must expose a sorted
// column named "time": the panel's query is wrapped so that its first
// column, the bucket, is renamed "time" and the rows are ordered by it.
// The buckets stay the panel's own (aligned to the range's start), so the
// Grafana panel shows the same rows as the built-in one; $__timeGroupAlias
// would align them to the epoch instead.
package grafana
