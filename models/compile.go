package models

import (
	"fmt"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// compiled is a node's SQL for one dialect and run.
type compiled struct {
	sql  string
	deps []string // the nodes this render referenced
}

// compileNode renders a model or test for a dialect and inlines the
// ephemeral models it references as CTEs. incremental is the value of
// is_incremental().
func (p *Project) compileNode(n *Node, d warehouse.Dialect, vars map[string]any, incremental bool) (*compiled, error) {
	body, ctes, refs, err := p.compileInline(n, d, vars, incremental, map[string]bool{})
	if err != nil {
		return nil, err
	}
	return &compiled{sql: injectCTEs(body, ctes), deps: refs}, nil
}

type cte struct{ name, sql string }

func (p *Project) compileInline(n *Node, d warehouse.Dialect, vars map[string]any, incremental bool, seen map[string]bool) (string, []cte, []string, error) {
	st := &renderState{p: p, node: n, dialect: d, vars: vars, incr: incremental}
	out, err := p.eng.render(st, n.tpl, n.Path, n.RawSQL)
	if err != nil {
		return "", nil, nil, err
	}
	out = trimSQL(out)
	var ctes []cte
	for _, id := range dedupe(st.refs) {
		e := p.Nodes[id]
		if e == nil || e.ResourceType != ModelType || e.Config.Materialized != Ephemeral || seen[id] {
			continue
		}
		seen[id] = true
		body, sub, _, err := p.compileInline(e, d, vars, false, seen)
		if err != nil {
			return "", nil, nil, fmt.Errorf("compile ephemeral model %s: %w", e.Name, err)
		}
		ctes = append(ctes, sub...)
		ctes = append(ctes, cte{name: e.relation().Identifier, sql: body})
	}
	return out, ctes, dedupe(st.refs), nil
}

// trimSQL drops surrounding blank space and trailing semicolons.
func trimSQL(s string) string {
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, ";") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	return s
}

// injectCTEs puts the CTEs in front of a query, inside its own WITH clause
// when it has one.
func injectCTEs(sql string, ctes []cte) string {
	if len(ctes) == 0 {
		return sql
	}
	parts := make([]string, len(ctes))
	for i, c := range ctes {
		parts[i] = c.name + " as (\n" + c.sql + "\n)"
	}
	list := strings.Join(parts, ",\n")
	i := skipBlank(sql)
	if w := keywordAt(sql, i); w == "with" {
		j := skipBlank(sql[i+4:]) + i + 4
		if keywordAt(sql, j) == "recursive" {
			j += len("recursive")
		} else {
			j = i + 4
		}
		return sql[:j] + "\n" + list + "," + sql[j:]
	}
	return sql[:i] + "with " + list + "\n" + sql[i:]
}

// skipBlank returns the offset of the first character that is neither
// space nor part of a comment.
func skipBlank(s string) int {
	i := 0
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexAny(s[i:], "\n\r") // a line comment ends at either
			if j < 0 {
				return len(s)
			}
			i += j + 1
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return len(s)
			}
			i += j + 4
		default:
			return i
		}
	}
	return i
}

// keywordAt returns the lower-cased word at offset i.
func keywordAt(s string, i int) string {
	j := i
	for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] == '_') {
		j++
	}
	if j == i || (j < len(s) && s[j] >= '0' && s[j] <= '9') {
		return ""
	}
	return strings.ToLower(s[i:j])
}
