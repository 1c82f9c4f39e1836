package models

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Relation is what ref, source and this render to: a table or view name,
// or the name of an inlined CTE for an ephemeral model.
type Relation struct {
	Schema     string // empty: the connection's default schema
	Identifier string
	cte        bool
}

func (r Relation) String() string {
	if r.Schema == "" || r.cte {
		return r.Identifier
	}
	return r.Schema + "." + r.Identifier
}

// GetAttribute implements exec.AttributeGetter: this.identifier, this.name,
// this.schema.
func (r Relation) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "identifier", "name", "table":
		return exec.AsValue(r.Identifier), true
	case "schema":
		return exec.AsValue(r.Schema), true
	}
	return nil, false
}

// fsLoader is a gonja loader over the project FS, with paths relative to
// the project root (so `{% from "macros/x.sql" import y %}` works from any
// folder), plus in-memory templates for the generated generic tests.
type fsLoader struct {
	fsys    fs.FS
	virtual map[string]string
}

func (l *fsLoader) Read(p string) (io.Reader, error) {
	p, err := l.Resolve(p)
	if err != nil {
		return nil, err
	}
	if s, ok := l.virtual[p]; ok {
		return strings.NewReader(s), nil
	}
	b, err := fs.ReadFile(l.fsys, p)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(string(b)), nil
}

func (l *fsLoader) Resolve(p string) (string, error) {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	if _, ok := l.virtual[p]; ok {
		return p, nil
	}
	if _, err := fs.Stat(l.fsys, p); err != nil {
		return "", fmt.Errorf("template %q not found in the project", p)
	}
	return p, nil
}

