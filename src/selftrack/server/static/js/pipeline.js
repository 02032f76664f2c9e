// Pipeline: the nodes as a graph (auto-laid-out, draggable, positions saved) or a table; Add Node by category
// with the ops' input and output types; the selected node's pane; YAML import and export (the same YAML
// `selftrack run` takes). Node states follow running jobs live.
import { ApiError, patch, post } from "./api.js";
import { onAppEvent } from "./app.js";
import { alertBox, badge, button, clear, emptyState, field, h, icon, link, modal, pageHead, toast } from "./dom.js";
import { pipelineGraph } from "./graph.js";
import { nodePane, reloadSources } from "./node_pane.js";
import { getOps, portControl, uniqueName } from "./sources.js";

const CATEGORIES = ["Model", "Detection/Tracking", "Image/Video", "General"];

export async function render(root, _params, ctx) {
  const ops = await getOps();
  let sources = await reloadSources();
  const state = { view: localStorage.getItem("st.pipeline.view") || "graph", selected: ctx.query.get("node") || null };
  const viewSeg = h("div", { class: "seg" });
  const body = h("div");
  root.append(pageHead("Pipeline", "Nodes run ops on datasets and on other nodes' outputs; results are cached per item.", [
    viewSeg,
    h("a", { class: "btn", href: "/api/pipeline/yaml", download: "pipeline.yaml", "data-testid": "yaml-export" }, icon("download"), "Export YAML"),
    button("Import YAML", () => yamlDialog(refresh), { testid: "yaml-import" }),
    button("Add node", () => addNodeDialog(ops, sources, (name) => { state.selected = name; refresh(); }), { kind: "primary", iconName: "plus", testid: "add-node" }),
  ]), body);

  const graph = pipelineGraph({
    onSelect: (name) => { state.selected = name; syncUrl(); drawPane(); graph.select(name); },
    onMove: (name, x, y) => patch(`/nodes/${encodeURIComponent(name)}`, { position: { x, y } }).catch((e) => toast(e.message, { error: true })),
  });
  const graphBox = h("div", { class: "card graph" }, graph.el, h("div", { class: "graph-tools" },
    button("", () => graph.fit(), { small: true, iconName: "fit", title: "Fit to view" }),
    button("Tidy up", async () => {
      const placed = graph.relayout();
      await Promise.all(placed.map(([name, x, y]) => patch(`/nodes/${encodeURIComponent(name)}`, { position: { x: Math.round(x), y: Math.round(y) } })));
    }, { small: true, title: "Lay the graph out again (forgets dragged positions)" })));
  const tableBox = h("div", { class: "card" });
  const paneBox = h("div");
  let pane = null;

  const syncUrl = () => history.replaceState({}, "", state.selected ? `/pipeline?node=${encodeURIComponent(state.selected)}` : "/pipeline");
  function drawSeg() {
    clear(viewSeg, [["graph", "Graph", "graph"], ["table", "Table", "table"]].map(([v, l]) =>
      h("button", { type: "button", class: state.view === v ? "on" : "", "data-testid": `view-${v}`, onclick: () => { state.view = v; localStorage.setItem("st.pipeline.view", v); draw(); } }, l)));
  }
  function drawTable() {
    clear(tableBox, h("div", { class: "table-wrap" }, h("table", { class: "table", "data-testid": "pipeline-table" },
      h("thead", null, h("tr", null, ["Node", "Op", "Inputs", "Outputs", "State"].map((x) => h("th", null, x)))),
      h("tbody", null, sources.nodes.map((n) => h("tr", { class: `clickable${n.name === state.selected ? " selected" : ""}`, onclick: () => { state.selected = n.name; syncUrl(); drawPane(); } },
        h("td", null, h("b", null, n.name)), h("td", null, n.title, h("div", { class: "small muted" }, n.op)),
        h("td", { class: "small" }, Object.entries(n.inputs).map(([p, refs]) => h("div", null, h("span", { class: "muted" }, `${p} ← `), refs.map((r) => r.dataset ?? r.node).join(", ")))),
        h("td", { class: "small" }, Object.entries(n.outputs || {}).map(([o, v]) => h("div", null, `${o}: `, v.dataset ? link(`/datasets/${encodeURIComponent(v.dataset)}`, v.state) : h("span", { class: "muted" }, v.state)))),
        h("td", null, badge(n.state))))))));
  }
  function drawPane() {
    const node = sources.nodes.find((n) => n.name === state.selected);
    if (!node) { pane = null; clear(paneBox); layoutGrid(false); return; }
    pane = nodePane({
      node, ops, sources, navigate: ctx.navigate,
      onChanged: (name) => { state.selected = name; syncUrl(); refresh(true); },
      onClose: () => { state.selected = null; syncUrl(); drawPane(); graph.select(null); },
    });
    clear(paneBox, pane.el);
    layoutGrid(true);
  }
  const grid = h("div", { class: "pipe" });
  const layoutGrid = (withPane) => grid.classList.toggle("no-pane", !withPane);
  function draw() {
    drawSeg();
    if (!sources.nodes.length) {
      clear(body, h("div", { class: "card" }, emptyState("No nodes yet", "A node applies an op (detect, train, track, render, evaluate…) to datasets or to other nodes' outputs. The Dashboard's wizards create the tutorial's nodes for you.",
        button("Add node", () => addNodeDialog(ops, sources, (name) => { state.selected = name; refresh(); }), { kind: "primary", iconName: "plus" }), link("/", h("span", { class: "btn" }, "Open the Dashboard")))));
      return;
    }
    clear(grid, state.view === "graph" ? graphBox : tableBox, paneBox);
    clear(body, grid);
    if (state.view === "graph") { if (graph.update(sources.nodes, state.selected)) requestAnimationFrame(() => graph.fit()); } else drawTable();
    drawPane();
  }
  async function refresh(full = true) {
    sources = await reloadSources();
    if (full) draw();
    else {
      if (state.view === "graph") graph.update(sources.nodes, state.selected); else drawTable();
      const n = sources.nodes.find((x) => x.name === state.selected);
      if (pane && n) pane.refresh(n);
    }
  }
  draw();
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(() => refresh(false), 300); };
  onAppEvent(ctx, "st:jobs", soon);
  onAppEvent(ctx, "st:datasets", soon);
}

