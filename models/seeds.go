package models

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

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