func (l *fsLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// engine holds what every render of a project shares.
type engine struct {
	cfg    *config.Config
	env    *exec.Environment
	loader *fsLoader
	macros []*exec.Template // the project's macro files
}

func newEngine(fsys fs.FS) *engine {
	cfg := config.New()
	cfg.StrictUndefined = true
	cfg.KeepTrailingNewline = true
	return &engine{
		cfg: cfg,
		env: &exec.Environment{
			Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
			Filters:           builtins.Filters,
			Tests:             builtins.Tests,
			ControlStructures: builtins.ControlStructures,
			Methods:           builtins.Methods,
		},
		loader: &fsLoader{fsys: fsys, virtual: map[string]string{}},
	}
}

// parse parses a template file (or a virtual one) into a template.
func (e *engine) parse(file, src string) (_ *exec.Template, err error) {
	defer engineFailure(file, &err)
	if _, err := fs.Stat(e.loader.fsys, file); err != nil {
		e.loader.virtual[file] = src
	}
	t, err := exec.NewTemplate(file, e.cfg, e.loader, e.env)
	if err != nil {
		return nil, templateError(file, src, err, nil)
	}
	return t, nil
}

// engineFailure turns a panic of the template engine into the file's
// template error: gonja panics on some malformed templates (an empty
// {% raw %} block, for one), and one bad model must fail its load or
// build, not the process.
func engineFailure(file string, err *error) {
	if r := recover(); r != nil {
		*err = &TemplateError{File: file, Msg: fmt.Sprintf("the template engine failed on this template: %v", r)}
	}
}

// renderState is the state of one render of one node.
type renderState struct {
	p       *Project
	node    *Node
	dialect warehouse.Dialect
	vars    map[string]any
	parse   bool // parsing: record dependencies and config, is_incremental() is false
	incr    bool // the value of is_incremental()

	refs    []string       // unique ids of ref'd and source'd nodes, in call order
	config  map[string]any // config(...) keyword arguments
	failure error          // the first error raised by one of our functions
}

// refError is a ref or source to an unknown node.
type refError struct {
	call string // e.g. ref('stg_evnts')
	name string // the name to look for in the source text
	msg  string
}

func (e *refError) Error() string { return e.msg }

func (st *renderState) fail(err error) error {
	if st.failure == nil {
		st.failure = err
	}
	return err
}

func (st *renderState) context() *exec.Context {
	p := st.p
	data := map[string]any{
		"ref": func(va *exec.VarArgs) (Relation, error) {
			var name string
			switch len(va.Args) {
			case 1:
				name = va.Args[0].String()
			case 2: // ref('package', 'model'): this project is the only package
				name = va.Args[1].String()
			default:
				return Relation{}, st.fail(fmt.Errorf("ref takes a model name, got %d arguments", len(va.Args)))
			}
			n := p.byName[name]
			if n == nil {
				msg := fmt.Sprintf("ref(%q): no model or seed named %q", name, name)
				if s := suggest(name, p.refNames()); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return Relation{}, st.fail(&refError{call: "ref", name: name, msg: msg})
			}
			st.refs = append(st.refs, n.UniqueID)
			return n.relation(), nil
		},
		"source": func(sourceName, tableName string) (Relation, error) {
			n := p.Nodes[sourceID(p.Name, sourceName, tableName)]
			if n == nil {
				msg := fmt.Sprintf("source(%q, %q): no such source table", sourceName, tableName)
				var names []string
				for _, s := range p.Nodes {
					if s.ResourceType == SourceType {
						names = append(names, s.SourceName+"."+s.Name)
					}
				}
				if s := suggest(sourceName+"."+tableName, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return Relation{}, st.fail(&refError{call: "source", name: tableName, msg: msg})
			}
			st.refs = append(st.refs, n.UniqueID)
			return n.relation(), nil
		},
		"config": func(va *exec.VarArgs) string {
			if st.config == nil {
				st.config = map[string]any{}
			}
			for k, v := range va.KwArgs {
				st.config[k] = v.ToGoSimpleType(false)
			}
			return ""
		},
		"var": func(va *exec.VarArgs) (any, error) {
			if len(va.Args) == 0 || len(va.Args) > 2 {
				return nil, st.fail(fmt.Errorf("var takes a name and an optional default"))
			}
			name := va.Args[0].String()
			if v, ok := st.vars[name]; ok {
				return v, nil
			}
			if v, ok := p.Vars[name]; ok {
				return v, nil
			}
			if len(va.Args) == 2 {
				return va.Args[1].Interface(), nil
			}
			return nil, st.fail(fmt.Errorf("required variable %q is not set (set it under vars: in dbt_project.yml or pass it with --vars)", name))
		},
		"env_var": func(va *exec.VarArgs) (string, error) {
			if len(va.Args) == 0 || len(va.Args) > 2 {
				return "", st.fail(fmt.Errorf("env_var takes a name and an optional default"))
			}
			if v, ok := os.LookupEnv(va.Args[0].String()); ok {
				return v, nil
			}
			if len(va.Args) == 2 {
				return va.Args[1].String(), nil
			}
			return "", st.fail(fmt.Errorf("environment variable %q is not set", va.Args[0].String()))
		},
		"is_incremental": func() bool { return st.incr && !st.parse },
		"log":            func(va *exec.VarArgs) string { return "" },
		"exceptions":     exceptions{st},
		"target": map[string]any{
			"name":   string(st.dialect),
			"type":   string(st.dialect),
			"schema": defaultSchema(st.dialect),
		},
		"project_name": p.Name,
	}
	if st.node != nil {
		data["this"] = st.node.relation()
		data["model"] = map[string]any{"name": st.node.Name, "unique_id": st.node.UniqueID, "path": st.node.Path}
	}
	for k, v := range namespaces(st.dialect, func(err error) { st.fail(err) }) {
		data[k] = v
	}
	return exec.NewContext(data)
}

// exceptions is the `exceptions` object: raise_compiler_error(msg).
type exceptions struct{ st *renderState }

func (x exceptions) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "raise_compiler_error":
		return exec.AsValue(func(msg string) (string, error) { return "", x.st.fail(errors.New(msg)) }), true
	case "warn":
		return exec.AsValue(func(msg string) string { return "" }), true
	}
	return nil, false
}

// render renders a node's template (or another template of the project in
// the node's context).
func (e *engine) render(st *renderState, t *exec.Template, file, src string) (_ string, err error) {
	defer engineFailure(file, &err)
	ctx := st.context()
	if err := e.bindMacros(ctx); err != nil {
		return "", err
	}
	out, err := t.ExecuteToString(ctx)
	if err != nil {
		return "", templateError(file, src, err, st.failure)
	}
	return out, nil
}