function addNodeDialog(ops, sources, done) {
  const state = { cat: CATEGORIES[0] };
  const tabs = h("div", { class: "tabs" });
  const list = h("div", { class: "oplist" });
  const body = h("div", null, tabs, list);
  const m = modal({ title: "Add node", sub: "Choose an op; its inputs and outputs are typed.", body, wide: true, testid: "add-node-dialog" });
  function drawList() {
    clear(tabs, CATEGORIES.map((c) => h("button", { type: "button", class: c === state.cat ? "on" : "", onclick: () => { state.cat = c; drawList(); } }, c)));
    clear(list, ops.ops.filter((o) => (o.category || "General") === state.cat).map((o) => h("button", {
      type: "button", class: "opcard", disabled: !o.available, title: o.unavailable_reason, "data-testid": `op-${o.name}`, onclick: () => wire(o),
    }, h("b", null, o.title), h("div", { class: "small muted" }, o.available ? o.description : o.unavailable_reason),
    h("div", { class: "io" }, "in: ", o.inputs.map((p) => h("span", { class: "chip" }, `${p.name}: ${p.types.join("|")}${p.optional ? "?" : ""}`)),
      h("br"), "out: ", o.outputs.map((p) => h("span", { class: "chip" }, `${p.name}: ${p.types.join("|")}`))))));
  }
  function wire(o) {
    const errorBox = h("div");
    const name = h("input", { type: "text", value: uniqueName(o.name.replace(/_/g, "-"), sources), "data-testid": "new-node-name" });
    const controls = {};
    const fields = o.inputs.map((p) => {
      const c = portControl(p, sources, [], { testid: `new-node-input-${p.name}` });
      controls[p.name] = c;
      return field(`${p.name}${p.optional ? " (optional)" : ""}`, c, { help: `${p.types.join(" or ")} · ${p.description}` });
    });
    clear(m.body, errorBox, h("h3", { style: { marginBottom: "10px" } }, o.title), h("p", { class: "muted small" }, o.description),
      field("Node name", name), fields, h("p", { class: "muted small" }, "Parameters start at their defaults; edit them in the node's pane."));
    const foot = m.dlg.querySelector(".modal-foot") || h("div", { class: "modal-foot" });
    clear(foot, button("Back", () => { clear(m.body, tabs, list); clear(foot); }), button("Add node", async () => {
      clear(errorBox);
      const inputs = {};
      for (const [p, c] of Object.entries(controls)) { const v = c.value2 ? c.value2() : c.value(); if (v && (!Array.isArray(v) || v.length)) inputs[p] = v; }
      try {
        await post("/nodes", { name: name.value.trim(), op: o.name, inputs, params: {} });
        m.close();
        toast(`Added ${name.value.trim()}.`);
        done(name.value.trim());
      } catch (e) { errorBox.append(alertBox("error", e.message)); }
    }, { kind: "primary", testid: "new-node-create" }));
    if (!foot.parentNode) m.dlg.append(foot);
  }
  drawList();
}

function yamlDialog(refresh) {
  const text = h("textarea", { rows: 14, placeholder: "nodes:\n  detect:\n    op: object_detection\n    inputs: {video: videos}\n    params: {detector: motion}", "data-testid": "yaml-text" });
  const file = h("input", { type: "file", accept: ".yaml,.yml" });
  file.addEventListener("change", async () => { if (file.files[0]) text.value = await file.files[0].text(); });
  const errorBox = h("div");
  const m = modal({
    title: "Import pipeline YAML", sub: "Creates or updates the nodes it names; checked as a whole before anything is saved.",
    body: h("div", null, errorBox, field("YAML file", file), field("or paste it", text)),
    foot: [button("Cancel", () => m.close()), button("Import", async () => {
      clear(errorBox);
      try {
        const r = await post("/pipeline/yaml", { yaml: text.value });
        m.close();
        toast(`Imported ${r.nodes.length} node(s): ${r.nodes.join(", ")}.`);
        refresh();
      } catch (e) { errorBox.append(alertBox("error", e instanceof ApiError ? e.message : String(e))); }
    }, { kind: "primary", testid: "yaml-go" })],
  });
}

