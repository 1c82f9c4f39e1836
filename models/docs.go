package models

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Manifest is what `cartwheel models docs` writes to manifest.json: the
// project's nodes with their dependencies, columns, descriptions, config,
// raw and compiled SQL. Its shape follows dbt's manifest where it can.
type Manifest struct {
	Metadata  ManifestMetadata         `json:"metadata"`
	Nodes     map[string]*ManifestNode `json:"nodes"`
	Sources   map[string]*ManifestNode `json:"sources"`
	ParentMap map[string][]string      `json:"parent_map"`
	ChildMap  map[string][]string      `json:"child_map"`
}

// ManifestMetadata describes the manifest.
type ManifestMetadata struct {
	Generator   string    `json:"generator"`
	GeneratedAt time.Time `json:"generated_at"`
	ProjectName string    `json:"project_name"`
	Version     string    `json:"project_version,omitempty"`
	Dialect     string    `json:"dialect"`
}

// ManifestNode is one node of the manifest.
type ManifestNode struct {
	UniqueID     string                     `json:"unique_id"`
	Name         string                     `json:"name"`
	ResourceType ResourceType               `json:"resource_type"`
	PackageName  string                     `json:"package_name"`
	Path         string                     `json:"path"`
	OriginalPath string                     `json:"original_file_path"`
	PatchPath    string                     `json:"patch_path,omitempty"`
	Description  string                     `json:"description"`
	Columns      map[string]*ManifestColumn `json:"columns"`
	ColumnOrder  []string                   `json:"column_order"`
	Config       Config                     `json:"config"`
	Tags         []string                   `json:"tags"`
	DependsOn    struct {
		Nodes []string `json:"nodes"`
	} `json:"depends_on"`
	RawCode      string `json:"raw_code,omitempty"`
	CompiledCode string `json:"compiled_code,omitempty"`
	CompileError string `json:"compile_error,omitempty"`
	RelationName string `json:"relation_name,omitempty"`
	SourceName   string `json:"source_name,omitempty"`
	Identifier   string `json:"identifier,omitempty"`
	// LoadedAtField is a source's loaded_at_field: the column that bounds
	// the snapshot of a run (snapshot_at).
	LoadedAtField string        `json:"loaded_at_field,omitempty"`
	TestMetadata  *TestMetadata `json:"test_metadata,omitempty"`
	ColumnName    string        `json:"column_name,omitempty"`
	AttachedNode  string        `json:"attached_node,omitempty"`
}

// ManifestColumn is a column of a node: documented, and/or found in the
// warehouse's catalog.
type ManifestColumn struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	DataType    string `json:"data_type,omitempty"`
	Documented  bool   `json:"documented"`
}

// TestMetadata names a generic test and its arguments.
type TestMetadata struct {
	Name   string         `json:"name"`
	Kwargs map[string]any `json:"kwargs"`
}

