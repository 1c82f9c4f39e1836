package models

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Generic data tests. Each compiles to a query that returns the failing
// rows; a test passes when it returns none. Their SQL is generated as a
// template (with ref/source) and goes through the same parse and compile
// steps as a singular test in tests/.

// addTests adds the generic tests declared for a node and its columns.
func (p *Project) addTests(file string, target *Node, tests, dataTests []yaml.Node, cols []columnProps) error {
	var errs errorList
	specs, err := parseTests(file, tests, dataTests)
	if err != nil {
		return err
	}
	for _, t := range specs {
		errs = appendErr(errs, p.addGenericTest(file, target, "", t))
	}
	for _, c := range cols {
		specs, err := parseTests(file, c.Tests, c.DataTests)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range specs {
			errs = appendErr(errs, p.addGenericTest(file, target, c.Name, t))
		}
	}
	return errs.err()
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9_]+`)

func (p *Project) addGenericTest(file string, target *Node, column string, t testSpec) error {
	bad := func(format string, args ...any) error {
		return &ParseError{File: file, Line: t.line, Msg: fmt.Sprintf("test %s on %s: ", t.name, target.Name) + fmt.Sprintf(format, args...)}
	}
	if c, ok := t.args["column_name"].(string); ok {
		column = c
		delete(t.args, "column_name")
	}
	if column == "" {
		return bad("needs a column (declare it under the column, or pass column_name)")
	}
	model := "{{ ref('" + target.Name + "') }}"
	prefix := ""
	if target.ResourceType == SourceType {
		model = fmt.Sprintf("{{ source('%s', '%s') }}", target.SourceName, target.Name)
		prefix = "source_"
	}
	var where string
	if w, ok := t.config["where"].(string); ok && w != "" {
		where = w
	}
	if where != "" {
		model = fmt.Sprintf("(select * from %s where %s) as dbt_subquery", model, where)
	}
	nameParts := []string{prefix + t.name, target.Name, column}
	if target.ResourceType == SourceType {
		nameParts = []string{prefix + t.name, target.SourceName, target.Name, column}
	}
	var sql string
	switch t.name {
	case "not_null":
		if err := onlyArgs(t.args); err != nil {
			return bad("%v", err)
		}
		sql = fmt.Sprintf("select %s\nfrom %s\nwhere %s is null\n", column, model, column)
	case "unique":
		if err := onlyArgs(t.args); err != nil {
			return bad("%v", err)
		}
		sql = fmt.Sprintf("select %s as unique_field, count(*) as n_records\nfrom %s\nwhere %s is not null\ngroup by %s\nhaving count(*) > 1\n",
			column, model, column, column)
	case "accepted_values":
		vals, ok := t.args["values"].([]any)
		if !ok || len(vals) == 0 {
			return bad("needs values: a non-empty list")
		}
		quote := true
		if q, ok := t.args["quote"].(bool); ok {
			quote = q
		}
		if err := onlyArgs(t.args, "values", "quote"); err != nil {
			return bad("%v", err)
		}
		var lits []string
		for _, v := range vals {
			s := fmt.Sprint(v)
			nameParts = append(nameParts, s)
			if quote {
				s = literal(s)
			}
			lits = append(lits, s)
		}
		sql = fmt.Sprintf("with all_values as (\n    select %s as value_field, count(*) as n_records\n    from %s\n    group by %s\n)\nselect *\nfrom all_values\nwhere value_field not in (%s)\n",
			column, model, column, strings.Join(lits, ", "))
	case "relationships":
		to, _ := t.args["to"].(string)
		field, _ := t.args["field"].(string)
		if to == "" || field == "" {
			return bad("needs to: (e.g. ref('dim_users')) and field:")
		}
		if err := onlyArgs(t.args, "to", "field"); err != nil {
			return bad("%v", err)
		}
		nameParts = append(nameParts, field, to)
		sql = fmt.Sprintf("with child as (\n    select %s as from_field\n    from %s\n    where %s is not null\n),\nparent as (\n    select %s as to_field\n    from {{ %s }}\n)\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null\n",
			column, model, column, field, to)
	default:
		return bad("unknown test (want not_null, unique, accepted_values or relationships; write other checks as singular tests in tests/)")
	}
	// dbt's naming: test_model_column, then the arguments after "__".
	k := 3
	if target.ResourceType == SourceType {
		k = 4
	}
	name := sanitize(strings.Join(nameParts[:k], "_"))
	for _, a := range nameParts[k:] {
		name += "__" + nonWord.ReplaceAllString(a, "_")
	}
	uid := "test." + p.Name + "." + name
	for i := 2; p.Nodes[uid] != nil; i++ {
		uid = "test." + p.Name + "." + name + "_" + strconv.Itoa(i)
	}
	n := &Node{
		UniqueID:     uid,
		Name:         strings.TrimPrefix(uid, "test."+p.Name+"."),
		ResourceType: TestType,
		Path:         file + "#" + strings.TrimPrefix(uid, "test."+p.Name+"."),
		PatchPath:    file,
		RawSQL:       sql,
		Config:       Config{Enabled: true, Severity: "error"},
		TestName:     t.name,
		TestKwargs:   t.args,
		ColumnName:   column,
		AttachedNode: target.UniqueID,
		line:         t.line,
	}
	if err := applyConfig(&n.Config, folderConfig(p.file.DataTests, p.Name, nil)); err != nil {
		return bad("%v", err)
	}
	cfg := map[string]any{}
	for k, v := range t.config {
		if k != "where" {
			cfg[k] = v
		}
	}
	if err := applyConfig(&n.Config, cfg); err != nil {
		return bad("%v", err)
	}
	n.Config.Where = where
	tpl, err := p.eng.parse(n.Path, sql)
	if err != nil {
		return bad("%v", err)
	}
	n.tpl = tpl
	p.Nodes[uid] = n
	return nil
}

func sanitize(s string) string { return strings.Trim(nonWord.ReplaceAllString(s, "_"), "_") }

func onlyArgs(args map[string]any, allowed ...string) error {
	for k := range args {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("unknown argument %q", k)
		}
	}
	return nil
}
