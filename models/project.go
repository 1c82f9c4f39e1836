package models

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
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

// projectRoot accepts the project directory itself or an FS that holds it
// under project/ (the embedded cartwheel.Project).
func projectRoot(fsys fs.FS) fs.FS {
	if _, err := fs.Stat(fsys, "dbt_project.yml"); err == nil {
		return fsys
	}
	if sub, err := fs.Sub(fsys, "project"); err == nil {
		if _, err := fs.Stat(sub, "dbt_project.yml"); err == nil {
			return sub
		}
	}
	return fsys
}

// Load reads and validates a project: dbt_project.yml, models, properties
// files, seeds, singular tests and macros. Every template is parsed and
// rendered once to find its dependencies, so unknown refs, template syntax
// errors, bad YAML and dependency cycles are reported here, each with the
// file (and line) at fault.
func Load(fsys fs.FS) (*Project, error) {
	fsys = projectRoot(fsys)
	data, err := fs.ReadFile(fsys, "dbt_project.yml")
	if err != nil {
		return nil, fmt.Errorf("load project: %w", err)
	}
	var pf projectFile
	if err := decodeYAML("dbt_project.yml", data, &pf); err != nil {
		return nil, err
	}
	if pf.Name == "" {
		return nil, &ParseError{File: "dbt_project.yml", Msg: "name is required"}
	}
	def := func(v []string, d string) []string {
		if len(v) == 0 {
			return []string{d}
		}
		return v
	}
	pf.ModelPaths, pf.SeedPaths = def(pf.ModelPaths, "models"), def(pf.SeedPaths, "seeds")
	pf.TestPaths, pf.MacroPaths = def(pf.TestPaths, "tests"), def(pf.MacroPaths, "macros")
	if pf.DataTests == nil {
		pf.DataTests = pf.Tests
	}
	p := &Project{
		Name:     pf.Name,
		Version:  fmt.Sprint(pf.Version),
		Vars:     pf.Vars,
		Nodes:    map[string]*Node{},
		fsys:     fsys,
		eng:      newEngine(fsys),
		byName:   map[string]*Node{},
		children: map[string][]string{},
		file:     pf,
	}
	if pf.Version == nil {
		p.Version = ""
	}
	if p.Vars == nil {
		p.Vars = map[string]any{}
	}
	var errs errorList
	var props []string
	// Macros first: every template sees them.
	for _, dir := range pf.MacroPaths {
		for _, f := range walk(fsys, dir, ".sql") {
			src, err := fs.ReadFile(fsys, f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			t, err := p.eng.parse(f, string(src))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.eng.macros = append(p.eng.macros, t)
		}
	}
	for _, dir := range pf.ModelPaths {
		for _, f := range walk(fsys, dir, ".sql", ".yml", ".yaml") {
			if strings.HasSuffix(f, ".sql") {
				errs = appendErr(errs, p.addSQLNode(ModelType, f, dir))
			} else {
				props = append(props, f)
			}
		}
	}
	for _, dir := range pf.SeedPaths {
		for _, f := range walk(fsys, dir, ".csv", ".yml", ".yaml") {
			if strings.HasSuffix(f, ".csv") {
				errs = appendErr(errs, p.addSeed(f, dir))
			} else {
				props = append(props, f)
			}
		}
	}
	for _, dir := range pf.TestPaths {
		for _, f := range walk(fsys, dir, ".sql") {
			if strings.HasPrefix(f, path.Join(dir, "generic")+"/") {
				p.Warnings = append(p.Warnings, f+": custom generic tests are not supported; ignored")
				continue
			}
			errs = appendErr(errs, p.addSQLNode(TestType, f, dir))
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	for _, f := range props {
		errs = appendErr(errs, p.applyProperties(f))
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	// Render every template once: dependencies and config(...).
	for _, n := range p.sorted(ModelType, TestType) {
		st := &renderState{p: p, node: n, dialect: warehouse.DuckDB, parse: true}
		if _, err := p.eng.render(st, n.tpl, n.Path, n.RawSQL); err != nil {
			var te *TemplateError
			if n.line > 0 && errors.As(err, &te) {
				te.Line, te.Col = n.line, 0 // a generic test: point at its YAML entry
			}
			errs = append(errs, err)
			continue
		}
		if st.config != nil {
			if err := applyConfig(&n.Config, st.config); err != nil {
				errs = append(errs, &TemplateError{File: n.Path, Msg: "config(): " + err.Error()})
				continue
			}
		}
		n.DependsOn = dedupe(st.refs)
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	for _, n := range p.sorted() {
		errs = appendErr(errs, p.validateConfig(n))
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	if err := p.dropDisabled(); err != nil {
		return nil, err
	}
	if err := p.link(); err != nil {
		return nil, err
	}
	return p, nil
}

func appendErr(l errorList, err error) errorList {
	if err == nil {
		return l
	}
	var sub errorList
	if errors.As(err, &sub) {
		return append(l, sub...)
	}
	return append(l, err)
}

func dedupe(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// walk lists the files under dir with one of the extensions, sorted.
func walk(fsys fs.FS, dir string, exts ...string) []string {
	var out []string
	_ = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(p, e) {
				out = append(out, p)
				break
			}
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func baseName(f string) string {
	b := path.Base(f)
	return strings.TrimSuffix(b, path.Ext(b))
}

// folders returns the directories of f below root, for folder configs.
func folders(root, f string) []string {
	rel := strings.TrimPrefix(path.Dir(f), root)
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

func (p *Project) addSQLNode(rt ResourceType, f, root string) error {
	src, err := fs.ReadFile(p.fsys, f)
	if err != nil {
		return err
	}
	name := baseName(f)
	n := &Node{
		UniqueID:     string(rt) + "." + p.Name + "." + name,
		Name:         name,
		ResourceType: rt,
		Path:         f,
		RawSQL:       string(src),
		Config:       Config{Enabled: true},
	}
	if rt == ModelType {
		n.Config.Materialized = View
		if other := p.byName[name]; other != nil {
			return &ParseError{File: f, Msg: fmt.Sprintf("two nodes are named %q (the other is %s)", name, other.Path)}
		}
		p.byName[name] = n
	} else {
		n.Config.Severity = "error"
		if p.Nodes[n.UniqueID] != nil {
			return &ParseError{File: f, Msg: fmt.Sprintf("two tests are named %q", name)}
		}
	}
	tree := p.file.Models
	if rt == TestType {
		tree = p.file.DataTests
	}
	if err := applyConfig(&n.Config, folderConfig(tree, p.Name, append(folders(root, f), name))); err != nil {
		return &ParseError{File: "dbt_project.yml", Msg: fmt.Sprintf("config for %s: %v", f, err)}
	}
	t, err := p.eng.parse(f, n.RawSQL)
	if err != nil {
		return err
	}
	n.tpl = t
	p.Nodes[n.UniqueID] = n
	return nil
}

type seedData struct {
	header []string
	rows   [][]string
}

func (p *Project) addSeed(f, root string) error {
	b, err := fs.ReadFile(p.fsys, f)
	if err != nil {
		return err
	}
	r := csv.NewReader(strings.NewReader(string(b)))
	recs, err := r.ReadAll()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &ParseError{File: f, Line: pe.Line, Msg: "invalid CSV: " + pe.Err.Error()}
		}
		return &ParseError{File: f, Msg: "invalid CSV: " + err.Error()}
	}
	if len(recs) == 0 {
		return &ParseError{File: f, Msg: "a seed needs a header row"}
	}
	name := baseName(f)
	if other := p.byName[name]; other != nil {
		return &ParseError{File: f, Msg: fmt.Sprintf("two nodes are named %q (the other is %s)", name, other.Path)}
	}
	n := &Node{
		UniqueID:     "seed." + p.Name + "." + name,
		Name:         name,
		ResourceType: SeedType,
		Path:         f,
		Config:       Config{Enabled: true, Materialized: "seed"},
		seed:         &seedData{header: recs[0], rows: recs[1:]},
	}
	for _, h := range recs[0] {
		n.Columns = append(n.Columns, Column{Name: h})
	}
	if err := applyConfig(&n.Config, folderConfig(p.file.Seeds, p.Name, append(folders(root, f), name))); err != nil {
		return &ParseError{File: "dbt_project.yml", Msg: fmt.Sprintf("config for %s: %v", f, err)}
	}
	p.byName[name] = n
	p.Nodes[n.UniqueID] = n
	return nil
}

// applyProperties applies a schema.yml: descriptions, columns, config,
// sources and generic tests.
func (p *Project) applyProperties(f string) error {
	b, err := fs.ReadFile(p.fsys, f)
	if err != nil {
		return err
	}
	var pf propertiesFile
	if err := decodeYAML(f, b, &pf); err != nil {
		return err
	}
	var errs errorList
	for _, s := range pf.Sources {
		if s.Name == "" {
			errs = append(errs, &ParseError{File: f, Line: s.Line, Msg: "a source needs a name"})
			continue
		}
		for _, t := range s.Tables {
			if t.Name == "" {
				errs = append(errs, &ParseError{File: f, Line: t.Line, Msg: "a source table needs a name"})
				continue
			}
			n := &Node{
				UniqueID:     sourceID(p.Name, s.Name, t.Name),
				Name:         t.Name,
				ResourceType: SourceType,
				Path:         f,
				PatchPath:    f,
				Description:  t.Description,
				SourceName:   s.Name,
				Identifier:   t.Identifier,
				Config:       Config{Enabled: true, Schema: s.Schema},
			}
			if n.Identifier == "" {
				n.Identifier = t.Name
			}
			n.LoadedAtField = strings.TrimSpace(s.LoadedAtField)
			if t.LoadedAtField != nil {
				n.LoadedAtField = strings.TrimSpace(*t.LoadedAtField)
			}
			if p.Nodes[n.UniqueID] != nil {
				errs = append(errs, &ParseError{File: f, Line: t.Line, Msg: fmt.Sprintf("source %s.%s is declared twice", s.Name, t.Name)})
				continue
			}
			n.Columns = columns(t.Columns)
			p.Nodes[n.UniqueID] = n
			errs = appendErr(errs, p.addTests(f, n, t.Tests, t.DataTests, t.Columns))
		}
	}
	apply := func(list []nodeProps, rt ResourceType) {
		for _, m := range list {
			n := p.byName[m.Name]
			if n == nil || n.ResourceType != rt {
				msg := fmt.Sprintf("%s %q is described here but there is no such %s", rt, m.Name, rt)
				if s := suggest(m.Name, p.refNames()); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				errs = append(errs, &ParseError{File: f, Line: m.Line, Msg: msg})
				continue
			}
			if n.PatchPath != "" {
				errs = append(errs, &ParseError{File: f, Line: m.Line, Msg: fmt.Sprintf("%s %q is also described in %s", rt, m.Name, n.PatchPath)})
				continue
			}
			n.PatchPath, n.Description = f, m.Description
			if rt == SeedType {
				// Keep the CSV's column order; add descriptions.
				for _, c := range m.Columns {
					if i := slices.IndexFunc(n.Columns, func(x Column) bool { return x.Name == c.Name }); i >= 0 {
						n.Columns[i].Description, n.Columns[i].DataType = c.Description, c.DataType
					}
				}
			} else {
				n.Columns = columns(m.Columns)
			}
			if err := applyConfig(&n.Config, m.Config); err != nil {
				errs = append(errs, &ParseError{File: f, Line: m.Line, Msg: fmt.Sprintf("config of %s: %v", m.Name, err)})
			}
			errs = appendErr(errs, p.addTests(f, n, m.Tests, m.DataTests, m.Columns))
		}
	}
	apply(pf.Models, ModelType)
	apply(pf.Seeds, SeedType)
	return errs.err()
}

func columns(cs []columnProps) []Column {
	out := make([]Column, 0, len(cs))
	for _, c := range cs {
		out = append(out, Column{Name: c.Name, Description: c.Description, DataType: c.DataType})
	}
	return out
}

// folderConfig merges the config of the folder tree of dbt_project.yml
// (models: / seeds: / data_tests:) along dirs, under the project's name.
func folderConfig(tree map[string]any, project string, dirs []string) map[string]any {
	out := map[string]any{}
	level, ok := tree[project].(map[string]any)
	if !ok {
		return out
	}
	for i := 0; ; i++ {
		for k, v := range level {
			key, plus := strings.CutPrefix(k, "+")
			if _, isMap := v.(map[string]any); plus || (knownConfig[key] && !isMap) || key == "meta" || key == "column_types" {
				mergeConfigValue(out, key, v)
			}
		}
		if i >= len(dirs) {
			return out
		}
		next, ok := level[dirs[i]].(map[string]any)
		if !ok {
			return out
		}
		level = next
	}
}

func mergeConfigValue(m map[string]any, k string, v any) {
	if k == "tags" {
		m[k] = append(toStrings(m[k]), toStrings(v)...)
		return
	}
	m[k] = v
}

var knownConfig = map[string]bool{
	"enabled": true, "materialized": true, "unique_key": true, "incremental_strategy": true,
	"schema": true, "alias": true, "tags": true, "severity": true, "where": true,
	"column_types": true, "full_refresh": true, "meta": true, "docs": true,
	"on_schema_change": true, "persist_docs": true, "contract": true, "grants": true,
	"pre-hook": true, "post-hook": true, "pre_hook": true, "post_hook": true,
	"warn_if": true, "error_if": true, "store_failures": true, "limit": true, "quote_columns": true,
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// applyConfig applies one layer of configuration.
func applyConfig(c *Config, m map[string]any) error {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		v := m[k]
		str := func() (string, error) {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s must be a string, got %v", k, v)
			}
			return s, nil
		}
		var err error
		switch strings.TrimPrefix(k, "+") {
		case "enabled":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("enabled must be true or false, got %v", v)
			}
			c.Enabled = b
		case "materialized":
			c.Materialized, err = str()
		case "unique_key":
			c.UniqueKey = toStrings(v)
		case "incremental_strategy":
			c.IncrementalStrategy, err = str()
		case "schema":
			c.Schema, err = str()
		case "alias":
			c.Alias, err = str()
		case "tags":
			for _, t := range toStrings(v) {
				if !slices.Contains(c.Tags, t) {
					c.Tags = append(c.Tags, t)
				}
			}
		case "severity":
			var s string
			s, err = str()
			c.Severity = strings.ToLower(s)
		case "where":
			c.Where, err = str()
		case "full_refresh":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("full_refresh must be true or false, got %v", v)
			}
			c.FullRefresh = &b
		case "column_types":
			mm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("column_types must be a mapping of column to type")
			}
			if c.ColumnTypes == nil {
				c.ColumnTypes = map[string]string{}
			}
			for ck, cv := range mm {
				c.ColumnTypes[ck] = fmt.Sprint(cv)
			}
		case "meta":
			mm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("meta must be a mapping")
			}
			if c.Meta == nil {
				c.Meta = map[string]any{}
			}
			maps.Copy(c.Meta, mm)
		case "pre-hook", "post-hook", "pre_hook", "post_hook":
			return fmt.Errorf("%s is not supported", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *Project) validateConfig(n *Node) error {
	c := &n.Config
	file := n.Path
	bad := func(format string, args ...any) error {
		return &ParseError{File: file, Line: n.line, Msg: n.Name + ": " + fmt.Sprintf(format, args...)}
	}
	switch n.ResourceType {
	case ModelType:
		switch c.Materialized {
		case View, Table, Ephemeral:
		case Incremental:
			if c.IncrementalStrategy == "" {
				c.IncrementalStrategy = DeleteInsert
				if len(c.UniqueKey) == 0 {
					c.IncrementalStrategy = Append
				}
			}
			switch c.IncrementalStrategy {
			case DeleteInsert, Merge:
				if len(c.UniqueKey) == 0 {
					return bad("incremental_strategy %q needs a unique_key", c.IncrementalStrategy)
				}
			case Append:
			default:
				return bad("unknown incremental_strategy %q (want delete+insert, merge or append)", c.IncrementalStrategy)
			}
		default:
			return bad("unknown materialization %q (want view, table, incremental or ephemeral)", c.Materialized)
		}
	case TestType:
		if n.line > 0 {
			file = n.PatchPath
		}
		if c.Severity != "warn" && c.Severity != "error" {
			return bad("severity must be warn or error, got %q", c.Severity)
		}
	}
	return nil
}

// dropDisabled removes disabled nodes, and fails when an enabled node
// depends on one.
func (p *Project) dropDisabled() error {
	var errs errorList
	for id, n := range p.Nodes {
		if !n.Config.Enabled {
			delete(p.Nodes, id)
			if p.byName[n.Name] == n {
				delete(p.byName, n.Name)
			}
		}
	}
	for _, n := range p.sorted() {
		for _, d := range n.DependsOn {
			if p.Nodes[d] == nil {
				errs = append(errs, &ParseError{File: n.Path, Msg: fmt.Sprintf("%s depends on %s, which is disabled", n.Name, d)})
			}
		}
	}
	return errs.err()
}