// Docs writes manifest.json and index.html (a self-contained site: the
// lineage graph as inline SVG, every node's description, columns, tests and
// SQL) to outDir. With a warehouse, the SQL is compiled as the next run
// would compile it and column types come from its catalog; db may be nil
// (compiled for WithDialect's dialect, DuckDB by default).
func Docs(ctx context.Context, db DB, p *Project, outDir string, opts ...Option) (*Manifest, error) {
	o := newOptions(opts)
	m, err := p.manifest(ctx, db, o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("write docs: %w", err)
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "manifest.json"), append(js, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write manifest: %w", err)
	}
	page, err := renderSite(p, m)
	if err != nil {
		return nil, fmt.Errorf("render docs site: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "index.html"), page, 0o644); err != nil {
		return nil, fmt.Errorf("write docs site: %w", err)
	}
	fmt.Fprintf(o.out, "%s  Wrote %s and %s (%d nodes, %d sources)\n", o.now().Format("15:04:05"),
		filepath.Join(outDir, "manifest.json"), filepath.Join(outDir, "index.html"), len(m.Nodes), len(m.Sources))
	return m, nil
}

func (p *Project) manifest(ctx context.Context, db DB, o *options) (*Manifest, error) {
	d := o.dialect
	if db != nil {
		d = db.Dialect()
	}
	if d == "" {
		d = warehouse.DuckDB
	}
	catalog := map[string][][2]string{}
	if db != nil {
		var err error
		if catalog, err = readCatalog(ctx, db); err != nil {
			return nil, err
		}
	}
	vars, _, _, err := p.fixSnapshot(ctx, db, o.vars)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Metadata:  ManifestMetadata{Generator: "cartwheel", GeneratedAt: o.now().UTC(), ProjectName: p.Name, Version: p.Version, Dialect: string(d)},
		Nodes:     map[string]*ManifestNode{},
		Sources:   map[string]*ManifestNode{},
		ParentMap: map[string][]string{},
		ChildMap:  map[string][]string{},
	}
	for _, n := range p.sorted() {
		mn := &ManifestNode{
			UniqueID: n.UniqueID, Name: n.Name, ResourceType: n.ResourceType, PackageName: p.Name,
			Path: n.Path, OriginalPath: strings.SplitN(n.Path, "#", 2)[0], PatchPath: n.PatchPath,
			Description: n.Description, Columns: map[string]*ManifestColumn{}, Config: n.Config,
			Tags: nonNil(n.Config.Tags), RawCode: n.RawSQL, SourceName: n.SourceName, Identifier: n.Identifier, LoadedAtField: n.LoadedAtField,
			ColumnName: n.ColumnName, AttachedNode: n.AttachedNode, ColumnOrder: []string{},
		}
		mn.DependsOn.Nodes = nonNil(n.DependsOn)
		if n.ResourceType != TestType {
			mn.RelationName = n.Relation()
		}
		if n.TestName != "" {
			mn.TestMetadata = &TestMetadata{Name: n.TestName, Kwargs: n.TestKwargs}
		}
		for _, c := range n.Columns {
			mn.Columns[c.Name] = &ManifestColumn{Name: c.Name, Description: c.Description, DataType: c.DataType, Documented: true}
			mn.ColumnOrder = append(mn.ColumnOrder, c.Name)
		}
		for _, c := range catalog[strings.ToLower(n.relation().Identifier)] {
			if mc := mn.Columns[c[0]]; mc != nil {
				if mc.DataType == "" {
					mc.DataType = c[1]
				}
			} else if n.ResourceType != TestType {
				mn.Columns[c[0]] = &ManifestColumn{Name: c[0], DataType: c[1]}
				mn.ColumnOrder = append(mn.ColumnOrder, c[0])
			}
		}
		if n.tpl != nil {
			incr := false
			if db != nil && n.Config.Materialized == Incremental {
				kind, err := relationKind(ctx, db, n.relation())
				if err != nil {
					return nil, err
				}
				incr = kind == "table" && !o.fullRefresh
			}
			if c, err := p.compileNode(n, d, vars, incr); err != nil {
				mn.CompileError = err.Error()
			} else {
				mn.CompiledCode = c.sql
			}
		}
		m.ParentMap[n.UniqueID] = nonNil(n.DependsOn)
		m.ChildMap[n.UniqueID] = nonNil(p.children[n.UniqueID])
		if n.ResourceType == SourceType {
			m.Sources[n.UniqueID] = mn
		} else {
			m.Nodes[n.UniqueID] = mn
		}
	}
	return m, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readCatalog reads the columns of the relations in the default schema:
// table name → [column, type] in column order.
func readCatalog(ctx context.Context, db DB) (map[string][][2]string, error) {
	res, err := db.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_catalog = current_database() AND table_schema = current_schema()
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	out := map[string][][2]string{}
	for _, r := range res.Rows {
		t, _ := r[0].(string)
		c, _ := r[1].(string)
		typ, _ := r[2].(string)
		out[strings.ToLower(t)] = append(out[strings.ToLower(t)], [2]string{c, typ})
	}
	return out, nil
}

// graphNodes are the nodes drawn in the lineage graph: sources, seeds and
// models (tests are listed with their models).
func (m *Manifest) graphNodes() []*ManifestNode {
	var out []*ManifestNode
	for _, n := range m.Sources {
		out = append(out, n)
	}
	for _, n := range m.Nodes {
		if n.ResourceType != TestType {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *ManifestNode) int { return strings.Compare(a.UniqueID, b.UniqueID) })
	return out
}
