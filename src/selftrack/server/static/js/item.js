// Item page: a video with the player and overlays (a browser copy is made first for videos browsers cannot
// play), an image with its boxes, a detections table, a model's metadata, a file; download and export.
import { followJob, get, itemPath, post } from "./api.js";
import { metricsTable } from "./charts.js";
import {
  alertBox, badge, button, clear, crumbs, fmtBytes, fmtDuration, fmtFps, fmtNum, fpsValue, h, link, pageHead, pct, progressBar, stageText, typeLabel,
} from "./dom.js";
import { itemSummary } from "./dataset.js";
import { createPlayer, drawBoxes, OverlaySource } from "./player.js";

export async function render(root, [name, key], ctx) {
  let it;
  try { it = await get(itemPath(name, key)); } catch (e) {
    root.append(pageHead("Item not found", null, [], crumbs(link("/datasets", "Datasets"), link(`/datasets/${encodeURIComponent(name)}`, name), key)), alertBox("error", e.message));
    return;
  }
  const api = `/api${itemPath(name, key)}`;
  const download = h("a", { class: "btn", href: `${api}/file?download=true`, download: "", "data-testid": "item-download" }, "Download");
  const isDet = ["detections", "tracks"].includes(it.data_type);
  const exports = isDet ? [["mot", "MOTChallenge"], ["skyhook-json", "SkyhookML JSON"]].map(([f, l]) => h("a", { class: "btn", href: `${api}/export?format=${f}`, download: "" }, l)) : [];
  root.append(pageHead(key,
    h("span", { class: "row" }, typeLabel(it.data_type), h("span", null, `· ${itemSummary(summaryOf(it))} · ${fmtBytes(it.size)}`)),
    [...exports, download], crumbs(link("/datasets", "Datasets"), link(`/datasets/${encodeURIComponent(name)}`, name), key)));

  if (it.metadata.video) await videoView(root, it, ctx, api);
  else if (it.data_type === "image" || ["jpg", "jpeg", "png", "webp", "bmp"].includes(it.format)) imageView(root, it, api);
  else if (isDet) await detectionsView(root, it, ctx, name, key);
  else if (it.format === "json") await jsonView(root, it, api);
  else root.append(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, it.data_type === "model" ? "Model" : "File")), h("div", { class: "card-body" }, metaList(it))));
}

function summaryOf(it) {
  const m = it.metadata;
  const out = { format: it.format, filename: m.filename };
  if (m.video) out.video = m.video;
  if (m.detections) out.detections = m.detections;
  if (m.width) out.image = { width: m.width, height: m.height };
  if (m.summary) out.summary = m.summary;
  return out;
}

function metaList(it) {
  const rows = [["Format", it.format], ["Size", fmtBytes(it.size)], ["SHA-256", h("span", { class: "mono small" }, it.sha256.slice(0, 24) + "…")]];
  const m = { ...it.metadata };
  delete m.cache;
  return h("div", { class: "stack" }, h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    Object.keys(m).length ? h("details", { open: it.data_type === "model" }, h("summary", null, "Metadata"), h("pre", { class: "json" }, JSON.stringify(m, null, 2))) : null);
}

