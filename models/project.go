package models

import (
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// ResourceType is the kind of a project node.
type ResourceType string

// The node kinds.
const (
	ModelType  ResourceType = "model"
	SeedType   ResourceType = "seed"
	TestType   ResourceType = "test"
	SourceType ResourceType = "source"
)

// The materializations.
const (
	View        = "view"
	Table       = "table"
	Incremental = "incremental"
	Ephemeral   = "ephemeral"
)

// Incremental strategies.
const (
	DeleteInsert = "delete+insert"
	Merge        = "merge"
	Append       = "append"
)

// Column is a documented column.
type Column struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	DataType    string `json:"data_type,omitempty"`
}

// Config is a node's configuration, merged from dbt_project.yml (by
// folder), the properties file and the model's own config(...) call.
type Config struct {
	Enabled             bool              `json:"enabled"`
	Materialized        string            `json:"materialized,omitempty"`
	UniqueKey           []string          `json:"unique_key,omitempty"`
	IncrementalStrategy string            `json:"incremental_strategy,omitempty"`
	Schema              string            `json:"schema,omitempty"`
	Alias               string            `json:"alias,omitempty"`
	Tags                []string          `json:"tags"`
	Severity            string            `json:"severity,omitempty"`
	Where               string            `json:"where,omitempty"`
	ColumnTypes         map[string]string `json:"column_types,omitempty"`
	FullRefresh         *bool             `json:"full_refresh,omitempty"`
	Meta                map[string]any    `json:"meta,omitempty"`
}

// Node is a model, seed, test or source of the project.
type Node struct {
	UniqueID     string       // e.g. model.cartwheel.dim_users
	Name         string       // e.g. dim_users
	ResourceType ResourceType //
	Path         string       // the defining file, relative to the project root
	PatchPath    string       // the properties file that documents it, if any
	Description  string
	Columns      []Column
	Config       Config
	DependsOn    []string // unique ids, sorted
	RawSQL       string   // the template (models, tests)

	SourceName string // sources: the source's name
	Identifier string // sources: the table's name in the warehouse
	// LoadedAtField is, for a source table, the column (or expression)
	// holding when each row was loaded (dbt's loaded_at_field): the
	// runner's snapshot bound (see snapshot_at in the package doc).
	LoadedAtField string

	TestName     string         // generic tests: not_null, unique, accepted_values, relationships
	TestKwargs   map[string]any // generic tests: their arguments
	ColumnName   string         // generic tests: the tested column
	AttachedNode string         // generic tests: the unique id of the tested node

	line int // generic tests: the line of the test in its YAML file
	tpl  *exec.Template
	seed *seedData
}

// relation is the name the node is built under (or read from).
func (n *Node) relation() Relation {
	switch {
	case n.ResourceType == SourceType:
		return Relation{Schema: n.Config.Schema, Identifier: n.Identifier}
	case n.Config.Materialized == Ephemeral:
		return Relation{Identifier: "__cartwheel__cte__" + n.Name, cte: true}
	case n.Config.Alias != "":
		return Relation{Schema: n.Config.Schema, Identifier: n.Config.Alias}
	}
	return Relation{Schema: n.Config.Schema, Identifier: n.Name}
}

// Relation returns the table or view the node is built under (or, for a
// source, read from).
func (n *Node) Relation() string { return n.relation().String() }

// Project is a loaded, validated project.
type Project struct {
	Name    string
	Version string
	Vars    map[string]any
	Nodes   map[string]*Node // by unique id
	// Warnings are problems that do not stop a run (printed by the runner).
	Warnings []string

	fsys     fs.FS
	eng      *engine
	byName   map[string]*Node    // models and seeds by name
	children map[string][]string // unique id → dependents, sorted
	file     projectFile
}

// Node returns the model, seed or test with this name (or unique id).
func (p *Project) Node(name string) *Node {
	if n := p.Nodes[name]; n != nil {
		return n
	}
	if n := p.byName[name]; n != nil {
		return n
	}
	for _, n := range p.Nodes {
		if n.ResourceType == TestType && n.Name == name {
			return n
		}
	}
	return nil
}

// sorted returns the nodes in unique-id order, optionally of some types.
func (p *Project) sorted(types ...ResourceType) []*Node {
	var out []*Node
	for _, n := range p.Nodes {
		if len(types) == 0 || slices.Contains(types, n.ResourceType) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.UniqueID, b.UniqueID) })
	return out
}

func (p *Project) refNames() []string { return slices.Sorted(maps.Keys(p.byName)) }

func sourceID(project, source, table string) string {
	return "source." + project + "." + source + "." + table
}
