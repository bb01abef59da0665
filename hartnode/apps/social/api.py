"""The ``/api/v1/social/...`` routes (README "Social API" lists them with their JSON).

Writes take a JSON body naming the local user they act as (``"as":
"<handle>"``); the node signs the event on that user's behalf. Reads take
query parameters; ``as`` there is the viewer whose blocks and mute words
filter what it reads. Lists are paginated: ``limit`` (1..100, default 20)
and the previous page's ``next`` as ``before`` (time-ordered lists) or
``after`` (id-ordered ones). A bad parameter is a 400 whose message starts
with the parameter's name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from hartnode.apps.social import feed, kinds, lists, params
from hartnode.apps.social.filters import Viewer, active_labels
from hartnode.apps.social.names import HANDLE, actor_for, is_user_ref
from hartnode.ledger.kinds import KindSpec
from hartnode.routes import ApiRequest, ApiRequestError, AppContext, AppRoutes

THREAD_LIMIT_DEFAULT = 200
THREAD_LIMIT_MAX = 1000
PREFIX = "/api/v1/social"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(rf"{HANDLE}@[0-9a-f]{{8,64}}")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _local(ctx: AppContext, handle: object, name: str = "as") -> str:
    """The user reference of this node's user ``handle``; 400 when there is none."""
    if not isinstance(handle, str) or not re.fullmatch(HANDLE, handle):
        raise ApiRequestError(f"{name}: expected a local user's handle")
    node_id = ctx.node_id
    ref = await ctx.read_views(lambda s: lists.local_user(s, node_id, handle))
    if ref is None:
        raise ApiRequestError(f"{name}: no local user {handle!r} on this node "
                              "(create it: POST /api/v1/social/users)")
    return ref


async def _viewer(ctx: AppContext, query: Any) -> Viewer:
    handle = query.get("as")
    if handle is None:
        return Viewer()
    ref = await _local(ctx, handle)
    return await ctx.read_views(lambda s: Viewer.load(s, ref))


async def _append(ctx: AppContext, spec: KindSpec, handle: str, payload: dict[str, Any]
                  ) -> dict[str, object]:
    reach = "local" if spec.reaches == kinds.LOCAL else "network"
    event = await ctx.append_event(spec.kind, reach, payload, actor=actor_for(handle))
    return {"id": event["hash"], "kind": spec.kind, "ts_ms": event["ts_ms"]}


async def _acting(ctx: AppContext, body: dict[str, Any]) -> tuple[str, str]:
    """``(handle, user reference)`` of the body's ``as``."""
    handle = body.get("as")
    ref = await _local(ctx, handle)
    return str(handle), ref


async def _author(ctx: AppContext, target: str) -> str | None:
    def read(state: Any) -> str | None:
        for (author,) in state.execute("SELECT author_id FROM posts WHERE id=?1 UNION ALL "
                                       "SELECT author_id FROM comments WHERE id=?1", (target,)):
            return str(author)
        return None
    return await ctx.read_views(read)


async def _own(ctx: AppContext, body: dict[str, Any], name: str) -> tuple[str, str]:
    """``(handle, id)`` when the body's ``as`` wrote the post or comment ``body[name]``:
    only its author edits or deletes it (others' events would be ignored anyway)."""
    handle, ref = await _acting(ctx, body)
    target = params.hex_id(body.get(name), name)
    if await _author(ctx, target) != ref:
        raise ApiRequestError(f"{name}: not a {name} by {handle}")
    return handle, target


# -- users ---------------------------------------------------------------------


