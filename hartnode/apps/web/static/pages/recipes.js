// Recipes (the recipes app's /api/v1/recipes/... routes): semantic search,
// the newest recipes, one recipe with its forks, share and fork.
import { ago, api, ApiError, card, clear, debounce, h, pill, short } from "/static/util.js";

function missing(el, e) {
  if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
    clear(el, h("h1", {}, "Recipes"),
      h("p", { class: "muted", id: "app-missing" }, "The recipes app is not part of this build."));
    return true;
  }
  return false;
}

const tags = (list) => (list || []).map((t) => [pill(t, ""), " "]);

function summary(r) {
  return h("div", { class: "post", dataset: { recipe: r.recipe } },
    h("a", { href: `#/recipes/${r.recipe}`, class: "post-title" }, r.title),
    r.score !== undefined ? h("span", { class: "muted" }, ` · score ${Number(r.score).toFixed(3)}`) : null,
    h("div", { class: "meta" }, ...tags(r.tags), `by ${r.actor} @ ${short(r.origin)}`,
      r.parent ? ` · fork of ${short(r.parent)}` : "", ` · ${r.fork_count || 0} forks`,
      r.ts_ms ? ` · ${ago(r.ts_ms)}` : ""));
}

async function renderRecipe(el, app, id) {
  const r = await api(`/api/v1/recipes/show?id=${id}`);
  clear(el, h("p", {}, h("a", { href: "#/recipes" }, "← recipes")),
    card(r.title, h("div", { class: "meta" }, ...tags(r.tags), `by ${r.actor} @ ${short(r.origin)} · `
      + `${ago(r.ts_ms)}`, r.parent ? [" · fork of ", h("a", { href: `#/recipes/${r.parent}` },
      short(r.parent))] : null),
      r.deleted ? h("p", { class: "bad" }, "deleted by its author") : null,
      h("h2", {}, "prompt"), h("pre", { id: "recipe-prompt" }, r.prompt),
      h("h2", {}, "steps"), h("ol", { id: "recipe-steps" }, (r.steps || []).map((s) => h("li", {}, s))),
      h("button", { type: "button", class: "primary", id: "recipe-fork", onclick: async () => {
        try {
          const forked = await api("/api/v1/recipes/fork", { method: "POST", body: { parent: r.recipe } });
          location.hash = `#/recipes/${forked.hash}`;
        } catch (e) { app.showError(e); }
      } }, "Fork")),
    card(`Forks (${(r.forks || []).length})`, (r.forks || []).length
      ? (r.forks || []).map((f) => summary({ ...f, recipe: f.recipe || f.id }))
      : h("p", { class: "muted" }, "no forks yet")));
}

async function renderList(el, app) {
  const [recent, index] = await Promise.all([api("/api/v1/recipes?limit=20"),
    api("/api/v1/recipes/index").catch(() => null)]);
  const q = h("input", { id: "recipe-query", placeholder: "describe what you want", size: 40 });
  const results = h("div", { id: "recipe-results" });
  const title = h("input", { id: "recipe-title", placeholder: "title", size: 40 });
  const prompt = h("textarea", { id: "recipe-prompt-input", placeholder: "the prompt it came from" });
  const steps = h("textarea", { id: "recipe-steps-input", placeholder: "one step per line" });
  const tagInput = h("input", { id: "recipe-tags", placeholder: "tags, comma separated", size: 30 });
  clear(el, h("h1", {}, "Recipes"),
    card("Search", h("form", { class: "filters", id: "recipe-search", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const found = await api(`/api/v1/recipes/search?${new URLSearchParams({ q: q.value, k: "10" })}`);
        clear(results, found.items.length ? found.items.map(summary)
          : h("p", { class: "muted" }, "nothing matches"));
        app.clearError();
      } catch (e) { app.showError(e); }
    } }, q, h("button", { type: "submit", class: "primary" }, "Search")),
      index ? h("p", { class: "muted" }, index.available
        ? `index: ${index.items} recipes, model ${index.model}` : `search unavailable: ${index.reason}`)
        : null,
      results),
    card("Share a recipe", h("form", { id: "recipe-form", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const shared = await api("/api/v1/recipes", { method: "POST", body: {
          title: title.value.trim(), prompt: prompt.value,
          steps: steps.value.split("\n").map((s) => s.trim()).filter(Boolean),
          tags: tagInput.value.split(",").map((s) => s.trim()).filter(Boolean) } });
        location.hash = `#/recipes/${shared.hash}`;
      } catch (e) { app.showError(e); }
    } }, title, prompt, steps, tagInput, h("button", { type: "submit", class: "primary" }, "Share"))),
    card("Newest", h("div", { id: "recipes-list" }, recent.items.length ? recent.items.map(summary)
      : h("p", { class: "muted" }, "no recipes yet"))));
}

export default {
  title: "Recipes",
  async render(el, app, arg) {
    const id = arg.split("?")[0];
    const draw = () => (/^[0-9a-f]{64}$/.test(id) ? renderRecipe(el, app, id) : renderList(el, app));
    try {
      await draw();
    } catch (e) {
      if (!missing(el, e)) throw e;
      return null;
    }
    const reload = debounce(draw, 500);
    return { live: (m) => { if (/^[0-9a-f]{64}$/.test(id) && m.type === "ledger"
      && m.data.events.some((e) => e.kind.startsWith("recipes."))) reload(); } };
  },
};
