// Dashboard: quick-start cards (the tutorial's wizards), the tutorial's progress on this workspace, recent jobs.
import { get } from "./api.js";
import { appState, onAppEvent } from "./app.js";
import { badge, button, clear, fmtAgo, h, icon, link, pageHead, pct, progressBar } from "./dom.js";
import { importWizard } from "./import_wizard.js";
import {
  detectionWizard, detectorTrainingWizard, evaluateWizard, renderWizard, reidTrainingWizard, trackingWizard,
} from "./wizards.js";

const CARDS = [
  {
    key: "import", title: "Import data", color: "#2563eb", iconName: "upload",
    text: "Upload videos, images, detections or labels (MOTChallenge, SkyhookML, COCO, YOLO, UA-DETRAC), import a server folder, or generate a sample scene.",
    actions: (caps) => [["Upload files", () => importWizard({ tab: "upload" }), "qs-import"], ["Sample scene", () => importWizard({ tab: "generated" }), "qs-sample"]],
  },
  {
    key: "apply", title: "Apply a model", color: "#d97706", iconName: "detect",
    text: "Object detection (YOLO, moving objects, people) on your videos, or object tracking with the re-identification tracker or a classic one.",
    actions: () => [["Object detection", detectionWizard, "qs-detect"], ["Object tracking", trackingWizard, "qs-track"]],
  },
  {
    key: "train", title: "Train a model", color: "#7c3aed", iconName: "model",
    text: "Unsupervised re-identification from videos and detections, no labels; a YOLO detector; or a detector for a fixed camera bootstrapped without labels.",
    actions: (caps) => [
      ["Re-identification", reidTrainingWizard, "qs-train-reid"],
      ["Object detector", () => detectorTrainingWizard("yolo"), "qs-train-yolo", !caps.ultralytics],
      ["No-label bootstrap", () => detectorTrainingWizard("bootstrap"), "qs-bootstrap", !caps.ultralytics],
    ],
  },
  {
    key: "render", title: "Render and evaluate", color: "#0d9488", iconName: "render",
    text: "Draw tracks on the video with one stable colour and id per track, and score them against ground truth (HOTA, MOTA, IDF1).",
    actions: () => [["Render video", renderWizard, "qs-render"], ["Evaluate", evaluateWizard, "qs-evaluate"]],
  },
];

const STEPS = [
  { title: "Import videos", text: "The footage to learn from.", done: (c) => c.videos > 0, action: ["Import", () => importWizard()] },
  { title: "Detect objects", text: "Apply a model > Object detection.", ops: ["object_detection"], action: ["Detect", detectionWizard] },
  { title: "Train re-identification", text: "Train a model > Unsupervised re-identification (no labels).", ops: ["unsupervised_reid"], action: ["Train", reidTrainingWizard] },
  { title: "Track", text: "Apply a model > Object tracking, with the re-id model, videos and detections.", ops: ["reid_tracker", "track"], action: ["Track", trackingWizard] },
  { title: "Render", text: "See the tracks on the video, one colour and id each.", ops: ["render"], action: ["Render", renderWizard] },
  { title: "Evaluate", text: "Against ground truth, if you have it (the sample scene does).", ops: ["evaluate"], action: ["Evaluate", evaluateWizard] },
];