// bindMacros makes the macros of the project's macro files global, as dbt
// does, bound to this render's context.
func (e *engine) bindMacros(ctx *exec.Context) error {
	if len(e.macros) == 0 {
		return nil
	}
	env := &exec.Environment{
		Context:           ctx,
		Filters:           e.env.Filters,
		Tests:             e.env.Tests,
		ControlStructures: e.env.ControlStructures,
		Methods:           e.env.Methods,
	}
	for _, t := range e.macros {
		r := exec.NewRenderer(env, io.Discard, e.cfg, e.loader, t)
		for name, node := range t.Macros() {
			fn, err := exec.MacroNodeToFunc(node, r)
			if err != nil {
				return fmt.Errorf("macro %s: %w", name, err)
			}
			ctx.Set(name, fn)
		}
	}
	return nil
}

var (
	atLine    = regexp.MustCompile(`at line (\d+)`)
	noise     = regexp.MustCompile(`^(unable to execute template: |Unable to (render expression|execute controlStructure|render condition|evaluation condition as boolean) at line \d+: |[A-Za-z]+ControlStructure\(Line=\d+ Col=\d+\): |call\(\[.*?\], map\[.*?\]\): |invalid call to function '[^']*': |unable to evaluate parameters: )+`)
	parseWrap = regexp.MustCompile(`(?s)^failed to parse template '.*': `)
)

// templateError turns a gonja error into a TemplateError with the file,
// line and column. gonja reports syntax errors with a position, and runtime
// errors with the line only: the column is found in the source text.
func templateError(file, src string, err error, failure error) *TemplateError {
	te := &TemplateError{File: file}
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		te.Line, te.Col, te.Msg = se.Line, se.Column, "syntax error: "+se.Message
		if se.Raw != "" {
			te.Msg += fmt.Sprintf(" (near %q)", se.Raw)
		}
		return te
	}
	msg := err.Error()
	if m := atLine.FindAllStringSubmatch(msg, -1); len(m) > 0 {
		te.Line, _ = strconv.Atoi(m[len(m)-1][1])
	}
	var re *refError
	switch {
	case errors.As(failure, &re):
		te.Msg = re.msg
		if l, c := findCall(src, re.call, re.name); l > 0 {
			te.Line, te.Col = l, c
		}
	case failure != nil:
		te.Msg = failure.Error()
	default:
		msg = parseWrap.ReplaceAllString(msg, "")
		if i := strings.LastIndex(msg, "Unable to render expression at line"); i > 0 {
			msg = msg[i:]
		}
		te.Msg = strings.TrimSpace(noise.ReplaceAllString(msg, ""))
	}
	if te.Line > 0 && te.Col == 0 {
		te.Col = firstTag(src, te.Line)
	}
	return te
}

// findCall finds `call('name'` in the source: its line and column.
func findCall(src, call, name string) (int, int) {
	// Not MustCompile: a name that is not valid UTF-8 (a model saved in
	// Latin-1) makes an invalid pattern, and the error must not panic.
	re, err := regexp.Compile(regexp.QuoteMeta(call) + `\s*\((?:[^)]*,\s*)?\s*['"]` + regexp.QuoteMeta(name) + `['"]`)
	if err != nil {
		return 0, 0
	}
	loc := re.FindStringIndex(src)
	if loc == nil {
		return 0, 0
	}
	return lineCol(src, loc[0])
}

func lineCol(src string, off int) (int, int) {
	line := 1 + strings.Count(src[:off], "\n")
	col := off - strings.LastIndex(src[:off], "\n")
	return line, col
}

// firstTag is the column of the first {{ or {% on a line, or 1.
func firstTag(src string, line int) int {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		return 0
	}
	l := lines[line-1]
	best := -1
	for _, t := range []string{"{{", "{%"} {
		if i := strings.Index(l, t); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best + 1
}

// suggest returns the candidate closest to name when it is close enough.
func suggest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func defaultSchema(d warehouse.Dialect) string {
	if d == warehouse.DuckDB || d == "" {
		return "main"
	}
	return "public"
}
