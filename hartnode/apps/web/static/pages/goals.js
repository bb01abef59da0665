// Goals: lifecycle and budget (routes of the goals app).
import { clear, h } from "/static/util.js";

export default { title: "Goals", async render(el) {
  clear(el, h("h1", {}, "Goals"),
    h("p", { class: "muted", id: "app-missing" }, "The goals app is not part of this build."));
} };
