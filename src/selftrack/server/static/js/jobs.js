// Jobs: every import, run and training, newest first, updated live from the app's event stream (no polling).
import { get } from "./api.js";
import { appState, onAppEvent } from "./app.js";
import { badge, clear, emptyState, fmtAgo, fmtDuration, h, link, pageHead, pct, progressBar } from "./dom.js";

export function jobRow(j, navigate) {
  const p = j.progress || {};
  const running = j.state === "running";
  const dur = j.started_at ? (j.finished_at || Date.now() / 1000) - j.started_at : null;
  return h("tr", { class: "clickable", "data-testid": `job-row-${j.id}`, onclick: () => navigate(`/jobs/${j.id}`) },
    h("td", { class: "mono" }, link(`/jobs/${j.id}`, `#${j.id}`)),
    h("td", null, h("div", null, j.name), j.error ? h("div", { class: "small", style: { color: "var(--red)" } }, j.error.slice(0, 140)) : null),
    h("td", { class: "muted" }, j.kind),
    h("td", null, j.kind === "run" && j.target ? link(`/pipeline?node=${encodeURIComponent(j.target)}`, j.target) : h("span", { class: "muted" }, j.target || "–")),
    h("td", null, badge(j.state)),
    h("td", { style: { width: "180px" } }, h("div", { class: "row" }, progressBar(p.fraction), h("span", { class: "small muted nowrap" }, running || j.state === "queued" ? pct(p.fraction) : ""))),
    h("td", { class: "muted small nowrap" }, fmtAgo(j.created_at)),
    h("td", { class: "muted small nowrap num" }, fmtDuration(dur)));
}

export async function render(root, _params, ctx) {
  root.append(pageHead("Jobs", "Imports, pipeline runs and trainings, with live progress. Jobs run in their own processes and survive a server restart."));
  const card = h("div", { class: "card" });
  root.append(card);
  const draw = (jobs) => {
    if (!jobs.length) {
      clear(card, emptyState("No jobs yet", "Running a node, importing data or making a browser copy of a video starts a job. Start from the Dashboard.", link("/", "Open the Dashboard")));
      return;
    }
    clear(card, h("div", { class: "table-wrap" }, h("table", { class: "table", "data-testid": "jobs-table" },
      h("thead", null, h("tr", null, ["Job", "Name", "Kind", "Node", "State", "Progress", "Created", "Duration"].map((x, i) => h("th", { class: i === 7 ? "num" : null }, x)))),
      h("tbody", null, jobs.map((j) => jobRow(j, ctx.navigate))))));
  };
  const initial = appState.jobs.length ? appState.jobs : (await get("/jobs?limit=100")).jobs;
  draw(initial);
  onAppEvent(ctx, "st:jobs", (e) => draw(e.detail));
}
