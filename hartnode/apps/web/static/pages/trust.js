// Trust: this node's code hash and releases, the peers it judged, attestations
// and fraud alerts with their evidence.
import { api, apiOptional, card, clear, h, pill, short, when, table, debounce }
  from "/static/util.js";

async function load() {
  const [trust, attestations, alerts] = await Promise.all([
    api("/api/v1/trust"), apiOptional("/api/v1/trust/attestations?n=100"),
    apiOptional("/api/v1/trust/alerts?n=100")]);
  return { trust, attestations: (attestations && attestations.attestations) || [],
           alerts: (alerts && alerts.alerts) || [] };
}

export default {
  title: "Trust",
  async render(el) {
    let data = await load();
    const draw = () => {
      const { trust, attestations, alerts } = data;
      clear(el, h("h1", {}, "Trust"),
        card("This node's code",
          h("div", { class: "mono" }, trust.code_hash || "—"),
          h("p", {}, trust.release ? pill("a trusted release", "good")
            : pill("not a published release", "stale"),
            ` · ${trust.releases.length} releases known`)),
        card("Judged peers", table([
          ["node", (p) => h("span", { class: "mono", title: p.node_id }, short(p.node_id))],
          ["score", (p) => (p.score === null || p.score === undefined ? "—" : Number(p.score).toFixed(3))],
          ["standing", (p) => pill(p.integrity_status)],
          ["quarantine until", (p) => when(p.quarantine_until_ms)],
          ["outcomes", (p) => Object.entries(p.outcomes || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "—"],
        ], trust.peers, { empty: "no peer judged yet", id: "trust-peers" })),
        card(`Attestations (${attestations.length})`, table([
          ["time", (a) => when(a.ts_ms)],
          ["attester", (a) => h("span", { class: "mono" }, short(a.attester))],
          ["subject", (a) => h("span", { class: "mono" }, short(a.subject))],
          ["verdict", (a) => pill(a.verdict)],
          ["reason", (a) => a.reason || "—"],
          ["code", (a) => h("span", { class: "mono" }, short(a.code_hash))],
        ], attestations, { empty: "no attestations yet", id: "attestations" })),
        card(`Fraud alerts (${alerts.length})`, alerts.length ? h("div", { id: "alerts" },
          alerts.map((a) => h("div", { class: "post", dataset: { alert: a.id } },
            h("div", {}, pill(a.severity), ` ${a.alert_type} on `,
              h("span", { class: "mono" }, a.node_id)),
            h("div", { class: "meta" }, `reported by ${short(a.reporter)} · ${when(a.ts_ms)} · `,
              "ledger event ", h("a", { href: `#/ledger` }, `#${a.source_event}`)),
            h("details", {}, h("summary", {}, "evidence"),
              h("pre", {}, JSON.stringify(a.evidence, null, 2))))))
          : h("p", { class: "muted", id: "alerts" }, "no fraud alerts")));
    };
    draw();
    const reload = debounce(async () => { data = await load(); draw(); }, 500);
    return { live: (m) => { if (m.type === "ledger" && m.data.events.some((e) =>
      e.kind.startsWith("trust.") || e.kind.startsWith("policy."))) reload(); } };
  },
};
