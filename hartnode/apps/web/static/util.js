// Small helpers shared by the pages: DOM building (text only, never HTML
// strings, so nothing a peer wrote can run as script), formatting, the API.

export class ApiError extends Error {
  constructor(status, error, hint) {
    super(error || `HTTP ${status}`);
    this.status = status;
    this.hint = hint || "";
  }
}

// h("div", {class: "card", onclick: fn}, "text", child, [more children])
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "line", "circle", "text", "g", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag)
                 : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// The CSRF token the server set for this port (Syncthing's scheme): echoed
// in a header on every request that changes something.
export function csrfToken() {
  const name = `hartnode-csrf-${location.port || "80"}=`;
  for (const part of document.cookie.split(";")) {
    const c = part.trim();
    if (c.startsWith(name)) return decodeURIComponent(c.slice(name.length));
  }
  return "";
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrfToken();
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.assign("/login");
    throw new ApiError(401, "not logged in");
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data && data.error, data && data.hint);
  return data;
}

// An API call that answers null instead of failing when the route is not
// there (404/405: an app this build does not have).
export async function apiOptional(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}

export const short = (id) => (id ? String(id).slice(0, 12) : "—");

/** "1 comment", "2 comments": a count with its noun. */
export function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function ago(ms) {
  if (!ms) return "—";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function when(ms) {
  return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z" : "—";
}

export function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  return d ? `${d}d ${hr}h ${m}m` : hr ? `${hr}h ${m}m ${sec}s` : m ? `${m}m ${sec}s` : `${sec}s`;
}

export const spark = (msp) => `${(Number(msp || 0) / 1000).toFixed(3)} Spark`;
export const usd = (uusd) => `$${(Number(uusd || 0) / 1e6).toFixed(4)}`;

export function bytes(n) {
  n = Number(n || 0);
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

export const pill = (text, cls) => h("span", { class: `pill ${cls || text || ""}` }, text ?? "—");

export function table(columns, rows, { onclick, empty = "nothing yet", id } = {}) {
  if (!rows.length) return h("p", { class: "muted", id }, empty);
  return h("table", { id },
    h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", {}, label)))),
    h("tbody", {}, rows.map((row) => h("tr", {
      class: onclick ? "clickable" : undefined,
      onclick: onclick ? () => onclick(row) : undefined,
    }, columns.map(([, cell]) => h("td", {}, cell(row)))))));
}

export const card = (title, ...body) => h("section", { class: "card" }, h("h2", {}, title), ...body);

export function meter(done, total) {
  const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
  const bar = h("div");
  bar.style.width = `${pct}%`;
  return h("div", { class: `meter${total > 0 && done > total ? " over" : ""}`,
                    role: "progressbar", "aria-valuenow": Math.round(pct) }, bar);
}

// Run fn at most once per `ms` (the trailing call kept): live messages can
// arrive in bursts, a page re-reads once.
export function debounce(fn, ms = 300) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