// ------------------------------------------------------------------------------------------ video
async function videoView(root, it, ctx, api) {
  const v = it.metadata.video;
  const fps = fpsValue((it.metadata.decode && it.metadata.decode.fps) || v.fps);
  const frames = v.frame_count;
  const main = h("div", { class: "stack" });
  const side = h("div", { class: "stack" });
  root.append(h("div", { class: "grid grid-side" }, main, side));

  const wanted = new Set((ctx.query.get("overlay") || "").split(",").filter(Boolean));
  if (!wanted.size && it.op !== "render") {  // a rendered video already shows its tracks
    const firstTracks = it.overlays.find((o) => o.data_type === "tracks" && o.node) || it.overlays.find((o) => o.data_type === "tracks");
    if (firstTracks) wanted.add(firstTracks.dataset);
  }
  const layers = it.overlays.map((o) => ({ ...o, on: wanted.has(o.dataset), source: new OverlaySource(o.dataset, it.key) }));
  const opts = { ids: true, scores: false };
  const frameTracks = h("div", { class: "swatches", "data-testid": "frame-tracks" });
  let player = null;

  const overlayCard = h("div", { class: "card", "data-testid": "overlays" }, h("div", { class: "card-head" }, h("h2", null, "Overlays"), h("span", { class: "muted small" }, "boxes drawn over the video")),
    h("div", { class: "card-body" },
      layers.length ? layers.map((l) => {
        const id = `ov-${l.dataset.replace(/[^a-z0-9]/gi, "-")}`;
        const cb = h("input", { type: "checkbox", id, checked: l.on, "data-testid": `overlay-${l.dataset}` });
        cb.addEventListener("change", () => { l.on = cb.checked; player && player.redraw(); });
        return h("div", { class: "overlay-row" }, cb, h("label", { for: id, class: "name", title: l.dataset }, l.dataset), typeLabel(l.data_type));
      }) : h("p", { class: "muted small" }, "No detections or tracks share this key yet. Run a detector or a tracker on this video."),
      h("div", { class: "row", style: { marginTop: "10px", gap: "14px" } },
        toggle("Track ids", opts.ids, (x) => { opts.ids = x; player && player.redraw(); }),
        toggle("Scores", opts.scores, (x) => { opts.scores = x; player && player.redraw(); }))));
  side.append(overlayCard,
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Tracks in this frame")), h("div", { class: "card-body" }, frameTracks)),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Video")), h("div", { class: "card-body" }, h("dl", { class: "kv" },
      h("dt", null, "Size"), h("dd", null, `${v.width} × ${v.height}`), h("dt", null, "Frame rate"), h("dd", null, fmtFps((it.metadata.decode && it.metadata.decode.fps) || v.fps)),
      h("dt", null, "Frames"), h("dd", null, fmtNum(frames)), h("dt", null, "Duration"), h("dd", null, fmtDuration(v.duration)),
      h("dt", null, "Codec"), h("dd", null, `${v.codec} (${it.format})`), h("dt", null, "Playback"), h("dd", null, it.playback.state === "direct" ? "the file itself" : "H.264 browser copy"),
      h("dt", null, "File"), h("dd", null, fmtBytes(it.size))))));

  const mount = h("div");
  main.append(mount);
  const start = () => {
    player = createPlayer({
      src: `${api}/video`, fps, frameCount: frames,
      getLayers: () => layers.filter((l) => l.on),
      getOpts: () => opts,
      onFrame: (_f, visible) => {
        const seen = new Map(visible);
        clear(frameTracks, seen.size ? [...seen].sort((a, b) => a[0] - b[0]).map(([t, c]) => h("span", { class: "swatch", "data-track": t }, h("i", { style: { background: c } }), t))
          : h("span", { class: "muted small" }, "none"));
      },
    });
    clear(mount, player.el);
    ctx.onCleanup(() => player.destroy());
    const f0 = Number(ctx.query.get("frame"));
    if (f0) player.video.addEventListener("loadedmetadata", () => player.seek(f0), { once: true });
  };

  if (it.playback.state === "direct" || it.playback.state === "ready") { start(); return; }
  // a video browsers cannot play: make (once) an H.264 copy, frame for frame, then play that
  const bar = progressBar(0, { big: true });
  const label = h("div", { class: "muted small" }, "starting…");
  clear(mount, h("div", { class: "card", "data-testid": "proxy-progress" }, h("div", { class: "card-body stack" },
    h("b", null, `Preparing a browser copy of this ${v.codec} video`),
    h("p", { class: "muted" }, "Browsers cannot play this format. selftrack encodes an H.264 copy once, frame for frame (the frame numbers do not change), and keeps it for next time."),
    bar, label)));
  const state = it.playback.state === "running" ? it.playback : await post(`${itemPath(it.dataset, it.key)}/proxy`);
  if (state.state === "ready") { start(); return; }
  const job = await followJob(state.job_id, (j) => {
    if (!j) return;
    bar.firstChild.style.width = pct(j.progress.fraction);
    label.textContent = `${j.state} · ${pct(j.progress.fraction)}${j.progress.stage ? ` · ${stageText(j.progress.stage)}` : ""}`;
  });
  if (job.state === "done") start();
  else clear(mount, alertBox("error", `The browser copy ${job.state}: ${job.error || ""} `, link(`/jobs/${job.id}`, "Open the job")));
}

function toggle(label, value, onChange) {
  const id = `t-${label.replace(/\W/g, "")}`;
  const cb = h("input", { type: "checkbox", id, checked: value });
  cb.addEventListener("change", () => onChange(cb.checked));
  return h("span", { class: "field inline", style: { margin: 0 } }, cb, h("label", { for: id }, label));
}

// ------------------------------------------------------------------------------------------ image
function imageView(root, it, api) {
  const img = h("img", { src: `${api}/file`, alt: it.key });
  const canvas = h("canvas");
  const stage = h("div", { class: "stage" }, img, canvas);
  const layers = it.overlays.map((o) => ({ ...o, on: true, source: new OverlaySource(o.dataset, it.key) }));
  const redraw = async () => {
    canvas.style.left = `${img.offsetLeft}px`;
    canvas.style.top = `${img.offsetTop}px`;
    const data = await Promise.all(layers.filter((l) => l.on).map((l) => l.source.frame(0).catch(() => null)));
    drawBoxes(canvas, img.clientWidth, img.clientHeight, data, { ids: true });
  };
  img.addEventListener("load", redraw);
  root.append(h("div", { class: "grid grid-side" }, h("div", { class: "player" }, stage),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Overlays")), h("div", { class: "card-body" },
      layers.length ? layers.map((l) => {
        const cb = h("input", { type: "checkbox", checked: true });
        cb.addEventListener("change", () => { l.on = cb.checked; redraw(); });
        return h("div", { class: "overlay-row" }, cb, h("span", { class: "name" }, l.dataset), typeLabel(l.data_type));
      }) : h("p", { class: "muted small" }, "No labels share this key."), metaList(it)))));
}

