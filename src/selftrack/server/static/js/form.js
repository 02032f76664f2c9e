// Parameter forms generated from an op's pydantic JSON schema: one declaration of each parameter (in the op's
// Python model) gives the CLI flags, the API schema and these forms, with defaults, help text and checks.
//
// paramForm(schema, defaults, values, opts) -> {el, value(), validate(), showErrors(errors), onChange(fn)}
//   schema:   the op's params_schema (with $defs)
//   defaults: the op's real defaults (a default_factory leaves none in the schema)
//   values:   the node's params as given (sparse)
//   opts.featured: field names shown first; the rest go under "All parameters" (collapsed)
//   opts.only: show only these fields
//   opts.subSchemas: {name: schema} for a dict field marked x-schemas-by (the track op's tracker_params)
// value() returns the params that differ from the defaults (a changed nested object is given whole, since a
// partial one would be completed with the nested model's defaults, not the op's).
import { h } from "./dom.js";

const clone = (x) => (x === undefined ? undefined : JSON.parse(JSON.stringify(x)));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function resolve(schema, node) {
  let n = node;
  while (n && n.$ref) n = schema.$defs[n.$ref.split("/").pop()];
  return n || {};
}

function nullable(prop) {
  if (!prop.anyOf) return [prop, false];
  const nonNull = prop.anyOf.filter((x) => x.type !== "null");
  return [{ ...prop, ...nonNull[0], anyOf: undefined, title: prop.title, description: prop.description }, nonNull.length < prop.anyOf.length];
}

function kindOf(schema, prop) {
  const [p] = nullable(resolve(schema, prop));
  if (p.enum) return "enum";
  if (p.type === "boolean") return "bool";
  if (p.type === "integer" || p.type === "number") return "number";
  if (p.type === "array") return p.prefixItems ? "tuple" : "list";
  if (p.type === "object" && p.properties) return "object";
  if (p.type === "object") return "dict";
  return "text";
}

