// Social (the social app's /api/v1/social/... routes): the feed with its
// threads, and communities. Writes act as one of this node's local users,
// chosen at the top of the page (kept in this browser's localStorage).
import { ago, api, ApiError, card, clear, count, debounce, h, pill } from "/static/util.js";

const ACTING_KEY = `hartnode-acting-${location.port || "80"}`;
const acting = () => localStorage.getItem(ACTING_KEY) || "";

function missing(el, title, e) {
  if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
    clear(el, h("h1", {}, title),
      h("p", { class: "muted", id: "app-missing" }, "The social app is not part of this build."));
    return true;
  }
  return false;
}

// "Acting as": this node's local users; a new one can be made here.
async function actingBar(app, onChange) {
  const users = (await api("/api/v1/social/users?scope=local&limit=100")).items;
  if (!acting() && users.length) localStorage.setItem(ACTING_KEY, users[0].handle);
  const select = h("select", { id: "acting-user", onchange: () => {
    localStorage.setItem(ACTING_KEY, select.value);
    onChange();
  } }, users.length ? users.map((u) => h("option", { value: u.handle, selected: u.handle === acting() },
    `${u.name}${u.display_name ? " (" + u.display_name + ")" : ""}`))
    : h("option", { value: "" }, "no local user yet"));
  const handle = h("input", { id: "new-user", placeholder: "new handle", size: 12 });
  const create = async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/v1/social/users", { method: "POST", body: { handle: handle.value.trim() } });
      localStorage.setItem(ACTING_KEY, handle.value.trim());
      app.clearError();
      onChange();
    } catch (e) { app.showError(e); }
  };
  return h("form", { class: "filters", id: "acting", onsubmit: create },
    "acting as", select, handle, h("button", { type: "submit" }, "Create user"));
}

function needUser(app) {
  if (acting()) return false;
  app.showError(new Error("create or choose a local user first (top of the page)"));
  return true;
}

function voteButtons(app, target, myVote, after) {
  const vote = (value) => async () => {
    if (needUser(app)) return;
    try {
      await api("/api/v1/social/votes", { method: "POST",
        body: { as: acting(), target, value: myVote === value ? 0 : value } });
      after();
    } catch (e) { app.showError(e); }
  };
  return [h("button", { type: "button", class: myVote === 1 ? "primary" : "", title: "up",
                        onclick: vote(1) }, "▲"),
          h("button", { type: "button", class: myVote === -1 ? "primary" : "", title: "down",
                        onclick: vote(-1) }, "▼")];
}

function postSummary(app, p, reload) {
  return h("article", { class: "post", dataset: { post: p.id } },
    h("div", {}, h("a", { href: `#/feed/${p.id}`, class: "post-title" }, p.title || "(deleted)"),
      p.pinned ? [" ", pill("pinned", "active")] : null, p.locked ? [" ", pill("locked", "stale")] : null),
    p.body ? h("div", { class: "post-body" }, p.body.length > 280 ? p.body.slice(0, 280) + "…" : p.body)
      : null,
    h("div", { class: "meta" }, ...voteButtons(app, p.id, p.my_vote, reload),
      ` ${count(p.score, "point")} · by ${p.author ? p.author.name : "?"}`,
      p.community ? ` in ${p.community.name}` : "",
      ` · ${count(p.comment_count, "comment")} · ${ago(p.ts_ms)}`));
}

