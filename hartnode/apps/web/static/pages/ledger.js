// Ledger explorer: the newest events (filter by kind and origin, page back),
// and one event's signature and chain links, verified by the server.
import { api, card, clear, h, pill, short, when, debounce } from "/static/util.js";

const CHECKS = {
  hash: "the envelope rebuilt from the stored columns hashes to the event's hash",
  signature: "the origin's Ed25519 signature over that hash verifies",
  row: "the row's local columns are bound to the hash",
  prev: "prev is the hash of the origin's previous event",
  next: "the origin's next event names this one as its prev",
};

function verdict(name, value) {
  if (value === true) return h("span", { class: "ok" }, "✓ verified");
  if (value === false) return h("span", { class: "bad" }, "✗ FAILED");
  return h("span", { class: "muted" }, name === "next" ? "– no later event yet" : "– not held here");
}

function detail(v, go) {
  const e = v.event;
  return h("div", { id: "event-detail" },
    card(`Event ${e.kind}`,
      h("p", { id: "event-verdict", class: v.verified ? "ok" : "bad" },
        v.verified ? "✓ Signature and chain verified by this node" : "✗ Verification FAILED"),
      h("ul", { class: "checks" }, Object.entries(v.checks).map(([name, value]) =>
        h("li", { dataset: { check: name } }, verdict(name, value), ` ${name}: `,
          h("span", { class: "muted" }, CHECKS[name] || "")))),
      h("table", {}, h("tbody", {}, [
        ["hash", h("span", { class: "mono" }, e.hash)],
        ["origin", h("a", { href: `#/ledger?origin=${e.origin}`, class: "mono" }, e.origin)],
        ["seq", String(e.seq)],
        ["prev", e.prev ? h("a", { href: "#", class: "mono", id: "event-prev",
          onclick: (ev) => { ev.preventDefault(); go(e.prev); } }, e.prev) : "— (first event)"],
        ["next", v.next_event ? h("a", { href: "#", class: "mono", id: "event-next",
          onclick: (ev) => { ev.preventDefault(); go(v.next_event.hash); } },
          v.next_event.hash) : "—"],
        ["time", when(e.ts_ms)], ["actor", e.actor], ["scope", e.scope], ["reach", e.reach],
        ["signature", h("span", { class: "mono", id: "event-sig" }, e.sig)],
      ].map(([k, val]) => h("tr", {}, h("th", {}, k), h("td", {}, val))))),
      h("h2", {}, "payload"), h("pre", {}, JSON.stringify(e.payload, null, 2)),
      Object.keys(e.provenance || {}).length
        ? [h("h2", {}, "provenance"), h("pre", {}, JSON.stringify(e.provenance, null, 2))] : null));
}

export default {
  title: "Ledger",
  async render(el, app, arg) {
    const params = new URLSearchParams(arg.includes("?") ? arg.slice(arg.indexOf("?")) : "");
    const filter = { kind: params.get("kind") || "", origin: params.get("origin") || "" };
    let pages = [];  // the `before` cursor of each page shown
    let selected = null;
    const kind = h("input", { id: "filter-kind", placeholder: "kind, or prefix.*", value: filter.kind });
    const origin = h("input", { id: "filter-origin", placeholder: "origin node id",
                                size: 30, value: filter.origin });
    const tableBox = h("div", { id: "ledger-list" });
    const detailBox = h("div", { class: "grow" }, h("p", { class: "muted" },
      "Select an event to see its signature and chain verified."));
    const older = h("button", { id: "ledger-older", type: "button" }, "Older");
    const newer = h("button", { id: "ledger-newer", type: "button" }, "Newest");
    let current = null;

    async function load(before = 0) {
      const q = new URLSearchParams({ n: "50" });
      if (before) q.set("before", before);
      if (filter.kind) q.set("kind", filter.kind);
      if (filter.origin) q.set("origin", filter.origin);
      current = await api(`/api/v1/ledger?${q}`);
      older.disabled = current.next_before === null;
      newer.disabled = !before;
      clear(tableBox,
        h("p", { class: "muted" }, `${current.total} events in this ledger`),
        current.events.length ? h("table", { id: "ledger-table" },
          h("thead", {}, h("tr", {}, ["#", "time", "origin", "seq", "kind", "hash"]
            .map((t) => h("th", {}, t)))),
          h("tbody", {}, current.events.map((e) => h("tr", {
            class: `clickable${selected === e.hash ? " selected" : ""}`,
            dataset: { hash: e.hash, kind: e.kind, origin: e.origin },
            onclick: () => select(e.hash),
          }, h("td", {}, String(e.id)), h("td", {}, when(e.ts_ms)),
            h("td", { class: "mono", title: e.origin }, short(e.origin)),
            h("td", {}, String(e.seq)), h("td", {}, pill(e.kind, "")),
            h("td", { class: "mono" }, short(e.hash))))))
          : h("p", { class: "muted", id: "ledger-empty" }, "no events match"));
    }

    async function select(hash) {
      selected = hash;
      for (const tr of tableBox.querySelectorAll("tr[data-hash]")) {
        tr.classList.toggle("selected", tr.dataset.hash === hash);
      }
      try {
        clear(detailBox, detail(await api(`/api/v1/ledger/verify?hash=${hash}`), select));
      } catch (e) {
        clear(detailBox, h("p", { class: "bad" }, e.message));
      }
    }

    older.addEventListener("click", async () => {
      pages.push(current.next_before);
      await load(current.next_before);
    });
    newer.addEventListener("click", async () => { pages = []; await load(0); });
    const apply = async (ev) => {
      ev.preventDefault();
      // The filter lives in the URL (#/ledger?kind=...): a view can be bookmarked
      // and shared; a changed hash re-renders the page with it.
      const q = new URLSearchParams();
      if (kind.value.trim()) q.set("kind", kind.value.trim());
      if (origin.value.trim()) q.set("origin", origin.value.trim().toLowerCase());
      const target = `#/ledger${q.toString() ? "?" + q : ""}`;
      if (location.hash !== target) { location.hash = target; return; }
      pages = [];
      try { await load(0); app.clearError(); } catch (e) { app.showError(e); }
    };
    clear(el, h("h1", {}, "Ledger"),
      h("form", { class: "filters", id: "ledger-filter", onsubmit: apply },
        "kind", kind, "origin", origin, h("button", { type: "submit", class: "primary" }, "Filter"),
        newer, older),
      h("div", { class: "row" }, h("div", { class: "grow" }, tableBox), detailBox));
    await load(0);
    const hashArg = arg.split("?")[0];
    if (/^[0-9a-f]{64}$/.test(hashArg)) await select(hashArg);
    const refresh = debounce(() => { if (!pages.length) load(0); }, 300);
    return { live: (m) => { if (m.type === "ledger") refresh(); } };
  },
};
