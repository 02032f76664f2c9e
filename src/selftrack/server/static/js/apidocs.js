// REST API reference, drawn from the server's OpenAPI document (/api/openapi.json): every page of the app uses
// only these endpoints, so anything the app does a script can do (with `Authorization: Bearer <token>`).
import { get } from "./api.js";
import { h, pageHead } from "./dom.js";

function schemaText(schema, doc, depth = 0) {
  if (!schema) return "";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    const target = doc.components.schemas[name];
    if (depth > 0 || !target || !target.properties) return name;
    return `${name} {${Object.entries(target.properties).map(([k, v]) => `${k}${(target.required || []).includes(k) ? "" : "?"}: ${schemaText(v, doc, depth + 1)}`).join(", ")}}`;
  }
  if (schema.anyOf) return schema.anyOf.map((s) => schemaText(s, doc, depth + 1)).join(" | ");
  if (schema.type === "array") return `${schemaText(schema.items, doc, depth + 1)}[]`;
  if (schema.enum) return schema.enum.map((x) => JSON.stringify(x)).join(" | ");
  return schema.type || "any";
}

export async function render(root) {
  const doc = await get("/openapi.json");
  root.append(pageHead("REST API", [
    "Every page of this app uses only these endpoints. Scripts send the server's token as ",
    h("code", null, "Authorization: Bearer <token>"), "; live updates are server-sent events. Machine-readable: ",
    h("a", { href: "/api/openapi.json", target: "_blank" }, "openapi.json"), ".",
  ]));
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const wrap = h("div", { class: "stack" });
  for (const [tag, list] of byTag) {
    const card = h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, tag)));
    for (const { path, method, op } of list) {
      const params = (op.parameters || []).map((p) => h("div", { class: "small" }, h("code", null, p.name), h("span", { class: "muted" }, ` (${p.in}${p.required ? ", required" : ""}) ${schemaText(p.schema, doc)}`), p.description ? ` — ${p.description}` : ""));
      const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
      card.append(h("div", { class: "endpoint" },
        h("div", { class: "row" }, h("span", { class: `method ${method}` }, method.toUpperCase()), h("code", null, path), h("span", { class: "muted small" }, op.summary || "")),
        op.description ? h("p", { class: "small", style: { margin: "6px 0 4px" } }, op.description) : null,
        params.length ? h("div", { style: { marginTop: "4px" } }, params) : null,
        body ? h("div", { class: "small", style: { marginTop: "4px" } }, h("span", { class: "muted" }, "body: "), h("code", null, schemaText(body.schema, doc))) : null));
    }
    wrap.append(card);
  }
  root.append(wrap);
}
