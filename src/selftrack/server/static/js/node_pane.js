// The selected node's pane: rename, wire inputs (only type-compatible datasets and node outputs, never the
// node's own descendants), edit parameters (a form generated from the op's schema, checked inline), Run,
// Partial Run, Delete, and each output's state with a link to its dataset.
import { ApiError, del, get, patch, post } from "./api.js";
import {
  alertBox, badge, button, clear, confirmDialog, field, h, link, modal, select, toast, typeLabel,
} from "./dom.js";
import { paramForm } from "./form.js";
import { portControl } from "./sources.js";

function descendants(nodes, name) {
  const out = new Set([name]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of nodes) {
      if (out.has(n.name)) continue;
      if (Object.values(n.inputs).flat().some((r) => r.node && out.has(r.node))) { out.add(n.name); grew = true; }
    }
  }
  return [...out];
}

export function nodePane({ node, ops, sources, navigate, onChanged, onClose }) {
  const op = ops.ops.find((o) => o.name === node.op);
  const el = h("div", { class: "card pane", "data-testid": "node-pane" });
  const errorBox = h("div");
  const statusBox = h("div");
  const outputsBox = h("div");
  const nameInput = h("input", { type: "text", value: node.name, "data-testid": "pane-name" });
  const exclude = descendants(sources.nodes, node.name);
  const controls = {};
  const inputsBox = h("div");
  for (const port of op.inputs) {
    const ctl = portControl(port, sources, node.inputs[port.name] || [], { excludeNodes: exclude, testid: `pane-input-${port.name}` });
    controls[port.name] = ctl;
    inputsBox.append(h("div", { class: "port" }, field(`${port.name}${port.optional ? " (optional)" : ""}`, ctl,
      { help: `${port.types.join(" or ")}${port.variable ? ", several allowed" : ""} · ${port.description}` })));
  }
  const form = paramForm(op.params_schema, op.defaults, node.params, { subSchemas: ops.trackers });
  const saveBtn = button("Save changes", save, { kind: "primary", testid: "pane-save" });

  async function save() {
    clear(errorBox);
    if (form.validate().length) { errorBox.append(alertBox("error", "Some parameters need attention (marked below).")); return; }
    const inputs = {};
    for (const [port, ctl] of Object.entries(controls)) {
      const v = ctl.value2 ? ctl.value2() : ctl.value();
      inputs[port] = v && (!Array.isArray(v) || v.length) ? v : null;
    }
    for (const k of Object.keys(inputs)) if (inputs[k] === null) delete inputs[k];
    try {
      await patch(`/nodes/${encodeURIComponent(node.name)}`, { params: form.value(), inputs });
      toast(`Saved ${node.name}.`);
      onChanged(node.name);
    } catch (e) {
      const unplaced = e instanceof ApiError ? form.showErrors(e.errors) : [];
      errorBox.append(alertBox("error", e.errors && e.errors.length && !unplaced.length ? "Some parameters need attention (marked below)." : e.message));
    }
  }
  async function rename() {
    const to = nameInput.value.trim();
    if (!to || to === node.name) return;
    try { await patch(`/nodes/${encodeURIComponent(node.name)}`, { name: to }); toast(`Renamed to ${to}.`); onChanged(to); } catch (e) { clear(errorBox, alertBox("error", e.message)); }
  }
  async function run(partial = null) {
    clear(errorBox);
    try {
      const { job_id } = await post(`/nodes/${encodeURIComponent(node.name)}/run`, partial ? { partial } : {});
      toast(`Job #${job_id} started.`);
      navigate(`/jobs/${job_id}`);
    } catch (e) { errorBox.append(alertBox("error", e.message)); }
  }
  async function remove() {
    if (!(await confirmDialog(`Delete node ${node.name}?`, "Its computed datasets stay until garbage collection (they are reused if you recreate the node with the same params)."))) return;
    try { await del(`/nodes/${encodeURIComponent(node.name)}`); toast(`Deleted ${node.name}.`); onChanged(null); } catch (e) { clear(errorBox, alertBox("error", e.message)); }
  }

  el.append(
    h("div", { class: "section" },
      h("div", { class: "row" }, h("h2", { class: "grow" }, node.name), h("button", { class: "btn btn-ghost btn-sm", type: "button", onclick: onClose, "aria-label": "Close" }, "✕")),
      h("div", { class: "muted small", style: { margin: "4px 0 10px" } }, `${op.title} · ${op.category} · ${op.per_item ? "per item" : "whole dataset"}`),
      h("p", { class: "small" }, op.description),
      statusBox,
      h("div", { class: "row wrap", style: { marginTop: "10px" } },
        button("Run", () => run(), { kind: "primary", iconName: "run", testid: "pane-run" }),
        button("Partial run…", () => partialDialog(sources, run), { testid: "pane-partial", disabled: !op.per_item }),
        h("span", { class: "spacer" }),
        button("Delete", remove, { kind: "danger", iconName: "trash", small: true, testid: "pane-delete" }))),
    h("div", { class: "section" }, errorBox, h("h3", null, "Outputs"), outputsBox),
    h("div", { class: "section" }, h("h3", null, "Name"), h("div", { class: "row" }, nameInput, button("Rename", rename, { small: true, testid: "pane-rename" }))),
    h("div", { class: "section" }, h("h3", null, "Inputs"), inputsBox),
    h("div", { class: "section" }, h("h3", null, "Parameters"), form.el),
    h("div", { class: "section", style: { position: "sticky", bottom: 0, background: "#fff" } }, h("div", { class: "row" }, h("span", { class: "spacer" }), saveBtn)));

  function refresh(n) {
    clear(statusBox, h("div", { class: "row" }, badge(n.state), n.job_id ? link(`/jobs/${n.job_id}`, `job #${n.job_id}`) : null,
      n.error ? h("span", { class: "small", style: { color: "var(--red)" } }, n.error.slice(0, 200)) : null));
    clear(outputsBox, Object.entries(n.outputs || {}).map(([name, o]) => h("div", { class: "outrow" },
      h("b", null, name), typeLabel(o.data_type), badge(o.state), h("span", { class: "spacer" }),
      o.dataset ? link(`/datasets/${encodeURIComponent(o.dataset)}`, h("span", { class: "btn btn-sm", "data-testid": `pane-output-${name}` }, `View (${o.items})`)) : h("span", { class: "muted small" }, "not computed"))));
  }
  refresh(node);
  return { el, refresh };
}

