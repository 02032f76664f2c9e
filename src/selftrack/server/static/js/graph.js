// The pipeline as a graph: nodes laid out left to right by dagre (vendored), draggable (positions are saved on
// the node), pan by dragging the background, zoom with the wheel. Datasets a node reads are listed on its card.
import { s } from "./dom.js";

const W = 230;
const CAT_COLORS = { Model: "#7c3aed", "Detection/Tracking": "#0d9488", "Image/Video": "#2563eb", General: "#64748b" };
const STATE_COLORS = {
  done: ["#e3f6e9", "#16a34a"], running: ["#e6efff", "#2563eb"], queued: ["#eef1f6", "#46526b"], failed: ["#fde8e8", "#dc2626"],
  partial: ["#fdf1df", "#d97706"], stale: ["#efe7fe", "#7c3aed"], "not computed": ["#f4f6fa", "#7a869e"],
};

function nodeHeight(n) {
  const ds = Object.values(n.inputs).flat().filter((r) => r.dataset != null).length;
  return 74 + ds * 17;
}

export function pipelineGraph({ onSelect, onMove }) {
  const root = s("g");
  const edgesG = s("g");
  const nodesG = s("g");
  root.append(edgesG, nodesG);
  const defs = s("defs", null, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#9aa7bd" })));
  const svg = s("svg", { "data-testid": "pipeline-graph" }, defs, root);
  const view = { x: 20, y: 20, k: 1 };
  let pos = new Map(); // name -> {x, y, w, h} (top-left)
  let nodes = [];
  let selected = null;
  const applyView = () => root.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`);

  function layout(list) {
    const g = new window.dagre.graphlib.Graph();
    g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 80, marginx: 10, marginy: 10 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of list) g.setNode(n.name, { width: W, height: nodeHeight(n) });
    for (const n of list) for (const refs of Object.values(n.inputs)) for (const r of refs) if (r.node && list.some((x) => x.name === r.node)) g.setEdge(r.node, n.name);
    window.dagre.layout(g);
    const out = new Map();
    for (const n of list) {
      const d = g.node(n.name);
      const hgt = nodeHeight(n);
      out.set(n.name, n.position && n.position.x != null ? { x: n.position.x, y: n.position.y, w: W, h: hgt } : { x: d.x - W / 2, y: d.y - hgt / 2, w: W, h: hgt });
    }
    return out;
  }

  function edgePath(a, b) {
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x - 2, y2 = b.y + b.h / 2;
    const dx = Math.max(40, (x2 - x1) / 2);
    return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
  }

  function drawEdges() {
    edgesG.replaceChildren();
    for (const n of nodes) for (const refs of Object.values(n.inputs)) for (const r of refs) {
      if (!r.node || !pos.has(r.node)) continue;
      edgesG.append(s("path", { class: "gedge", d: edgePath(pos.get(r.node), pos.get(n.name)), "marker-end": "url(#arrow)" }));
    }
  }

  function drawNode(n) {
    const p = pos.get(n.name);
    const [bg, fg] = STATE_COLORS[n.state] || STATE_COLORS["not computed"];
    const ds = Object.entries(n.inputs).flatMap(([port, refs]) => refs.filter((r) => r.dataset != null).map((r) => `${port} ← ${r.dataset}`));
    const label = n.state;
    const bw = 12 + label.length * 6.6;
    const g = s("g", { class: `gnode${n.name === selected ? " selected" : ""}`, transform: `translate(${p.x},${p.y})`, "data-node": n.name, "data-state": n.state, "data-testid": `graph-node-${n.name}` },
      s("rect", { class: "box", width: p.w, height: p.h, rx: 10 }),
      s("rect", { class: "stripe", width: 5, height: p.h - 16, x: 0, y: 8, rx: 2, fill: CAT_COLORS[n.category] || "#64748b" }),
      s("text", { class: "title", x: 16, y: 24 }, n.name.length > 24 ? n.name.slice(0, 23) + "…" : n.name),
      s("text", { x: 16, y: 43 }, n.title),
      s("rect", { x: 16, y: 52, width: bw, height: 17, rx: 8.5, fill: bg }),
      s("text", { x: 16 + bw / 2, y: 64.5, "text-anchor": "middle", style: `fill:${fg};font-size:11px;font-weight:600` }, label),
      ds.map((t, i) => s("text", { x: 16, y: 88 + i * 17, style: "font-size:11.5px;fill:#7a869e" }, t.length > 32 ? t.slice(0, 31) + "…" : t)));
    return g;
  }

  function draw() {
    nodesG.replaceChildren(...nodes.map(drawNode));
    drawEdges();
    applyView();
  }

  // interactions: drag a node, pan the background, zoom with the wheel
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    const g = e.target.closest(".gnode");
    const pt = { x: e.clientX, y: e.clientY };
    if (g) {
      const name = g.dataset.node;
      drag = { kind: "node", name, start: pt, orig: { ...pos.get(name) }, moved: false };
    } else drag = { kind: "pan", start: pt, orig: { ...view }, moved: false };
    svg.setPointerCapture(e.pointerId);
    if (drag.kind === "pan") svg.classList.add("panning");
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.start.x, dy = e.clientY - drag.start.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (!drag.moved) return;
    if (drag.kind === "pan") { view.x = drag.orig.x + dx; view.y = drag.orig.y + dy; applyView(); return; }
    const p = pos.get(drag.name);
    p.x = drag.orig.x + dx / view.k; p.y = drag.orig.y + dy / view.k;
    nodesG.querySelector(`[data-node="${CSS.escape(drag.name)}"]`).setAttribute("transform", `translate(${p.x},${p.y})`);
    drawEdges();
  });
  svg.addEventListener("pointerup", () => {
    svg.classList.remove("panning");
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.kind === "node") {
      if (d.moved) { const p = pos.get(d.name); onMove(d.name, Math.round(p.x), Math.round(p.y)); } else onSelect(d.name);
    } else if (!d.moved) onSelect(null);
  });
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const k = Math.min(2.5, Math.max(0.25, view.k * (e.deltaY < 0 ? 1.1 : 1 / 1.1)));
    view.x = mx - ((mx - view.x) * k) / view.k; view.y = my - ((my - view.y) * k) / view.k; view.k = k;
    applyView();
  }, { passive: false });

  function fit() {
    if (!pos.size) return;
    const r = svg.getBoundingClientRect();
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const p of pos.values()) { x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y); x1 = Math.max(x1, p.x + p.w); y1 = Math.max(y1, p.y + p.h); }
    const k = Math.min(1.2, (r.width - 60) / (x1 - x0 || 1), (r.height - 60) / (y1 - y0 || 1));
    view.k = Math.max(0.3, k);
    view.x = (r.width - (x1 - x0) * view.k) / 2 - x0 * view.k;
    view.y = (r.height - (y1 - y0) * view.k) / 2 - y0 * view.k;
    applyView();
  }

  return {
    el: svg,
    update(list, sel) {
      const relayout = list.length !== nodes.length || list.some((n) => !pos.has(n.name));
      nodes = list;
      selected = sel;
      if (relayout) pos = layout(list);
      else for (const n of list) { const p = pos.get(n.name); p.h = nodeHeight(n); }
      draw();
      return relayout;
    },
    relayout() { for (const n of nodes) n.position = null; pos = layout(nodes); draw(); fit(); return [...pos].map(([name, p]) => [name, p.x, p.y]); },
    fit,
    select(sel) { selected = sel; draw(); },
  };
}
