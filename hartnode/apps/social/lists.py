"""Reading everything but posts: users, communities, members, follows, reports,
a user's mutes and blocks, and notifications.

Lists ordered by time take the ``"<ts_ms>:<id>"`` cursor (newest first);
lists ordered by id take the last id seen. ``next`` is null on the last page.
Notifications are not stored: they are read from the replicated facts
(replies to the user's posts and comments, mentions, follows), so they need
no projection of their own and cannot disagree with the thread; whether one
is read is the user's ``local`` mark (``social.notification.seen``).
"""

from __future__ import annotations

from typing import Any

import apsw

from hartnode.apps.social.feed import Cursor, author_json, encode_cursor
from hartnode.apps.social.filters import Viewer
from hartnode.apps.social.names import global_name, split_ref


def _page(rows: list[tuple[Any, ...]], limit: int, key: Any) -> str | None:
    return key(rows[-1]) if len(rows) == limit and rows else None


def user_json(row: tuple[Any, ...]) -> dict[str, object]:
    ref, handle, node_id, display, karma, ts_ms = row
    return {"id": ref, "handle": handle, "node_id": node_id, "name": global_name(ref),
            "display_name": display, "karma": karma, "ts_ms": ts_ms}


# Karma: the scores of the user's live posts and comments, summed when read
# (kept as a column, every vote would have to re-sum the author's history).
_KARMA = ("(SELECT COALESCE(SUM(score), 0) FROM posts WHERE author_id = users.id AND "
          "deleted = 0) + (SELECT COALESCE(SUM(score), 0) FROM comments WHERE "
          "author_id = users.id AND deleted = 0)")
_USER_COLS = f"id, handle, node_id, display_name, {_KARMA}, ts_ms"


