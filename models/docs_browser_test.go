package models

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cartwheel-analytics/cartwheel/internal/browsertest"
)

// The page's view of the lineage graph, read with one script.
type browserGraph struct {
	Width, Height float64
	Top           float64
	Display       string
	Visibility    string
	Nodes         []struct {
		ID, Label, Class, Href string
		W, H                   float64 // the node's box on screen
		X, Y, RW, RH           float64 // its rect, in SVG user units
		TextRight, RectRight   float64 // on screen
		Fill                   string
	}
	Edges []struct {
		From, To                string
		Len                     float64
		X1, Y1, X2, Y2          float64 // first and last points, SVG units
		Stroke, MarkerEnd, Fill string
	}
}

const readGraphJS = `(() => {
  const svg = document.getElementById("lineage");
  if (!svg) return null;
  const r = svg.getBoundingClientRect(), cs = getComputedStyle(svg);
  return {
    width: r.width, height: r.height, top: r.top, display: cs.display, visibility: cs.visibility,
    nodes: [...svg.querySelectorAll("g.node")].map(g => {
      const rect = g.querySelector("rect"), text = g.querySelector("text");
      const b = g.getBoundingClientRect(), rb = rect.getBoundingClientRect(), tb = text.getBoundingClientRect();
      return {id: g.getAttribute("data-id"), label: text.textContent, class: g.getAttribute("class"),
        href: g.closest("a") ? g.closest("a").getAttribute("href") : "",
        w: b.width, h: b.height,
        x: rect.x.baseVal.value, y: rect.y.baseVal.value, rw: rect.width.baseVal.value, rh: rect.height.baseVal.value,
        textRight: tb.right, rectRight: rb.right, fill: getComputedStyle(rect).fill};
    }),
    edges: [...svg.querySelectorAll("path.edge")].map(p => {
      const n = p.getTotalLength(), a = p.getPointAtLength(0), z = p.getPointAtLength(n), s = getComputedStyle(p);
      return {from: p.getAttribute("data-from"), to: p.getAttribute("data-to"), len: n,
        x1: a.x, y1: a.y, x2: z.x, y2: z.y, stroke: s.stroke, markerEnd: s.markerEnd, fill: s.fill};
    }),
  };
})()`

