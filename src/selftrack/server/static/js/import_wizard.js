// Import Data: upload files (streamed, with progress), a folder on the server, or the generated sample scene.
// Each import runs as a job (videos are probed, detections checked against their videos) and its progress
// shows here until it is done.
import { ApiError, followJob, get, post, upload } from "./api.js";
import { alertBox, button, clear, field, fmtBytes, h, modal, pct, progressBar, select, stageText } from "./dom.js";

const KINDS = [
  { value: "video", label: "Videos", type: "video", accept: "video/*,.avi,.mkv,.zip", ds: "videos", help: "mp4, avi, mkv, mov… or a zip of them. Stored as they are (no re-encoding)." },
  { value: "image", label: "Images", type: "image", accept: "image/*,.zip", ds: "images", help: "jpg, png… or a zip of them." },
  { value: "labels", label: "Detections or tracks of videos", type: "detections", accept: ".txt,.json,.xml,.zip", ds: "detections", help: "MOTChallenge text (det.txt / gt.txt), SkyhookML JSON or UA-DETRAC XML; one file per video, named after it (or a zip)." },
  { value: "labelled", label: "Labelled images (COCO, YOLO)", type: "detections", accept: ".json,.zip", ds: "labels", help: "A COCO JSON, or a zip of a COCO or YOLO set (images included if you want them imported too)." },
  { value: "model", label: "Model weights", type: "model", accept: ".onnx,.pt,.yaml", ds: "model", help: "YOLO .onnx (runs in the core install) or ultralytics .pt weights." },
  { value: "file", label: "Other files", type: "file", accept: "", ds: "files", help: "Any files, kept as they are." },
];

