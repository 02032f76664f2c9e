// One dataset: what it is and where it comes from, its items a page at a time, export, delete; and for an
// evaluation's output, the metrics table and chart.
import { del, dsPath, get } from "./api.js";
import { metricsBars, metricsTable } from "./charts.js";
import {
  alertBox, button, clear, confirmDialog, crumbs, datasetBadge, emptyState, fmtBytes, fmtFps, fmtNum, fmtTime, h, link, pageHead, toast, typeLabel,
} from "./dom.js";
import { pager } from "./datasets.js";

export function itemSummary(it) {
  if (it.video) {
    const v = it.video;
    return `${v.width}×${v.height} · ${fmtFps(v.fps)} · ${fmtNum(v.frame_count)} frames · ${v.codec}`;
  }
  if (it.detections) {
    const d = it.detections;
    return `${fmtNum(d.num_boxes)} boxes${d.num_tracks ? ` · ${fmtNum(d.num_tracks)} tracks` : ""}${d.num_frames ? ` · ${fmtNum(d.num_frames)} frames` : ""}`;
  }
  if (it.image) return `${it.image.width}×${it.image.height}`;
  if (it.summary && it.summary.HOTA != null) return `HOTA ${(100 * it.summary.HOTA).toFixed(1)} · MOTA ${(100 * it.summary.MOTA).toFixed(1)} · IDF1 ${(100 * it.summary.IDF1).toFixed(1)}`;
  return it.filename || it.format;
}

export async function render(root, [name], ctx) {
  let ds;
  try { ds = await get(dsPath(name)); } catch (e) {
    root.append(pageHead("Dataset not found", null, [], crumbs(link("/datasets", "Datasets"), name)), alertBox("error", e.message));
    return;
  }
  const isDet = ["detections", "tracks"].includes(ds.data_type);
  const fmtSel = isDet ? h("select", { style: { width: "auto" } }, [["mot", "MOTChallenge"], ["skyhook-json", "SkyhookML JSON"], ["npz", "NumPy npz"]].map(([v, l]) => h("option", { value: v }, l))) : null;
  const exportBtn = h("a", { class: "btn", href: `/api${dsPath(name)}/export`, download: "", "data-testid": "dataset-export" }, "Export zip");
  if (fmtSel) fmtSel.addEventListener("change", () => { exportBtn.href = `/api${dsPath(name)}/export?format=${fmtSel.value}`; });
  const delBtn = button("Delete", async () => {
    if (!(await confirmDialog(`Delete ${name}?`, `Its ${ds.items} item(s) and their files are removed from the workspace.${ds.kind === "computed" ? " A node's output is recomputed on its next run." : ""}`))) return;
    try { await del(dsPath(name)); toast(`Deleted ${name}.`); ctx.navigate("/datasets"); } catch (e) { toast(e.message, { error: true }); }
  }, { kind: "danger", iconName: "trash" });
  root.append(pageHead(name,
    h("span", { class: "row" }, typeLabel(ds.data_type), ds.kind === "computed" && ds.node ? h("span", null, "· computed by node ", link(`/pipeline?node=${encodeURIComponent(ds.node)}`, ds.node)) : h("span", null, "· imported"),
      ds.state === "done" ? null : datasetBadge(ds.state)),
    [fmtSel, exportBtn, delBtn].filter(Boolean), crumbs(link("/datasets", "Datasets"), name)));

  const info = h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "About")), h("div", { class: "card-body" }, h("dl", { class: "kv" },
    h("dt", null, "Items"), h("dd", null, fmtNum(ds.items)), h("dt", null, "Size"), h("dd", null, fmtBytes(ds.size)),
    h("dt", null, "Formats"), h("dd", null, Object.entries(ds.formats).map(([f, n]) => `${f} (${n})`).join(", ") || "–"),
    h("dt", null, "Content hash"), h("dd", { class: "mono small" }, ds.content_hash.slice(0, 16)),
    h("dt", null, "Created"), h("dd", null, fmtTime(ds.created_at)), h("dt", null, "Updated"), h("dd", null, fmtTime(ds.updated_at)),
    ds.metadata.op ? [h("dt", null, "Op"), h("dd", null, ds.metadata.op)] : null,
    ds.metadata.params && Object.keys(ds.metadata.params).length ? [h("dt", null, "Params"), h("dd", null, h("pre", { class: "json" }, JSON.stringify(ds.metadata.params, null, 1)))] : null)));

  const side = h("div", { class: "stack" }, info);
  const main = h("div", { class: "stack" });
  root.append(h("div", { class: "grid grid-side" }, main, side));

  if (ds.is_metrics) {
    const { rows } = await get(`${dsPath(name)}/metrics`);
    main.append(h("div", { class: "card", "data-testid": "evaluation" }, h("div", { class: "card-head" }, h("h2", null, "Evaluation"), h("span", { class: "muted small" }, "per item and combined; percentages, IDSW a count")),
      h("div", { class: "card-body flush" }, metricsTable(rows))));
    side.prepend(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "HOTA, MOTA, IDF1")), h("div", { class: "card-body" }, metricsBars(rows))));
  }

  const search = h("input", { type: "search", placeholder: "Filter keys…", style: { maxWidth: "240px" }, "data-testid": "items-search" });
  const itemsCard = h("div", { class: "card" });
  main.append(itemsCard);
  const state = { offset: 0, q: "" };
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 200); });
  const head = h("div", { class: "card-head" }, h("h2", null, "Items"), h("div", { class: "actions" }, search));
  async function load() {
    const page = await get(`${dsPath(name)}/items?offset=${state.offset}&limit=100&q=${encodeURIComponent(state.q)}`);
    if (!page.total) {
      clear(itemsCard, head, emptyState(state.q ? "No key matches" : "No items yet", ds.kind === "computed" ? "Run the node that computes this dataset." : "Import data into this dataset from the Dashboard."));
      return;
    }
    clear(itemsCard, head, h("div", { class: "table-wrap" }, h("table", { class: "table", "data-testid": "items-table" },
      h("thead", null, h("tr", null, h("th", null, "Key"), h("th", null, "Content"), h("th", { class: "num" }, "Size"), h("th", null))),
      h("tbody", null, page.items.map((it) => {
        const href = `${dsPath(name)}/items/${encodeURIComponent(it.key)}`;
        return h("tr", { class: "clickable", onclick: (e) => { if (!e.target.closest("a")) ctx.navigate(href); } },
          h("td", { class: "mono" }, link(href, it.key)), h("td", { class: "muted" }, itemSummary(it)), h("td", { class: "num" }, fmtBytes(it.size)),
          h("td", { class: "num" }, h("a", { href: `/api${href}/file?download=true`, class: "btn btn-sm btn-ghost", title: "Download", download: "" }, "Download")));
      })))), pager(page, (off) => { state.offset = off; load(); }));
  }
  await load();
}