// TestDocsSiteRendersLineage opens the generated docs site in headless
// Chromium from file:// and checks what a reader sees: the lineage SVG laid
// out with one labelled box per source, seed and model and one curve per
// dependency, the hover highlighting, a click on a node landing on its
// documentation (description and compiled SQL), no console errors or
// exceptions, no request beyond file:// and data:, and a real screenshot.
func TestDocsSiteRendersLineage(t *testing.T) {
	browsertest.Chromium(t) // skip (or fail on CI) before building anything
	start := time.Now()

	// One bound on everything: the build, the docs and the browser.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, m, _ := fixtureDocs(ctx, t)

	// What the graph must show, from the manifest: every source, seed and
	// model, labelled as the site labels them, and one edge per dependency.
	labels := map[string]string{}
	for id, n := range m.Sources {
		labels[id] = n.SourceName + "." + n.Name
	}
	for id, n := range m.Nodes {
		switch n.ResourceType {
		case ModelType, SeedType:
			labels[id] = n.Name
		case TestType:
		default:
			t.Fatalf("%s: unexpected resource type %q", id, n.ResourceType)
		}
	}
	var wantEdges []string
	for id := range labels {
		n := m.Nodes[id]
		if n == nil {
			n = m.Sources[id]
		}
		for _, d := range n.DependsOn.Nodes {
			wantEdges = append(wantEdges, d+" -> "+id)
		}
	}
	slices.Sort(wantEdges)
	for _, l := range []string{"fact_user_sessions", "stg_sessions", "cartwheel.events"} {
		if !slices.Contains(slices.Collect(maps.Values(labels)), l) {
			t.Fatalf("the manifest has no node labelled %s", l)
		}
	}
	if len(wantEdges) < 10 {
		t.Fatalf("only %d dependencies in the manifest", len(wantEdges))
	}
	const factID = "model.cartwheel.fact_user_sessions"
	fact := m.Nodes[factID]
	if fact == nil || fact.Description == "" || fact.CompiledCode == "" {
		t.Fatalf("fact_user_sessions in the manifest: %+v", fact)
	}

	// The browser: headless, no network (nothing resolves), its own profile.
	tab := browsertest.New(ctx, t, chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"), chromedp.WindowSize(1400, 1000))

	// Every console message and request, from before the page loads.
	var (
		mu       sync.Mutex
		console  []chromedp.ConsoleMessage
		requests []string
	)
	const endMark = "cartwheel-browser-test-end"
	consoleCtx, stopConsole := context.WithCancel(tab)
	defer stopConsole()
	messages := chromedp.Console(consoleCtx)
	sawEnd := make(chan struct{})
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.Text == endMark {
				close(sawEnd)
				continue
			}
			mu.Lock()
			console = append(console, msg)
			mu.Unlock()
		}
	}()
	if err := chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	index := (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "index.html"))}).String()
	if err := chromedp.Do(tab,
		chromedp.Navigate(index),
		chromedp.WaitVisible(chromedp.CSS("#lineage g.node")),
	); err != nil {
		t.Fatalf("open %s: %v", index, err)
	}
	title, err := chromedp.Run(tab, chromedp.Title())
	if err != nil || !strings.Contains(title, "models docs") {
		t.Errorf("title %q, %v", title, err)
	}

	// The graph as laid out and styled by the browser.
	g, err := chromedp.Run(tab, chromedp.Evaluate[*browserGraph](readGraphJS))
	if err != nil || g == nil {
		t.Fatalf("read the graph: %v (graph %v)", err, g)
	}
	if g.Width < 100 || g.Height < 50 || g.Display == "none" || g.Visibility != "visible" || g.Top > 1000 {
		t.Errorf("lineage SVG: %gx%g at top %g, display %s, visibility %s", g.Width, g.Height, g.Top, g.Display, g.Visibility)
	}
	if len(g.Nodes) != len(labels) {
		t.Errorf("the graph draws %d nodes; the manifest has %d sources, seeds and models", len(g.Nodes), len(labels))
	}
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		want, ok := labels[n.ID]
		switch {
		case !ok:
			t.Errorf("the graph draws %q, not a source, seed or model of the manifest", n.ID)
		case seen[n.ID]:
			t.Errorf("the graph draws %s twice", n.ID)
		case n.Label != want:
			t.Errorf("%s is labelled %q, want %q", n.ID, n.Label, want)
		}
		seen[n.ID] = true
		if n.W <= 0 || n.H <= 0 {
			t.Errorf("%s has an empty box (%gx%g)", n.ID, n.W, n.H)
		}
		if n.TextRight > n.RectRight+0.5 {
			t.Errorf("the label of %s overflows its box by %.1f px", n.ID, n.TextRight-n.RectRight)
		}
		if n.Fill == "" || n.Fill == "none" || n.Fill == "rgb(0, 0, 0)" {
			t.Errorf("%s (class %q) is not styled: fill %q", n.ID, n.Class, n.Fill)
		}
		if n.Href != "#"+n.ID {
			t.Errorf("%s links to %q", n.ID, n.Href)
		}
	}
	for id := range labels {
		if !seen[id] {
			t.Errorf("the graph does not draw %s", id)
		}
	}
	for i, a := range g.Nodes {
		for _, b := range g.Nodes[i+1:] {
			if a.X < b.X+b.RW && b.X < a.X+a.RW && a.Y < b.Y+b.RH && b.Y < a.Y+a.RH {
				t.Errorf("%s and %s overlap", a.ID, b.ID)
			}
		}
	}
	boxes := map[string]int{}
	for i, n := range g.Nodes {
		boxes[n.ID] = i
	}
	var gotEdges []string
	for _, e := range g.Edges {
		gotEdges = append(gotEdges, e.From+" -> "+e.To)
		if e.Len <= 0 || e.Stroke == "" || e.Stroke == "none" || e.Fill != "none" || !strings.Contains(e.MarkerEnd, "arrow") {
			t.Errorf("edge %s -> %s: length %g, stroke %q, fill %q, marker %q", e.From, e.To, e.Len, e.Stroke, e.Fill, e.MarkerEnd)
		}
		from, ok1 := boxes[e.From]
		to, ok2 := boxes[e.To]
		if !ok1 || !ok2 {
			continue
		}
		a, b := g.Nodes[from], g.Nodes[to]
		// From the parent's right side to the child's left side.
		if math.Abs(e.X1-(a.X+a.RW)) > 1 || e.Y1 < a.Y || e.Y1 > a.Y+a.RH || math.Abs(e.X2-b.X) > 1 || e.Y2 < b.Y || e.Y2 > b.Y+b.RH {
			t.Errorf("edge %s -> %s runs (%g,%g)-(%g,%g), not between its boxes", e.From, e.To, e.X1, e.Y1, e.X2, e.Y2)
		}
	}
	slices.Sort(gotEdges)
	if !slices.Equal(gotEdges, wantEdges) {
		t.Errorf("edges (%d):\n%s\nwant (%d dependencies):\n%s", len(gotEdges), strings.Join(gotEdges, "\n"),
			len(wantEdges), strings.Join(wantEdges, "\n"))
	}

	// A screenshot of what a reader sees first: header, navigation, graph.
	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "docs.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, shotPath, shot)

	// Hovering fact_user_sessions highlights its lineage and dims the rest.
	nodeSel := `#lineage g.node[data-id="` + factID + `"]`
	if err := chromedp.Do(tab, chromedp.ScrollIntoView(chromedp.CSS(nodeSel+" rect"))); err != nil {
		t.Fatal(err)
	}
	center, err := chromedp.Run(tab, chromedp.Evaluate[[2]float64](
		`(() => { const r = document.querySelector('`+nodeSel+` rect').getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.MouseEvent(chromedp.MouseMoved, center[0], center[1])); err != nil {
		t.Fatal(err)
	}
	type hoverState struct {
		Focus  bool
		On     []string
		Dimmed []string // nodes at opacity < 1
		Edges  []string // edges highlighted
	}
	hover, err := chromedp.Run(tab, chromedp.Evaluate[hoverState](`(() => {
  const svg = document.getElementById("lineage");
  const nodes = [...svg.querySelectorAll("g.node")], edges = [...svg.querySelectorAll("path.edge")];
  return {
    focus: svg.classList.contains("focus"),
    on: nodes.filter(n => n.classList.contains("on")).map(n => n.getAttribute("data-id")).sort(),
    dimmed: nodes.filter(n => parseFloat(getComputedStyle(n).opacity) < 1).map(n => n.getAttribute("data-id")).sort(),
    edges: edges.filter(e => e.classList.contains("on")).map(e => e.getAttribute("data-from") + " -> " + e.getAttribute("data-to")).sort(),
  };
})()`))
	if err != nil {
		t.Fatal(err)
	}
	lineage := map[string]bool{factID: true}
	walkLineage(factID, m.ParentMap, lineage)
	walkLineage(factID, m.ChildMap, lineage)
	var wantOn, wantDim, wantOnEdges []string
	for id := range labels {
		if lineage[id] {
			wantOn = append(wantOn, id)
		} else {
			wantDim = append(wantDim, id)
		}
	}
	for _, e := range wantEdges {
		from, to, _ := strings.Cut(e, " -> ")
		if lineage[from] && lineage[to] {
			wantOnEdges = append(wantOnEdges, e)
		}
	}
	slices.Sort(wantOn)
	slices.Sort(wantDim)
	slices.Sort(wantOnEdges)
	if !hover.Focus || !slices.Equal(hover.On, wantOn) || !slices.Equal(hover.Dimmed, wantDim) || !slices.Equal(hover.Edges, wantOnEdges) {
		t.Errorf("hovering %s: focus %v\n on %v\n want %v\n dimmed %v\n want %v\n edges %v\n want %v",
			factID, hover.Focus, hover.On, wantOn, hover.Dimmed, wantDim, hover.Edges, wantOnEdges)
	}

	// Clicking the node lands on its documentation.
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(nodeSel+" rect"))); err != nil {
		t.Fatal(err)
	}
	type docState struct {
		Hash        string
		Target      bool
		Top         float64
		ViewHeight  float64
		Heading     string
		Description string
		SQL         string
		SQLOpen     bool
		SQLHeight   float64
		SQLSummary  string
	}
	var doc docState
	for {
		doc, err = chromedp.Run(tab, chromedp.Evaluate[docState](`(() => {
  const s = document.getElementById(`+jsString(factID)+`);
  const pre = s.querySelector("details[open] > pre");
  return {
    hash: decodeURIComponent(location.hash), target: s.matches(":target"),
    top: s.getBoundingClientRect().top, viewHeight: window.innerHeight,
    heading: s.querySelector("h2").innerText,
    description: [...s.children].filter(e => e.tagName === "P" && !e.classList.contains("meta")).map(e => e.innerText).join("\n"),
    sql: pre ? pre.textContent : "", sqlOpen: !!pre, sqlHeight: pre ? pre.getBoundingClientRect().height : 0,
    sqlSummary: pre ? pre.parentElement.querySelector("summary").innerText : "",
  };
})()`))
		if err != nil {
			t.Fatal(err)
		}
		if doc.Target || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if doc.Hash != "#"+factID || !doc.Target {
		t.Errorf("after clicking %s: location.hash %q, section targeted %v", factID, doc.Hash, doc.Target)
	}
	if doc.Top < -1 || doc.Top > doc.ViewHeight/2 {
		t.Errorf("the documentation of %s is at %g px of a %g px viewport, not scrolled to", factID, doc.Top, doc.ViewHeight)
	}
	if !strings.HasPrefix(doc.Heading, "fact_user_sessions") || !strings.Contains(doc.Heading, "incremental") {
		t.Errorf("heading %q", doc.Heading)
	}
	if got, want := strings.Join(strings.Fields(doc.Description), " "), strings.Join(strings.Fields(fact.Description), " "); got != want {
		t.Errorf("description shown:\n%s\nwant:\n%s", got, want)
	}
	if !doc.SQLOpen || doc.SQLHeight < 50 || !strings.HasPrefix(doc.SQLSummary, "Compiled SQL") {
		t.Errorf("compiled SQL: shown %v, %g px high, under %q", doc.SQLOpen, doc.SQLHeight, doc.SQLSummary)
	}
	if strings.TrimSpace(doc.SQL) != strings.TrimSpace(fact.CompiledCode) {
		t.Errorf("compiled SQL shown:\n%s\nwant:\n%s", doc.SQL, fact.CompiledCode)
	}

	// Flush the console: a marker message, then every earlier one is read.
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`console.debug(`+jsString(endMark)+`)`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sawEnd:
	case <-ctx.Done():
		t.Fatal("the console marker never arrived")
	}
	stopConsole()
	<-consoleDone
	mu.Lock()
	defer mu.Unlock()
	for _, msg := range console {
		switch msg.Type {
		case chromedp.ConsoleException, chromedp.ConsoleError, chromedp.ConsoleWarning:
			t.Errorf("console %s at %s:%d: %s", msg.Type, msg.URL, msg.Line+1, msg.Text)
		default:
			t.Logf("console %s: %s", msg.Type, msg.Text)
		}
	}
	if len(requests) == 0 {
		t.Error("saw no request for the page itself")
	}
	for _, r := range requests {
		if !strings.HasPrefix(r, "file://") && !strings.HasPrefix(r, "data:") {
			t.Errorf("the site requested %s", r)
		}
	}
	t.Logf("%d nodes, %d edges, screenshot %s (%d bytes); %.1fs", len(g.Nodes), len(g.Edges), shotPath, len(shot), time.Since(start).Seconds())
}

// checkScreenshot checks that a screenshot is a PNG of the window with
// something drawn on it.
func checkScreenshot(t *testing.T, path string, b []byte) {
	t.Helper()
	if len(b) < 20<<10 {
		t.Errorf("screenshot %s is only %d bytes", path, len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if r := img.Bounds(); r.Dx() < 800 || r.Dy() < 600 {
		t.Errorf("screenshot %s is %dx%d", path, r.Dx(), r.Dy())
	}
	if n := colours(img, 64); n < 64 {
		t.Errorf("screenshot %s has only %d colours", path, n)
	}
}

// colours counts the distinct colours of an image, up to limit.
func colours(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c0, c1, c2, c3 := img.At(x, y).RGBA()
			seen[[4]uint32{c0, c1, c2, c3}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// walkLineage adds everything reachable from id through next to seen.
func walkLineage(id string, next map[string][]string, seen map[string]bool) {
	for _, x := range next[id] {
		if !seen[x] {
			seen[x] = true
			walkLineage(x, next, seen)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