export async function importWizard({ kind = "video", tab = "upload" } = {}) {
  const datasets = (await get("/datasets?limit=500")).datasets;
  const state = { kind, tab, files: [] };
  const errorBox = h("div");
  const body = h("div");
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const panel = h("div");
  const progressBox = h("div");

  const kindSel = select(KINDS.map((k) => ({ value: k.value, label: k.label })), state.kind, { "data-testid": "import-kind" });
  const dsInput = h("input", { type: "text", list: "import-ds-list", "data-testid": "import-dataset" });
  const dsList = h("datalist", { id: "import-ds-list" });
  const formatSel = select([], null, { "data-testid": "import-format" });
  const videosSel = select([{ value: "", label: "(not linked to videos)" }, ...datasets.filter((d) => d.data_type === "video").map((d) => ({ value: d.name, label: d.name }))], "");
  const imagesInput = h("input", { type: "text", placeholder: "leave empty to import only the labels" });
  const fileInput = h("input", { type: "file", multiple: true, class: "hidden", "data-testid": "import-files" });
  const pathsInput = h("textarea", { rows: 3, placeholder: "/data/videos\n/data/more/clip.mp4", "data-testid": "import-paths" });
  const fileList = h("div", { class: "filelist" });
  const drop = h("div", { class: "dropzone", tabindex: 0, role: "button" }, h("b", null, "Drop files here"), " or click to choose");
  drop.addEventListener("click", () => fileInput.click());
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  fileInput.addEventListener("change", () => addFiles(fileInput.files));
  const genFrames = h("input", { type: "number", value: 300, min: 10, max: 20000, "data-testid": "gen-frames" });
  const genPeople = h("input", { type: "number", value: 10, min: 1, max: 64 });
  const genSeed = h("input", { type: "number", value: 0, min: 0 });
  const genVideos = h("input", { type: "text", value: "scene-videos", "data-testid": "gen-dataset" });
  const genTruth = h("input", { type: "text", value: "scene-ground-truth", "data-testid": "gen-ground-truth" });

  function addFiles(list) {
    for (const f of list) state.files.push({ file: f, row: null, bar: null, status: null });
    drawFiles();
  }
  function drawFiles() {
    clear(fileList);
    for (const f of state.files) {
      f.bar = progressBar(0);
      f.status = h("span", { class: "muted small" }, "ready");
      f.row = h("div", { class: "filerow" }, h("span", { class: "mono" }, f.file.name), h("span", { class: "muted small" }, fmtBytes(f.file.size)), h("div", { class: "row" }, f.bar, f.status));
      fileList.append(f.row);
    }
  }
  const kindInfo = () => KINDS.find((k) => k.value === kindSel.value);
  function syncKind() {
    const k = kindInfo();
    fileInput.accept = k.accept;
    clear(dsList, datasets.filter((d) => d.data_type === k.type || (k.type === "detections" && d.data_type === "tracks")).map((d) => h("option", { value: d.name })));
    if (!dsInput.dataset.touched) dsInput.value = k.ds === "model" ? "" : k.ds;
    dsInput.placeholder = k.ds === "model" ? "model-<file name>" : "";
    const formats = k.value === "labels"
      ? [["auto", "Detect from the file"], ["mot", "MOTChallenge text"], ["skyhook-json", "SkyhookML JSON"], ["detrac-xml", "UA-DETRAC XML"]]
      : k.value === "labelled" ? [["coco", "COCO JSON"], ["yolo", "YOLO folder"]] : [];
    clear(formatSel, formats.map(([v, l]) => h("option", { value: v }, l)));
    formatField.classList.toggle("hidden", !formats.length);
    videosField.classList.toggle("hidden", k.value !== "labels");
    imagesField.classList.toggle("hidden", k.value !== "labelled");
    kindHelp.textContent = k.help;
  }
  dsInput.addEventListener("input", () => { dsInput.dataset.touched = "1"; });
  kindSel.addEventListener("change", syncKind);
  const kindHelp = h("div", { class: "help" });
  const formatField = field("Format", formatSel);
  const videosField = field("Belongs to the videos of", videosSel, { help: "Checks that every file names a video and fits its length, and takes the frame size from it." });
  const imagesField = field("Also import the images into", imagesInput);
  const common = h("div", null,
    h("div", { class: "fields-2" }, h("div", { class: "field" }, h("label", null, "What are you importing?"), kindSel, kindHelp), field("Into dataset", dsInput, { help: "A new name creates the dataset; an existing one adds to it." })),
    h("div", { class: "fields-2" }, formatField, videosField, imagesField), dsList);

  function drawTab() {
    for (const b of tabs.children) b.classList.toggle("on", b.dataset.tab === state.tab);
    clear(errorBox);
    if (state.tab === "upload") clear(panel, common, drop, fileInput, fileList);
    else if (state.tab === "folder") clear(panel, common, field("Files or folders on the server (one per line)", pathsInput, { help: "Read where they are on the machine running selftrack serve." }));
    else {
      clear(panel,
        alertBox("info", "A fixed camera over a plaza where people cross, pass each other and come back, drawn with its exact ground-truth tracks: the demo's input, for trying the whole tutorial and scoring it."),
        h("div", { class: "fields-3" }, field("Frames (10 fps)", genFrames), field("People", genPeople), field("Seed", genSeed)),
        h("div", { class: "fields-2" }, field("Video dataset", genVideos), field("Ground-truth dataset", genTruth)));
    }
  }
  for (const [t, label] of [["upload", "Upload files"], ["folder", "Folder on the server"], ["generated", "Sample scene"]]) {
    tabs.append(h("button", { type: "button", role: "tab", "data-tab": t, "data-testid": `import-tab-${t}`, onclick: () => { state.tab = t; drawTab(); } }, label));
  }
  body.append(tabs, errorBox, panel, progressBox);
  syncKind();
  drawTab();

  async function watch(jobId, dataset) {
    const bar = progressBar(0, { big: true });
    const label = h("div", { class: "small muted" }, "starting…");
    clear(progressBox, h("div", { class: "stack", style: { gap: "6px", margin: "8px 0" } }, h("b", null, `Import job #${jobId}`), bar, label));
    const job = await followJob(jobId, (j) => {
      if (!j) return;
      const p = j.progress || {};
      bar.firstChild.style.width = pct(p.fraction);
      label.textContent = `${j.state}${p.stage ? ` · ${stageText(p.stage)}` : ""}`;
    });
    if (job.state === "done") {
      clear(progressBox, alertBox("ok", `Imported into ${dataset}. `, h("a", { href: `/datasets/${encodeURIComponent(dataset)}`, "data-link": "", "data-testid": "import-open-dataset", onclick: () => m.close() }, "Open the dataset")));
      importBtn.textContent = "Import more";
      state.files = [];
      drawFiles();
    } else {
      clear(progressBox, alertBox("error", `The import ${job.state}: ${job.error || "see the job's log"}. `, h("a", { href: `/jobs/${jobId}`, "data-link": "", onclick: () => m.close() }, "Open the job")));
    }
    importBtn.disabled = false;
  }

  async function go() {
    clear(errorBox);
    importBtn.disabled = true;
    try {
      if (state.tab === "generated") {
        const { job_id } = await post("/imports/generated", {
          dataset: genVideos.value.trim(), ground_truth: genTruth.value.trim() || null,
          frames: Number(genFrames.value), people: Number(genPeople.value), seed: Number(genSeed.value),
        });
        await watch(job_id, genVideos.value.trim());
        return;
      }
      const k = kindInfo();
      let dataset = dsInput.value.trim();
      const spec = {
        data_type: { labels: "labels", labelled: "labels" }[k.value] || k.value,
        format: formatSel.value || "auto", videos: videosSel.value || null, images_dataset: imagesInput.value.trim() || null,
      };
      if (state.tab === "upload") {
        if (!state.files.length) throw new Error("choose at least one file");
        if (!dataset && k.value === "model") dataset = `model-${state.files[0].file.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_.-]/g, "-")}`;
        if (!dataset) throw new Error("name the dataset to import into");
        const ids = [];
        for (const f of state.files) {
          f.status.textContent = "uploading";
          const res = await upload(f.file, (done, total) => { f.bar.firstChild.style.width = pct(done / total); f.status.textContent = pct(done / total); });
          f.bar.firstChild.style.width = "100%";
          f.status.textContent = "uploaded";
          ids.push(res.id);
        }
        const { job_id } = await post("/imports", { dataset, uploads: ids, ...spec });
        await watch(job_id, dataset);
      } else {
        const paths = pathsInput.value.split("\n").map((x) => x.trim()).filter(Boolean);
        if (!paths.length) throw new Error("give at least one path");
        if (!dataset) throw new Error("name the dataset to import into");
        const { job_id } = await post("/imports", { dataset, paths, ...spec });
        await watch(job_id, dataset);
      }
    } catch (e) {
      importBtn.disabled = false;
      errorBox.append(alertBox("error", e instanceof ApiError || e instanceof Error ? e.message : String(e)));
    }
  }
  const importBtn = button("Import", go, { kind: "primary", iconName: "upload", testid: "import-go" });
  const m = modal({ title: "Import data", sub: "Videos, images, detections and labels, model weights.", body, foot: [button("Close", () => m.close()), importBtn], wide: true, testid: "import-wizard" });
  return m;
}

