// Package dashboard serves the live dashboard of SPEC §5.3: the panels of a
// project's dashboards/ folder (read-only SQL with bound parameters, run
// through the warehouse's user-SQL guard), their data at GET /api/panels and
// GET /api/panels/{name}, and the page at / (a bundle embedded with
// go:embed, built from web/ by esbuild).
package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Dir is the project folder that holds the panels.
const Dir = "dashboards"

// ConfigFile orders the panels and says how to draw them.
const ConfigFile = Dir + "/dashboard.yml"

// Chart kinds a panel may ask for.
var charts = []string{"stat", "timeseries", "bars", "funnel", "health", "table"}

// Units a column may have.
var units = []string{"currency", "count", "percent", "seconds", "rate", "records", "text"}

// Panel is one panel: its SQL and how the page draws it.
type Panel struct {
	Name        string            `json:"name" yaml:"name"`
	Title       string            `json:"title" yaml:"title"`
	Description string            `json:"description,omitempty" yaml:"description"`
	Chart       string            `json:"chart" yaml:"chart"`
	Units       map[string]string `json:"units,omitempty" yaml:"units"`
	Hidden      bool              `json:"hidden,omitempty" yaml:"hidden"`
	Sparkline   *Sparkline        `json:"sparkline,omitempty" yaml:"sparkline"`
	// Live "pipeline" adds the running pipeline's figures to the row.
	Live string `json:"live,omitempty" yaml:"live"`
	// Params is how many of the bound parameters ($1 from, $2 to, $3 step)
	// the SQL uses.
	Params int    `json:"params" yaml:"-"`
	SQL    string `json:"-" yaml:"-"`
}

// Sparkline names the column of another panel drawn under a stat.
type Sparkline struct {
	Panel  string `json:"panel" yaml:"panel"`
	Column string `json:"column" yaml:"column"`
}

// Dashboard is the set of panels of a project.
type Dashboard struct {
	Title string `json:"title" yaml:"title"`
	// Currency is the ISO 4217 code money is shown in (default USD).
	Currency string   `json:"currency" yaml:"currency"`
	Panels   []*Panel `json:"panels" yaml:"panels"`
	byName   map[string]*Panel
}

// Panel returns the panel called name, or nil.
func (d *Dashboard) Panel(name string) *Panel { return d.byName[name] }

var panelName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Load reads the panels of a project: dashboards/*.sql, in the order and
// with the presentation of dashboards/dashboard.yml (a .sql file it does
// not name is a table after the others). A project without the folder has
// no panels.
func Load(project fs.FS) (*Dashboard, error) {
	d := &Dashboard{Title: "Cartwheel", byName: map[string]*Panel{}}
	files, err := fs.Glob(project, Dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sqls := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".sql")
		if !panelName.MatchString(name) {
			return nil, fmt.Errorf("%s: a panel's name must be lower-case letters, digits and _", f)
		}
		b, err := fs.ReadFile(project, f)
		if err != nil {
			return nil, err
		}
		sqls[name] = string(b)
	}
	if b, err := fs.ReadFile(project, ConfigFile); err == nil {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(d); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", ConfigFile, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if d.Title == "" {
		d.Title = "Cartwheel"
	}
	if d.Currency == "" {
		d.Currency = "USD"
	}
	if !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(d.Currency) {
		return nil, fmt.Errorf("%s: currency %q is not an ISO 4217 code such as USD", ConfigFile, d.Currency)
	}
	var problems []string
	for _, p := range d.Panels {
		if p == nil || p.Name == "" {
			problems = append(problems, "a panel without a name")
			continue
		}
		if _, dup := d.byName[p.Name]; dup {
			problems = append(problems, fmt.Sprintf("panel %s listed twice", p.Name))
			continue
		}
		sql, ok := sqls[p.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("panel %s has no file %s/%s.sql", p.Name, Dir, p.Name))
			continue
		}
		p.SQL = sql
		d.byName[p.Name] = p
	}
	for _, name := range slices.Sorted(maps.Keys(sqls)) {
		if _, ok := d.byName[name]; !ok {
			p := &Panel{Name: name, SQL: sqls[name]}
			d.Panels = append(d.Panels, p)
			d.byName[name] = p
		}
	}
	for _, p := range d.Panels {
		if p == nil || d.byName[p.Name] != p {
			continue
		}
		if p.Title == "" {
			p.Title = strings.ReplaceAll(p.Name, "_", " ")
		}
		if p.Chart == "" {
			p.Chart = "table"
		}
		if !slices.Contains(charts, p.Chart) {
			problems = append(problems, fmt.Sprintf("panel %s: chart %q (want one of %s)", p.Name, p.Chart, strings.Join(charts, ", ")))
		}
		for c, u := range p.Units {
			if !slices.Contains(units, u) {
				problems = append(problems, fmt.Sprintf("panel %s: unit %q of %s (want one of %s)", p.Name, u, c, strings.Join(units, ", ")))
			}
		}
		if p.Live != "" && p.Live != "pipeline" {
			problems = append(problems, fmt.Sprintf("panel %s: live %q (want pipeline)", p.Name, p.Live))
		}
		if s := p.Sparkline; s != nil && (d.byName[s.Panel] == nil || s.Column == "") {
			problems = append(problems, fmt.Sprintf("panel %s: sparkline names no panel and column", p.Name))
		}
		n, err := Params(p.SQL)
		if err != nil {
			problems = append(problems, fmt.Sprintf("panel %s: %v", p.Name, err))
		}
		p.Params = n
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("dashboards: %s", strings.Join(problems, "; "))
	}
	kept := d.Panels[:0]
	for _, p := range d.Panels {
		if p != nil && d.byName[p.Name] == p {
			kept = append(kept, p)
		}
	}
	d.Panels = kept
	return d, nil
}

// MaxParams is the number of bound parameters a panel may use: $1 from,
// $2 to, $3 step.
const MaxParams = 3

// Params returns how many bound parameters a panel's SQL uses: the highest
// $N outside string literals, quoted identifiers and comments. They must
// be a prefix of $1 from, $2 to, $3 step (PostgreSQL cannot type a
// parameter the statement does not use).
func Params(sql string) (int, error) {
	used := map[int]bool{}
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' && sql[i] != '\r' { // a line comment ends at either
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return 0, errors.New("unterminated comment")
			}
			i += end + 3
		case c == '$':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j > i+1 && (i == 0 || !isIdent(sql[i-1])) {
				n, _ := strconv.Atoi(sql[i+1 : j])
				if n < 1 || n > MaxParams {
					return 0, fmt.Errorf("parameter $%s: only $1 (from), $2 (to) and $3 (step seconds) are bound", sql[i+1:j])
				}
				used[n] = true
			}
			i = j - 1
		}
	}
	n := 0
	for k := range used {
		n = max(n, k)
	}
	for k := 1; k <= n; k++ {
		if !used[k] {
			return 0, fmt.Errorf("uses $%d but not $%d: parameters must be a prefix of $1 (from), $2 (to), $3 (step seconds)", n, k)
		}
	}
	return n, nil
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
