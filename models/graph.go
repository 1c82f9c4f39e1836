package models

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// link computes the dependents of every node and rejects cycles.
func (p *Project) link() error {
	p.children = map[string][]string{}
	for _, n := range p.sorted() {
		for _, d := range n.DependsOn {
			p.children[d] = append(p.children[d], n.UniqueID)
		}
	}
	for _, c := range p.children {
		slices.Sort(c)
	}
	return p.findCycle()
}

// findCycle runs a depth-first search over the dependencies.
func (p *Project) findCycle() error {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(id string) []string
	visit = func(id string) []string {
		color[id] = grey
		stack = append(stack, id)
		for _, d := range p.Nodes[id].DependsOn {
			switch color[d] {
			case grey:
				i := slices.Index(stack, d)
				return append(slices.Clone(stack[i:]), d)
			case white:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return nil
	}
	for _, n := range p.sorted() {
		if color[n.UniqueID] == white {
			if c := visit(n.UniqueID); c != nil {
				names := make([]string, len(c))
				for i, id := range c {
					names[i] = p.Nodes[id].Name
				}
				return &CycleError{Path: names}
			}
		}
	}
	return nil
}

// ancestors returns the nodes n depends on, transitively, up to depth
// levels (depth < 0: unlimited).
func (p *Project) ancestors(id string, depth int) map[string]bool {
	return p.reach(id, depth, func(id string) []string { return p.Nodes[id].DependsOn })
}

// descendants returns the nodes that depend on n, transitively.
func (p *Project) descendants(id string, depth int) map[string]bool {
	return p.reach(id, depth, func(id string) []string { return p.children[id] })
}

func (p *Project) reach(id string, depth int, next func(string) []string) map[string]bool {
	out := map[string]bool{}
	frontier := []string{id}
	for level := 0; len(frontier) > 0 && (depth < 0 || level < depth); level++ {
		var nf []string
		for _, f := range frontier {
			for _, n := range next(f) {
				if !out[n] && p.Nodes[n] != nil {
					out[n] = true
					nf = append(nf, n)
				}
			}
		}
		frontier = nf
	}
	return out
}

// topo returns ids in a dependency order (dependencies first), ties by id.
func (p *Project) topo(ids map[string]bool) []string {
	return topoSort(ids, func(id string) []string { return p.Nodes[id].DependsOn })
}

// topoSort returns ids in a dependency order, dependencies first (Kahn's
// algorithm). Of the nodes ready at once the smallest id goes first, so the
// order is stable. Dependencies outside ids are ignored; nodes on a cycle
// are left out (Load rejects cycles).
func topoSort(ids map[string]bool, deps func(id string) []string) []string {
	indeg := make(map[string]int, len(ids))
	children := map[string][]string{}
	for id := range ids {
		for _, d := range deps(id) {
			if ids[d] {
				indeg[id]++
				children[d] = append(children[d], id)
			}
		}
	}
	var ready []string
	for id := range ids {
		if indeg[id] == 0 {
			ready = append(ready, id)
		}
	}
	slices.Sort(ready)
	out := make([]string, 0, len(ids))
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		out = append(out, id)
		for _, c := range children[id] {
			if indeg[c]--; indeg[c] == 0 {
				i, _ := slices.BinarySearch(ready, c)
				ready = slices.Insert(ready, i, c)
			}
		}
	}
	return out
}

// selection: dbt's node selection syntax.

// selectNodes returns the nodes matched by the selectors minus those
// matched by the excludes. No selector selects everything. A selector is a
// space-separated union of terms; a term is a comma-separated intersection
// of atoms; an atom is [@][N+]method:value[+N] or a name.
func (p *Project) selectNodes(selects, excludes []string) (sel, excluded map[string]bool, warnings []string, err error) {
	if len(splitTerms(selects)) == 0 {
		sel = map[string]bool{}
		for id := range p.Nodes {
			sel[id] = true
		}
	} else if sel, warnings, err = p.matchTerms(selects); err != nil {
		return nil, nil, nil, err
	}
	if excluded, _, err = p.matchTerms(excludes); err != nil {
		return nil, nil, nil, err
	}
	for id := range excluded {
		delete(sel, id)
	}
	return sel, excluded, warnings, nil
}

// matchTerms returns the union of the terms' matches.
func (p *Project) matchTerms(list []string) (map[string]bool, []string, error) {
	out := map[string]bool{}
	var warnings []string
	for _, t := range splitTerms(list) {
		m, err := p.term(t)
		if err != nil {
			return nil, nil, err
		}
		if len(m) == 0 {
			warnings = append(warnings, fmt.Sprintf("the selection criterion %q does not match any node", t))
		}
		for id := range m {
			out[id] = true
		}
	}
	return out, warnings, nil
}

func splitTerms(list []string) []string {
	var out []string
	for _, s := range list {
		out = append(out, strings.Fields(s)...)
	}
	return out
}

func (p *Project) term(t string) (map[string]bool, error) {
	var out map[string]bool
	for i, atom := range strings.Split(t, ",") {
		m, err := p.atom(atom)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out = m
			continue
		}
		for id := range out {
			if !m[id] {
				delete(out, id)
			}
		}
	}
	return out, nil
}

