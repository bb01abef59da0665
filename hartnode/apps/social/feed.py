"""Reading posts and threads: the feed (paginated, newest first) and one thread.

Pagination is by ``(ts_ms, id)``: the cursor ``"<ts_ms>:<id>"`` is the last
item a page examined, and the next page starts strictly after it, so items
that arrive meanwhile never shift a page (newer ones appear on a fresh
first page). What the viewer hides (blocks, mute words, ``!hide`` labels)
is filtered out after the SQL, in bounded rounds; a page may then be
shorter than ``limit`` while ``next`` still says there is more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apsw

from hartnode.apps.social.filters import Viewer, active_labels, chunks, hidden_by_label
from hartnode.apps.social.names import global_name

MAX_ROUNDS = 8  # SQL rounds one page may take while filters drop rows
MAX_PINNED = 10  # pinned posts a community's first page lists apart
Cursor = tuple[int, str]

_POST_COLUMNS = (
    "p.id, p.title, p.body, p.author_id, u.display_name, p.community_id, c.name, "
    "p.score, p.upvotes, p.downvotes, p.comment_count, p.pinned, p.locked, p.deleted, "
    "p.edited_ts, p.ts_ms")
_POST_FROM = ("FROM posts p LEFT JOIN users u ON u.id = p.author_id "
              "LEFT JOIN communities c ON c.id = p.community_id")


def encode_cursor(ts_ms: int, item_id: str) -> str:
    return f"{ts_ms}:{item_id}"


def author_json(ref: str, display_name: object) -> dict[str, object]:
    return {"id": ref, "name": global_name(ref),
            "display_name": "" if display_name is None else display_name}


def _post_json(row: tuple[Any, ...]) -> dict[str, object]:
    (pid, title, body, author, display, community, community_name, score, up, down, count,
     pinned, locked, deleted, edited_ts, ts_ms) = row
    return {
        "id": pid, "title": title, "body": body, "author": author_json(author, display),
        "community": None if community is None else {"id": community, "name": community_name},
        "score": score, "upvotes": up, "downvotes": down, "comment_count": count,
        "pinned": bool(pinned), "locked": bool(locked), "deleted": bool(deleted),
        "edited_ts": edited_ts, "ts_ms": ts_ms}


def _my_votes(state: apsw.Connection, viewer: Viewer, ids: list[str]) -> dict[str, int]:
    if viewer.user is None or not ids:
        return {}
    votes: dict[str, int] = {}
    for part in chunks(ids):
        for target, value in state.execute(
                f"SELECT target_id, value FROM votes WHERE user_id=? AND target_id IN "
                f"({','.join('?' * len(part))})", (viewer.user, *part)):
            votes[str(target)] = int(value)
    return votes


@dataclass(frozen=True)
class FeedQuery:
    """``community``/``author``: only theirs; ``following``: the viewer's follows,
    its communities and itself; ``before``: the previous page's ``next``."""

    limit: int = 20
    before: Cursor | None = None
    community: str | None = None
    author: str | None = None
    following: bool = False


def feed(state: apsw.Connection, viewer: Viewer, q: FeedQuery, now_ms: int
         ) -> dict[str, object]:
    """``{"items": [post...], "pinned": [post...], "next": cursor | null}``, newest
    first. ``pinned``: on a community's first page, its pinned posts (they are in
    ``items`` too, where their time puts them); empty otherwise."""
    where = ["p.deleted = 0"]
    args: dict[str, object] = {"viewer": viewer.user}
    # A private community's posts are for its members (not secret: its events
    # replicate like any; this is what the app shows, not confidentiality).
    where.append("(c.visibility IS NOT 'private' OR p.community_id IN (SELECT community_id "
                 "FROM community_memberships WHERE user_id = :viewer AND role != 'pending'))")
    if q.community is not None:
        where.append("p.community_id = :community")
        args["community"] = q.community
    if q.author is not None:
        where.append("p.author_id = :author")
        args["author"] = q.author
    if q.following:
        where.append(
            "(p.author_id = :viewer OR p.author_id IN (SELECT followed_id FROM follows WHERE "
            "follower_id = :viewer AND active = 1) OR p.community_id IN (SELECT community_id "
            "FROM community_memberships WHERE user_id = :viewer AND role != 'pending'))")
    items: list[dict[str, object]] = []
    cursor = q.before
    more = True
    for _ in range(MAX_ROUNDS):
        page_args = dict(args)
        page_where = list(where)
        if cursor is not None:
            page_where.append("(p.ts_ms, p.id) < (:ts, :id)")
            page_args.update(ts=cursor[0], id=cursor[1])
        want = q.limit - len(items)
        rows = [tuple(r) for r in state.execute(
            f"SELECT {_POST_COLUMNS} {_POST_FROM} WHERE {' AND '.join(page_where)} "
            "ORDER BY p.ts_ms DESC, p.id DESC LIMIT :n", {**page_args, "n": want})]
        labels = active_labels(state, [r[0] for r in rows] + [r[3] for r in rows], now_ms)
        for row in rows:
            cursor = (int(row[15]), str(row[0]))
            if viewer.hides(row[3], row[1], row[2]) or hidden_by_label(labels, row[0], row[3]):
                continue
            post = _post_json(row)
            post["labels"] = labels.get(row[0], [])
            items.append(post)
        more = len(rows) == want
        if not more or len(items) >= q.limit:
            break
    pinned: list[dict[str, object]] = []
    if q.community is not None and q.before is None:  # a community's first page
        rows = [tuple(r) for r in state.execute(
            f"SELECT {_POST_COLUMNS} {_POST_FROM} WHERE {' AND '.join(where)} AND p.pinned = 1 "
            "ORDER BY p.ts_ms DESC, p.id DESC LIMIT :n", {**args, "n": MAX_PINNED})]
        labels = active_labels(state, [r[0] for r in rows] + [r[3] for r in rows], now_ms)
        for row in rows:
            if not (viewer.hides(row[3], row[1], row[2])
                    or hidden_by_label(labels, row[0], row[3])):
                pinned.append({**_post_json(row), "labels": labels.get(row[0], [])})
    votes = _my_votes(state, viewer, [str(p["id"]) for p in items + pinned])
    for post in items + pinned:
        post["my_vote"] = votes.get(str(post["id"]), 0)
    return {"items": items, "pinned": pinned,
            "next": encode_cursor(*cursor) if more and cursor is not None else None}


