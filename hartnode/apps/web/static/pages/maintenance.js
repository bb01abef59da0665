// Maintenance: verify, back up and rebuild while the node runs, with live progress.
import { api, card, clear, h, meter, pill, when, bytes } from "/static/util.js";

const HELP = {
  verify: "check every event's hash, signature and chain link, and the views",
  backup: "a consistent copy of both databases and the node's key, into the data directory's backups/",
  rebuild: "empty the views and replay the whole ledger into them",
};

function progressText(op) {
  const fmt = op.unit === "bytes" ? bytes : (n) => `${n} ${op.unit}`;
  return `${fmt(op.done)} of ${fmt(op.total)}`;
}

export default {
  title: "Maintenance",
  async render(el, app) {
    const ops = new Map();
    // The POST's answer and the stream's messages race: keep the newest copy.
    const keep = (op) => {
      const known = ops.get(op.id);
      if (!known || op.rev >= known.rev) ops.set(op.id, op);
      draw();
    };
    const list = h("div", { id: "ops" });
    const buttons = Object.keys(HELP).map((op) => h("button", {
      type: "button", class: "primary", id: `op-${op}`,
      onclick: async () => {
        try {
          const record = await api("/api/v1/ops", { method: "POST", body: { op } });
          keep(record);
        } catch (e) { app.showError(e); }
      } }, op[0].toUpperCase() + op.slice(1)));
    const draw = () => {
      const rows = [...ops.values()].sort((a, b) => b.id - a.id);
      const running = rows.some((r) => r.state === "running");
      for (const b of buttons) b.disabled = running;
      clear(list, rows.length ? rows.map((op) => h("div", {
        class: "card", dataset: { op: op.op, state: op.state, id: op.id } },
        h("h2", {}, `#${op.id} ${op.op} `, pill(op.state)),
        meter(op.state === "done" ? 1 : op.done, op.state === "done" ? 1 : op.total),
        h("div", { class: "muted" }, progressText(op), ` · started ${when(op.started_ms)}`,
          op.finished_ms ? ` · took ${((op.finished_ms - op.started_ms) / 1000).toFixed(2)} s` : ""),
        op.error ? h("p", { class: "bad" }, op.error) : null,
        op.result ? h("details", {}, h("summary", {}, "result"),
          h("pre", { class: "op-result" }, JSON.stringify(op.result, null, 2))) : null))
        : h("p", { class: "muted" }, "no operation run since the node started"));
    };
    clear(el, h("h1", {}, "Maintenance"),
      card("Operations", h("ul", {}, Object.entries(HELP).map(([op, text]) =>
        h("li", {}, h("b", {}, op), `: ${text}`))), h("div", { class: "filters" }, buttons)),
      list);
    for (const op of (await api("/api/v1/ops")).ops) ops.set(op.id, op);
    draw();
    return { live: (m) => {
      if (m.type === "op") keep(m.data);
    } };
  },
};
