// Package project embeds Cartwheel's built-in dbt-style project — the
// models, tests, seeds, macros and dashboard panels it runs by default, and
// that `cartwheel init` writes out.
package project

import "embed"

// FS is the built-in project, dbt_project.yml at its root. The Go files of
// this package are not part of it; a new top-level file or directory of the
// project must join the list below (TestFSHoldsEveryFile checks it).
//
//go:embed dbt_project.yml all:dags all:dashboards all:macros all:models all:seeds all:tests
var FS embed.FS
