package models

import (
	"bytes"
	"encoding/json"
	"html/template"
	"slices"
	"strings"
)

// renderSite renders the static docs site: one self-contained HTML page
// (inline CSS, inline SVG, a little inline JavaScript for highlighting; no
// network access, it works from file://).
func renderSite(p *Project, m *Manifest) ([]byte, error) {
	l := layoutGraph(m)
	type colView struct {
		*ManifestColumn
		Tests []string
	}
	type nodeView struct {
		*ManifestNode
		Class      string
		Label      string
		Columns    []colView
		Tests      []*ManifestNode
		Parents    []string
		Children   []string
		HasSQL     bool
		Incomplete bool
		Dialect    string
	}
	all := map[string]*ManifestNode{}
	for id, n := range m.Nodes {
		all[id] = n
	}
	for id, n := range m.Sources {
		all[id] = n
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	testsOf := map[string][]*ManifestNode{}
	for _, id := range ids {
		n := all[id]
		if n.ResourceType != TestType {
			continue
		}
		attached := map[string]bool{}
		if n.AttachedNode != "" {
			attached[n.AttachedNode] = true
		} else {
			for _, d := range n.DependsOn.Nodes {
				attached[d] = true
			}
		}
		for a := range attached {
			testsOf[a] = append(testsOf[a], n)
		}
	}
	groups := map[ResourceType][]nodeView{}
	for _, id := range ids {
		n := all[id]
		v := nodeView{ManifestNode: n, Class: nodeClass(n), Label: graphLabel(n), Tests: testsOf[id],
			Parents: m.ParentMap[id], HasSQL: n.RawCode != "", Dialect: m.Metadata.Dialect}
		for _, c := range m.ChildMap[id] {
			if all[c] != nil && all[c].ResourceType != TestType {
				v.Children = append(v.Children, c)
			}
		}
		for _, name := range n.ColumnOrder {
			c := colView{ManifestColumn: n.Columns[name]}
			for _, t := range testsOf[id] {
				if t.ColumnName == name && t.TestMetadata != nil {
					c.Tests = append(c.Tests, t.TestMetadata.Name)
				}
			}
			v.Columns = append(v.Columns, c)
			if !c.Documented {
				v.Incomplete = true
			}
		}
		groups[n.ResourceType] = append(groups[n.ResourceType], v)
	}
	manifestJS, err := json.Marshal(map[string]any{"parents": m.ParentMap, "children": m.ChildMap})
	if err != nil {
		return nil, err
	}
	data := map[string]any{
		"Meta":    m.Metadata,
		"SVG":     template.HTML(l.svg()),
		"Sources": groups[SourceType],
		"Seeds":   groups[SeedType],
		"Models":  groups[ModelType],
		"Tests":   groups[TestType],
		"Graph":   template.JS(manifestJS),
		"Name":    p.Name,
	}
	var buf bytes.Buffer
	if err := siteTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var siteTemplate = template.Must(template.New("site").Funcs(template.FuncMap{
	"short": func(id string) string {
		parts := strings.Split(id, ".")
		if strings.HasPrefix(id, "source.") && len(parts) >= 4 {
			return parts[2] + "." + parts[3]
		}
		return parts[len(parts)-1]
	},
	"join":  strings.Join,
	"count": count,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{.Name}} — Cartwheel models docs</title>
<style>
:root { --fg: #1d2330; --muted: #5b6577; --line: #d8dde6; --bg: #f7f8fa; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 16px 24px; background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #b9c2d3; }
main { display: grid; grid-template-columns: 260px 1fr; gap: 0; }
nav { border-right: 1px solid var(--line); padding: 12px 16px; height: calc(100vh - 70px); overflow: auto; position: sticky; top: 0; background: #fff; }
nav h3 { margin: 14px 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
nav a { display: block; color: var(--fg); text-decoration: none; padding: 1px 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
nav a:hover { color: var(--accent); }
.content { padding: 16px 24px; min-width: 0; }
.graph { background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: auto; padding: 8px; }
svg .edge { fill: none; stroke: #8a94a6; stroke-width: 1.4; }
svg .node rect { stroke-width: 1.5; }
svg .node text { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; fill: #1d2330; pointer-events: none; }
svg .source rect { fill: #e3f5e8; stroke: #3c9a5f; }
svg .seed rect { fill: #efe6fb; stroke: #8256c9; }
svg .view rect { fill: #e6f0ff; stroke: #2f6fde; }
svg .table rect { fill: #d7e4fb; stroke: #1f4fa8; }
svg .incremental rect { fill: #fff1dc; stroke: #d98a15; }
svg .ephemeral rect { fill: #f1f2f5; stroke: #8a94a6; stroke-dasharray: 4 3; }
svg.focus .node, svg.focus .edge { opacity: .25; }
svg.focus .node.on, svg.focus .edge.on { opacity: 1; }
svg.focus .edge.on { stroke: var(--accent); stroke-width: 2.2; }
svg a:hover rect { filter: brightness(.95); }
.legend span { display: inline-block; margin-right: 14px; color: var(--muted); }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -2px; margin-right: 4px; border: 1.5px solid; }
section.node-doc { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 16px 0; }
section.node-doc:target { border-color: var(--accent); box-shadow: 0 0 0 3px #2f6fde33; }
section h2 { margin: 0 0 4px; font-size: 17px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.kind { display: inline-block; font-size: 11px; padding: 1px 7px; border-radius: 10px; background: #eef1f6; color: var(--muted); margin-left: 6px; vertical-align: 2px; font-family: system-ui, sans-serif; }
.meta { color: var(--muted); margin: 0 0 8px; }
.meta code { color: var(--fg); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td code { white-space: nowrap; }
.undocumented { color: #b5451b; }
pre { background: #1d2330; color: #e6e9ef; padding: 10px 12px; border-radius: 6px; overflow: auto; font-size: 12px; }
details summary { cursor: pointer; color: var(--accent); }
.tests li { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.err { color: #b5451b; }
</style>
</head>
<body>
<header>
<h1>{{.Name}} · models docs</h1>
<p>Generated {{.Meta.GeneratedAt.Format "2006-01-02 15:04:05 UTC"}} for {{.Meta.Dialect}} · {{count (len .Models) "model"}} · {{count (len .Seeds) "seed"}} · {{count (len .Sources) "source"}} · {{count (len .Tests) "test"}}</p>
</header>
<main>
<nav>
<h3>Lineage</h3><a href="#graph">Graph</a>
{{- define "navlist"}}{{range .}}<a href="#{{.UniqueID}}" title="{{.UniqueID}}">{{.Label}}</a>{{end}}{{end}}
<h3>Sources</h3>{{template "navlist" .Sources}}
<h3>Seeds</h3>{{template "navlist" .Seeds}}
<h3>Models</h3>{{template "navlist" .Models}}
<h3>Tests</h3>{{template "navlist" .Tests}}
</nav>
<div class="content">
<section id="graph">
<h2 style="font-family:inherit">Lineage</h2>
<p class="legend"><span><i style="background:#e3f5e8;border-color:#3c9a5f"></i>source</span><span><i style="background:#efe6fb;border-color:#8256c9"></i>seed</span><span><i style="background:#f1f2f5;border-color:#8a94a6;border-style:dashed"></i>ephemeral</span><span><i style="background:#e6f0ff;border-color:#2f6fde"></i>view</span><span><i style="background:#d7e4fb;border-color:#1f4fa8"></i>table</span><span><i style="background:#fff1dc;border-color:#d98a15"></i>incremental</span></p>
<div class="graph">{{.SVG}}</div>
<p class="meta">Hover a node to highlight its lineage; click it for its documentation.</p>
</section>
{{- define "nodedoc"}}
<section class="node-doc" id="{{.UniqueID}}">
<h2>{{.Label}}<span class="kind">{{.ResourceType}}{{if eq .ResourceType "model"}} · {{.Config.Materialized}}{{end}}</span></h2>
<p class="meta">{{if .RelationName}}Relation <code>{{.RelationName}}</code> · {{end}}File <code>{{.OriginalPath}}</code>{{if and .PatchPath (ne .PatchPath .OriginalPath)}} · documented in <code>{{.PatchPath}}</code>{{end}}{{if .Tags}} · tags <code>{{join .Tags ", "}}</code>{{end}}{{if .Config.UniqueKey}} · unique key <code>{{join .Config.UniqueKey ", "}}</code>{{end}}{{if eq .ResourceType "test"}} · severity <code>{{.Config.Severity}}</code>{{end}}{{if .LoadedAtField}} · loaded at <code>{{.LoadedAtField}}</code> (bounds snapshot_at){{end}}</p>
{{if .Description}}<p>{{.Description}}</p>{{else}}<p class="undocumented">No description.</p>{{end}}
{{if .Parents}}<p class="meta">Depends on: {{range $i, $p := .Parents}}{{if $i}}, {{end}}<a href="#{{$p}}">{{short $p}}</a>{{end}}</p>{{end}}
{{if .Children}}<p class="meta">Used by: {{range $i, $c := .Children}}{{if $i}}, {{end}}<a href="#{{$c}}">{{short $c}}</a>{{end}}</p>{{end}}
{{if .Columns}}<table><thead><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th></tr></thead><tbody>
{{range .Columns}}<tr><td><code>{{.Name}}</code></td><td><code>{{.DataType}}</code></td><td>{{if .Documented}}{{.Description}}{{else}}<span class="undocumented">undocumented</span>{{end}}</td><td>{{join .Tests ", "}}</td></tr>
{{end}}</tbody></table>{{end}}
{{if .Tests}}<details><summary>{{len .Tests}} tests</summary><ul class="tests">{{range .Tests}}<li><a href="#{{.UniqueID}}">{{.Name}}</a></li>{{end}}</ul></details>{{end}}
{{if .CompileError}}<p class="err">Compile error: {{.CompileError}}</p>{{end}}
{{if .CompiledCode}}<details{{if eq .ResourceType "model"}} open{{end}}><summary>Compiled SQL ({{.Dialect}})</summary><pre>{{.CompiledCode}}</pre></details>{{end}}
{{if .HasSQL}}<details><summary>Source</summary><pre>{{.RawCode}}</pre></details>{{end}}
</section>
{{- end}}
{{range .Models}}{{template "nodedoc" .}}{{end}}
{{range .Seeds}}{{template "nodedoc" .}}{{end}}
{{range .Sources}}{{template "nodedoc" .}}{{end}}
{{range .Tests}}{{template "nodedoc" .}}{{end}}
</div>
</main>
<script>
// Highlight a node's upstream and downstream lineage on hover.
(function () {
  var g = {{.Graph}};
  var svg = document.getElementById("lineage");
  if (!svg) return;
  function walk(id, next, seen) {
    (next[id] || []).forEach(function (x) { if (!seen[x]) { seen[x] = true; walk(x, next, seen); } });
    return seen;
  }
  svg.querySelectorAll(".node").forEach(function (node) {
    node.addEventListener("mouseenter", function () {
      var id = node.getAttribute("data-id");
      var on = walk(id, g.parents, {});
      walk(id, g.children, on);
      on[id] = true;
      svg.classList.add("focus");
      svg.querySelectorAll(".node").forEach(function (n) { n.classList.toggle("on", !!on[n.getAttribute("data-id")]); });
      svg.querySelectorAll(".edge").forEach(function (e) {
        e.classList.toggle("on", !!on[e.getAttribute("data-from")] && !!on[e.getAttribute("data-to")]);
      });
    });
    node.addEventListener("mouseleave", function () { svg.classList.remove("focus"); });
  });
})();
</script>
</body>
</html>
`))
