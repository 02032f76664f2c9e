// What an input can be wired to: datasets and other nodes' outputs of a compatible data type. The op's ports
// declare their types; only matching choices are offered (SkyhookML let a wizard wire anything anywhere).
import { get } from "./api.js";
import { h } from "./dom.js";

let opsCache = null;
export async function getOps(refresh = false) {
  if (!opsCache || refresh) opsCache = await get("/ops");
  return opsCache;
}
export async function opInfo(name) {
  const ops = await getOps();
  return ops.ops.find((o) => o.name === name);
}

export function accepts(portTypes, dataType) {
  return portTypes.some((t) => t === dataType || (t === "detections" && dataType === "tracks"));
}

export async function loadSources() {
  const [ds, nodes] = await Promise.all([get("/datasets?limit=500"), get("/nodes")]);
  return { datasets: ds.datasets, nodes: nodes.nodes };
}

export const refValue = (ref) => (ref.dataset != null ? `ds:${ref.dataset}` : `node:${ref.node}:${ref.output || ""}`);
export function refFromValue(v) {
  if (!v) return null;
  if (v.startsWith("ds:")) return { dataset: v.slice(3) };
  const [, node, output] = v.match(/^node:([^:]+):(.*)$/);
  return output ? { node, output } : { node };
}

// Options for one port: node outputs first (the pipeline's own results), then imported datasets, then
// computed datasets (a frozen output).
export function choicesFor(types, sources, { excludeNodes = [] } = {}) {
  const out = [];
  for (const n of sources.nodes) {
    if (excludeNodes.includes(n.name)) continue;
    for (const [output, t] of Object.entries(n.output_types || {})) {
      if (!accepts(types, t)) continue;
      const multi = Object.keys(n.output_types).length > 1;
      out.push({ value: `node:${n.name}:${output}`, label: `${n.name}${multi ? ` › ${output}` : ""}  (${n.title}, ${t})`, group: "Node outputs", dataType: t });
    }
  }
  for (const d of sources.datasets) {
    if (!accepts(types, d.data_type)) continue;
    out.push({
      value: `ds:${d.name}`,
      label: `${d.name}  (${d.data_type}, ${d.items} item${d.items === 1 ? "" : "s"})`,
      group: d.kind === "source" ? "Imported datasets" : "Computed datasets",
      dataType: d.data_type,
    });
  }
  return out;
}

// A <select> for one input port; `value` is a ref value string. For variable ports, a checkbox list.
export function portControl(port, sources, current, { excludeNodes = [], testid = null } = {}) {
  const choices = choicesFor(port.types, sources, { excludeNodes });
  if (port.variable) {
    const wrap = h("div", { class: "stack", style: { gap: "4px" }, "data-testid": testid });
    const chosen = new Set((current || []).map(refValue));
    if (!choices.length) wrap.append(h("div", { class: "help" }, `nothing of type ${port.types.join(" or ")} yet`));
    for (const c of choices) {
      const id = `p-${Math.random().toString(36).slice(2)}`;
      wrap.append(h("div", { class: "field inline", style: { marginBottom: 0 } },
        h("input", { type: "checkbox", id, value: c.value, checked: chosen.has(c.value) }), h("label", { for: id }, c.label)));
    }
    wrap.value = () => [...wrap.querySelectorAll("input:checked")].map((i) => refFromValue(i.value));
    return wrap;
  }
  const sel = h("select", { "data-testid": testid, "data-port": port.name });
  sel.append(h("option", { value: "" }, port.optional ? "(none)" : "Choose…"));
  const groups = new Map();
  for (const c of choices) {
    if (!groups.has(c.group)) { const g = h("optgroup", { label: c.group }); groups.set(c.group, g); sel.append(g); }
    groups.get(c.group).append(h("option", { value: c.value }, c.label));
  }
  const cur = current && current[0] ? refValue(current[0]) : "";
  // a plain node reference (no output named) matches that node's first output
  sel.value = cur;
  if (sel.value !== cur && cur.startsWith("node:")) {
    const opt = [...sel.options].find((o) => o.value.startsWith(cur));
    if (opt) sel.value = opt.value;
  }
  sel.value2 = () => refFromValue(sel.value);
  return sel;
}

export function uniqueName(base, sources) {
  const taken = new Set(sources.nodes.map((n) => n.name));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}