function commentTree(app, comments, postId, reload) {
  return h("ul", { class: "comments" }, comments.map((c) => {
    const replyBox = h("div");
    const reply = () => {
      const text = h("textarea", { placeholder: "reply" });
      clear(replyBox, h("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        if (needUser(app)) return;
        try {
          await api("/api/v1/social/comments", { method: "POST",
            body: { as: acting(), post: postId, parent: c.id, body: text.value } });
          reload();
        } catch (e) { app.showError(e); }
      } }, text, h("button", { type: "submit" }, "Reply")));
    };
    return h("li", { dataset: { comment: c.id } },
      h("div", { class: "meta" }, c.author ? c.author.name : "—", ` · ${ago(c.ts_ms)} · ${count(c.score, "point")}`),
      h("div", {}, c.hidden ? h("em", { class: "muted" }, `hidden (${c.hidden})`)
        : c.deleted ? h("em", { class: "muted" }, "deleted") : c.body),
      h("div", {}, ...voteButtons(app, c.id, c.my_vote, reload),
        h("button", { type: "button", class: "link-dark", onclick: reply }, "reply")),
      replyBox,
      c.replies && c.replies.length ? commentTree(app, c.replies, postId, reload) : null);
  }));
}

async function renderThread(el, app, postId) {
  const draw = async () => {
    const q = new URLSearchParams({ post: postId });
    if (acting()) q.set("as", acting());
    const t = await api(`/api/v1/social/thread?${q}`);
    const text = h("textarea", { id: "comment-body", placeholder: "comment" });
    clear(el, await actingBar(app, draw), h("p", {}, h("a", { href: "#/feed" }, "← feed")),
      card(t.post.title || "(deleted)",
        h("div", { class: "meta" }, `by ${t.post.author ? t.post.author.name : "?"}`,
          t.post.community ? ` in ${t.post.community.name}` : "", ` · ${ago(t.post.ts_ms)}`),
        h("p", { id: "thread-body" }, t.post.body),
        h("div", { class: "meta" }, ...voteButtons(app, t.post.id, t.post.my_vote, draw),
          ` ${count(t.post.score, "point")}`)),
      card(`Comments (${t.post.comment_count})`,
        t.post.locked ? h("p", { class: "muted" }, "locked: no new comments")
          : h("form", { id: "comment-form", onsubmit: async (ev) => {
            ev.preventDefault();
            if (needUser(app)) return;
            try {
              await api("/api/v1/social/comments", { method: "POST",
                body: { as: acting(), post: postId, body: text.value } });
              draw();
            } catch (e) { app.showError(e); }
          } }, text, h("button", { type: "submit", class: "primary" }, "Comment")),
        t.comments.length ? commentTree(app, t.comments, postId, draw)
          : h("p", { class: "muted" }, "no comments yet")));
  };
  await draw();
  const reload = debounce(draw, 400);
  return { live: (m) => { if (m.type === "ledger" && m.data.events.some((e) =>
    e.kind.startsWith("social."))) reload(); } };
}

async function renderFeed(el, app, arg) {
  const params = new URLSearchParams(arg.includes("?") ? arg.slice(arg.indexOf("?")) : "");
  const community = params.get("community") || "";
  let items = [];
  let next = null;
  const list = h("div", { id: "feed" });
  const more = h("button", { type: "button", id: "feed-more" }, "More");
  const title = h("input", { id: "post-title", placeholder: "title", size: 50 });
  const body = h("textarea", { id: "post-body", placeholder: "what do you want to say?" });
  const where = h("select", { id: "post-community" }, h("option", { value: "" }, "no community"));

  async function load(before) {
    const q = new URLSearchParams({ limit: "20" });
    if (acting()) q.set("as", acting());
    if (community) q.set("community", community);
    if (before) q.set("before", before);
    const page = await api(`/api/v1/social/feed?${q}`);
    items = before ? items.concat(page.items) : page.items;
    next = page.next;
    more.hidden = !next;
    clear(list, items.length ? items.map((p) => postSummary(app, p, () => load()))
      : h("p", { class: "muted", id: "feed-empty" }, "nothing posted yet"));
  }

  async function draw() {
    const mine = new URLSearchParams({ as: acting(), limit: "100" });
    const joined = acting() ? (await api(`/api/v1/social/communities?${mine}`)).items
      .filter((c) => c.my_role) : [];
    clear(where, h("option", { value: "" }, "no community"),
      joined.map((c) => h("option", { value: c.id, selected: c.id === community }, c.name)));
    clear(el, h("h1", {}, community ? "Community feed" : "Feed"), await actingBar(app, draw),
      card("New post", h("form", { id: "post-form", onsubmit: async (ev) => {
        ev.preventDefault();
        if (needUser(app)) return;
        const bodyJson = { as: acting(), title: title.value.trim(), body: body.value };
        if (where.value) bodyJson.community = where.value;
        try {
          await api("/api/v1/social/posts", { method: "POST", body: bodyJson });
          title.value = ""; body.value = "";
          app.clearError();
          await load();
        } catch (e) { app.showError(e); }
      } }, h("div", {}, title, " ", where), body, h("button", { type: "submit", class: "primary" }, "Post"))),
      list, more);
    await load();
  }

  more.addEventListener("click", () => load(next));
  await draw();
  const reload = debounce(() => load(), 400);
  return { live: (m) => { if (m.type === "ledger" && m.data.events.some((e) =>
    e.kind.startsWith("social."))) reload(); } };
}