// ------------------------------------------------------------------------------------------ detections
async function detectionsView(root, it, ctx, name, key) {
  const d = it.metadata.detections || {};
  const videos = it.videos;
  const side = h("div", { class: "stack" },
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Show on the video")), h("div", { class: "card-body stack" },
      videos.length ? videos.map((v) => link(`/datasets/${encodeURIComponent(v)}/items/${encodeURIComponent(key)}?overlay=${encodeURIComponent(name)}`,
        h("span", { class: "btn btn-primary", "data-testid": `show-on-${v}` }, `Play ${v} / ${key} with these boxes`)))
        : h("p", { class: "muted small" }, "No video dataset has an item with this key."))),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Summary")), h("div", { class: "card-body" }, h("dl", { class: "kv" },
      h("dt", null, "Boxes"), h("dd", null, fmtNum(d.num_boxes)), h("dt", null, "Tracks"), h("dd", null, fmtNum(d.num_tracks)),
      h("dt", null, "Frames"), h("dd", null, fmtNum(d.num_frames)), h("dt", null, "Canvas"), h("dd", null, d.canvas ? `${d.canvas[0]} × ${d.canvas[1]}` : "–"),
      h("dt", null, "Classes"), h("dd", null, Object.values(d.classes || {}).join(", ") || "–")))));
  const tableCard = h("div", { class: "card" });
  const frameInput = h("input", { type: "number", min: 0, placeholder: "frame", style: { width: "110px" } });
  const state = { offset: 0, frame: null };
  const head = h("div", { class: "card-head" }, h("h2", null, "Boxes"), h("div", { class: "actions" }, frameInput, button("Go to frame", () => { state.frame = Number(frameInput.value); load(); }, { small: true })));
  async function load() {
    const q = state.frame != null ? `frame=${state.frame}` : `offset=${state.offset}`;
    const page = await get(`${itemPath(name, key)}/table?${q}&limit=100`);
    state.offset = page.offset; state.frame = null;
    clear(tableCard, head, h("div", { class: "table-wrap", style: { maxHeight: "60vh" } }, h("table", { class: "table", "data-testid": "boxes-table" },
      h("thead", null, h("tr", null, ["Frame", "Track", "x1", "y1", "x2", "y2", "Score", "Class"].map((c, i) => h("th", { class: i && i < 7 ? "num" : null }, c)))),
      h("tbody", null, page.rows.map((r) => h("tr", null, h("td", { class: "mono" }, r.frame), h("td", { class: "num" }, r.track_id >= 0 ? r.track_id : "–"),
        ["x1", "y1", "x2", "y2"].map((k) => h("td", { class: "num" }, r[k])), h("td", { class: "num" }, r.score), h("td", null, r.class)))))),
    h("div", { class: "pager" }, h("span", null, `rows ${fmtNum(page.offset + 1)}–${fmtNum(Math.min(page.total, page.offset + page.limit))} of ${fmtNum(page.total)}`), h("span", { class: "spacer" }),
      button("Previous", () => { state.offset = Math.max(0, page.offset - 100); load(); }, { small: true, disabled: !page.offset }),
      button("Next", () => { state.offset = page.offset + 100; load(); }, { small: true, disabled: page.offset + 100 >= page.total })));
  }
  root.append(h("div", { class: "grid grid-side" }, tableCard, side));
  await load();
}

// ------------------------------------------------------------------------------------------ JSON files
async function jsonView(root, it, api) {
  const text = await (await fetch(`${api}/file`)).text();
  let body;
  try {
    const data = JSON.parse(text);
    body = it.metadata.summary ? h("div", { class: "stack" }, metricsTable([{ key: it.key, ...it.metadata.summary }]), h("details", null, h("summary", null, "All values"), h("pre", { class: "json" }, JSON.stringify(data, null, 2))))
      : h("pre", { class: "json" }, JSON.stringify(data, null, 2));
  } catch { body = h("pre", { class: "json" }, text.slice(0, 200000)); }
  root.append(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, it.metadata.summary ? "Metrics" : "Content"), badge("done", it.format)), h("div", { class: "card-body" }, body)));
}
