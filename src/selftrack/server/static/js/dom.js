// Small DOM helpers: elements from plain calls (text is always text, never parsed as HTML), formatting,
// badges, empty states, modals and toasts. No framework: pages rebuild the parts that change.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2).toLowerCase(), v);
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "disabled" || k === "indeterminate") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ------------------------------------------------------------------------------------------ icons
const ICONS = {
  dashboard: "M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z",
  pipeline: "M5 4a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm14 6a2 2 0 1 0 0 4 2 2 0 0 0 0-4zM5 16a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm2-10h4a3 3 0 0 1 3 3v1m-7 8h4a3 3 0 0 0 3-3v-1m0 0h3",
  datasets: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zm0 0v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
  jobs: "M12 7v5l3 3M21 12a9 9 0 1 1-18 0 9 9 0 0 1 18 0z",
  api: "M8 9l-4 3 4 3m8-6l4 3-4 3M14 5l-4 14",
  upload: "M12 16V4m0 0l-4 4m4-4l4 4M4 16v2a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-2",
  model: "M12 3l8 4.5v9L12 21l-8-4.5v-9zM12 12l8-4.5M12 12v9m0-9L4 7.5",
  detect: "M4 8V5a1 1 0 0 1 1-1h3m8 0h3a1 1 0 0 1 1 1v3m0 8v3a1 1 0 0 1-1 1h-3m-8 0H5a1 1 0 0 1-1-1v-3m5-7h6v6H9z",
  track: "M4 18c3-6 5-9 8-9s5 3 8-3M4 18h.01M20 6h.01",
  render: "M15 10l5-3v10l-5-3zM3 7a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z",
  chart: "M4 20V10m6 10V4m6 16v-8m4 8H2",
  play: "M7 4l13 8-13 8z",
  pause: "M7 4h4v16H7zm6 0h4v16h-4z",
  prev: "M15 6l-6 6 6 6M7 6v12",
  next: "M9 6l6 6-6 6m8-12v12",
  plus: "M12 5v14M5 12h14",
  trash: "M4 7h16M9 7V4h6v3m-8 0l1 13h8l1-13",
  download: "M12 4v12m0 0l-4-4m4 4l4-4M4 20h16",
  stop: "M6 6h12v12H6z",
  run: "M7 4l13 8-13 8z",
  empty: "M3 7l9-4 9 4-9 4-9-4zm0 0v10l9 4 9-4V7",
  graph: "M6 6h4v4H6zm8 8h4v4h-4zM8 10v2a2 2 0 0 0 2 2h4",
  table: "M3 5h18v14H3zM3 10h18M9 5v14",
  fit: "M4 9V4h5m6 0h5v5m0 6v5h-5m-6 0H4v-5",
  close: "M6 6l12 12M18 6L6 18",
};
export function icon(name, extra = {}) {
  return s(
    "svg",
    { viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round", ...extra },
    s("path", { d: ICONS[name] || ICONS.empty }),
  );
}

// ------------------------------------------------------------------------------------------ formatting
export function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}
export function fmtNum(n, digits = 0) {
  if (n == null || Number.isNaN(n)) return "–";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
export function fmtDuration(sec) {
  if (sec == null || !Number.isFinite(sec)) return "–";
  sec = Math.max(0, Math.round(sec));
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  if (hh) return `${hh}h ${String(mm).padStart(2, "0")}m`;
  if (mm) return `${mm}m ${String(ss).padStart(2, "0")}s`;
  return `${ss}s`;
}
export function fmtTime(ts) {
  if (!ts) return "–";
  const d = new Date(ts * 1000);
  const today = new Date();
  const same = d.toDateString() === today.toDateString();
  return same ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
export function fmtAgo(ts) {
  if (!ts) return "–";
  const s = Date.now() / 1000 - ts;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return fmtTime(ts);
}
export function fmtFps(fps) {
  if (!fps) return "–";
  const [a, b] = String(fps).split("/").map(Number);
  const v = b ? a / b : a;
  return `${Number(v.toFixed(3))} fps`;
}
export function fpsValue(fps) {
  const [a, b] = String(fps).split("/").map(Number);
  return b ? a / b : a;
}
export function pct(x) { return `${Math.round((x || 0) * 100)}%`; }
// A job stage as one line: "encode H.264 · 120 / 795 frames".
export function stageText(stage) {
  if (!stage) return "";
  const parts = stage.parts > 1 ? ` (${stage.part}/${stage.parts})` : "";
  return `${stage.name}${parts} · ${fmtNum(stage.done)} / ${fmtNum(stage.total)} ${stage.unit}`;
}

// ------------------------------------------------------------------------------------------ widgets
export function badge(state, text) {
  const cls = String(state || "").replace(/\s+/g, "-");
  return h("span", { class: `badge ${cls}` }, text || state);
}
// A dataset's state (the server's rule, shared with the pipeline's node states): complete, partial, not computed.
export function datasetBadge(state) {
  return state === "done" ? badge("done", "complete") : badge(state);
}
export function typeLabel(t) {
  return h("span", { class: `type type-${t}` }, h("i"), t);
}
export function progressBar(fraction, { big = false, indeterminate = false } = {}) {
  return h("div", { class: `progress${big ? " big" : ""}${indeterminate ? " indeterminate" : ""}` },
    h("div", { style: { width: `${Math.max(0, Math.min(1, fraction || 0)) * 100}%` } }));
}
export function emptyState(title, text, ...actions) {
  return h("div", { class: "empty" }, icon("empty"), h("h3", null, title), h("p", null, text), h("div", { class: "row", style: { justifyContent: "center" } }, actions));
}
export function alertBox(kind, ...content) { return h("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : null }, content); }
export function link(href, ...children) { return h("a", { href, "data-link": "" }, children); }
export function button(label, onclick, { kind = "", iconName = null, title = null, disabled = false, small = false, testid = null } = {}) {
  return h("button", {
    type: "button", class: `btn ${kind ? "btn-" + kind : ""} ${small ? "btn-sm" : ""}`, onclick, title, disabled,
    "data-testid": testid,
  }, iconName ? icon(iconName) : null, label);
}
export function spinner() { return h("span", { class: "spinner", "aria-label": "loading" }); }
export function pageHead(title, sub, actions = [], crumbs = null) {
  return h("div", { class: "page-head" },
    h("div", { style: { minWidth: 0 } }, crumbs, h("h1", null, title), sub ? h("div", { class: "sub" }, sub) : null),
    h("div", { class: "actions" }, actions));
}
export function crumbs(...parts) {
  const out = [];
  parts.forEach((p, i) => { if (i) out.push(h("span", { class: "sep" }, "/")); out.push(p); });
  return h("div", { class: "crumbs" }, out);
}

// ------------------------------------------------------------------------------------------ toasts and modals
export function toast(message, { error = false, timeout = 5000 } = {}) {
  const el = h("div", { class: `toast${error ? " error" : ""}`, role: "status" }, message);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), timeout);
}

export function modal({ title, sub = null, body, foot = [], wide = false, onClose = null, testid = null }) {
  const dlg = h("dialog", { class: `modal${wide ? " wide" : ""}`, "data-testid": testid });
  const close = () => { dlg.close(); };
  dlg.addEventListener("close", () => { dlg.remove(); onClose && onClose(); });
  append(dlg, [
    h("div", { class: "modal-head" }, h("div", { class: "grow" }, h("h2", null, title), sub ? h("div", { class: "sub" }, sub) : null),
      h("button", { class: "btn btn-ghost btn-icon", type: "button", onclick: close, "aria-label": "Close" }, icon("close"))),
    h("div", { class: "modal-body" }, body),
    foot.length ? h("div", { class: "modal-foot" }, foot) : null,
  ]);
  document.body.append(dlg);
  dlg.showModal();
  return { dlg, close, body: dlg.querySelector(".modal-body"), foot: dlg.querySelector(".modal-foot") };
}

export function confirmDialog(title, text, { okLabel = "Delete", danger = true } = {}) {
  return new Promise((resolve) => {
    let ok = false;
    const m = modal({
      title, body: h("p", null, text), onClose: () => resolve(ok),
      foot: [button("Cancel", () => m.close()), button(okLabel, () => { ok = true; m.close(); }, { kind: danger ? "danger" : "primary", testid: "confirm-ok" })],
    });
  });
}

export function field(label, control, { help = null, id = null } = {}) {
  if (id && control.id == null) control.id = id;
  return h("div", { class: "field" }, h("label", { for: control.id || null }, label), control, help ? h("div", { class: "help" }, help) : null);
}

export function select(options, value, attrs = {}) {
  // options: [{value, label, group?, disabled?}]
  const el = h("select", attrs);
  const groups = new Map();
  for (const o of options) {
    const opt = h("option", { value: o.value, disabled: o.disabled || false }, o.label ?? o.value);
    if (o.group) {
      if (!groups.has(o.group)) { const g = h("optgroup", { label: o.group }); groups.set(o.group, g); el.append(g); }
      groups.get(o.group).append(opt);
    } else el.append(opt);
  }
  if (value != null) el.value = value;
  return el;
}
