// Package cartwheel embeds the built-in dbt-style project (models, tests,
// seeds, macros and the other project files) that Cartwheel runs by default.
package cartwheel

import "embed"

// Project is the built-in project; its files are under project/.
//
//go:embed all:project
var Project embed.FS