function titleOf(name, prop) {
  return prop.title || name.replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

function parseList(text, itemType) {
  const parts = text.split(",").map((x) => x.trim()).filter((x) => x.length);
  if (itemType === "integer" || itemType === "number") return parts.map(Number);
  return parts;
}

export function paramForm(schema, defaults, values, opts = {}) {
  const state = deepMerge(clone(defaults) || {}, clone(values) || {});
  const controls = new Map(); // path -> {el, check()}
  const listeners = [];
  const changed = () => listeners.forEach((fn) => fn());
  const visibility = [];

  function control(path, name, rawProp, parentState, parentSchema, subSchemas) {
    const prop = resolve(schema, rawProp);
    const [p, canBeNull] = nullable(prop);
    const kind = kindOf(schema, rawProp);
    const title = titleOf(name, rawProp.title ? rawProp : {});
    const help = rawProp.description || p.description || "";
    const err = h("div", { class: "err", role: "alert" });
    const key = path.join(".");
    const id = `f-${key.replace(/[^a-z0-9]/gi, "-")}-${Math.random().toString(36).slice(2, 7)}`;
    let input;
    let check = () => null;
    const setErr = (msg) => { err.textContent = msg || ""; input && input.classList.toggle("invalid", !!msg); };
    const cur = parentState[name];

    if (kind === "object") {
      const fs = h("fieldset", { "data-path": key }, h("legend", null, title));
      if (help) fs.append(h("div", { class: "help", style: { marginBottom: "8px", fontSize: "12px", color: "var(--muted)" } }, help));
      if (parentState[name] == null) parentState[name] = {};
      for (const [k, v] of Object.entries(p.properties)) fs.append(control([...path, k], k, v, parentState[name], p, null));
      // an object named after a choice of a sibling enum (detector: motion|hog) shows only for that choice
      for (const [k, v] of Object.entries(parentSchema.properties || {})) {
        const sib = resolve(schema, v);
        if (k !== name && sib.enum && sib.enum.includes(name)) visibility.push(() => fs.classList.toggle("hidden", parentState[k] !== name));
      }
      return fs;
    }
    if (kind === "dict") {
      const by = rawProp["x-schemas-by"];
      const wrap = h("fieldset", { "data-path": key }, h("legend", null, title));
      const inner = h("div", { class: "dict-fields" });
      wrap.append(inner);
      if (parentState[name] == null) parentState[name] = {};
      if (by && subSchemas) {
        const draw = () => {
          const sub = subSchemas[parentState[by]];
          inner.replaceChildren();
          if (!sub) return;
          for (const k of Object.keys(parentState[name])) if (!(k in sub.properties)) delete parentState[name][k];
          const subDefaults = sub["x-defaults"] || {};
          for (const [k, v] of Object.entries(sub.properties)) {
            if (!(k in parentState[name])) parentState[name][k] = clone(subDefaults[k]);
            inner.append(control([...path, k], k, v, parentState[name], sub, null));
          }
        };
        draw();
        listeners.push(() => { if (wrap.dataset.for !== parentState[by]) { wrap.dataset.for = parentState[by]; draw(); } });
        wrap.dataset.for = parentState[by];
        dictDefaults.set(key, () => (subSchemas[parentState[by]] || {})["x-defaults"] || {});
        return wrap;
      }
      input = h("textarea", { id, rows: 3 }, JSON.stringify(cur || {}, null, 1));
      input.addEventListener("input", () => {
        try { parentState[name] = JSON.parse(input.value || "{}"); setErr(""); } catch { setErr("not valid JSON"); }
        changed();
      });
      inner.append(input, err);
      return wrap;
    }

    if (kind === "enum") {
      input = h("select", { id, "data-path": key }, (canBeNull ? [""] : []).concat(p.enum).map((v) => h("option", { value: v }, v === "" ? "(unset)" : String(v))));
      input.value = cur == null ? "" : cur;
      input.addEventListener("change", () => { parentState[name] = input.value === "" ? null : input.value; changed(); });
    } else if (kind === "bool") {
      input = h("input", { id, type: "checkbox", checked: !!cur, "data-path": key });
      input.addEventListener("change", () => { parentState[name] = input.checked; changed(); });
      const row = h("div", { class: "field inline" }, input, h("label", { for: id }, title));
      const f = h("div", null, row, help ? h("div", { class: "help", style: { margin: "-8px 0 12px 24px" } }, help) : null, err);
      controls.set(key, { el: input, setErr, check });
      return f;
    } else if (kind === "number") {
      const attrs = { id, type: "number", "data-path": key, step: p.type === "integer" ? 1 : "any", placeholder: canBeNull ? "unset" : "" };
      if (p.minimum != null) attrs.min = p.minimum;
      if (p.maximum != null) attrs.max = p.maximum;
      input = h("input", attrs);
      input.value = cur == null ? "" : cur;
      check = () => {
        const raw = input.value.trim();
        if (raw === "") return canBeNull ? null : "a value is required";
        const v = Number(raw);
        if (!Number.isFinite(v)) return "not a number";
        if (p.type === "integer" && !Number.isInteger(v)) return "a whole number is required";
        if (p.minimum != null && v < p.minimum) return `at least ${p.minimum}`;
        if (p.maximum != null && v > p.maximum) return `at most ${p.maximum}`;
        if (p.exclusiveMinimum != null && v <= p.exclusiveMinimum) return `more than ${p.exclusiveMinimum}`;
        if (p.exclusiveMaximum != null && v >= p.exclusiveMaximum) return `less than ${p.exclusiveMaximum}`;
        return null;
      };
      input.addEventListener("input", () => {
        const raw = input.value.trim();
        const msg = check();
        setErr(msg);
        if (!msg) parentState[name] = raw === "" ? null : Number(raw);
        changed();
      });
    } else if (kind === "tuple" || kind === "list") {
      const itemType = kind === "tuple" ? (p.prefixItems[0] || {}).type : (p.items || {}).type;
      input = h("input", { id, type: "text", "data-path": key, placeholder: kind === "tuple" ? `${p.prefixItems.length} values, comma-separated${canBeNull ? " (empty: unset)" : ""}` : "comma-separated" });
      input.value = Array.isArray(cur) ? cur.join(", ") : "";
      check = () => {
        const raw = input.value.trim();
        if (raw === "") return kind === "tuple" && !canBeNull ? "a value is required" : null;
        const v = parseList(raw, itemType);
        if ((itemType === "integer" || itemType === "number") && v.some((x) => !Number.isFinite(x))) return "numbers, comma-separated";
        if (kind === "tuple" && v.length !== p.prefixItems.length) return `${p.prefixItems.length} values expected`;
        return null;
      };
      input.addEventListener("input", () => {
        const msg = check();
        setErr(msg);
        if (!msg) {
          const raw = input.value.trim();
          parentState[name] = raw === "" ? (kind === "tuple" ? null : []) : parseList(raw, itemType);
        }
        changed();
      });
    } else {
      input = h("input", { id, type: "text", "data-path": key, placeholder: canBeNull ? "unset" : "" });
      input.value = cur == null ? "" : cur;
      check = () => (!canBeNull && p.minLength && input.value.length < p.minLength ? "a value is required" : null);
      input.addEventListener("input", () => { parentState[name] = input.value === "" && canBeNull ? null : input.value; setErr(check()); changed(); });
    }
    controls.set(key, { el: input, setErr, check });
    return h("div", { class: "field", "data-field": key }, h("label", { for: id }, title), input, help ? h("div", { class: "help" }, help) : null, err);
  }

  const dictDefaults = new Map();
  const el = h("div", { class: "param-form" });
  const props = schema.properties || {};
  let names = Object.keys(props);
  if (opts.only) names = opts.only.filter((n) => n in props);
  const featured = (opts.featured || []).filter((n) => names.includes(n));
  const rest = names.filter((n) => !featured.includes(n));
  for (const n of featured) el.append(control([n], n, props[n], state, schema, opts.subSchemas));
  if (rest.length) {
    if (featured.length) {
      const det = h("details", { class: "advanced" }, h("summary", null, `All parameters (${rest.length} more)`));
      for (const n of rest) det.append(control([n], n, props[n], state, schema, opts.subSchemas));
      el.append(det);
    } else for (const n of rest) el.append(control([n], n, props[n], state, schema, opts.subSchemas));
  }
  const applyVisibility = () => visibility.forEach((fn) => fn());
  listeners.push(applyVisibility);
  applyVisibility();

  return {
    el,
    state,
    value() {
      const out = {};
      for (const [k, v] of Object.entries(state)) {
        const d = defaults ? defaults[k] : undefined;
        if (dictDefaults.has(k)) {
          const subD = dictDefaults.get(k)();
          const diff = {};
          for (const [sk, sv] of Object.entries(v || {})) if (!same(sv, subD[sk])) diff[sk] = sv;
          if (Object.keys(diff).length) out[k] = diff;
        } else if (!same(v, d) || (values && k in values && !same(v, d))) out[k] = clone(v);
      }
      return out;
    },
    set(path, v) {
      const parts = path.split(".");
      let o = state;
      for (const p of parts.slice(0, -1)) o = o[p];
      o[parts.at(-1)] = v;
      const c = controls.get(path);
      if (c) { if (c.el.type === "checkbox") c.el.checked = !!v; else c.el.value = Array.isArray(v) ? v.join(", ") : v ?? ""; }
      changed();
    },
    validate() {
      const errors = [];
      for (const [path, c] of controls) {
        if (c.el.closest(".hidden")) continue;
        const msg = c.check();
        c.setErr(msg);
        if (msg) errors.push({ loc: path.split("."), msg });
      }
      return errors;
    },
    showErrors(errors) {
      for (const c of controls.values()) c.setErr(null);
      const unplaced = [];
      for (const e of errors || []) {
        const loc = (e.loc || []).filter((x) => x !== "body" && x !== "params");
        let c = null;
        for (let n = loc.length; n > 0 && !c; n--) c = controls.get(loc.slice(0, n).join("."));
        if (c) {
          c.setErr(e.msg);
          const det = c.el.closest("details");
          if (det) det.open = true;
        } else unplaced.push(`${loc.join(".")}: ${e.msg}`);
      }
      return unplaced;
    },
    onChange(fn) { listeners.push(fn); },
  };
}

function deepMerge(a, b) {
  for (const [k, v] of Object.entries(b || {})) {
    if (v && typeof v === "object" && !Array.isArray(v) && a[k] && typeof a[k] === "object" && !Array.isArray(a[k])) deepMerge(a[k], v);
    else a[k] = v;
  }
  return a;
}