def get_post(state: apsw.Connection, pid: str) -> dict[str, object] | None:
    for row in state.execute(f"SELECT {_POST_COLUMNS} {_POST_FROM} WHERE p.id = ?", (pid,)):
        return _post_json(tuple(row))
    return None


def thread(state: apsw.Connection, viewer: Viewer, pid: str, *, limit: int,
           after: Cursor | None, now_ms: int) -> dict[str, object] | None:
    """The post and up to ``limit`` of its comments, oldest first, as a tree.

    A comment the viewer hides keeps its place (its replies stay reachable)
    with ``hidden`` saying why and no body or author; a deleted one keeps
    its place with an empty body. A comment whose parent is not on this page
    (not arrived yet, or on an earlier page) is a top-level entry with its
    ``parent_id``. ``next``: the cursor of the page after this one.
    """
    post = get_post(state, pid)
    if post is None:
        return None
    where = "c.post_id = ?"
    args: list[object] = [pid]
    if after is not None:
        where += " AND (c.ts_ms, c.id) > (?, ?)"
        args += [after[0], after[1]]
    rows = [tuple(r) for r in state.execute(
        "SELECT c.id, c.parent_id, c.body, c.author_id, u.display_name, c.score, c.upvotes, "
        "c.downvotes, c.deleted, c.edited_ts, c.ts_ms FROM comments c LEFT JOIN users u ON "
        f"u.id = c.author_id WHERE {where} ORDER BY c.ts_ms, c.id LIMIT ?", (*args, limit))]
    labels = active_labels(state, [pid, str(post["author"]["id"])]  # type: ignore[index]
                           + [r[0] for r in rows] + [r[3] for r in rows], now_ms)
    votes = _my_votes(state, viewer, [pid] + [r[0] for r in rows])
    by_id: dict[str, dict[str, object]] = {}
    top: list[dict[str, object]] = []
    for (cid, parent, body, author, display, score, up, down, deleted, edited_ts,
         ts_ms) in rows:
        node: dict[str, object] = {
            "id": cid, "parent_id": parent, "body": body,
            "author": author_json(author, display), "score": score, "upvotes": up,
            "downvotes": down, "deleted": bool(deleted), "edited_ts": edited_ts,
            "ts_ms": ts_ms, "labels": labels.get(cid, []), "my_vote": votes.get(cid, 0),
            "hidden": None, "replies": []}
        if author in viewer.blocked:
            node.update(hidden="blocked", body="", author=None)
        elif viewer.mutes(body):
            node.update(hidden="muted", body="")
        elif hidden_by_label(labels, cid, author):
            node.update(hidden="label", body="")
        by_id[cid] = node
        parent_node = by_id.get(parent)
        if parent_node is not None:
            parent_node["replies"].append(node)  # type: ignore[attr-defined]
        else:
            top.append(node)
    post["labels"] = labels.get(pid, [])
    post["my_vote"] = votes.get(pid, 0)
    if viewer.hides(str(post["author"]["id"]), str(post["title"]),  # type: ignore[index]
                    str(post["body"])):
        post.update(hidden=True, title="", body="")
    nxt = (encode_cursor(int(rows[-1][10]), str(rows[-1][0]))
           if len(rows) == limit else None)
    return {"post": post, "comments": top, "next": nxt}