def users(state: apsw.Connection, *, node_id: str | None, limit: int, after: str | None
          ) -> dict[str, object]:
    """Users by id; ``node_id``: only that node's (the local accounts)."""
    where = ["1"]
    args: list[object] = []
    if node_id is not None:
        where.append("node_id = ?")
        args.append(node_id)
    if after is not None:
        where.append("id > ?")
        args.append(after)
    rows = [tuple(r) for r in state.execute(
        f"SELECT {_USER_COLS} FROM users WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        (*args, limit))]
    return {"items": [user_json(r) for r in rows], "next": _page(rows, limit, lambda r: r[0])}


def get_user(state: apsw.Connection, ref: str) -> dict[str, object] | None:
    for row in state.execute(f"SELECT {_USER_COLS} FROM users WHERE id = ?", (ref,)):
        user = user_json(tuple(row))
        user["followers"] = _count(state, "SELECT COUNT(*) FROM follows WHERE followed_id=? "
                                   "AND active=1", ref)
        user["following"] = _count(state, "SELECT COUNT(*) FROM follows WHERE follower_id=? "
                                   "AND active=1", ref)
        return user
    return None


def find_users(state: apsw.Connection, handle: str, node_prefix: str) -> list[str]:
    """References of the users ``handle`` on nodes whose id starts with ``node_prefix``
    (at most two: enough to tell one from ambiguous)."""
    return [str(r) for (r,) in state.execute(
        "SELECT id FROM users WHERE handle=? AND substr(node_id, 1, ?) = ? ORDER BY id LIMIT 2",
        (handle, len(node_prefix), node_prefix))]


def _count(state: apsw.Connection, sql: str, *args: object) -> int:
    for (n,) in state.execute(sql, args):
        return int(n)
    return 0


def local_user(state: apsw.Connection, node_id: str, handle: str) -> str | None:
    """The reference of this node's user ``handle``, if it exists."""
    for (ref,) in state.execute("SELECT id FROM users WHERE node_id=? AND handle=?",
                                (node_id, handle)):
        return str(ref)
    return None


def _community_json(row: tuple[Any, ...]) -> dict[str, object]:
    cid, name, description, creator, visibility, members, ts_ms, role = row
    return {"id": cid, "name": name, "description": description,
            "owner": {"id": creator, "name": global_name(creator)}, "visibility": visibility,
            "member_count": members, "ts_ms": ts_ms, "my_role": role}


def communities(state: apsw.Connection, viewer: Viewer, *, limit: int, before: Cursor | None,
                name: str | None = None, joined: bool = False) -> dict[str, object]:
    """Communities, newest first; ``my_role`` is the viewer's (null: none)."""
    where = ["1"]
    args: list[object] = [viewer.user]
    if name is not None:
        where.append("c.name = ?")
        args.append(name)
    if joined:
        where.append("m.role IS NOT NULL")
    if before is not None:
        where.append("(c.ts_ms, c.id) < (?, ?)")
        args += [before[0], before[1]]
    rows = [tuple(r) for r in state.execute(
        "SELECT c.id, c.name, c.description, c.creator_id, c.visibility, c.member_count, "
        "c.ts_ms, m.role FROM communities c LEFT JOIN community_memberships m ON "
        "m.community_id = c.id AND m.user_id = ? "
        f"WHERE {' AND '.join(where)} ORDER BY c.ts_ms DESC, c.id DESC LIMIT ?",
        (*args, limit))]
    return {"items": [_community_json(r) for r in rows],
            "next": _page(rows, limit, lambda r: encode_cursor(r[6], r[0]))}


def get_community(state: apsw.Connection, viewer: Viewer, cid: str) -> dict[str, object] | None:
    for row in state.execute(
            "SELECT c.id, c.name, c.description, c.creator_id, c.visibility, c.member_count, "
            "c.ts_ms, m.role FROM communities c LEFT JOIN community_memberships m ON "
            "m.community_id = c.id AND m.user_id = ? WHERE c.id = ?", (viewer.user, cid)):
        return _community_json(tuple(row))
    return None


def members(state: apsw.Connection, cid: str, *, limit: int, after: str | None
            ) -> dict[str, object]:
    """A community's members (and pending ones) by user reference."""
    rows = [tuple(r) for r in state.execute(
        "SELECT m.user_id, m.role, u.display_name FROM community_memberships m LEFT JOIN users u "
        "ON u.id = m.user_id WHERE m.community_id = ? AND m.user_id > ? ORDER BY m.user_id "
        "LIMIT ?", (cid, after or "", limit))]
    return {"items": [{"user": author_json(r[0], r[2]), "role": r[1]} for r in rows],
            "next": _page(rows, limit, lambda r: r[0])}


def follows(state: apsw.Connection, user: str, *, followers: bool, limit: int,
            after: str | None) -> dict[str, object]:
    """Whom ``user`` follows, or (``followers``) who follows it, by user reference."""
    mine, theirs = ("followed_id", "follower_id") if followers else ("follower_id", "followed_id")
    rows = [tuple(r) for r in state.execute(
        f"SELECT f.{theirs}, u.display_name, f.ts_ms FROM follows f LEFT JOIN users u ON "
        f"u.id = f.{theirs} WHERE f.{mine} = ? AND f.active = 1 AND f.{theirs} > ? "
        f"ORDER BY f.{theirs} LIMIT ?", (user, after or "", limit))]
    return {"items": [{"user": author_json(r[0], r[1]), "ts_ms": r[2]} for r in rows],
            "next": _page(rows, limit, lambda r: r[0])}


def reports(state: apsw.Connection, *, community: str | None, limit: int,
            before: Cursor | None) -> dict[str, object]:
    """Reports, newest first; ``community``: those of its posts and their comments."""
    where = ["1"]
    args: list[object] = []
    if community is not None:
        where.append("(r.content_id IN (SELECT id FROM posts WHERE community_id = ?) OR "
                     "r.content_id IN (SELECT c.id FROM comments c JOIN posts p ON "
                     "p.id = c.post_id WHERE p.community_id = ?))")
        args += [community, community]
    if before is not None:
        where.append("(r.ts_ms, r.id) < (?, ?)")
        args += [before[0], before[1]]
    rows = [tuple(r) for r in state.execute(
        "SELECT r.id, r.reporter_id, r.content_type, r.content_id, r.reason, r.note, r.ts_ms "
        f"FROM reports r WHERE {' AND '.join(where)} ORDER BY r.ts_ms DESC, r.id DESC LIMIT ?",
        (*args, limit))]
    items = [{"id": r[0], "reporter": {"id": r[1], "name": global_name(r[1])},
              "content_type": r[2], "content_id": r[3], "reason": r[4], "note": r[5],
              "ts_ms": r[6]} for r in rows]
    return {"items": items, "next": _page(rows, limit, lambda r: encode_cursor(r[6], r[0]))}


def settings(state: apsw.Connection, viewer: Viewer) -> dict[str, object]:
    """The viewer's mute words and blocked users."""
    return {"muted_words": list(viewer.muted),
            "blocked": [{"id": b, "name": global_name(b)} for b in sorted(viewer.blocked)]}


def notifications(state: apsw.Connection, viewer: Viewer, *, limit: int,
                  before: Cursor | None) -> dict[str, object]:
    """The viewer's replies, mentions and new followers, newest first, each with
    ``read`` (at or before its ``social.notification.seen`` mark)."""
    assert viewer.user is not None
    handle, node_id = split_ref(viewer.user)
    sql = """
      SELECT 'reply' AS type, c.id AS id, c.author_id AS actor, c.ts_ms AS ts_ms,
             c.post_id AS post_id FROM comments c
       WHERE c.deleted = 0 AND c.author_id != :me AND c.parent_id IN (
             SELECT id FROM posts WHERE author_id = :me UNION
             SELECT id FROM comments WHERE author_id = :me)
      UNION
      SELECT 'mention', m.source_id, COALESCE(p.author_id, c.author_id),
             COALESCE(p.ts_ms, c.ts_ms), COALESCE(p.id, c.post_id)
        FROM social_mentions m LEFT JOIN posts p ON p.id = m.source_id AND p.deleted = 0
        LEFT JOIN comments c ON c.id = m.source_id AND c.deleted = 0
       WHERE m.handle = :handle AND :node LIKE m.node_prefix || '%'
         AND COALESCE(p.author_id, c.author_id) IS NOT NULL
         AND COALESCE(p.author_id, c.author_id) != :me
      UNION
      SELECT 'follow', f.hash, f.follower_id, f.ts_ms, NULL FROM follows f
       WHERE f.followed_id = :me AND f.active = 1"""
    args: dict[str, object] = {"me": viewer.user, "handle": handle, "node": node_id}
    outer = ""
    if before is not None:
        outer = "WHERE (ts_ms, id) < (:ts, :id)"
        args.update(ts=before[0], id=before[1])
    seen = _count(state, "SELECT COALESCE(MAX(seen_ts), 0) FROM social_seen WHERE user_id=?",
                  viewer.user)
    items: list[dict[str, object]] = []
    cursor = before
    more = True
    for _ in range(8):  # blocked actors are dropped after the SQL: bounded rounds
        want = limit - len(items)
        if cursor is not None:
            outer = "WHERE (ts_ms, id) < (:ts, :id)"
            args.update(ts=cursor[0], id=cursor[1])
        rows = [tuple(r) for r in state.execute(
            f"SELECT type, id, actor, ts_ms, post_id FROM ({sql}) {outer} "
            "ORDER BY ts_ms DESC, id DESC LIMIT :n", {**args, "n": want})]
        for kind, nid, actor, ts_ms, post_id in rows:
            cursor = (int(ts_ms), str(nid))
            if actor in viewer.blocked:
                continue
            items.append({"type": kind, "id": nid, "actor": {"id": actor,
                                                              "name": global_name(actor)},
                          "post_id": post_id, "ts_ms": ts_ms, "read": ts_ms <= seen})
        more = len(rows) == want
        if not more or len(items) >= limit:
            break
    return {"items": items, "unread": sum(1 for i in items if not i["read"]),
            "next": encode_cursor(*cursor) if more and cursor is not None else None}
