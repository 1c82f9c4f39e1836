package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cartwheel-analytics/cartwheel/dag"
	"github.com/cartwheel-analytics/cartwheel/scheduler"
)

// The run page's two drawings are SVG computed here, so that the page
// needs no script to show them.

// gantt is a timeline of a run's tasks: one bar per task from its latest
// try's start to its end (or now, while it runs).
type gantt struct {
	Width, Height                 int
	LabelX, ChartX, AxisY, LabelY int
	BarH                          int
	Rows                          []ganttRow
	Ticks                         []tick
}

type ganttRow struct {
	Label, State, Dur, Href, Title string
	Y, TextY                       int
	X, W, DurX                     float64
	HasBar                         bool
}

type tick struct {
	X     float64
	Label string
}

const (
	ganttWidth = 640
	ganttDurW  = 60
	ganttRowH  = 26
	// maxLabel bounds the characters of a task id drawn (ids are cut
	// with … beyond it); charW is about the width of one at 12px.
	maxLabel = 28
	charW    = 6.6
)

// labelWidth is the room the longest task id needs, within bounds.
func labelWidth(d *dag.DAG, lo, hi int) int {
	n := 0
	for _, t := range d.Tasks {
		n = max(n, min(len([]rune(t.ID)), maxLabel))
	}
	return min(max(int(float64(n)*charW)+16, lo), hi)
}

func (s *Server) newGantt(d *dag.DAG, run scheduler.Run, tis []scheduler.TaskInstance) gantt {
	ganttLabelW := labelWidth(d, 80, 220)
	g := gantt{Width: ganttWidth, LabelX: ganttLabelW - 8, ChartX: ganttLabelW, BarH: 16}
	now := s.now()
	var t0, t1 time.Time
	for _, ti := range tis {
		if ti.StartedAt == nil {
			continue
		}
		end := now
		if ti.EndedAt != nil {
			end = *ti.EndedAt
		}
		if t0.IsZero() || ti.StartedAt.Before(t0) {
			t0 = *ti.StartedAt
		}
		if end.After(t1) {
			t1 = end
		}
	}
	if run.StartedAt != nil && (t0.IsZero() || run.StartedAt.Before(t0)) {
		t0 = *run.StartedAt
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	chartW := float64(ganttWidth - ganttLabelW - ganttDurW)
	scale := func(t time.Time) float64 { return float64(ganttLabelW) + chartW*float64(t.Sub(t0))/float64(span) }
	byID := make(map[string]scheduler.TaskInstance, len(tis))
	for _, ti := range tis {
		byID[ti.TaskID] = ti
	}
	y := 8
	for _, t := range d.Tasks {
		ti := byID[t.ID]
		row := ganttRow{Label: shorten(t.ID, maxLabel), State: ti.State, Y: y, TextY: y + 12, Title: t.ID + ": " + stateOrNone(ti.State)}
		if ti.Try > 0 {
			row.Href = logHref(d.Name, run.RunID, t.ID, ti.Try)
		} else {
			row.Href = runHref(d.Name, run.RunID)
		}
		if row.State == "" {
			row.State = "not started"
		}
		if ti.StartedAt != nil {
			end := now
			if ti.EndedAt != nil {
				end = *ti.EndedAt
			}
			row.HasBar = true
			row.X = round1(scale(*ti.StartedAt))
			row.W = round1(max(scale(end)-row.X, 2))
			row.DurX = round1(row.X + row.W + 5)
			row.Dur = fmtDuration(end.Sub(*ti.StartedAt))
			row.Title += fmt.Sprintf(" · try %d · %s", ti.Try, row.Dur)
		}
		g.Rows = append(g.Rows, row)
		y += ganttRowH
	}
	g.AxisY = y
	g.LabelY = y + 14
	g.Height = y + 22
	if !t0.IsZero() {
		for i := 0; i <= 4; i++ {
			at := t0.Add(span * time.Duration(i) / 4)
			g.Ticks = append(g.Ticks, tick{X: round1(scale(at)), Label: "+" + fmtDuration(at.Sub(t0))})
		}
		g.Ticks[0].Label = "0s"
	}
	return g
}

// graph draws the tasks in columns by depth (the longest chain of
// dependencies before them), with an edge from each dependency.
type graph struct {
	Width, Height int
	Nodes         []gnode
	Edges         []gedge
}

type gnode struct {
	ID, State, Href, Title string
	X, Y, W, H, TX, TY     int
}

type gedge struct{ D string }

const (
	nodeH   = 30
	colGap  = 48
	rowGap  = 16
	padding = 8
)

func newGraph(d *dag.DAG, byID map[string]scheduler.TaskInstance) graph {
	depth := make(map[string]int, len(d.Tasks))
	var depthOf func(id string, seen map[string]bool) int
	tasks := make(map[string]*dag.Task, len(d.Tasks))
	for _, t := range d.Tasks {
		tasks[t.ID] = t
	}
	depthOf = func(id string, seen map[string]bool) int {
		if v, ok := depth[id]; ok {
			return v
		}
		t := tasks[id]
		if t == nil || seen[id] { // loaded DAGs have no cycles; never loop anyway
			return 0
		}
		seen[id] = true
		v := 0
		for _, dep := range t.DependsOn {
			v = max(v, depthOf(dep, seen)+1)
		}
		depth[id] = v
		return v
	}
	nodeW := labelWidth(d, 100, 240)*8/7 + 8 // bold text is wider
	rows := map[int]int{}                    // nodes so far in each column
	pos := map[string]gnode{}
	var g graph
	for _, t := range d.Tasks {
		c := depthOf(t.ID, map[string]bool{})
		r := rows[c]
		rows[c]++
		ti := byID[t.ID]
		n := gnode{ID: shorten(t.ID, maxLabel), State: ti.State, Title: t.ID + ": " + stateOrNone(ti.State),
			X: padding + c*(nodeW+colGap), Y: padding + r*(nodeH+rowGap), W: nodeW, H: nodeH}
		n.TX, n.TY = n.X+nodeW/2, n.Y+nodeH/2+4
		n.Href = "#"
		if ti.Try > 0 {
			n.Href = logHref(d.Name, ti.RunID, t.ID, ti.Try)
		}
		pos[t.ID] = n
		g.Nodes = append(g.Nodes, n)
		g.Width = max(g.Width, n.X+nodeW+padding)
		g.Height = max(g.Height, n.Y+nodeH+padding)
	}
	for _, t := range d.Tasks {
		to := pos[t.ID]
		for _, dep := range t.DependsOn {
			from, ok := pos[dep]
			if !ok {
				continue
			}
			x1, y1 := from.X+from.W, from.Y+nodeH/2
			x2, y2 := to.X, to.Y+nodeH/2
			mx := (x1 + x2) / 2
			g.Edges = append(g.Edges, gedge{D: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mx, y1, mx, y2, x2, y2)})
		}
	}
	return g
}

func stateOrNone(s string) string {
	if s == "" {
		return "not started"
	}
	return s
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func round1(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 1, 64), 64)
	return v
}
