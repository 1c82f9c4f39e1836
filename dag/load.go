package dag

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Dir is the folder of a project that holds its DAG files.
const Dir = "dags"

// Load reads dags/*.yml and dags/*.yaml of a project; a project without
// the folder has no DAGs. Every invalid file and field is reported (an
// errors.Join of *Error), each naming file, line and field.
func Load(project fs.FS) ([]*DAG, error) {
	entries, err := fs.ReadDir(project, Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", Dir, err)
	}
	var (
		dags []*DAG
		errs []error
		seen = map[string]string{}
	)
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".yml" && ext != ".yaml") {
			continue
		}
		file := path.Join(Dir, e.Name())
		src, err := fs.ReadFile(project, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", file, err))
			continue
		}
		d, err := Parse(file, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, ok := seen[d.Name]; ok {
			errs = append(errs, &Error{File: file, Line: 1, Field: "name", Msg: fmt.Sprintf("DAG %q is also defined in %s", d.Name, other)})
			continue
		}
		seen[d.Name] = file
		dags = append(dags, d)
	}
	errs = append(errs, checkWaits(dags)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return dags, nil
}

// checkWaits reports the wait_for tasks that name a DAG or task the
// folder does not have, or their own DAG (depends_on orders tasks of one
// run).
func checkWaits(dags []*DAG) []error {
	byName := make(map[string]*DAG, len(dags))
	for _, d := range dags {
		byName[d.Name] = d
	}
	var errs []error
	for _, d := range dags {
		for i, t := range d.Tasks {
			if t.Wait == nil {
				continue
			}
			field := fmt.Sprintf("tasks[%d].wait_for", i)
			other := byName[t.Wait.DAG]
			switch {
			case t.Wait.DAG == d.Name:
				errs = append(errs, &Error{File: d.File, Line: t.Wait.line, Field: field + ".dag",
					Msg: "a task cannot wait for its own DAG (order tasks of one run with depends_on)"})
			case other == nil:
				errs = append(errs, &Error{File: d.File, Line: t.Wait.line, Field: field + ".dag",
					Msg: fmt.Sprintf("unknown DAG %q (not in %s/)", t.Wait.DAG, Dir)})
			case t.Wait.Task != "" && other.Task(t.Wait.Task) == nil:
				errs = append(errs, &Error{File: d.File, Line: t.Wait.line, Field: field + ".task",
					Msg: fmt.Sprintf("DAG %q has no task %q", t.Wait.DAG, t.Wait.Task)})
			}
		}
	}
	return errs
}

var yamlLineRE = regexp.MustCompile(`^not valid YAML: line (\d+): (.*)$`)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// Parse reads one DAG file; file is its path within the project, for the
// errors and DAG.File. A file without a name takes its base name.
func Parse(file string, src []byte) (*DAG, error) {
	p := &parser{file: file}
	d := p.parse(src)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return d, nil
}

type parser struct {
	file string
	errs []error
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// fields walks a mapping node, failing on unknown and repeated keys.
func (p *parser) fields(n *yaml.Node, prefix string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, strings.TrimSuffix(prefix, "."), "want a mapping, got %s", kind(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			p.fail(k, prefix+k.Value, "unknown key (want one of %s)", strings.Join(known, ", "))
		case seen[k.Value]:
			p.fail(k, prefix+k.Value, "repeated key")
		default:
			seen[k.Value] = true
			fn(k.Value, k, v)
		}
	}
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "want a string, got %s", kind(n))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, field string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.fail(n, field, "want true or false, got %s", kind(n))
	}
	return b
}

func (p *parser) integer(n *yaml.Node, field string, least int) int {
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || i < least {
		p.fail(n, field, "want a whole number of at least %d, got %s", least, kind(n))
	}
	return i
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d < 0 {
		p.fail(n, field, "want a duration such as 30s, 5m or 1h30m, got %s", kind(n))
		return 0
	}
	return d
}

var dagKeys = []string{"name", "description", "schedule", "timezone", "start_date", "catchup", "max_active_runs", "paused", "on_failure", "tasks"}

