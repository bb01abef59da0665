// Social: the feed and communities (routes of the social app).
import { clear, h } from "/static/util.js";

const missing = (el, what) => clear(el, h("h1", {}, what),
  h("p", { class: "muted", id: "app-missing" }, "The social app is not part of this build."));

export const feed = { title: "Feed", async render(el) { missing(el, "Feed"); } };
export const communities = { title: "Communities", async render(el) { missing(el, "Communities"); } };
