// Charts: the training loss (uPlot, vendored) and evaluation metrics (a table and plain bars).
import { h } from "./dom.js";

// Loss events: `loss` {stage, step, steps, loss | train_loss, val_loss?} and `val_loss` {stage, step, val_loss}.
// Stages follow each other on one x axis (stage 2's steps come after stage 1's).
export function lossSeries(events) {
  const stageSteps = {};
  for (const e of events) if (e.steps) stageSteps[e.stage || 1] = Math.max(stageSteps[e.stage || 1] || 0, e.steps);
  const maxStep = {};
  for (const e of events) maxStep[e.stage || 1] = Math.max(maxStep[e.stage || 1] || 0, e.step || 0);
  const offset = (stage) => {
    let o = 0;
    for (let s = 1; s < (stage || 1); s++) o += stageSteps[s] || maxStep[s] || 0;
    return o;
  };
  const points = new Map();
  for (const e of events) {
    const x = offset(e.stage) + (e.step ?? e.epoch ?? 0);
    const p = points.get(x) || { loss: null, val: null };
    if (e.kind === "loss") {
      const v = e.loss ?? e.train_loss;
      if (v != null) p.loss = v;
      if (e.val_loss != null) p.val = e.val_loss;
    } else if (e.val_loss != null) p.val = e.val_loss;
    points.set(x, p);
  }
  const xs = [...points.keys()].sort((a, b) => a - b);
  const data = [xs, xs.map((x) => points.get(x).loss), xs.map((x) => points.get(x).val)];
  data.boundaries = Object.keys(maxStep).map(Number).filter((s) => s > 1).map((s) => ({ x: offset(s), label: `stage ${s}` }));
  return data;
}

export function lossChart() {
  const el = h("div", { class: "chart", "data-testid": "loss-chart", "data-points": "0" });
  let plot = null;
  let data = [[], [], []];
  const make = () => {
    const width = Math.max(300, el.clientWidth || 600);
    plot = new window.uPlot({
      width, height: 280,
      scales: { x: { time: false } },
      axes: [{ label: "step", stroke: "#7a869e", grid: { stroke: "#eef1f6" } }, { label: "loss", stroke: "#7a869e", grid: { stroke: "#eef1f6" } }],
      series: [
        { label: "step" },
        { label: "train loss", stroke: "#0d9488", width: 1.5, points: { show: false } },
        { label: "validation loss", stroke: "#d97706", width: 2, spanGaps: true, points: { show: true, size: 6, fill: "#d97706" } },
      ],
      legend: { live: true },
      hooks: { draw: [(u) => drawBoundaries(u, data.boundaries || [])] },
    }, data, el);
  };
  const ro = new ResizeObserver(() => { if (plot && el.clientWidth) plot.setSize({ width: el.clientWidth, height: 280 }); });
  ro.observe(el);
  return {
    el,
    update(events) {
      data = lossSeries(events);
      el.dataset.points = String(data[0].length);
      if (!plot) { requestAnimationFrame(() => { if (!plot) make(); else plot.setData(data); }); return; }
      plot.setData(data);
    },
    destroy() { ro.disconnect(); plot && plot.destroy(); },
  };
}

// dashed vertical lines where a training stage starts (re-id: appearance, then the spatial matcher)
function drawBoundaries(u, boundaries) {
  const g = u.ctx;
  g.save();
  g.strokeStyle = "#94a3b8";
  g.fillStyle = "#64748b";
  g.setLineDash([4, 4]);
  g.textAlign = "left";
  g.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  for (const b of boundaries) {
    const x = u.valToPos(b.x, "x", true);
    g.beginPath();
    g.moveTo(x, u.bbox.top);
    g.lineTo(x, u.bbox.top + u.bbox.height);
    g.stroke();
    g.fillText(b.label, x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
  }
  g.restore();
}

export const METRICS = [["HOTA", true], ["DetA", true], ["AssA", true], ["MOTA", true], ["IDF1", true], ["IDSW", false]];

export function metricCell(name, v, isFraction) {
  if (v == null) return "–";
  return isFraction ? (100 * v).toFixed(2) : String(Math.round(v));
}

// rows: [{key, HOTA, ...}], COMBINED last
export function metricsTable(rows) {
  const latest = new Map();
  for (const r of rows) latest.set(r.key, r);
  const list = [...latest.values()].sort((a, b) => (a.key === "COMBINED") - (b.key === "COMBINED") || String(a.key).localeCompare(b.key));
  return h("div", { class: "table-wrap" }, h("table", { class: "table", "data-testid": "metrics-table" },
    h("thead", null, h("tr", null, h("th", null, "Item"), METRICS.map(([m]) => h("th", { class: "num" }, m)))),
    h("tbody", null, list.map((r) => h("tr", { "data-key": r.key, style: r.key === "COMBINED" ? { fontWeight: 650, background: "#fafbfd" } : null },
      h("td", { class: "mono" }, r.key), METRICS.map(([m, frac]) => h("td", { class: "num", "data-metric": m }, metricCell(m, r[m], frac))))))));
}

const BAR_COLORS = { HOTA: "#0d9488", MOTA: "#2563eb", IDF1: "#d97706" };
export function metricsBars(rows) {
  const wrap = h("div", { class: "stack" });
  wrap.append(h("div", { class: "legend" }, Object.entries(BAR_COLORS).map(([m, c]) => h("span", null, h("i", { style: { background: c } }), m))));
  for (const r of rows) {
    const group = h("div", { class: "bars" }, h("b", { class: "small mono" }, r.key));
    for (const [m, c] of Object.entries(BAR_COLORS)) {
      const v = Math.max(0, Math.min(1, r[m] || 0));
      group.append(h("div", { class: "bar-row" }, h("span", { class: "small muted" }, m),
        h("div", { class: "track" }, h("div", { class: "fill", style: { width: `${v * 100}%`, background: c } })),
        h("span", { class: "small num" }, (100 * (r[m] || 0)).toFixed(1))));
    }
    wrap.append(group);
  }
  return wrap;
}