func (p *parser) parse(src []byte) *DAG {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		e := &Error{File: p.file, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLineRE.FindStringSubmatch(e.Msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = "not valid YAML: " + m[2]
		}
		p.errs = append(p.errs, e)
		return nil
	}
	if len(doc.Content) == 0 {
		p.fail(nil, "", "empty file")
		return nil
	}
	root := doc.Content[0]
	d := &DAG{
		Name:          strings.TrimSuffix(path.Base(p.file), path.Ext(p.file)),
		File:          p.file,
		Timezone:      "UTC",
		MaxActiveRuns: DefaultMaxActiveRuns,
	}
	var scheduleNode, startNode, tasksNode *yaml.Node
	p.fields(root, "", dagKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			d.Name = p.str(v, key)
			if !nameRE.MatchString(d.Name) {
				p.fail(v, key, "want letters, digits, _, - or ., got %q", d.Name)
			}
		case "description":
			p.str(v, key)
		case "schedule":
			d.Schedule, scheduleNode = strings.TrimSpace(p.str(v, key)), v
		case "timezone":
			d.Timezone = p.str(v, key)
			loc, err := time.LoadLocation(d.Timezone)
			if err != nil || d.Timezone == "" || d.Timezone == "Local" {
				p.fail(v, key, "unknown time zone %q (want an IANA name such as Europe/Berlin or UTC)", d.Timezone)
			} else {
				d.Location = loc
			}
		case "start_date":
			startNode = v
		case "catchup":
			d.Catchup = p.boolean(v, key)
		case "max_active_runs":
			d.MaxActiveRuns = p.integer(v, key, 1)
		case "paused":
			d.Paused = p.boolean(v, key)
		case "on_failure":
			d.OnFailure = p.http(v, key)
		case "tasks":
			tasksNode = v
		}
	})
	if d.Location == nil {
		d.Location = time.UTC
	}
	if startNode != nil {
		d.StartDate = p.startDate(startNode, d.Location)
	}
	if scheduleNode != nil {
		anchor := d.StartDate
		if anchor.IsZero() {
			anchor = time.Date(2000, 1, 1, 0, 0, 0, 0, d.Location)
		}
		s, err := parseSchedule(d.Schedule, d.Location, anchor)
		if err != nil {
			p.fail(scheduleNode, "schedule", "%v", err)
		}
		d.sched = s
	}
	if tasksNode == nil {
		p.fail(root, "tasks", "missing: a DAG needs at least one task")
		return d
	}
	p.tasks(d, tasksNode)
	return d
}

// startDate reads RFC 3339, or a date or date-time without offset in the
// DAG's time zone.
func (p *parser) startDate(n *yaml.Node, loc *time.Location) time.Time {
	if n.Kind == yaml.ScalarNode {
		if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
			return t
		}
		for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, n.Value, loc); err == nil {
				return t
			}
		}
	}
	p.fail(n, "start_date", "want a time such as 2026-11-01T00:00:00Z or 2026-11-01, got %s", kind(n))
	return time.Time{}
}

var httpKeys = []string{"url", "method", "headers", "body"}

func (p *parser) http(n *yaml.Node, field string) *HTTP {
	h := &HTTP{Method: "POST"}
	if n.Kind == yaml.ScalarNode {
		h.URL = n.Value
	} else {
		p.fields(n, field+".", httpKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "url":
				h.URL = p.str(v, field+".url")
			case "method":
				h.Method = strings.ToUpper(p.str(v, field+".method"))
			case "body":
				h.Body = p.str(v, field+".body")
			case "headers":
				if v.Kind != yaml.MappingNode {
					p.fail(v, field+".headers", "want a mapping of header names to values, got %s", kind(v))
					return
				}
				h.Headers = map[string]string{}
				for i := 0; i+1 < len(v.Content); i += 2 {
					h.Headers[v.Content[i].Value] = p.str(v.Content[i+1], field+".headers."+v.Content[i].Value)
				}
			}
		})
	}
	if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(n, field+".url", "want an http:// or https:// URL, got %q", h.URL)
	}
	switch h.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
	default:
		p.fail(n, field+".method", "unknown method %q", h.Method)
	}
	return h
}

var waitKeys = []string{"dag", "task", "poke_interval"}

// wait reads a wait_for: a DAG name, or a mapping of dag, task and
// poke_interval.
func (p *parser) wait(n *yaml.Node, field string) *Wait {
	w := &Wait{PokeInterval: DefaultPokeInterval, line: n.Line}
	if n.Kind == yaml.ScalarNode {
		w.DAG = p.str(n, field)
	} else {
		p.fields(n, field+".", waitKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "dag":
				w.DAG = p.str(v, field+".dag")
			case "task":
				w.Task = p.str(v, field+".task")
			case "poke_interval":
				w.PokeInterval = p.duration(v, field+".poke_interval")
				if w.PokeInterval == 0 && v.Kind == yaml.ScalarNode {
					p.fail(v, field+".poke_interval", "want a duration above zero, got %s", kind(v))
				}
			}
		})
	}
	if w.DAG == "" && n.Kind != yaml.SequenceNode {
		p.fail(n, field+".dag", "missing: name the DAG to wait for")
	}
	return w
}