func (p *Project) atom(a string) (map[string]bool, error) {
	orig := a
	at := strings.HasPrefix(a, "@")
	a = strings.TrimPrefix(a, "@")
	up, down := 0, 0 // 0: none, -1: unlimited, n: depth
	if i := strings.Index(a, "+"); i >= 0 && i < len(a)-1 && (i == 0 || isDigits(a[:i])) && !strings.Contains(a[:i], ":") {
		up = -1
		if i > 0 {
			up, _ = strconv.Atoi(a[:i])
		}
		a = a[i+1:]
	}
	if i := strings.LastIndex(a, "+"); i >= 0 && (i == len(a)-1 || isDigits(a[i+1:])) {
		down = -1
		if i < len(a)-1 {
			down, _ = strconv.Atoi(a[i+1:])
		}
		a = a[:i]
	}
	if a == "" {
		return nil, fmt.Errorf("invalid selector %q", orig)
	}
	if at {
		down = -1
	}
	base, err := p.match(a)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for id := range base {
		out[id] = true
		if up != 0 {
			for x := range p.ancestors(id, up) {
				out[x] = true
			}
		}
		if down != 0 || at {
			for x := range p.descendants(id, down) {
				out[x] = true
				if at {
					for y := range p.ancestors(x, -1) {
						out[y] = true
					}
				}
			}
		}
	}
	return out, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// match applies one method:value (or a bare name, path or glob).
func (p *Project) match(a string) (map[string]bool, error) {
	method, value, ok := strings.Cut(a, ":")
	if !ok {
		method, value = "name", a
		if strings.Contains(a, "/") || strings.HasSuffix(a, ".sql") {
			method = "path"
		}
	}
	out := map[string]bool{}
	add := func(pred func(n *Node) bool) {
		for id, n := range p.Nodes {
			if pred(n) {
				out[id] = true
			}
		}
	}
	glob := func(pattern, s string) bool {
		ok, _ := path.Match(pattern, s)
		return ok
	}
	switch method {
	case "name", "fqn":
		add(func(n *Node) bool { return n.ResourceType != SourceType && glob(value, n.Name) })
	case "tag":
		add(func(n *Node) bool {
			return slices.ContainsFunc(n.Config.Tags, func(t string) bool { return glob(value, t) })
		})
	case "path", "file":
		v := strings.TrimSuffix(path.Clean(value), "/")
		add(func(n *Node) bool {
			file, _, _ := strings.Cut(n.Path, "#")
			return file == v || strings.HasPrefix(file, v+"/") || glob(v, file) || (method == "file" && path.Base(file) == v)
		})
	case "source":
		src, table, hasTable := strings.Cut(value, ".")
		add(func(n *Node) bool {
			return n.ResourceType == SourceType && glob(src, n.SourceName) && (!hasTable || glob(table, n.Name))
		})
	case "resource_type":
		add(func(n *Node) bool { return string(n.ResourceType) == value })
	case "test_type":
		add(func(n *Node) bool {
			return n.ResourceType == TestType && ((value == "generic") == (n.TestName != "")) && (value == "generic" || value == "singular" || value == "data")
		})
	case "test_name":
		add(func(n *Node) bool { return n.ResourceType == TestType && glob(value, n.TestName) })
	case "config.materialized":
		add(func(n *Node) bool { return n.Config.Materialized == value })
	default:
		return nil, fmt.Errorf("unknown selector method %q in %q (want tag:, path:, source:, resource_type:, test_type:, test_name:, config.materialized: or a name)", method, a)
	}
	return out, nil
}

// withTests adds the tests of selected nodes (dbt's eager indirect
// selection): a test is selected when any node it tests is selected.
func (p *Project) withTests(sel map[string]bool, excluded map[string]bool) {
	for id, n := range p.Nodes {
		if n.ResourceType != TestType || sel[id] || excluded[id] {
			continue
		}
		for _, d := range n.DependsOn {
			if sel[d] {
				sel[id] = true
				break
			}
		}
	}
}
