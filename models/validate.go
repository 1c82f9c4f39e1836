package models

import (
	"fmt"
)

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