function partialDialog(sources, run) {
  const mode = { v: "count" };
  const count = h("input", { type: "number", value: 2, min: 1, "data-testid": "partial-count" });
  const dsSel = select(sources.datasets.map((d) => ({ value: d.name, label: `${d.name} (${d.items})` })), null);
  const keys = h("textarea", { rows: 3, placeholder: "one key per line, or comma-separated" });
  const radios = h("div", { class: "stack" });
  const opt = (v, label, ctl) => {
    const id = `pm-${v}`;
    const r = h("input", { type: "radio", name: "pm", id, checked: v === mode.v, onchange: () => { mode.v = v; } });
    return h("div", null, h("div", { class: "field inline" }, r, h("label", { for: id }, label)), h("div", { style: { marginLeft: "24px" } }, ctl));
  };
  radios.append(opt("count", "A few random keys not computed yet (a quick preview)", count), opt("dataset", "The keys of a dataset", dsSel), opt("keys", "These keys", keys));
  const m = modal({
    title: "Partial run", sub: "Compute only some keys, through the node's per-item ancestors.", body: radios,
    foot: [button("Cancel", () => m.close()), button("Run", () => {
      const p = mode.v === "count" ? { count: Number(count.value) } : mode.v === "dataset" ? { dataset: dsSel.value } : { keys: keys.value.split(/[\n,]/).map((x) => x.trim()).filter(Boolean) };
      m.close();
      run(p);
    }, { kind: "primary", testid: "partial-run" })],
  });
}

export async function reloadSources() {
  const [ds, nodes] = await Promise.all([get("/datasets?limit=500"), get("/nodes")]);
  return { datasets: ds.datasets, nodes: nodes.nodes };
}
