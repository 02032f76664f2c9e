// One job, live: progress with rate and ETA, the plan of a multi-node run, the loss chart of a training, metrics,
// per-item states, the log tail, Stop. Everything arrives on the job's server-sent event stream.
import { get, post, stream } from "./api.js";
import {
  alertBox, badge, button, clear, crumbs, fmtDuration, fmtNum, fmtTime, h, link, pageHead, pct, progressBar, toast,
} from "./dom.js";
import { lossChart, metricsTable } from "./charts.js";

const KNOWN = new Set(["id", "name", "kind", "target", "state", "plan", "items_total", "items_done", "current", "error", "traceback",
  "stop_requested", "host", "pid", "created_at", "started_at", "finished_at", "progress"]);

export async function render(root, [id], ctx) {
  const jobId = Number(id);
  try {
    await get(`/jobs/${jobId}?log=0`);
  } catch (e) {
    root.append(pageHead("Job not found", null, [], crumbs(link("/jobs", "Jobs"), `#${jobId}`)), alertBox("error", e.message));
    return;
  }
  const head = h("div");
  const progressCard = h("div", { class: "card" });
  const planCard = h("div", { class: "card hidden" });
  const chartCard = h("div", { class: "card hidden", "data-testid": "loss-card" });
  const metricsCard = h("div", { class: "card hidden", "data-testid": "metrics-card" });
  const outputsCard = h("div", { class: "card hidden" });
  const itemsCard = h("div", { class: "card hidden" });
  const logPre = h("pre", { class: "log", "data-testid": "job-log" });
  const logCard = h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "Log"), h("span", { class: "muted small" }, "last lines")), logPre);
  const errorBox = h("div");
  root.append(head, errorBox, h("div", { class: "grid grid-side" },
    h("div", { class: "stack" }, progressCard, chartCard, metricsCard, logCard),
    h("div", { class: "stack" }, outputsCard, planCard, itemsCard)));

  const chart = lossChart();
  chartCard.append(h("div", { class: "card-head" }, h("h2", null, "Training loss"), h("span", { class: "muted small" }, "train (per step) and validation")), h("div", { class: "card-body" }, chart.el));
  let job = null;
  let events = [];
  let outputsShown = false;

  function drawHead() {
    const running = ["running", "queued"].includes(job.state);
    const stopBtn = running ? button(job.stop_requested ? "Stopping…" : "Stop", async () => {
      stopBtn.disabled = true;
      try { await post(`/jobs/${jobId}/stop`); toast(`Asked job #${jobId} to stop.`); } catch (e) { toast(e.message, { error: true }); stopBtn.disabled = false; }
    }, { kind: "danger", iconName: "stop", testid: "job-stop", disabled: job.stop_requested }) : null;
    clear(head, pageHead(
      h("span", null, `Job #${job.id} `, h("span", { style: { fontWeight: 450, color: "var(--ink-2)" } }, job.name), " ", h("span", { "data-testid": "job-state" }, badge(job.state))),
      h("span", null, job.kind === "run" && job.target ? ["node ", link(`/pipeline?node=${encodeURIComponent(job.target)}`, job.target), " · "] : null,
        `created ${fmtTime(job.created_at)}`, job.host ? ` · ${job.host}, pid ${job.pid}` : ""),
      [stopBtn], crumbs(link("/jobs", "Jobs"), `#${job.id}`)));
    clear(errorBox);
    if (job.state === "failed" || job.state === "interrupted") {
      errorBox.append(alertBox("error", h("b", null, job.state === "failed" ? "Failed: " : "Interrupted: "), job.error || "",
        job.traceback ? h("details", { style: { marginTop: "6px" } }, h("summary", null, "Traceback (from the worker process)"), h("pre", { class: "json" }, job.traceback)) : null));
    } else if (job.state === "stopped") errorBox.append(alertBox("warn", "Stopped on request. Items finished before the stop are kept; a new run resumes from them."));
  }

  function drawProgress() {
    const p = job.progress || {};
    const running = job.state === "running";
    const st = p.stage;
    const rate = st && st.rate ? `${fmtNum(st.rate, st.rate < 10 ? 2 : 0)} ${st.unit}/s` : "–";
    const extra = Object.entries(job).filter(([k, v]) => !KNOWN.has(k) && v != null && v !== "" && !(typeof v === "object" && !Object.keys(v).length));
    const stages = p.stages || [];
    clear(progressCard,
      h("div", { class: "card-head" }, h("h2", null, "Progress"), h("span", { class: "spacer" }), h("b", { "data-testid": "job-percent" }, pct(p.fraction))),
      h("div", { class: "card-body stack" },
        progressBar(p.fraction, { big: true, indeterminate: running && !p.fraction }),
        h("div", { class: "stats" },
          st ? statBox(`${fmtNum(st.done)} / ${fmtNum(st.total)}`, `${st.unit} · ${st.name}${st.parts > 1 ? ` (${st.part}/${st.parts})` : ""}`, "job-stage") : null,
          statBox(rate, "rate", "job-rate"),
          statBox(running ? fmtDuration(p.eta_seconds) : "–", "ETA of this stage", "job-eta"),
          statBox(fmtDuration(p.elapsed), "elapsed"),
          p.nodes_total ? statBox(`${p.nodes_done} / ${p.nodes_total}`, "nodes") : null,
          p.items_total ? statBox(`${fmtNum(p.items_done)} / ${fmtNum(p.items_total)}`, "items") : null),
        p.current ? h("div", { class: "muted small" }, "Now: ", h("b", null, p.current)) : null,
        stages.length > 1 ? h("table", { class: "table", "data-testid": "job-stages" }, h("thead", null, h("tr", null, ["Node", "Stage", "Done", "Rate", "Time", ""].map((x, i) => h("th", { class: i > 1 && i < 5 ? "num" : null }, x)))),
          h("tbody", null, stages.map((x) => h("tr", null, h("td", { class: "small" }, x.node), h("td", null, x.name),
            h("td", { class: "num small" }, `${fmtNum(x.done)} / ${fmtNum(x.total)} ${x.unit}`),
            h("td", { class: "num small" }, x.rate ? `${fmtNum(x.rate, x.rate < 10 ? 2 : 0)}/s` : "–"),
            h("td", { class: "num small" }, fmtDuration(x.elapsed)),
            h("td", { style: { width: "90px" } }, x.state === "running" ? progressBar(x.fraction) : badge(x.state)))))) : null,
        extra.length ? h("dl", { class: "kv" }, extra.map(([k, v]) => [h("dt", null, k.replace(/_/g, " ")), h("dd", null, typeof v === "object" ? JSON.stringify(v) : String(v))])) : null));
  }

  function drawPlan() {
    const plan = job.plan || [];
    planCard.classList.toggle("hidden", plan.length < 1 || job.kind !== "run");
    clear(planCard, h("div", { class: "card-head" }, h("h2", null, "Plan"), h("span", { class: "muted small" }, `${plan.length} node${plan.length === 1 ? "" : "s"}, in order`)),
      h("table", { class: "table" }, h("tbody", null, plan.map((s, i) => h("tr", null, h("td", { class: "muted" }, i + 1),
        h("td", null, link(`/pipeline?node=${encodeURIComponent(s.node)}`, s.node), h("div", { class: "small muted" }, s.op + (s.partial ? " · partial" : ""))),
        h("td", { class: "num" }, planBadge(s.state, job.state)))))));
  }

  function drawItems(items) {
    itemsCard.classList.toggle("hidden", !items || !items.length || (items.length === 1 && items[0].key === "*"));
    if (!items || !items.length) return;
    clear(itemsCard, h("div", { class: "card-head" }, h("h2", null, "Items")), h("div", { class: "table-wrap", style: { maxHeight: "320px" } },
      h("table", { class: "table" }, h("tbody", null, items.map((it) => h("tr", null, h("td", { class: "mono small" }, it.key), h("td", { class: "small muted" }, it.node),
        h("td", { style: { width: "90px" } }, it.state === "running" ? progressBar(it.frames_total ? it.frames_done / it.frames_total : 0) : badge(it.state))))))));
  }

  async function drawOutputs() {
    if (outputsShown || job.kind !== "run" || job.state !== "done" || !job.target) return;
    outputsShown = true;
    try {
      const node = await get(`/nodes/${encodeURIComponent(job.target)}`);
      const outs = Object.entries(node.outputs || {}).filter(([, o]) => o.dataset);
      if (!outs.length) return;
      outputsCard.classList.remove("hidden");
      clear(outputsCard, h("div", { class: "card-head" }, h("h2", null, "Results")), h("div", { class: "card-body stack" },
        outs.map(([name, o]) => h("div", { class: "row" }, h("span", { class: "grow" }, h("b", null, name), h("span", { class: "muted small" }, ` · ${o.data_type}, ${o.items} item(s)`)),
          link(`/datasets/${encodeURIComponent(o.dataset)}`, h("span", { class: "btn btn-sm btn-primary", "data-testid": `job-output-${name}` }, "Open"))))));
    } catch { /* the node may have been removed */ }
  }

  function addEvents(list) {
    events = events.concat(list);
    const losses = events.filter((e) => e.kind === "loss" || e.kind === "val_loss");
    if (losses.length) { chartCard.classList.remove("hidden"); chart.update(losses); }
    const metrics = events.filter((e) => e.kind === "metrics");
    if (metrics.length) {
      metricsCard.classList.remove("hidden");
      clear(metricsCard, h("div", { class: "card-head" }, h("h2", null, "Metrics")), h("div", { class: "card-body flush" }, metricsTable(metrics)));
    }
  }

  function addLog(lines, replace = false) {
    const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 20;
    if (replace || logPre.dataset.empty) { logPre.textContent = ""; delete logPre.dataset.empty; }
    logPre.textContent += lines.map((l) => l + "\n").join("");
    const all = logPre.textContent.split("\n");
    if (all.length > 400) logPre.textContent = all.slice(-400).join("\n");
    if (atBottom || replace) logPre.scrollTop = logPre.scrollHeight;
    if (!logPre.textContent) { logPre.textContent = "(nothing logged yet)"; logPre.dataset.empty = "1"; }
  }

  const update = (j, items) => {
    if (!j) return;
    job = j;
    drawHead(); drawProgress(); drawPlan(); drawItems(items); drawOutputs();
  };
  const close = stream(`/jobs/${jobId}/stream`, {
    snapshot: (d) => {
      if (!d.job) { clear(root, alertBox("error", `No job #${jobId}. `, link("/jobs", "All jobs"))); return; }
      events = []; update(d.job, d.items); addEvents(d.events || []); addLog(d.log || [], true);
    },
    job: (d) => update(d.job, d.items),
    log: (d) => addLog(d.lines),
    events: (d) => addEvents(d.events),
  });
  ctx.onCleanup(close);
  ctx.onCleanup(() => chart.destroy());
}

// a finished job's plan still says where it was when it ended: show that step with the job's end state
function planBadge(step, jobState) {
  const over = !["queued", "running"].includes(jobState);
  if (over && step === "running") return badge(jobState);
  if (over && step === "pending") return badge("not-computed", "not run");
  return badge(step === "pending" ? "queued" : step, step);
}

function statBox(v, label, testid = null) {
  return h("div", { class: "stat" }, h("span", { class: "v", "data-testid": testid }, v), h("span", { class: "l" }, label));
}