export const feed = {
  title: "Feed",
  async render(el, app, arg) {
    try {
      const postId = arg.split("?")[0];
      return /^[0-9a-f]{64}$/.test(postId) ? await renderThread(el, app, postId)
        : await renderFeed(el, app, arg);
    } catch (e) {
      if (!missing(el, "Feed", e)) throw e;
      return null;
    }
  },
};

export const communities = {
  title: "Communities",
  async render(el, app) {
    const name = h("input", { id: "community-name", placeholder: "name" });
    const description = h("input", { id: "community-description", placeholder: "description", size: 40 });
    const priv = h("input", { type: "checkbox", id: "community-private" });
    const draw = async () => {
      const q = new URLSearchParams({ limit: "100" });
      if (acting()) q.set("as", acting());
      const list = (await api(`/api/v1/social/communities?${q}`)).items;
      const act = (path, community) => async () => {
        if (needUser(app)) return;
        try {
          await api(path, { method: "POST", body: { as: acting(), community } });
          draw();
        } catch (e) { app.showError(e); }
      };
      clear(el, h("h1", {}, "Communities"), await actingBar(app, draw),
        card("New community", h("form", { class: "filters", id: "community-form", onsubmit: async (ev) => {
          ev.preventDefault();
          if (needUser(app)) return;
          try {
            await api("/api/v1/social/communities", { method: "POST", body: {
              as: acting(), name: name.value.trim(), description: description.value,
              visibility: priv.checked ? "private" : "public" } });
            name.value = ""; description.value = "";
            app.clearError();
            draw();
          } catch (e) { app.showError(e); }
        } }, name, description, h("label", {}, priv, " private"),
          h("button", { type: "submit", class: "primary" }, "Create"))),
        list.length ? h("div", { class: "grid", id: "communities" }, list.map((c) =>
          h("section", { class: "card", dataset: { community: c.id } },
            h("h2", {}, h("a", { href: `#/feed?community=${c.id}` }, c.name), " ",
              pill(c.visibility, c.visibility === "private" ? "stale" : "")),
            h("p", {}, c.description || h("span", { class: "muted" }, "no description")),
            h("div", { class: "meta" }, `${c.member_count} members · owner ${c.owner ? c.owner.name : "?"}`
              + (c.my_role ? ` · you: ${c.my_role}` : "")),
            c.my_role ? h("button", { type: "button", onclick: act("/api/v1/social/communities/leave", c.id) },
              "Leave")
              : h("button", { type: "button", onclick: act("/api/v1/social/communities/join", c.id) },
                "Join"))))
          : h("p", { class: "muted", id: "communities-empty" }, "no communities yet"));
    };
    try {
      await draw();
    } catch (e) {
      if (!missing(el, "Communities", e)) throw e;
      return null;
    }
    const reload = debounce(draw, 500);
    return { live: (m) => { if (m.type === "ledger" && m.data.events.some((e) =>
      e.kind.startsWith("social.community") || e.kind.startsWith("social.role"))) reload(); } };
  },
};
