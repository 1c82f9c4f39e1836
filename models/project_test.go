package models_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/project"
)

func ids(p *models.Project) []string {
	var out []string
	for id := range p.Nodes {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// The embedded project loads as is, and `cartwheel init` writes it out.
func TestEmbeddedProjectAndWriteProject(t *testing.T) {
	p, err := models.Load(project.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stg_sessionized_events", "fact_user_sessions", "dim_users", "dim_time",
		"fct_conversion_funnel", "fct_daily_revenue", "fct_active_users"} {
		n := p.Node(name)
		if n == nil || n.ResourceType != models.ModelType {
			t.Fatalf("no model %s", name)
		}
		if n.Description == "" || len(n.Columns) == 0 {
			t.Errorf("%s is not documented", name)
		}
		for _, c := range n.Columns {
			if c.Description == "" {
				t.Errorf("%s.%s has no description", name, c.Name)
			}
		}
	}
	if n := p.Node("fact_user_sessions"); n.Config.Materialized != models.Incremental || strings.Join(n.Config.UniqueKey, ",") != "session_id" {
		t.Errorf("fact_user_sessions config %+v", n.Config)
	}
	dir := filepath.Join(t.TempDir(), "my-project")
	if err := models.WriteProject(dir, project.FS); err != nil {
		t.Fatal(err)
	}
	q, err := models.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := strings.Join(ids(p), " "), strings.Join(ids(q), " "); a != b {
		t.Errorf("the written project differs:\n%s\n%s", a, b)
	}
	// Nothing is overwritten: the first file that exists (in walk order,
	// whichever folder that is) stops the write, and the error names it.
	err = models.WriteProject(dir, project.FS)
	name, ok := "", err != nil
	if ok {
		name, ok = strings.CutSuffix(err.Error(), " already exists")
		name = name[strings.LastIndex(name, " ")+1:]
	}
	if _, statErr := fs.Stat(project.FS, name); !ok || statErr != nil {
		t.Errorf("second write: %v, want a project file's name and 'already exists'", err)
	}
}

// Other tools' folders in the project do not disturb the models.
func TestProjectWithDagsAndDashboards(t *testing.T) {
	fsys := fstest.MapFS{
		"dbt_project.yml":              {Data: []byte("name: t\ndags:\n  default: {schedule: '*/5 * * * *'}\n")},
		"models/a.sql":                 {Data: []byte("select 1 as id")},
		"dags/analytics.yml":           {Data: []byte("this: is: not: a: model file")},
		"dags/helper.sql":              {Data: []byte("{{ not jinja")},
		"dashboards/revenue.json":      {Data: []byte("{}")},
		"dashboards/panels/funnel.sql": {Data: []byte("select {{ broken")},
	}
	p, err := models.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(p), " "); got != "model.t.a" {
		t.Errorf("nodes: %s", got)
	}
}