async def create_user(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle = params.field(body, "handle", str)
    if not re.fullmatch(HANDLE, handle or ""):
        raise ApiRequestError("handle: expected 2-32 of a-z, 0-9 and _, starting with a "
                              "letter or digit")
    assert handle is not None
    node_id = ctx.node_id
    if await ctx.read_views(lambda s: lists.local_user(s, node_id, handle)) is not None:
        raise ApiRequestError(f"handle: {handle!r} is taken on this node")
    display = params.field(body, "display_name", str, required=False)
    event = await _append(ctx, kinds.USER_CREATED, handle,
                          params.drop_none({"handle": handle, "display_name": display}))
    ref = await _local(ctx, handle, "handle")
    return {**event, "user": await ctx.read_views(lambda s: lists.get_user(s, ref))}


async def list_users(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    scope = q.get("scope", "local")
    if scope not in ("local", "all"):
        raise ApiRequestError("scope: expected local or all")
    node_id = ctx.node_id if scope == "local" else None
    limit, after = params.limit(q), params.after(q)
    return await ctx.read_views(lambda s: lists.users(s, node_id=node_id, limit=limit,
                                                      after=after))


async def get_user(ctx: AppContext, request: ApiRequest) -> object:
    """``user``: a user reference, or a global name ``handle@<8+ hex of its node id>``."""
    value = request.query.get("user")
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ApiRequestError("user: expected handle@<node id or its first 8+ hex digits>")
    handle, _, prefix = value.partition("@")
    found = await ctx.read_views(lambda s: lists.find_users(s, handle, prefix))
    if not found:
        raise ApiRequestError(f"user: {value} is not known here (yet)")
    if len(found) > 1:
        raise ApiRequestError(f"user: {value} is ambiguous; give more of the node id")
    ref = found[0]
    return await ctx.read_views(lambda s: lists.get_user(s, ref))


# -- communities ------------------------------------------------------------------


async def create_community(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    visibility = body.get("visibility", "public")
    if visibility not in ("public", "private"):
        raise ApiRequestError("visibility: expected public or private")
    payload = params.drop_none({"name": params.field(body, "name", str),
                          "description": params.field(body, "description", str, required=False),
                          "visibility": visibility})
    return await _append(ctx, kinds.COMMUNITY_CREATED, handle, payload)


async def list_communities(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    viewer = await _viewer(ctx, q)
    limit, before, joined = params.limit(q), params.cursor(q), params.flag(q, "joined")
    name = q.get("name")
    return await ctx.read_views(lambda s: lists.communities(
        s, viewer, limit=limit, before=before, name=name, joined=joined))


async def get_community(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    cid = params.hex_id(q.get("community"), "community")
    viewer = await _viewer(ctx, q)
    found = await ctx.read_views(lambda s: lists.get_community(s, viewer, cid))
    if found is None:
        raise ApiRequestError(f"community: {cid} is not known here (yet)")
    return found


async def community_members(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    cid = params.hex_id(q.get("community"), "community")
    limit, after = params.limit(q), params.after(q)
    return await ctx.read_views(lambda s: lists.members(s, cid, limit=limit, after=after))


async def join_community(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    return await _append(ctx, kinds.COMMUNITY_JOINED, handle,
                         {"community": params.hex_id(body.get("community"), "community")})


async def leave_community(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    return await _append(ctx, kinds.COMMUNITY_LEFT, handle,
                         {"community": params.hex_id(body.get("community"), "community")})


async def set_role(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, ref = await _acting(ctx, body)
    cid = params.hex_id(body.get("community"), "community")
    user = params.user_ref_param(body.get("user"), "user")
    role = body.get("role")
    if role not in kinds.ROLES:
        raise ApiRequestError(f"role: expected one of {', '.join(kinds.ROLES)}")
    viewer = Viewer(ref)
    found = await ctx.read_views(lambda s: lists.get_community(s, viewer, cid))
    if found is None or found["my_role"] != "owner":
        raise ApiRequestError(f"community: {handle} does not own it")
    return await _append(ctx, kinds.ROLE_SET, handle,
                         {"community": cid, "user": user, "role": role})


# -- posts and comments ---------------------------------------------------------------


async def get_feed(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    viewer = await _viewer(ctx, q)
    following = params.flag(q, "following")
    if following and viewer.user is None:
        raise ApiRequestError("following: needs as=<handle>")
    community = q.get("community")
    author = q.get("author")
    query = feed.FeedQuery(
        limit=params.limit(q), before=params.cursor(q), following=following,
        community=None if community is None else params.hex_id(community, "community"),
        author=None if author is None else params.user_ref_param(author, "author"))
    now = _now_ms()
    return await ctx.read_views(lambda s: feed.feed(s, viewer, query, now))


async def create_post(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, ref = await _acting(ctx, body)
    community = body.get("community")
    if community is not None:
        cid = params.hex_id(community, "community")
        viewer = Viewer(ref)
        found = await ctx.read_views(lambda s: lists.get_community(s, viewer, cid))
        if found is None or found["my_role"] in (None, "pending"):
            raise ApiRequestError("community: join it before posting in it")
    payload = params.drop_none({"title": params.field(body, "title", str),
                          "body": params.field(body, "body", str, required=False) or "",
                          "community": community})
    return await _append(ctx, kinds.POST_CREATED, handle, payload)


async def edit_post(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, pid = await _own(ctx, body, "post")
    title = params.field(body, "title", str, required=False)
    text = params.field(body, "body", str, required=False)
    if title is None and text is None:
        raise ApiRequestError("title: give a title, a body or both")
    return await _append(ctx, kinds.POST_EDITED, handle,
                         params.drop_none({"post": pid, "title": title, "body": text}))


async def delete_post(ctx: AppContext, request: ApiRequest) -> object:
    handle, pid = await _own(ctx, params.body_of(request), "post")
    return await _append(ctx, kinds.POST_DELETED, handle, {"post": pid})


async def get_thread(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    pid = params.hex_id(q.get("post"), "post")
    viewer = await _viewer(ctx, q)
    limit = params.limit(q, THREAD_LIMIT_DEFAULT, THREAD_LIMIT_MAX)
    after = params.cursor(q, "after")
    now = _now_ms()
    found: Any = await ctx.read_views(
        lambda s: feed.thread(s, viewer, pid, limit=limit, after=after, now_ms=now))
    if found is None:
        raise ApiRequestError(f"post: {pid} is not known here (yet)")
    community = found["post"]["community"]
    if community is not None:  # a private community's threads are its members', like its feed
        cid = str(community["id"])
        shown = await ctx.read_views(lambda s: lists.get_community(s, viewer, cid))
        if (shown is not None and shown["visibility"] == "private"
                and shown["my_role"] in (None, "pending")):
            raise ApiRequestError("post: in a private community; as=<a member's handle>")
    return found


async def create_comment(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    root = params.hex_id(body.get("post"), "post")
    parent = params.hex_id(body.get("parent", root), "parent")
    post = await ctx.read_views(lambda s: feed.get_post(s, root))
    if post is None:
        raise ApiRequestError(f"post: {root} is not known here (yet)")
    if post["locked"]:
        raise ApiRequestError("post: the thread is locked by a moderator")
    if post["deleted"]:
        raise ApiRequestError("post: deleted")
    if parent != root:
        def thread_of(state: Any) -> str | None:
            for (pid,) in state.execute("SELECT post_id FROM comments WHERE id=?", (parent,)):
                return str(pid)
            return None
        if await ctx.read_views(thread_of) != root:
            raise ApiRequestError(f"parent: not a comment of post {root} here (yet)")
    return await _append(ctx, kinds.COMMENT_CREATED, handle,
                         {"root": root, "parent": parent, "body": params.field(body, "body", str)})


async def edit_comment(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, cid = await _own(ctx, body, "comment")
    return await _append(ctx, kinds.COMMENT_EDITED, handle,
                         {"comment": cid, "body": params.field(body, "body", str)})


async def delete_comment(ctx: AppContext, request: ApiRequest) -> object:
    handle, cid = await _own(ctx, params.body_of(request), "comment")
    return await _append(ctx, kinds.COMMENT_DELETED, handle, {"comment": cid})


async def vote(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    target = params.hex_id(body.get("target"), "target")
    value = body.get("value")
    if type(value) is not int or value not in (-1, 0, 1):
        raise ApiRequestError("value: expected -1, 0 or 1")
    if await _author(ctx, target) is None:
        raise ApiRequestError(f"target: no post or comment {target} here (yet)")
    return await _append(ctx, kinds.VOTE_CAST, handle, {"target": target, "value": value})


# -- follows, mutes, blocks --------------------------------------------------------------


async def follow(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, ref = await _acting(ctx, body)
    user = params.user_ref_param(body.get("user"), "user")
    if user == ref:
        raise ApiRequestError("user: one does not follow oneself")
    on = body.get("follow", True)
    if type(on) is not bool:
        raise ApiRequestError("follow: expected true or false")
    return await _append(ctx, kinds.FOLLOW_SET, handle, {"user": user, "follow": on})


async def list_follows(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    user = params.user_ref_param(q.get("user"), "user")
    direction = q.get("direction", "following")
    if direction not in ("following", "followers"):
        raise ApiRequestError("direction: expected following or followers")
    limit, after = params.limit(q), params.after(q)
    return await ctx.read_views(lambda s: lists.follows(
        s, user, followers=direction == "followers", limit=limit, after=after))


async def mute(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    word = params.field(body, "word", str)
    assert word is not None
    word = word.strip().casefold()
    if not 1 <= len(word) <= kinds.WORD_MAX:
        raise ApiRequestError(f"word: expected 1 to {kinds.WORD_MAX} characters")
    on = body.get("on", True)
    if type(on) is not bool:
        raise ApiRequestError("on: expected true or false")
    return await _append(ctx, kinds.MUTE_SET, handle, {"word": word, "on": on})


async def block(ctx: AppContext, request: ApiRequest) -> object:
    """Block a user, or the author of a post or comment (``post``/``comment``)."""
    body = params.body_of(request)
    handle, ref = await _acting(ctx, body)
    if "user" in body:
        user = params.user_ref_param(body["user"], "user")
    else:
        name = "post" if "post" in body else "comment"
        target = params.hex_id(body.get(name), name)
        author = await _author(ctx, target)
        if author is None:
            raise ApiRequestError(f"{name}: {target} is not known here (yet)")
        user = author
    if user == ref:
        raise ApiRequestError("user: one does not block oneself")
    on = body.get("on", True)
    if type(on) is not bool:
        raise ApiRequestError("on: expected true or false")
    return {**await _append(ctx, kinds.BLOCK_SET, handle, {"user": user, "on": on}),
            "user": user}


async def get_settings(ctx: AppContext, request: ApiRequest) -> object:
    if request.query.get("as") is None:
        raise ApiRequestError("as: missing")
    viewer = await _viewer(ctx, request.query)
    return await ctx.read_views(lambda s: lists.settings(s, viewer))


# -- reports, moderation, labels ------------------------------------------------------


async def report(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    target = body.get("target")
    if is_user_ref(target):
        content_type = "user"
    else:
        target = params.hex_id(target, "target")
        hex_target = target

        def kind_of(state: Any) -> str | None:
            for (t,) in state.execute("SELECT 'post' FROM posts WHERE id=?1 UNION ALL "
                                      "SELECT 'comment' FROM comments WHERE id=?1",
                                      (hex_target,)):
                return str(t)
            return None
        found = await ctx.read_views(kind_of)
        if found is None:
            raise ApiRequestError(f"target: no post or comment {target} here (yet)")
        content_type = found
    reason = body.get("reason", "other")
    if reason not in kinds.REPORT_REASONS:
        raise ApiRequestError(f"reason: expected one of {', '.join(kinds.REPORT_REASONS)}")
    note = params.field(body, "note", str, required=False)
    return await _append(ctx, kinds.REPORT_FILED, handle, params.drop_none(
        {"target": target, "content_type": content_type, "reason": reason, "note": note}))


async def list_reports(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    community = q.get("community")
    cid = None if community is None else params.hex_id(community, "community")
    limit, before = params.limit(q), params.cursor(q)
    return await ctx.read_views(lambda s: lists.reports(s, community=cid, limit=limit,
                                                        before=before))


async def moderate(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, ref = await _acting(ctx, body)
    pid = params.hex_id(body.get("post"), "post")
    action = body.get("action")
    if action not in kinds.MOD_ACTIONS:
        raise ApiRequestError(f"action: expected one of {', '.join(kinds.MOD_ACTIONS)}")
    post = await ctx.read_views(lambda s: feed.get_post(s, pid))
    if post is None or post["community"] is None:
        raise ApiRequestError("post: not a post of a community here")
    cid = str(post["community"]["id"])  # type: ignore[index]
    viewer = Viewer(ref)
    found = await ctx.read_views(lambda s: lists.get_community(s, viewer, cid))
    if found is None or found["my_role"] not in ("owner", "moderator"):
        raise ApiRequestError(f"as: {handle} does not moderate the post's community")
    return await _append(ctx, kinds.POST_MODERATED, handle, {"post": pid, "action": action})


async def label(ctx: AppContext, request: ApiRequest) -> object:
    """Label content or a user as this node (regional or central, proven by ``chain``,
    which ``hartnode social label`` reads from the data directory)."""
    body = params.body_of(request)
    target = body.get("target")
    if not (is_user_ref(target) or (isinstance(target, str) and _HEX64.fullmatch(target))):
        raise ApiRequestError("target: expected an event id or a user reference")
    value = body.get("label")
    if not isinstance(value, str) or not re.fullmatch(kinds.LABEL, value):
        raise ApiRequestError("label: expected e.g. spam, nsfw or !hide")
    neg = body.get("neg", False)
    if type(neg) is not bool:
        raise ApiRequestError("neg: expected true or false")
    exp_ms = body.get("exp_ms")
    if exp_ms is not None and (type(exp_ms) is not int or exp_ms < 0):
        raise ApiRequestError("exp_ms: expected a time in ms since the epoch")
    chain = body.get("chain", [])
    if not isinstance(chain, list):
        raise ApiRequestError("chain: expected the node's certificate chain")
    event = await ctx.append_event(kinds.LABEL_APPLIED.kind, "network", params.drop_none(
        {"target": target, "label": value, "neg": neg, "exp_ms": exp_ms, "chain": chain}))
    return {"id": event["hash"], "kind": kinds.LABEL_APPLIED.kind, "ts_ms": event["ts_ms"]}


async def get_labels(ctx: AppContext, request: ApiRequest) -> object:
    target = request.query.get("target")
    if not (is_user_ref(target) or (isinstance(target, str) and _HEX64.fullmatch(target))):
        raise ApiRequestError("target: expected an event id or a user reference")
    assert target is not None
    now = _now_ms()
    found = await ctx.read_views(lambda s: active_labels(s, [target], now))
    return {"target": target, "labels": found.get(target, [])}


# -- notifications -------------------------------------------------------------------


async def get_notifications(ctx: AppContext, request: ApiRequest) -> object:
    q = request.query
    if q.get("as") is None:
        raise ApiRequestError("as: missing")
    viewer = await _viewer(ctx, q)
    limit, before = params.limit(q), params.cursor(q)
    return await ctx.read_views(lambda s: lists.notifications(s, viewer, limit=limit,
                                                              before=before))


async def notifications_seen(ctx: AppContext, request: ApiRequest) -> object:
    body = params.body_of(request)
    handle, _ = await _acting(ctx, body)
    up_to = body.get("up_to_ts", _now_ms())
    if type(up_to) is not int or up_to < 0:
        raise ApiRequestError("up_to_ts: expected a time in ms since the epoch")
    return await _append(ctx, kinds.NOTIFICATIONS_SEEN, handle, {"up_to_ts": up_to})


ROUTES: tuple[tuple[str, str, Callable[[AppContext, ApiRequest], Any], int], ...] = (
    ("GET", "/users", list_users, 200),
    ("POST", "/users", create_user, 201),
    ("GET", "/user", get_user, 200),
    ("GET", "/communities", list_communities, 200),
    ("POST", "/communities", create_community, 201),
    ("GET", "/community", get_community, 200),
    ("GET", "/communities/members", community_members, 200),
    ("POST", "/communities/join", join_community, 201),
    ("POST", "/communities/leave", leave_community, 201),
    ("POST", "/communities/role", set_role, 201),
    ("GET", "/feed", get_feed, 200),
    ("POST", "/posts", create_post, 201),
    ("POST", "/posts/edit", edit_post, 201),
    ("POST", "/posts/delete", delete_post, 201),
    ("GET", "/thread", get_thread, 200),
    ("POST", "/comments", create_comment, 201),
    ("POST", "/comments/edit", edit_comment, 201),
    ("POST", "/comments/delete", delete_comment, 201),
    ("POST", "/votes", vote, 201),
    ("POST", "/follows", follow, 201),
    ("GET", "/follows", list_follows, 200),
    ("POST", "/mutes", mute, 201),
    ("POST", "/blocks", block, 201),
    ("GET", "/settings", get_settings, 200),
    ("POST", "/reports", report, 201),
    ("GET", "/reports", list_reports, 200),
    ("POST", "/moderate", moderate, 201),
    ("POST", "/labels", label, 201),
    ("GET", "/labels", get_labels, 200),
    ("GET", "/notifications", get_notifications, 200),
    ("POST", "/notifications/seen", notifications_seen, 201),
)


def register_routes(routes: AppRoutes) -> None:
    for method, path, handler, status in ROUTES:
        routes.add(method, PREFIX + path, handler, status=status)
