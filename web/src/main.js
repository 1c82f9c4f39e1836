// Cartwheel's live dashboard: the panels of GET /api/panels, each drawn from
// GET /api/panels/{name}?from=…&to=…&step=…, over one shared time range kept
// in the URL, refreshed every 5 s unless paused.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

const PRESETS = [
  ["15m", 15 * 60],
  ["1h", 3600],
  ["6h", 6 * 3600],
  ["24h", 24 * 3600],
  ["7d", 7 * 86400],
];
const DEFAULT_PRESET = "24h";
const REFRESH_MS = 5000;
const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const TARGET_POINTS = 240;

// ---------- formatting ----------

let currency = "USD";
const nf = new Intl.NumberFormat(undefined);
const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
let money, moneyCompact, moneyWhole;
function setCurrency(c) {
  currency = c || "USD";
  money = new Intl.NumberFormat(undefined, { style: "currency", currency });
  moneyCompact = new Intl.NumberFormat(undefined, { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 });
  moneyWhole = new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 0 });
}
setCurrency("USD");
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

function num(v) {
  if (v === null || v === undefined || v === "") return null;
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function duration(s) {
  if (s < 1) return nf2.format(s) + " s";
  if (s < 60) return nf1.format(s) + " s";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${sec}s`;
}

// fmt renders a value in a unit; "—" for null.
function fmt(v, unit, short) {
  if (unit === "text") return v === null || v === undefined || v === "" ? "—" : String(v);
  const n = num(v);
  if (n === null) return "—";
  switch (unit) {
    case "currency":
      if (short && Math.abs(n) >= 10000) return moneyCompact.format(n);
      if (short && Number.isInteger(n)) return moneyWhole.format(n);
      return money.format(n);
    case "percent":
      return nf2.format(n) + " %";
    case "seconds":
      return duration(n);
    case "rate":
      return (short && n >= 10000 ? compact.format(n) : n >= 100 ? nf.format(Math.round(n)) : nf1.format(n)) + "/s";
    case "records":
    case "count":
    default:
      if (short && Math.abs(n) >= 10000) return compact.format(n);
      return Number.isInteger(n) ? nf.format(n) : nf2.format(n);
  }
}

const labels = {
  revenue: "Revenue", orders: "Orders", users: "Active users", sessions: "Sessions", change_pct: "Change",
  avg_duration_s: "Avg duration", events_per_session: "Events / session",
  view_to_cart_pct: "View → cart", cart_to_purchase_pct: "Cart → purchase", overall_pct: "Overall conversion",
  with_view: "Page view", with_cart: "Add to cart", with_purchase: "Purchase",
  events_per_s: "Events in", consumer_lag: "Consumer lag", watermark_delay_s: "Watermark delay",
  last_commit_age_s: "Last commit", late: "Late events", rejected: "Rejected", last_dag_run: "Last DAG run",
};
function label(col) {
  if (labels[col]) return labels[col];
  if (col.startsWith("rejected_")) return col.slice(9).replace(/_/g, " ");
  return col.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

// ---------- DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ---------- time range, kept in the URL ----------

const state = {
  preset: DEFAULT_PRESET, // or "custom"
  from: null, // Date, custom only
  to: null,
  paused: false,
};

function readURL() {
  const q = new URLSearchParams(location.search);
  const r = q.get("range");
  const from = q.get("from"), to = q.get("to");
  if (from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to)) && Date.parse(from) < Date.parse(to)) {
    state.preset = "custom";
    state.from = new Date(from);
    state.to = new Date(to);
  } else if (r && PRESETS.some(([p]) => p === r)) {
    state.preset = r;
  }
  state.paused = q.get("refresh") === "off";
}

function writeURL() {
  const q = new URLSearchParams();
  if (state.preset === "custom") {
    q.set("from", state.from.toISOString());
    q.set("to", state.to.toISOString());
  } else {
    q.set("range", state.preset);
  }
  if (state.paused) q.set("refresh", "off");
  const url = location.pathname + "?" + q.toString();
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}

function niceStep(seconds) {
  const raw = seconds / TARGET_POINTS;
  for (const s of NICE_STEPS) if (s >= raw) return s;
  return Math.ceil(raw / 86400) * 86400;
}

// currentRange returns the range to query now: a preset ends at the next
// step boundary so that buckets stay put between refreshes.
function currentRange() {
  let from, to, span;
  if (state.preset === "custom") {
    from = state.from.getTime() / 1000;
    to = state.to.getTime() / 1000;
    span = to - from;
  } else {
    span = PRESETS.find(([p]) => p === state.preset)[1];
  }
  const step = niceStep(span);
  if (state.preset !== "custom") {
    to = Math.ceil(Date.now() / 1000 / step) * step;
    from = to - span;
  }
  return { from, to, step };
}

const iso = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");

// ---------- data ----------

async function fetchPanel(name, r, signal) {
  const q = new URLSearchParams({ from: iso(r.from), to: iso(r.to), step: String(r.step) });
  const resp = await fetch(`/api/panels/${encodeURIComponent(name)}?${q}`, { signal, headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    /* not JSON */
  }
  if (!resp.ok) throw new Error((body && body.error) || `HTTP ${resp.status}`);
  const timing = resp.headers.get("Server-Timing") || "";
  const m = /dur=([0-9.]+)/.exec(timing);
  body.ms = m ? Number(m[1]) : null;
  return body;
}

// rowsAsObjects turns {columns, rows} into objects keyed by column name.
function records(set) {
  const names = set.columns.map((c) => c.name);
  return set.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
}

// series fills every bucket of the range (no row: 0) for a time series.
function series(set, r, cols) {
  const recs = records(set);
  const byT = new Map(recs.map((o) => [Math.round(Date.parse(o.bucket) / 1000), o]));
  const xs = [];
  const ys = cols.map(() => []);
  for (let t = r.from; t < r.to; t += r.step) {
    xs.push(t);
    const o = byT.get(t);
    cols.forEach((c, i) => ys[i].push(o ? num(o[c]) ?? 0 : 0));
  }
  return [xs, ...ys];
}

// ---------- charts ----------

function tooltipPlugin(render) {
  let tip;
  return {
    hooks: {
      init: (u) => {
        tip = h("div", { class: "tip", role: "tooltip" });
        tip.style.display = "none";
        u.over.appendChild(tip);
        u.over.addEventListener("mouseleave", () => (tip.style.display = "none"));
        u.over.addEventListener("mouseenter", () => (tip.style.display = ""));
      },
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left < 0) {
          tip.style.display = "none";
          return;
        }
        tip.replaceChildren(...render(i));
        tip.style.display = "";
        const left = u.valToPos(u.data[0][i], "x");
        const w = tip.offsetWidth, W = u.over.clientWidth;
        tip.style.left = Math.min(Math.max(0, left + 12), W - w) + "px";
        tip.style.top = Math.max(0, u.cursor.top - tip.offsetHeight - 8) + "px";
      },
    },
  };
}

function timeLabel(t, step) {
  const d = new Date(t * 1000);
  const opts = step >= 86400 ? { dateStyle: "medium", timeZone: "UTC" } : { dateStyle: "medium", timeStyle: step < 60 ? "medium" : "short" };
  return new Intl.DateTimeFormat(undefined, opts).format(d) + (step >= 86400 ? " (UTC)" : "");
}

function axisColors() {
  return { text: cssVar("--muted"), grid: cssVar("--grid") };
}

function makePlot(el, opts, data) {
  const { width, height } = el.getBoundingClientRect();
  const u = new uPlot({ width: Math.max(100, width), height: Math.max(60, height), ...opts }, data, el);
  const ro = new ResizeObserver(() => {
    const b = el.getBoundingClientRect();
    if (b.width > 0 && b.height > 0) u.setSize({ width: b.width, height: b.height });
  });
  ro.observe(el);
  u._ro = ro;
  return u;
}

function destroyPlot(u) {
  if (!u) return;
  if (u._ro) u._ro.disconnect();
  u.destroy();
}

function timeseriesOpts(cols, units, step, color, { sparkline = false, bars = false } = {}) {
  const c = axisColors();
  const unit = units[cols[0]] || "count";
  const axis = {
    stroke: c.text,
    grid: { stroke: c.grid, width: 1 },
    ticks: { stroke: c.grid, width: 1 },
    font: "12px system-ui, sans-serif",
  };
  const s = cols.map((col, i) => ({
    label: label(col),
    show: i === 0,
    stroke: color,
    width: sparkline ? 1.5 : 2,
    fill: bars ? color + "cc" : color + (sparkline ? "33" : "26"),
    points: { show: false },
    paths: bars ? uPlot.paths.bars({ size: [0.7, 48], align: 0 }) : undefined,
  }));
  return {
    padding: sparkline ? [2, 0, 2, 0] : [12, 12, 0, 4],
    legend: { show: false },
    cursor: sparkline ? { show: false } : { points: { size: 7 }, y: false, drag: { x: false, y: false } },
    select: { show: false },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: sparkline
      ? [{ show: false }, { show: false }]
      : [
          { ...axis, space: 80, values: bars ? (u, vals) => vals.map((v) => new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" }).format(new Date(v * 1000))) : undefined },
          { ...axis, size: 64, values: (u, vals) => vals.map((v) => fmt(v, unit, true)) },
        ],
    series: [{}, ...s],
  };
}

// ---------- panels ----------

class PanelView {
  constructor(meta, layout) {
    this.meta = meta;
    this.units = meta.units || {};
    this.body = h("div", { class: "body" });
    this.note = h("span", { class: "note" });
    this.el = h(
      "section",
      { class: `panel panel-${meta.chart} ${layout || ""}`, "data-panel": meta.name, "data-state": "loading", "aria-busy": "true" },
      h("header", {}, h("h2", { title: meta.description || "" }, meta.title), this.note),
      this.body,
    );
    this.plot = null;
  }

  setState(s, msg) {
    this.el.dataset.state = s;
    this.el.setAttribute("aria-busy", s === "loading" ? "true" : "false");
    if (s === "empty" || s === "error") {
      destroyPlot(this.plot);
      this.plot = null;
      this.body.replaceChildren(
        h("div", { class: "state " + s }, s === "empty" ? "No data in this range" : "This panel failed", msg ? h("small", {}, msg) : null),
      );
    }
  }

  timing(ms) {
    this.note.textContent = ms === null || ms === undefined ? "" : `${nf1.format(ms)} ms`;
    this.note.title = "warehouse query time (Server-Timing)";
  }

  // update draws a result; extra holds data of helper panels (sparkline).
  update(set, r, extra) {
    const empty = this.isEmpty(set);
    if (empty) {
      this.setState("empty");
      this.key = null;
      return;
    }
    this.render(set, r, extra);
    this.setState("ok");
  }

  isEmpty(set) {
    if (!set.rows.length) return true;
    const o = records(set)[0];
    switch (this.meta.name) {
      case "total_revenue":
        return num(o.orders) === 0;
      case "sessions":
        return num(o.sessions) === 0;
      case "funnel_efficiency":
        return set.columns.every((c) => num(o[c.name]) === null);
      case "conversion_funnel":
        return num(o.sessions) === 0;
    }
    return false;
  }

  render(set, r, extra) {
    switch (this.meta.chart) {
      case "stat":
        return this.renderStat(set, r, extra);
      case "timeseries":
        return this.renderSeries(set, r);
      case "bars":
        return this.renderBars(set, r);
      case "funnel":
        return this.renderFunnel(set);
      case "health":
        return this.renderHealth(set);
      default:
        return this.renderTable(set);
    }
  }

  renderStat(set, r, extra) {
    const o = records(set)[0];
    const cols = set.columns.map((c) => c.name);
    let main = cols[0];
    if (this.meta.name === "funnel_efficiency") main = "overall_pct";
    const rest = cols.filter((c) => c !== main);
    const caption = label(main).toLowerCase() === this.meta.title.toLowerCase() ? null : h("span", { class: "caption" }, label(main));
    const big = h("div", { class: "big", "data-value": main }, fmt(o[main], this.units[main]), caption);
    const subs = h(
      "dl",
      { class: "subs" },
      rest.map((c) => h("div", {}, h("dt", {}, label(c)), h("dd", { "data-value": c }, fmt(o[c], this.units[c])))),
    );
    const nodes = [big, subs];
    const sp = this.meta.sparkline;
    let spark = null;
    if (sp && extra && extra.set) {
      spark = h("div", { class: "spark" });
      nodes.push(spark);
    }
    destroyPlot(this.plot);
    this.plot = null;
    this.body.replaceChildren(...nodes);
    if (spark) {
      const data = series(extra.set, r, [sp.column]);
      this.plot = makePlot(spark, timeseriesOpts([sp.column], extra.units || {}, r.step, cssVar("--c1"), { sparkline: true }), data);
    }
  }

  renderSeries(set, r) {
    const cols = set.columns.map((c) => c.name).filter((c) => c !== "bucket");
    const data = series(set, r, cols);
    const key = `ts:${r.step}:${r.from}:${cols.join(",")}:${themeKey}`;
    const units = this.units;
    const total = data[1].reduce((a, b) => a + b, 0);
    const peak = Math.max(...data[1]);
    this.note.dataset.extra = "";
    if (this.plot && this.key === key && this.body.querySelector(".chart")) {
      this.plot.setData(data);
    } else {
      destroyPlot(this.plot);
      const chart = h("div", { class: "chart" });
      const summary = h("div", { class: "summary" });
      this.body.replaceChildren(summary, chart);
      const opts = timeseriesOpts(cols, units, r.step, cssVar("--c2"));
      opts.plugins = [
        tooltipPlugin((i) => [
          h("b", {}, timeLabel(this.plot.data[0][i], r.step)),
          ...cols.map((c, k) => h("div", {}, label(c) + ": ", h("strong", {}, fmt(this.plot.data[k + 1][i], units[c])))),
        ]),
      ];
      this.plot = makePlot(chart, opts, data);
      this.key = key;
    }
    const per = r.step >= 60 ? duration(r.step).replace(/ 0s$/, "") : `${r.step} s`;
    this.body.querySelector(".summary").replaceChildren(
      h("span", {}, "peak ", h("strong", {}, fmt(peak, units[cols[0]])), ` per ${per}`),
      h("span", {}, "latest ", h("strong", {}, fmt(data[1][data[1].length - 1], units[cols[0]]))),
    );
    void total;
  }

  renderBars(set, r) {
    const recs = records(set);
    // Each bar sits on the middle of its UTC day.
    const xs = recs.map((o) => Math.round(Date.parse(o.day) / 1000) + 43200);
    const cols = set.columns.map((c) => c.name).filter((c) => c !== "day");
    const ys = cols.map((c) => recs.map((o) => num(o[c])));
    const main = cols.includes("revenue") ? "revenue" : cols[0];
    const order = [main, ...cols.filter((c) => c !== main)];
    const data = [xs, ...order.map((c) => ys[cols.indexOf(c)])];
    const units = this.units;
    const last = recs[recs.length - 1];
    const change = num(last.change_pct);
    const head = h(
      "div",
      { class: "summary" },
      h("span", {}, timeLabel(xs[xs.length - 1], 86400).replace(" (UTC)", ""), " ", h("strong", {}, fmt(last[main], units[main]))),
      h("span", {}, fmt(last.orders, "count"), " orders"),
      change === null
        ? h("span", { class: "chg" }, "no day before in range")
        : h("span", { class: "chg " + (change >= 0 ? "up" : "down") }, (change >= 0 ? "▲ " : "▼ ") + fmt(Math.abs(change), "percent") + " vs day before"),
    );
    destroyPlot(this.plot);
    const chart = h("div", { class: "chart" });
    this.body.replaceChildren(head, chart);
    const opts = timeseriesOpts(order, units, 86400, cssVar("--c3"), { bars: true });
    // Bars centred on their day, with half a day of room on each side.
    const lo = Math.floor(r.from / 86400) * 86400, hi = Math.max(Math.ceil(r.to / 86400) * 86400, xs[xs.length - 1] + 43200);
    const x0 = Math.min(lo, xs[0] - 43200);
    opts.scales.x = { time: true, auto: false, range: () => [x0, hi] };
    // One tick per UTC day, under its bar; at most about twelve labels.
    const days = Math.round((hi - x0) / 86400);
    const every = Math.max(1, Math.ceil(days / 12));
    opts.axes[0].splits = () => Array.from({ length: Math.ceil(days / every) }, (_, i) => x0 + 43200 + i * every * 86400);
    opts.plugins = [
      tooltipPlugin((i) => [
        h("b", {}, timeLabel(this.plot.data[0][i], 86400)),
        ...order.map((c, k) => h("div", {}, label(c) + ": ", h("strong", {}, fmt(this.plot.data[k + 1][i], units[c])))),
      ]),
    ];
    opts.series[1].paths = uPlot.paths.bars({ size: [0.6, 64], align: 0 });
    this.plot = makePlot(chart, opts, data);
  }

  renderFunnel(set) {
    const recs = records(set);
    const top = num(recs[0].sessions) || 0;
    const rows = recs.map((o, i) => {
      const n = num(o.sessions) || 0;
      const pct = top > 0 ? (100 * n) / top : 0;
      const bar = h("div", { class: "fbar" });
      bar.style.width = Math.max(pct, 0.5) + "%";
      bar.style.opacity = String(1 - i * 0.16);
      return h(
        "div",
        { class: "frow", "data-stage": o.stage },
        h("div", { class: "flabel" }, label(o.stage)),
        h("div", { class: "ftrack" }, bar),
        h("div", { class: "fval" }, h("strong", {}, fmt(n, "count")), h("small", {}, i === 0 ? "closed sessions" : nf1.format(pct) + " %")),
      );
    });
    destroyPlot(this.plot);
    this.plot = null;
    this.body.replaceChildren(h("div", { class: "funnel" }, rows));
  }

  renderHealth(set) {
    const o = records(set)[0];
    const u = this.units;
    const tile = (col, warn) =>
      h("div", { class: "tile" + (warn ? " warn" : ""), "data-value": col }, h("span", {}, label(col)), h("strong", {}, fmt(o[col], u[col] || "count", true)));
    const lag = num(o.consumer_lag), wm = num(o.watermark_delay_s), age = num(o.last_commit_age_s);
    const reasons = set.columns.map((c) => c.name).filter((c) => c.startsWith("rejected_"));
    const rej = num(o.rejected) || 0;
    const healthy = age !== null && age < 30 && (lag === null || lag < 100000);
    this.note.replaceChildren(h("span", { class: "dot " + (healthy ? "ok" : "bad") }), healthy ? " healthy" : " attention");
    const byReason = reasons
      .map((c) => [c, num(o[c]) || 0])
      .map(([c, n]) =>
        h("li", { class: n ? "" : "zero" }, h("span", {}, label(c)), h("strong", {}, fmt(n, "count"))),
      );
    destroyPlot(this.plot);
    this.plot = null;
    this.body.replaceChildren(
      h(
        "div",
        { class: "tiles" },
        tile("events_per_s"),
        tile("consumer_lag", lag !== null && lag > 100000),
        tile("watermark_delay_s", wm !== null && wm > 3600),
        tile("last_commit_age_s", age === null || age > 30),
        tile("late"),
        tile("rejected", rej > 0),
      ),
      h(
        "div",
        { class: "reasons" },
        h("div", { class: "rtitle" }, h("span", {}, "Rejected in range, by reason"),
          h("span", { class: "dag", "data-value": "last_dag_run" }, label("last_dag_run") + ": ", h("strong", {}, o.last_dag_run ? String(o.last_dag_run) : "none yet"))),
        h("ul", {}, byReason),
      ),
    );
  }

  renderTable(set) {
    destroyPlot(this.plot);
    this.plot = null;
    const head = h("tr", {}, set.columns.map((c) => h("th", {}, label(c.name))));
    const rows = set.rows.slice(0, 200).map((r) => h("tr", {}, r.map((v, i) => h("td", {}, fmt(v, this.units[set.columns[i].name] || (typeof v === "number" ? "count" : "text"))))));
    this.body.replaceChildren(h("div", { class: "table" }, h("table", {}, h("thead", {}, head), h("tbody", {}, rows))));
  }
}

// ---------- the page ----------

let panels = [];
let meta = null;
let timer = null;
let inflight = null;
let themeKey = "";
const els = {};

function layoutOf(p) {
  switch (p.chart) {
    case "stat":
      return "w4";
    case "timeseries":
      return "w8 tall";
    case "funnel":
      return "w4 tall";
    case "bars":
      return "w8 tall";
    case "health":
      return "w4 tall";
  }
  return "w12";
}

function header() {
  const presets = h(
    "div",
    { class: "presets", role: "group", "aria-label": "Time range" },
    PRESETS.map(([p]) =>
      h("button", { type: "button", "data-range": p, onclick: () => setPreset(p) }, p),
    ),
    h("button", { type: "button", "data-range": "custom", onclick: () => toggleCustom() }, "Custom"),
  );
  els.from = h("input", { type: "datetime-local", step: "1", "aria-label": "From (UTC)" });
  els.to = h("input", { type: "datetime-local", step: "1", "aria-label": "To (UTC)" });
  els.custom = h(
    "form",
    { class: "custom", hidden: true, onsubmit: (e) => { e.preventDefault(); applyCustom(); } },
    h("label", {}, "From ", els.from),
    h("label", {}, "to ", els.to),
    h("span", { class: "utc" }, "UTC"),
    h("button", { type: "submit" }, "Apply"),
  );
  els.pause = h("button", { type: "button", class: "pause", onclick: togglePause });
  els.updated = h("span", { class: "updated", "aria-live": "polite" });
  els.rangeText = h("span", { class: "range-text" });
  els.docs = h("a", { href: "/docs/", class: "link", hidden: true }, "Models & lineage");
  return h(
    "header",
    { class: "top" },
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), h("h1", {}, meta.title), h("span", { class: "sub" }, "Cartwheel")),
    h("div", { class: "controls" }, presets, els.custom, els.pause, els.updated, els.docs, h("a", { href: "/api/panels", class: "link" }, "API")),
    h("div", { class: "rangebar" }, els.rangeText),
  );
}

const toLocalInput = (d) => d.toISOString().slice(0, 19);

function syncControls() {
  for (const b of document.querySelectorAll(".presets button")) {
    b.setAttribute("aria-pressed", String(b.dataset.range === state.preset));
  }
  els.pause.textContent = state.paused ? "▶ Resume" : "❚❚ Pause";
  els.pause.setAttribute("aria-pressed", String(state.paused));
  els.pause.title = state.paused ? "Auto-refresh is paused" : `Refreshing every ${REFRESH_MS / 1000} s`;
  const r = currentRange();
  const f = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  els.rangeText.textContent = `${f.format(new Date(r.from * 1000))} → ${f.format(new Date(r.to * 1000))} · buckets of ${r.step >= 60 ? duration(r.step).replace(/ 0s$/, "") : r.step + " s"}`;
}

function setPreset(p) {
  state.preset = p;
  els.custom.hidden = true;
  changed();
}

function toggleCustom() {
  const r = currentRange();
  els.from.value = toLocalInput(new Date(r.from * 1000));
  els.to.value = toLocalInput(new Date(r.to * 1000));
  els.custom.hidden = !els.custom.hidden;
}

function applyCustom() {
  const f = Date.parse(els.from.value + "Z"), t = Date.parse(els.to.value + "Z");
  if (Number.isNaN(f) || Number.isNaN(t) || f >= t) {
    els.custom.classList.add("bad");
    return;
  }
  els.custom.classList.remove("bad");
  state.preset = "custom";
  state.from = new Date(f);
  state.to = new Date(t);
  els.custom.hidden = true;
  changed();
}

function togglePause() {
  state.paused = !state.paused;
  writeURL();
  syncControls();
  schedule();
}

function changed() {
  writeURL();
  syncControls();
  for (const p of panels) p.setState("loading");
  refresh();
}

// schedule plans the next refresh: every REFRESH_MS, or every second in
// the first half minute after opening while a panel still waits for data
// (a fresh demo closes its first sessions a few seconds after start).
function schedule(waiting) {
  clearTimeout(timer);
  timer = null;
  if (state.paused || document.hidden) return;
  const soon = waiting && performance.now() - openedAt < 30000;
  timer = setTimeout(refresh, soon ? 1000 : REFRESH_MS);
}
const openedAt = performance.now();

async function refresh() {
  clearTimeout(timer);
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const r = currentRange();
  syncControls();
  const helpers = {};
  const needed = new Set(panels.map((p) => p.meta.sparkline && p.meta.sparkline.panel).filter(Boolean));
  const all = meta.panels.filter((p) => !p.hidden || needed.has(p.name));
  const results = await Promise.allSettled(all.map((p) => fetchPanel(p.name, r, ctl.signal)));
  if (ctl.signal.aborted) return;
  all.forEach((p, i) => (helpers[p.name] = { meta: p, res: results[i] }));
  let failed = 0;
  let waiting = false;
  for (const view of panels) {
    const { res } = helpers[view.meta.name];
    if (res.status === "rejected") {
      failed++;
      view.setState("error", res.reason && res.reason.message);
      view.timing(null);
      continue;
    }
    const sp = view.meta.sparkline;
    const extra = sp && helpers[sp.panel] && helpers[sp.panel].res.status === "fulfilled" ? { set: helpers[sp.panel].res.value, units: helpers[sp.panel].meta.units } : null;
    try {
      view.update(res.value, r, extra);
      view.timing(res.value.ms);
      waiting = waiting || view.el.dataset.state !== "ok";
    } catch (e) {
      failed++;
      console.warn("panel", view.meta.name, e);
      view.setState("error", String(e && e.message));
    }
  }
  inflight = null;
  els.updated.textContent = (failed ? `${failed} panel${failed > 1 ? "s" : ""} failed · ` : "") + "updated " + new Date().toLocaleTimeString();
  schedule(waiting || failed > 0);
}

function applyTheme() {
  themeKey = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  for (const p of panels) p.key = null;
}

async function main() {
  readURL();
  const app = document.getElementById("app");
  let resp;
  try {
    resp = await fetch("/api/panels", { headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    meta = await resp.json();
  } catch (e) {
    app.replaceChildren(h("div", { class: "state error fatal" }, "Cannot load the panels: " + e.message));
    return;
  }
  setCurrency(meta.currency);
  document.title = `${meta.title} — Cartwheel`;
  panels = meta.panels.filter((p) => !p.hidden).map((p) => new PanelView(p, layoutOf(p)));
  app.replaceChildren(header(), h("main", { class: "grid" }, panels.map((p) => p.el)));
  if (meta.docs) {
    els.docs.hidden = false;
    els.docs.href = meta.docs;
  }
  for (const l of meta.links || []) {
    els.docs.before(h("a", { href: l.path, class: "link" }, l.title));
  }
  applyTheme();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    applyTheme();
    refresh();
  });
  document.addEventListener("visibilitychange", () => (document.hidden ? clearTimeout(timer) : refresh()));
  writeURL();
  syncControls();
  refresh();
}

main();
