// The app's entry: navigation, a path router (history API), and one server-sent event stream for the whole
// app (job list and dataset changes) that pages listen to through window events.
import { get, stream } from "./api.js";
import { alertBox, clear, h, icon } from "./dom.js";

const ROUTES = [
  [/^\/$/, () => import("./dashboard.js"), "dashboard"],
  [/^\/pipeline$/, () => import("./pipeline.js"), "pipeline"],
  [/^\/datasets$/, () => import("./datasets.js"), "datasets"],
  [/^\/datasets\/([^/]+)$/, () => import("./dataset.js"), "datasets"],
  [/^\/datasets\/([^/]+)\/items\/([^/]+)$/, () => import("./item.js"), "datasets"],
  [/^\/jobs$/, () => import("./jobs.js"), "jobs"],
  [/^\/jobs\/(\d+)$/, () => import("./job.js"), "jobs"],
  [/^\/api-docs$/, () => import("./apidocs.js"), "api"],
];

const NAV = [
  ["/", "Dashboard", "dashboard", "dashboard"],
  ["/pipeline", "Pipeline", "pipeline", "pipeline"],
  ["/datasets", "Datasets", "datasets", "datasets"],
  ["/jobs", "Jobs", "jobs", "jobs"],
  ["/api-docs", "REST API", "api", "api"],
];

export const appState = { jobs: [], info: null };
let cleanups = [];
let renderToken = 0;

function drawNav(active) {
  const running = appState.jobs.filter((j) => j.state === "running" || j.state === "queued").length;
  clear(
    document.getElementById("nav"),
    h("a", { class: "brand", href: "/", "data-link": "" }, h("span", { class: "brand-mark" }), "selftrack"),
    NAV.map(([href, label, iconName, key]) =>
      h("a", { class: `nav-link${key === active ? " active" : ""}`, href, "data-link": "", "data-testid": `nav-${key}` },
        icon(iconName), label,
        key === "jobs" && running ? h("span", { class: "nav-badge", title: "running jobs" }, running) : null)),
    h("div", { class: "nav-foot" }, "Workspace", h("br"), h("b", null, appState.info ? appState.info.workspace : "…")),
  );
}

let activeNav = "dashboard";

export async function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  await render();
}

async function render() {
  const token = ++renderToken;
  for (const fn of cleanups) { try { fn(); } catch (e) { console.error(e); } }
  cleanups = [];
  const path = decodeURI(location.pathname).length ? location.pathname : "/";
  const root = document.getElementById("page");
  let match = null;
  for (const [re, loader, nav] of ROUTES) {
    const m = path.match(re);
    if (m) { match = { loader, nav, params: m.slice(1).map(decodeURIComponent) }; break; }
  }
  if (!match) {
    clear(root, alertBox("error", `No page at ${path}. `, h("a", { href: "/", "data-link": "" }, "Go to the dashboard")));
    return;
  }
  activeNav = match.nav;
  drawNav(activeNav);
  const mod = await match.loader();
  if (token !== renderToken) return;
  root.replaceChildren();
  window.scrollTo(0, 0);
  const ctx = {
    onCleanup: (fn) => cleanups.push(fn),
    query: new URLSearchParams(location.search),
    navigate,
  };
  try {
    await mod.render(root, match.params, ctx);
  } catch (e) {
    console.error(e);
    if (token === renderToken) clear(root, alertBox("error", e.message || String(e)));
  }
}

// Links: same-origin <a data-link> navigate without reloading.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", render);

// One live stream for the whole app.
stream("/events", {
  jobs: (d) => {
    appState.jobs = d.jobs;
    drawNav(activeNav);
    window.dispatchEvent(new CustomEvent("st:jobs", { detail: d.jobs }));
  },
  datasets: (d) => window.dispatchEvent(new CustomEvent("st:datasets", { detail: d.version })),
});

export function onAppEvent(ctx, name, fn) {
  window.addEventListener(name, fn);
  ctx.onCleanup(() => window.removeEventListener(name, fn));
}

get("/info").then((info) => { appState.info = info; drawNav(activeNav); }).catch(() => {});
drawNav(activeNav);
render();
