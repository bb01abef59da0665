// The single-page UI: a hash router over page modules, the live event
// stream, and the error bar. Pages export {title, render(el, app)}; render
// may return {live(message), stop()}.
import { api, h, ApiError } from "/static/util.js";
import dashboard from "/static/pages/dashboard.js";
import peers from "/static/pages/peers.js";
import ledger from "/static/pages/ledger.js";
import trust from "/static/pages/trust.js";
import compute from "/static/pages/compute.js";
import maintenance from "/static/pages/maintenance.js";
import { feed, communities } from "/static/pages/social.js";
import recipes from "/static/pages/recipes.js";
import goals from "/static/pages/goals.js";

const PAGES = { dashboard, peers, ledger, trust, compute, maintenance, feed, communities,
                recipes, goals };
const view = document.getElementById("view");
const errorBar = document.getElementById("error");
const app = { current: null, node: null, showError, clearError };

function showError(e) {
  errorBar.hidden = false;
  const hint = e instanceof ApiError && e.hint ? ` (${e.hint})` : "";
  errorBar.textContent = `${e.message || e}${hint}`;
}

function clearError() { errorBar.hidden = true; }

// #/page/arg?query: the page's name, and the rest (with its query) for the page.
function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const [name, ...rest] = (cut < 0 ? raw : raw.slice(0, cut)).split("/");
  const arg = rest.join("/") + (cut < 0 ? "" : raw.slice(cut));
  return { name: PAGES[name] ? name : "dashboard", arg };
}

let shown = 0;  // which show() is the current one

async function show() {
  const { name, arg } = route();
  const mine = ++shown;
  if (app.current && app.current.stop) app.current.stop();
  app.current = null;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === name);
  }
  clearError();
  const page = PAGES[name];
  document.title = `${page.title} · hartnode`;
  // A fresh element per visit: a slower, older render finishes into an
  // element no longer on the page instead of over the current one.
  const el = h("div", { dataset: { page: name } }, h("p", { class: "muted" }, "Loading…"));
  view.replaceChildren(el);
  try {
    const controller = (await page.render(el, app, arg)) || null;
    if (mine !== shown) {
      if (controller && controller.stop) controller.stop();
      return;
    }
    app.current = controller;
    el.dataset.ready = "1";
  } catch (e) {
    if (mine === shown) showError(e);
  }
}

function connectLive() {
  const badge = document.getElementById("live");
  const source = new EventSource("/api/v1/events/stream");
  source.onopen = () => { badge.className = "live on"; badge.textContent = "live"; };
  source.onerror = () => { badge.className = "live off"; badge.textContent = "reconnecting"; };
  source.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    document.body.dataset.lastLive = message.type;
    if (app.current && app.current.live) {
      try { app.current.live(message); } catch (e) { showError(e); }
    }
  };
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("/api/v1/ui/logout", { method: "POST", body: {} }); } catch (e) { /* gone */ }
  location.assign("/login");
});

async function start() {
  try {
    app.node = await api("/api/v1/node");
    document.getElementById("node-badge").textContent =
      `${app.node.short_id} · ${app.node.tier}${app.node.region ? " / " + app.node.region : ""}`;
  } catch (e) {
    showError(e);
  }
  window.addEventListener("hashchange", show);
  await show();
  connectLive();
}

start();
