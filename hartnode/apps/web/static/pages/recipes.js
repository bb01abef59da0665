// Recipes: search and share (routes of the recipes app).
import { clear, h } from "/static/util.js";

export default { title: "Recipes", async render(el) {
  clear(el, h("h1", {}, "Recipes"),
    h("p", { class: "muted", id: "app-missing" }, "The recipes app is not part of this build."));
} };
