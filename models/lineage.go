package models

import (
	"fmt"
	"html"
	"slices"
	"strings"
)

// The lineage graph, laid out in Go and drawn as inline SVG: nodes in
// layers by their longest path from a root (sources and seeds left, marts
// right), ordered within a layer by the barycenter of their neighbours to
// reduce crossings, edges as curves from a parent's right to a child's left.

type layoutNode struct {
	n     *ManifestNode
	layer int
	order int
	x, y  float64
	w     float64
}

const (
	nodeH   = 30.0
	gapX    = 70.0
	gapY    = 18.0
	marginX = 20.0
	marginY = 20.0
	charW   = 7.2
)

type layout struct {
	nodes  map[string]*layoutNode
	layers [][]*layoutNode
	edges  [][2]string // parent, child
	width  float64
	height float64
}

func layoutGraph(m *Manifest) *layout {
	l := &layout{nodes: map[string]*layoutNode{}}
	gn := m.graphNodes()
	for _, n := range gn {
		l.nodes[n.UniqueID] = &layoutNode{n: n, w: max(120, float64(len([]rune(graphLabel(n))))*charW+24)}
	}
	parents := func(id string) []string {
		var out []string
		for _, d := range l.nodes[id].n.DependsOn.Nodes {
			if l.nodes[d] != nil {
				out = append(out, d)
			}
		}
		return out
	}
	// Layers: the longest path from a root.
	var depth func(id string, seen map[string]bool) int
	memo := map[string]int{}
	depth = func(id string, seen map[string]bool) int {
		if d, ok := memo[id]; ok {
			return d
		}
		d := 0
		for _, p := range parents(id) {
			if !seen[p] {
				seen[p] = true
				d = max(d, depth(p, seen)+1)
				delete(seen, p)
			}
		}
		memo[id] = d
		return d
	}
	for _, n := range gn {
		ln := l.nodes[n.UniqueID]
		ln.layer = depth(n.UniqueID, map[string]bool{n.UniqueID: true})
		for len(l.layers) <= ln.layer {
			l.layers = append(l.layers, nil)
		}
		l.layers[ln.layer] = append(l.layers[ln.layer], ln)
		for _, p := range parents(n.UniqueID) {
			l.edges = append(l.edges, [2]string{p, n.UniqueID})
		}
	}
	for _, layer := range l.layers {
		for i, ln := range layer {
			ln.order = i
		}
	}
	// Barycenter sweeps, down then up.
	neighbours := func(id string, up bool) []string {
		var out []string
		for _, e := range l.edges {
			if up && e[1] == id {
				out = append(out, e[0])
			} else if !up && e[0] == id {
				out = append(out, e[1])
			}
		}
		return out
	}
	for sweep := 0; sweep < 8; sweep++ {
		up := sweep%2 == 0
		for li := range l.layers {
			idx := li
			if !up {
				idx = len(l.layers) - 1 - li
			}
			layer := l.layers[idx]
			bary := map[*layoutNode]float64{}
			for _, ln := range layer {
				nb := neighbours(ln.n.UniqueID, up)
				if len(nb) == 0 {
					bary[ln] = float64(ln.order)
					continue
				}
				sum := 0.0
				for _, x := range nb {
					sum += float64(l.nodes[x].order)
				}
				bary[ln] = sum / float64(len(nb))
			}
			slices.SortStableFunc(layer, func(a, b *layoutNode) int {
				switch {
				case bary[a] < bary[b]:
					return -1
				case bary[a] > bary[b]:
					return 1
				}
				return strings.Compare(a.n.UniqueID, b.n.UniqueID)
			})
			for i, ln := range layer {
				ln.order = i
			}
		}
	}
	// Coordinates: columns as wide as their widest node, layers centred.
	x := marginX
	tallest := 0
	for _, layer := range l.layers {
		tallest = max(tallest, len(layer))
	}
	l.height = 2*marginY + float64(tallest)*nodeH + float64(max(tallest-1, 0))*gapY
	for _, layer := range l.layers {
		colW := 0.0
		for _, ln := range layer {
			colW = max(colW, ln.w)
		}
		h := float64(len(layer))*nodeH + float64(max(len(layer)-1, 0))*gapY
		y := (l.height - h) / 2
		for _, ln := range layer {
			ln.x, ln.y, ln.w = x, y, colW
			y += nodeH + gapY
		}
		x += colW + gapX
	}
	l.width = x - gapX + marginX
	return l
}

// graphLabel is the text of a node in the graph.
func graphLabel(n *ManifestNode) string {
	if n.ResourceType == SourceType {
		return n.SourceName + "." + n.Name
	}
	return n.Name
}

// nodeClass is the CSS class of a node: its kind or materialization.
func nodeClass(n *ManifestNode) string {
	switch n.ResourceType {
	case SourceType, SeedType:
		return string(n.ResourceType)
	}
	return n.Config.Materialized
}

// svg draws the layout.
func (l *layout) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="lineage" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="Lineage graph">`,
		l.width, l.height, l.width, l.height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a94a6"/></marker></defs>`)
	for _, e := range l.edges {
		a, c := l.nodes[e[0]], l.nodes[e[1]]
		x1, y1 := a.x+a.w, a.y+nodeH/2
		x2, y2 := c.x, c.y+nodeH/2
		mx := (x1 + x2) / 2
		fmt.Fprintf(&b, `<path class="edge" data-from="%s" data-to="%s" d="M %.1f %.1f C %.1f %.1f, %.1f %.1f, %.1f %.1f" marker-end="url(#arrow)"/>`,
			html.EscapeString(e[0]), html.EscapeString(e[1]), x1, y1, mx, y1, mx, y2, x2, y2)
	}
	ids := make([]string, 0, len(l.nodes))
	for id := range l.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ln := l.nodes[id]
		label := graphLabel(ln.n)
		fmt.Fprintf(&b, `<a href="#%s"><g class="node %s" data-id="%s"><title>%s (%s)</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="6"/><text x="%.1f" y="%.1f">%s</text></g></a>`,
			html.EscapeString(id), nodeClass(ln.n), html.EscapeString(id), html.EscapeString(id), html.EscapeString(nodeClass(ln.n)),
			ln.x, ln.y, ln.w, nodeH, ln.x+12, ln.y+nodeH/2+4.5, html.EscapeString(label))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