export async function render(root, _params, ctx) {
  const [ops, nodes, datasets] = await Promise.all([get("/ops"), get("/nodes"), get("/datasets?limit=500")]);
  const caps = ops.capabilities;
  root.append(pageHead("Dashboard", "Train a multi-object tracker from unlabeled video, and run it."));

  const hero = h("div", { class: "hero" });
  for (const c of CARDS) {
    hero.append(h("div", { class: "card qs", "data-testid": `card-${c.key}` },
      h("div", { class: "icon", style: { background: `${c.color}18`, color: c.color } }, icon(c.iconName)),
      h("h2", null, c.title), h("p", null, c.text),
      h("div", { class: "btns" }, c.actions(caps).map(([label, fn, testid, disabled]) =>
        button(label, fn, { small: true, testid, disabled, title: disabled ? "needs the optional ultralytics extra (see the README)" : null })))));
  }
  root.append(hero);

  const steps = h("ul", { class: "steps", "data-testid": "tutorial-steps" });
  const drawSteps = (nodes, datasets) => {
    const counts = {
      videos: datasets.datasets.filter((d) => d.data_type === "video" && d.kind === "source" && d.items > 0).length,
    };
    let nextMarked = false;
    clear(steps, STEPS.map((st, i) => {
      const mine = st.ops ? nodes.nodes.filter((n) => st.ops.includes(n.op)) : [];
      const done = st.done ? st.done(counts) : mine.some((n) => n.state === "done");
      const running = mine.find((n) => n.state === "running" || n.state === "queued");
      const isNext = !done && !nextMarked;
      if (isNext) nextMarked = true;
      return h("li", { class: `${done ? "done" : ""}${isNext ? " next" : ""}` },
        h("span", { class: "dot" }, done ? "✓" : String(i + 1)),
        h("div", { class: "what" }, h("b", null, st.title), h("small", null, mine.length ? mine.map((n) => n.name).join(", ") + " · " + st.text : st.text)),
        running ? link(`/jobs/${running.job_id}`, badge("running")) : mine.length ? badge(mine[mine.length - 1].state) : null,
        button(st.action[0], st.action[1], { small: true, kind: isNext ? "primary" : "" }));
    }));
  };
  drawSteps(nodes, datasets);
  let soon = null;
  const refreshSteps = () => {
    clearTimeout(soon);
    soon = setTimeout(async () => drawSteps(await get("/nodes"), await get("/datasets?limit=500")), 800);
  };
  ctx.onCleanup(() => clearTimeout(soon));

  const jobsBody = h("div");
  const drawJobs = (jobs) => {
    const recent = jobs.slice(0, 6);
    if (!recent.length) { clear(jobsBody, h("div", { class: "empty", style: { padding: "28px" } }, h("p", null, "No jobs yet. Every import, run and training shows here with its progress."))); return; }
    clear(jobsBody, h("table", { class: "table" }, h("tbody", null, recent.map((j) => h("tr", { class: "clickable", onclick: () => ctx.navigate(`/jobs/${j.id}`) },
      h("td", null, link(`/jobs/${j.id}`, `#${j.id}`)), h("td", null, j.name),
      h("td", { style: { width: "120px" } }, j.state === "running" ? progressBar(j.progress.fraction) : badge(j.state)),
      h("td", { class: "muted small nowrap" }, j.state === "running" ? pct(j.progress.fraction) : fmtAgo(j.finished_at || j.created_at)))))));
  };
  drawJobs(appState.jobs);
  let lastStates = JSON.stringify(appState.jobs.map((j) => [j.id, j.state]));
  onAppEvent(ctx, "st:jobs", (e) => {
    drawJobs(e.detail);
    const states = JSON.stringify(e.detail.map((j) => [j.id, j.state]));
    if (states !== lastStates) { lastStates = states; refreshSteps(); }  // a job started or ended
  });

  const stats = h("div", { class: "stats" },
    stat(datasets.total, "datasets", "/datasets"), stat(nodes.nodes.length, "pipeline nodes", "/pipeline"),
    stat(datasets.datasets.reduce((a, d) => a + (d.items || 0), 0), "items"));

  root.append(h("div", { class: "grid grid-2" },
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "The tracker tutorial"), h("span", { class: "muted small" }, "on this workspace")), steps),
    h("div", { class: "stack" },
      h("div", { class: "card" }, h("div", { class: "card-body" }, stats)),
      h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Recent jobs"), h("div", { class: "actions" }, link("/jobs", "All jobs"))), jobsBody))));
}

function stat(v, label, href) {
  return h("div", { class: "stat" }, h("span", { class: "v" }, href ? link(href, String(v)) : String(v)), h("span", { class: "l" }, label));
}
