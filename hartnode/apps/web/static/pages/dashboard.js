// Dashboard: what the node is doing, at a glance.
import { api, apiOptional, card, clear, duration, h, pill, short, spark, when, debounce }
  from "/static/util.js";

function backlog(hierarchy) {
  let pending = 0, inFlight = 0;
  for (const byDir of Object.values((hierarchy && hierarchy.sync_queue) || {})) {
    for (const row of Object.values(byDir)) {
      pending += row.pending || 0;
      inFlight += row.in_flight || 0;
    }
  }
  return { pending, inFlight };
}

async function load() {
  const [node, compute, wallet, alerts] = await Promise.all([
    api("/api/v1/node"), apiOptional("/api/v1/compute/status"), apiOptional("/api/v1/wallet"),
    apiOptional("/api/v1/trust/alerts?n=5")]);
  return { node, compute, wallet, alerts: (alerts && alerts.alerts) || [] };
}

export default {
  title: "Dashboard",
  async render(el) {
    let data = await load();
    let loadedAt = performance.now();
    const uptime = h("span", { class: "big", id: "dash-uptime" });
    const tick = () => {
      uptime.textContent = duration(data.node.uptime_s + (performance.now() - loadedAt) / 1000);
    };
    const draw = () => {
      const { node, compute, wallet, alerts } = data;
      const head = node.ledger || {};
      const gpu = compute && compute.gpu;
      const sync = backlog(node.hierarchy);
      const claimedNote = node.claimed_tier !== node.tier
        ? h("p", { class: "warn" }, `config claims ${node.claimed_tier}; the chain proves ${node.tier}`)
        : null;
      tick();
      clear(el,
        h("h1", {}, "Dashboard"),
        h("div", { class: "grid", id: "dashboard" },
          card("Identity",
            h("div", { class: "mono", id: "dash-node-id" }, node.node_id),
            h("div", { class: "muted" }, `version ${node.version} · network ${node.network}`)),
          card("Tier",
            h("div", { class: "big", id: "dash-tier" }, node.tier),
            h("div", { class: "muted" }, node.region ? `region ${node.region}` : "no region"),
            h("div", { class: "muted" }, node.tier === "flat" ? "no certificate proves a tier"
              : "proven by the certificate chain"), claimedNote),
          card("Uptime", uptime),
          card("Peers",
            h("div", { class: "big", id: "dash-peers" }, String(node.peers)),
            h("div", { class: "muted" }, `${(node.overlay && node.overlay.links) || 0} open links, `
              + `${(node.overlay && node.overlay.active_view.length) || 0} in the active view`)),
          card("Ledger head",
            h("div", { class: "big", id: "dash-events" }, `${head.events} events`),
            h("div", {}, `own seq ${head.seq} · ${head.origins} origins`),
            h("div", { class: "mono muted" }, head.hash ? short(head.hash) : "no own event yet"),
            h("div", { class: "muted" }, `views at ${head.views_watermark}`)),
          card("Sync backlog",
            h("div", { class: "big", id: "dash-backlog" }, String(sync.pending + sync.inFlight)),
            h("div", { class: "muted" }, `${sync.pending} pending, ${sync.inFlight} in flight`
              + (node.hierarchy && node.hierarchy.parent ? ` · parent ${short(node.hierarchy.parent)}`
                : " · no parent"))),
          card("Compute",
            h("div", { class: "big", id: "dash-gpu" },
              gpu ? (gpu.available ? `${gpu.gpus.length} GPU` : "CPU-only") : "—"),
            h("div", { class: "muted" }, gpu && !gpu.available ? `no GPU: ${gpu.reason}`
              : gpu ? gpu.gpus.map((g) => g.name || g.model || "GPU").join(", ") : "")),
          card("Wallet",
            h("div", { class: "big", id: "dash-wallet" },
              wallet ? spark(wallet.wallet.spark_msp) : "—"),
            h("div", { class: "muted" }, wallet ? `${spark(wallet.wallet.held_msp)} held in escrow` : "")),
          card("Alerts",
            h("div", { class: `big ${alerts.length ? "bad" : "ok"}`, id: "dash-alerts" },
              alerts.length ? `${alerts.length} recent` : "none"),
            h("ul", {}, alerts.map((a) => h("li", {},
              pill(a.severity), ` ${a.alert_type} on ${short(a.node_id)} · ${when(a.ts_ms)}`))))));
    };
    draw();
    const timer = setInterval(tick, 1000);
    const reload = debounce(async () => {
      data = await load();
      loadedAt = performance.now();
      draw();
    }, 250);
    return { live: reload, stop: () => clearInterval(timer) };
  },
};
