// Package models runs a dbt-style SQL project (models, seeds, tests and docs)
// against a Cartwheel warehouse.
//
// # Project
//
// A project is an [fs.FS] laid out like a dbt project: dbt_project.yml at
// the root, SQL models under models/, YAML property files (schema.yml,
// sources.yml) next to them, CSV seeds under seeds/, singular tests under
// tests/ and Jinja macros under macros/. [Load] reads and validates it; the
// built-in project is embedded by package project (project.FS) and
// [WriteProject] copies it out for `cartwheel init DIR`. Other directories
// (dags/, dashboards/) are ignored here.
//
// # Templates
//
// Models are Jinja templates rendered with gonja: ref, source, config, var
// (with the run's snapshot_at, see Snapshots), is_incremental, this, target,
// env_var, the project's macros (global, as in dbt) and the cross-database macros under dbt.* and cartwheel.* (see
// [MacroNames]), implemented per dialect so that the same model SQL runs on
// DuckDB, PostgreSQL and Redshift. Template errors are [*TemplateError]s that
// name the file, line and column.
//
// # Graph and selection
//
// ref and source calls define the DAG; a cycle is a [*CycleError]. Node
// selection follows dbt: name, +name, name+, n+name, tag:x, path:dir,
// source:name.table, resource_type:model, unions of space-separated
// selectors, intersections with commas, and exclusions.
//
// # Materializations
//
// view (CREATE OR REPLACE VIEW), table (built under a temporary name and
// swapped in inside one transaction), incremental (delete+insert, merge or
// append on unique_key; full refresh rebuilds it like a table) and ephemeral
// (inlined as a CTE). Seeds are loaded like tables.
//
// # Snapshots
//
// The streaming layer keeps appending to the source tables while models
// run, so one invocation must read one state of them: otherwise a mart
// built at the start and a staging view read by a test at the end count
// different events, and the tests of a build over a live stream never pass.
// Every [Run], [Test] and [Build] (and [Compile] and [Docs] given a
// warehouse) therefore fixes the template variable snapshot_at
// ([SnapshotVar]) before it runs anything: the greatest value of the
// loaded_at_field of the project's sources (dbt's source property; the
// built-in project declares events.ingested_at, sessions.closed_at and
// rejected_events.received_at), read in one statement, as UTC text
// "2006-01-02 15:04:05.000000". When those tables are all empty it is
// 1970-01-01, before any row. Models filter the sources on it; the built-in
// project does so in its staging views with the project macro in_snapshot
// (macros/snapshot.sql): `where ingested_at <= cast('…' as TIMESTAMP)`,
// the same SQL on every dialect. The marts and tests read only the staging
// views, so everything one invocation builds and tests is as of one
// snapshot, and a later invocation that does not rebuild the staging views
// (`models run --select tag:marts`, `models test`) reads the snapshot they
// were built with.
//
// The bound is exact because the pipeline commits one batch at a time, its
// events, closed sessions and rejected records in one transaction stamped
// with one wall-clock time: every row stamped at or before the newest
// committed time is already committed. (Several writers committing to one
// warehouse concurrently, or a wall clock stepping back, could commit a
// batch stamped before a snapshot after it was fixed.)
//
// snapshot_at passed with [WithVars] (--vars), or else set in
// dbt_project.yml, is honoured instead: a timestamp (with a UTC offset, or
// UTC without one) pins the snapshot, null turns it off (no bound: the
// staging views read the live tables, as [Compile] and [Docs] without a
// warehouse do). Incremental models only add rows: going back to an
// earlier snapshot needs a full refresh. The snapshot is printed in the log
// and reported in [Report].SnapshotAt.
//
// # Tests
//
// Generic tests not_null, unique, accepted_values and relationships
// declared in YAML, with severity warn or error, and singular SQL tests.
// [Build] runs seeds, models and tests in DAG order and skips everything
// downstream of a failure.
//
// # Docs
//
// [Docs] writes manifest.json and a self-contained index.html with the
// lineage graph drawn as inline SVG.
package models
