// Compute: the policy and where each value comes from, the GPU, jobs,
// escrows, and today's metered spend against the daily limit.
import { api, apiOptional, card, clear, h, meter, pill, short, spark, usd, when, table, debounce }
  from "/static/util.js";

async function load() {
  const [status, jobs, escrow, metering] = await Promise.all([
    api("/api/v1/compute/status"), api("/api/v1/compute/jobs"), api("/api/v1/compute/escrow"),
    apiOptional("/api/v1/compute/metering")]);
  return { status, jobs, escrow, metering };
}

export default {
  title: "Compute",
  async render(el) {
    let data = await load();
    const draw = () => {
      const { status, jobs, escrow, metering } = data;
      const gpu = status.gpu;
      clear(el, h("h1", {}, "Compute"),
        h("div", { class: "grid" },
          card("Hardware",
            h("div", { class: "big", id: "compute-gpu" }, gpu.available ? `${gpu.gpus.length} GPU` : "CPU-only"),
            h("div", { class: "muted" }, gpu.available ? `driver ${gpu.driver}` : `reason: ${gpu.reason}`),
            h("div", { class: "muted" }, `offers: ${status.capabilities.join(", ") || "nothing"}`)),
          card("Wallet",
            h("div", { class: "big" }, spark(status.wallet.spark_msp)),
            h("div", { class: "muted" }, `${spark(status.wallet.held_msp)} held in escrow`)),
          card("Metered spend today",
            metering ? [
              h("div", { class: "big", id: "metered-spend" },
                `${usd(metering.spent_uusd)} of ${usd(metering.limit_uusd)}`),
              meter(metering.spent_uusd, metering.limit_uusd),
              h("div", { class: "muted" }, `${metering.day} (UTC) · ${metering.calls.length} calls`
                + ` · hive jobs on metered backends ${metering.allow_metered_for_hive ? "allowed" : "refused"}`),
            ] : h("p", { class: "muted" }, "not available"))),
        card("Policy", h("table", { id: "compute-policy" },
          h("thead", {}, h("tr", {}, h("th", {}, "setting"), h("th", {}, "value"), h("th", {}, "from"))),
          h("tbody", {}, Object.entries(status.policy).map(([k, v]) => h("tr", { dataset: { key: k } },
            h("td", { class: "mono" }, k), h("td", {}, String(v.value)), h("td", {}, pill(v.source, "")))))),
          h("p", { class: "muted" }, "precedence: environment > signed node_compute_config > config file > defaults")),
        card(`Jobs (${jobs.jobs.length})`, table([
          ["job", (j) => h("span", { class: "mono" }, short(j.job_id))],
          ["kind", (j) => j.job_kind], ["model", (j) => j.model || "—"],
          ["borrower", (j) => h("span", { class: "mono" }, short(j.borrower))],
          ["lender", (j) => h("span", { class: "mono" }, short(j.lender))],
          ["status", (j) => pill(j.status)], ["receipt", (j) => (j.receipt ? "signed" : "—")],
        ], jobs.jobs, { empty: `no jobs yet; kinds offered: ${Object.keys(jobs.kinds).join(", ")}`,
                        id: "compute-jobs" })),
        card(`Escrows (${escrow.escrows.length})`, table([
          ["escrow", (e) => h("span", { class: "mono" }, short(e.escrow_id))],
          ["amount", (e) => spark(e.amount_msp)], ["status", (e) => pill(e.status)],
          ["borrower", (e) => h("span", { class: "mono" }, short(e.borrower))],
          ["lender", (e) => h("span", { class: "mono" }, short(e.lender))],
          ["opened", (e) => when(e.opened_ts_ms)], ["deadline", (e) => when(e.deadline_ms)],
        ], escrow.escrows, { empty: "no escrows yet", id: "compute-escrows" })),
        metering && metering.calls.length ? card("Metered calls today", table([
          ["backend", (c) => c.backend], ["model", (c) => c.model], ["source", (c) => c.task_source],
          ["reserved", (c) => usd(c.reserved_uusd)],
          ["actual", (c) => (c.actual_uusd === null ? "—" : usd(c.actual_uusd))],
          ["status", (c) => pill(c.status)],
        ], metering.calls)) : null);
    };
    draw();
    const reload = debounce(async () => { data = await load(); draw(); }, 500);
    return { live: (m) => { if (m.type === "ledger" && m.data.events.some((e) =>
      e.kind.startsWith("compute."))) reload(); } };
  },
};
