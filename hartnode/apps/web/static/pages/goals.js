// Goals (the goals app's /api/v1/goals/... routes): lifecycle and Spark budget.
import { ApiError, api, card, clear, debounce, h, meter, pill, short, spark, when } from "/static/util.js";

const NEXT = { draft: ["active", "failed"], active: ["paused", "done", "failed"],
               paused: ["active", "done", "failed"], done: [], failed: [] };
const VERB = { active: "Activate", paused: "Pause", done: "Done", failed: "Fail" };

export default {
  title: "Goals",
  async render(el, app) {
    let kinds = [];
    try {
      kinds = Object.keys((await api("/api/v1/compute/jobs")).kinds);
    } catch { kinds = []; }
    const title = h("input", { id: "goal-title", placeholder: "title", size: 40 });
    const kind = h("select", { id: "goal-kind" }, kinds.map((k) => h("option", { value: k }, k)));
    // An example of each known job kind's params, so a new goal starts valid.
    const EXAMPLE = { "cpu.hash_chain": '{"seed": "goal", "rounds": 1000}',
                      "inference.chat": '{"model": "", "messages": [{"role": "user", "content": "hi"}]}' };
    const params = h("input", { id: "goal-params", value: EXAMPLE[kinds[0]] || "{}", size: 40 });
    kind.addEventListener("change", () => { params.value = EXAMPLE[kind.value] || "{}"; });
    const budget = h("input", { id: "goal-budget", type: "number", min: "0", step: "0.001", value: "1" });
    const draw = async () => {
      const goals = (await api("/api/v1/goals?limit=100")).items;
      const move = (g, to) => async () => {
        try {
          await api("/api/v1/goals/status", { method: "POST", body: { id: g.goal, status: to } });
          draw();
        } catch (e) { app.showError(e); }
      };
      clear(el, h("h1", {}, "Goals"),
        card("New goal", h("form", { class: "filters", id: "goal-form", onsubmit: async (ev) => {
          ev.preventDefault();
          let parsed;
          try { parsed = JSON.parse(params.value || "{}"); } catch {
            app.showError(new Error("params must be a JSON object")); return;
          }
          try {
            await api("/api/v1/goals", { method: "POST", body: { title: title.value.trim(),
              job_kind: kind.value, params: parsed,
              budget_msp: Math.round(Number(budget.value) * 1000) } });
            title.value = "";
            app.clearError();
            draw();
          } catch (e) { app.showError(e); }
        } }, title, "job", kind, "params", params, "budget (Spark)", budget,
          h("button", { type: "submit", class: "primary" }, "Create"))),
        goals.length ? h("div", { id: "goals" }, goals.map((g) => h("section", {
          class: "card", dataset: { goal: g.goal, status: g.status } },
          h("h2", {}, g.title, " ", pill(g.status)),
          h("div", { class: "meta" }, `${short(g.goal)} · ${g.config ? g.config.job_kind : ""}`
            + (g.ts_ms ? ` · ${when(g.ts_ms)}` : "")),
          meter((g.spent_msp || 0) + (g.reserved_msp || 0), g.budget_msp || 0),
          h("div", { class: "muted" }, `spent ${spark(g.spent_msp)}, reserved ${spark(g.reserved_msp)}`
            + ` of ${spark(g.budget_msp)} (left ${spark(g.left_msp)})`),
          h("div", { class: "filters" }, (NEXT[g.status] || []).map((to) =>
            h("button", { type: "button", dataset: { to }, onclick: move(g, to) }, VERB[to]))))))
          : h("p", { class: "muted", id: "goals-empty" }, "no goals yet"));
    };
    try {
      await draw();
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
        clear(el, h("h1", {}, "Goals"),
          h("p", { class: "muted", id: "app-missing" }, "The goals app is not part of this build."));
        return null;
      }
      throw e;
    }
    const reload = debounce(draw, 500);
    return { live: (m) => { if (m.type === "ledger" && m.data.events.some((e) =>
      e.kind.startsWith("goals."))) reload(); } };
  },
};
