package models

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// projectRoot accepts the project directory itself or an FS that holds it
// under project/ (such as this repository's root).
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
