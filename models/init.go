package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// WriteProject writes a project (for `cartwheel init DIR`: the embedded
// project.FS) to dir: every file, dags/ and dashboards/ included. It
// refuses to overwrite an existing file.
func WriteProject(dir string, src fs.FS) error {
	src = projectRoot(src)
	var files []string
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read project: %w", err)
	}
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f))); err == nil {
			return fmt.Errorf("write project to %s: %s already exists", dir, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write project to %s: %w", dir, err)
		}
	}
	for _, f := range files {
		b, err := fs.ReadFile(src, f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("write project: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("write project: %w", err)
		}
	}
	return nil
}

// List returns the selected nodes (WithSelect, WithExclude,
// WithResourceTypes) in DAG order, and writes their unique ids, one a line,
// to WithOutput's writer (`cartwheel models ls`).
func List(p *Project, opts ...Option) ([]*Node, error) {
	o := newOptions(opts)
	sel, _, _, err := p.selectNodes(o.selects, o.excludes)
	if err != nil {
		return nil, err
	}
	var out []*Node
	for _, id := range p.topo(sel) {
		n := p.Nodes[id]
		if len(o.types) > 0 && !slices.Contains(o.types, n.ResourceType) {
			continue
		}
		out = append(out, n)
		fmt.Fprintln(o.out, id)
	}
	return out, nil
}

// Compile returns the SQL a model or test compiles to: for db's dialect
// (with is_incremental() and snapshot_at as a run would see them now) or,
// with a nil db, for WithDialect's dialect (and no snapshot_at unless
// WithVars passes one).
func Compile(ctx context.Context, db DB, p *Project, name string, opts ...Option) (string, error) {
	o := newOptions(opts)
	n := p.Node(name)
	if n == nil || n.tpl == nil {
		names := p.refNames()
		msg := fmt.Sprintf("no model or test named %q", name)
		if s := suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return "", errors.New(msg)
	}
	d := o.dialect
	incr := false
	if db != nil {
		d = db.Dialect()
		if n.Config.Materialized == Incremental {
			kind, err := relationKind(ctx, db, n.relation())
			if err != nil {
				return "", err
			}
			incr = kind == "table" && !o.fullRefresh
		}
	}
	if d == "" {
		d = warehouse.DuckDB
	}
	vars, _, _, err := p.fixSnapshot(ctx, db, o.vars)
	if err != nil {
		return "", err
	}
	c, err := p.compileNode(n, d, vars, incr)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(c.sql) + "\n", nil
}
