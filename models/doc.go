// Package models runs a dbt-style SQL project (models, seeds, tests and docs)
// against a Cartwheel warehouse.
//
// # Project
//
// A project is an [fs.FS] laid out like a dbt project: dbt_project.yml at
// the root, SQL models under models/, YAML property files (schema.yml,
// sources.yml) next to them, CSV seeds under seeds/, singular tests under
// tests/ and Jinja macros under macros/. [Load] reads and validates it; the
// built-in project is embedded in the root package (cartwheel.Project) and
// [WriteProject] copies it out for `cartwheel init DIR`. Other directories
// (dags/, dashboards/) are ignored here.
//
// # Templates
//
// Models are Jinja templates rendered with gonja: ref, source, config, var,
// is_incremental, this, target, env_var, the project's macros (global, as in
// dbt) and the cross-database macros under dbt.* and cartwheel.* (see
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