var taskKeys = []string{"id", "models", "select", "sql_check", "sql", "http", "wait_for", "depends_on", "trigger_rule", "retries", "retry_delay", "max_retry_delay", "timeout"}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func (p *parser) tasks(d *DAG, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.fail(n, "tasks", "want a list of at least one task, got %s", kind(n))
		return
	}
	nodes := map[string]*yaml.Node{} // task id → its node
	deps := map[*Task][]*yaml.Node{} // depends_on entries
	for i, tn := range n.Content {
		prefix := fmt.Sprintf("tasks[%d]", i)
		t := &Task{TriggerRule: AllSuccess, RetryDelay: DefaultRetryDelay}
		var types []string
		var selectNode *yaml.Node
		p.fields(tn, prefix+".", taskKeys, func(key string, k, v *yaml.Node) {
			field := prefix + "." + key
			switch key {
			case "id":
				t.ID = p.str(v, field)
				if !idRE.MatchString(t.ID) {
					p.fail(v, field, "want letters, digits, _, - or ., got %q", t.ID)
				} else if other, ok := nodes[t.ID]; ok {
					p.fail(v, field, "duplicate task id %q (also on line %d)", t.ID, other.Line)
				} else {
					nodes[t.ID] = v
				}
			case "models":
				types = append(types, key)
				t.Type, t.Models = Models, p.str(v, field)
				if !slices.Contains([]string{"run", "test", "build"}, t.Models) {
					p.fail(v, field, "unknown models command %q (want run, test or build)", t.Models)
				}
			case "select":
				t.Select, selectNode = p.str(v, field), v
			case "sql_check", "sql":
				types = append(types, key)
				t.Type, t.SQL = TaskType(key), strings.TrimSpace(p.str(v, field))
				if t.SQL == "" {
					p.fail(v, field, "empty SQL")
				}
			case "http":
				types = append(types, key)
				t.Type, t.HTTP = HTTPCall, p.http(v, field)
			case "wait_for":
				types = append(types, key)
				t.Type, t.Wait = WaitFor, p.wait(v, field)
			case "depends_on":
				if v.Kind == yaml.ScalarNode {
					deps[t] = []*yaml.Node{v}
				} else if v.Kind == yaml.SequenceNode {
					deps[t] = v.Content
				} else {
					p.fail(v, field, "want a list of task ids, got %s", kind(v))
				}
			case "trigger_rule":
				t.TriggerRule = TriggerRule(p.str(v, field))
				if !slices.Contains([]TriggerRule{AllSuccess, AllDone, OneFailed, NoneFailed}, t.TriggerRule) {
					p.fail(v, field, "unknown trigger rule %q (want all_success, all_done, one_failed or none_failed)", t.TriggerRule)
				}
			case "retries":
				t.Retries = p.integer(v, field, 0)
			case "retry_delay":
				t.RetryDelay = p.duration(v, field)
			case "max_retry_delay":
				t.MaxRetryDelay = p.duration(v, field)
			case "timeout":
				t.Timeout = p.duration(v, field)
			}
		})
		if tn.Kind != yaml.MappingNode {
			continue
		}
		if t.ID == "" && !slices.ContainsFunc(tn.Content, func(k *yaml.Node) bool { return k.Value == "id" }) {
			p.fail(tn, prefix+".id", "missing")
		}
		switch len(types) {
		case 0:
			p.fail(tn, prefix, "no task type: give exactly one of models, sql_check, sql, http, wait_for")
		case 1:
		default:
			p.fail(tn, prefix, "two task types (%s): give exactly one of models, sql_check, sql, http, wait_for", strings.Join(types, ", "))
		}
		if selectNode != nil && t.Type != Models {
			p.fail(selectNode, prefix+".select", "only a models task has a selector")
		}
		if t.Type == WaitFor && t.Timeout == 0 {
			t.Timeout = DefaultWaitTimeout
		}
		d.Tasks = append(d.Tasks, t)
	}
	for i, t := range d.Tasks {
		for _, dn := range deps[t] {
			id := p.str(dn, fmt.Sprintf("tasks[%d].depends_on", i))
			switch {
			case id == t.ID:
				p.fail(dn, fmt.Sprintf("tasks[%d].depends_on", i), "task %q depends on itself", id)
			case nodes[id] == nil:
				p.fail(dn, fmt.Sprintf("tasks[%d].depends_on", i), "unknown task %q", id)
			case slices.Contains(t.DependsOn, id):
				p.fail(dn, fmt.Sprintf("tasks[%d].depends_on", i), "task %q listed twice", id)
			default:
				t.DependsOn = append(t.DependsOn, id)
			}
		}
	}
	if cycle := findCycle(d.Tasks); cycle != nil {
		i := slices.IndexFunc(d.Tasks, func(t *Task) bool { return t.ID == cycle[0] })
		p.fail(nodes[cycle[0]], fmt.Sprintf("tasks[%d].depends_on", i), "cycle: %s", strings.Join(cycle, " -> "))
	}
}

// findCycle returns a dependency cycle (its first task repeated at the
// end), or nil.
func findCycle(tasks []*Task) []string {
	byID := map[string]*Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(id string) []string
	visit = func(id string) []string {
		switch state[id] {
		case onPath:
			i := slices.Index(path, id)
			return append(slices.Clone(path[i:]), id)
		case done:
			return nil
		}
		state[id] = onPath
		path = append(path, id)
		if t := byID[id]; t != nil {
			for _, dep := range t.DependsOn {
				if c := visit(dep); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, t := range tasks {
		if c := visit(t.ID); c != nil {
			return c
		}
	}
	return nil
}
