package dag

import (
	"slices"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/project"
)

// TestBuiltInDAGs: the built-in project's DAGs load and are what SPEC
// §5.2 describes.
func TestBuiltInDAGs(t *testing.T) {
	dags, err := Load(project.FS)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*DAG{}
	for _, d := range dags {
		byName[d.Name] = d
	}
	a, q := byName["analytics"], byName["quality"]
	if len(dags) != 2 || a == nil || q == nil {
		t.Fatalf("built-in DAGs %v, want analytics and quality", dags)
	}
	now := time.Date(2026, 11, 1, 12, 2, 0, 0, time.UTC)
	if n, _ := a.Next(now); !n.Equal(now.Add(3*time.Minute)) || a.Catchup || a.MaxActiveRuns != 1 {
		t.Errorf("analytics: next %v, catchup %v, max_active_runs %d; want every 5 minutes, no catch-up, 1", n, a.Catchup, a.MaxActiveRuns)
	}
	var ids []string
	for _, task := range a.Tasks {
		ids = append(ids, task.ID)
		if task.Type != Models || task.Retries != 1 {
			t.Errorf("analytics task %s: %s with %d retries, want models with one", task.ID, task.Type, task.Retries)
		}
	}
	if got := a.Tasks[2].DependsOn; len(ids) != 3 || ids[0] != "staging" || got[0] != "marts" || a.Tasks[1].DependsOn[0] != "staging" {
		t.Errorf("analytics tasks %v: want staging → marts → tests", ids)
	}
	if n, _ := q.Next(now); !n.Equal(time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)) || len(q.Tasks) != 4 {
		t.Errorf("quality: next %v, %d tasks; want hourly, a wait and 3 checks", n, len(q.Tasks))
	}
	// The checks that read the marts wait for analytics to have built them
	// for the hour; the check of the streaming tables alone does not.
	if w := q.Tasks[0].Wait; w == nil || w.DAG != "analytics" || w.Task != "marts" {
		t.Errorf("quality's first task %+v, want a wait for analytics.marts", q.Tasks[0])
	}
	want := map[string][]string{"revenue_reconciles": {"marts_built"}, "no_negative_session_duration": {"marts_built"}, "session_events_exist": nil}
	for _, task := range q.Tasks[1:] {
		if task.Type != SQLCheck || !slices.Equal(task.DependsOn, want[task.ID]) {
			t.Errorf("quality task %s is %s after %v, want sql_check after %v", task.ID, task.Type, task.DependsOn, want[task.ID])
		}
	}
}
