// Datasets: every dataset of the workspace with its type, items, size and where it comes from, a page at a time.
import { get } from "./api.js";
import { onAppEvent } from "./app.js";
import { button, clear, datasetBadge, emptyState, fmtAgo, fmtBytes, fmtNum, h, link, pageHead, typeLabel } from "./dom.js";
import { importWizard } from "./import_wizard.js";

const TYPES = [["", "All"], ["video", "Videos"], ["detections", "Detections"], ["tracks", "Tracks"], ["image", "Images"], ["model", "Models"], ["file", "Files"]];
const PAGE = 50;

export async function render(root, _params, ctx) {
  const q0 = ctx.query;
  const state = { q: q0.get("q") || "", type: q0.get("type") || "", kind: q0.get("kind") || "", offset: Number(q0.get("offset") || 0) };
  root.append(pageHead("Datasets", "Imported data and what pipeline nodes computed from it.", [
    button("Import data", () => importWizard(), { kind: "primary", iconName: "upload", testid: "datasets-import" }),
  ]));
  const search = h("input", { type: "search", placeholder: "Search by name…", value: state.q, style: { maxWidth: "280px" }, "data-testid": "datasets-search" });
  const typeSeg = h("div", { class: "seg" });
  const kindSeg = h("div", { class: "seg" });
  const card = h("div", { class: "card" });
  root.append(h("div", { class: "row wrap", style: { marginBottom: "14px", gap: "12px" } }, search, typeSeg, kindSeg), card);

  const segs = () => {
    clear(typeSeg, TYPES.map(([v, l]) => h("button", { type: "button", class: v === state.type ? "on" : "", onclick: () => { state.type = v; state.offset = 0; load(); } }, l)));
    clear(kindSeg, [["", "Any source"], ["source", "Imported"], ["computed", "Computed"]].map(([v, l]) =>
      h("button", { type: "button", class: v === state.kind ? "on" : "", onclick: () => { state.kind = v; state.offset = 0; load(); } }, l)));
  };
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 200); });

  async function load() {
    segs();
    const qs = new URLSearchParams({ offset: state.offset, limit: PAGE, q: state.q, type: state.type, kind: state.kind });
    history.replaceState({}, "", `/datasets?${new URLSearchParams(Object.entries({ q: state.q, type: state.type, kind: state.kind, offset: state.offset || "" }).filter(([, v]) => v))}`);
    const page = await get(`/datasets?${qs}`);
    if (!page.total && !state.q && !state.type && !state.kind) {
      clear(card, emptyState("No datasets yet", "Import videos (or generate the sample scene) to start; every node you run adds its results here.",
        button("Import data", () => importWizard(), { kind: "primary", iconName: "upload" })));
      return;
    }
    if (!page.total) { clear(card, emptyState("Nothing matches", "No dataset matches these filters.")); return; }
    clear(card, h("div", { class: "table-wrap" }, h("table", { class: "table", "data-testid": "datasets-table" },
      h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Type"), h("th", { class: "num" }, "Items"), h("th", { class: "num" }, "Size"),
        h("th", null, "Source"), h("th", null, "State"), h("th", null, "Updated"))),
      h("tbody", null, page.datasets.map((d) => h("tr", { class: "clickable", onclick: (e) => { if (!e.target.closest("a")) ctx.navigate(`/datasets/${encodeURIComponent(d.name)}`); } },
        h("td", null, link(`/datasets/${encodeURIComponent(d.name)}`, d.name)),
        h("td", null, typeLabel(d.data_type)),
        h("td", { class: "num" }, fmtNum(d.items)),
        h("td", { class: "num" }, fmtBytes(d.size)),
        h("td", null, d.kind === "computed" && d.node ? h("span", null, "node ", link(`/pipeline?node=${encodeURIComponent(d.node)}`, d.node), h("span", { class: "muted small" }, ` · ${d.output}`)) : h("span", { class: "muted" }, "imported")),
        h("td", { "data-testid": "dataset-state" }, datasetBadge(d.state)),
        h("td", { class: "muted small nowrap" }, fmtAgo(d.updated_at))))))),
    pager(page, (off) => { state.offset = off; load(); }));
  }
  await load();
  let soon = null;
  onAppEvent(ctx, "st:datasets", () => { clearTimeout(soon); soon = setTimeout(load, 600); });
  ctx.onCleanup(() => clearTimeout(soon));
}

export function pager(page, go) {
  const from = page.total ? page.offset + 1 : 0;
  const to = Math.min(page.total, page.offset + page.limit);
  return h("div", { class: "pager" },
    h("span", { "data-testid": "pager-info" }, `${fmtNum(from)}–${fmtNum(to)} of ${fmtNum(page.total)}`), h("span", { class: "spacer" }),
    button("Previous", () => go(Math.max(0, page.offset - page.limit)), { small: true, disabled: page.offset === 0, testid: "pager-prev" }),
    button("Next", () => go(page.offset + page.limit), { small: true, disabled: to >= page.total, testid: "pager-next" }));
}
