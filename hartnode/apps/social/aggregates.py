"""Derived rows, recomputed from the fact tables.

Each function is a pure function of the rows its target's facts left, so
calling it after any arrival, in any order, any number of times, ends in the
same row: that is what makes the views identical on every node that holds
the same events (issue 12). "Latest" is always the greatest ``(ts_ms, hash)``.

One exception keeps a hot post cheap: a vote that replaces the voter's
previous one moves the target's tallies by the difference (``vote_changed``),
since re-summing every vote on each vote costs O(votes) per vote. It stays
order-independent: a target's tallies always equal the sum of its current
votes, because a missing target takes no delta and sums them all when it
arrives (``post``, ``comment``), and a vote that does not replace (an older
one, a duplicate) moves nothing. A user's karma is summed when read.
"""

from __future__ import annotations

import apsw

_LATEST = "ORDER BY ts_ms DESC, hash DESC LIMIT 1"


def _one(state: apsw.Connection, sql: str, args: tuple[object, ...]) -> tuple[object, ...] | None:
    for row in state.execute(sql, args):
        return tuple(row)
    return None


def is_moderator(state: apsw.Connection, community: str, user: str) -> bool:
    row = _one(state, "SELECT role FROM community_memberships WHERE community_id=? AND user_id=?",
               (community, user))
    return row is not None and row[0] in ("owner", "moderator")


def _edited(state: apsw.Connection, target: str, author: str, column: str
            ) -> tuple[str, int] | None:
    """The author's latest edit of ``column`` and its ts_ms; others' edits never count."""
    row = _one(state, f"SELECT {column}, ts_ms FROM social_edits WHERE target_id=? AND "
               f"actor_id=? AND {column} IS NOT NULL {_LATEST}", (target, author))
    return (str(row[0]), int(row[1])) if row is not None else None  # type: ignore[call-overload]


def _deleted(state: apsw.Connection, target: str, author: str) -> bool:
    return _one(state, "SELECT 1 FROM social_deletes WHERE target_id=? AND actor_id=? LIMIT 1",
                (target, author)) is not None


def _tally(state: apsw.Connection, target: str) -> tuple[int, int, int]:
    row = _one(state, "SELECT COALESCE(SUM(value),0), COALESCE(SUM(value>0),0), "
               "COALESCE(SUM(value<0),0) FROM votes WHERE target_id=?", (target,))
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])  # type: ignore[call-overload]


def _mod_flag(state: apsw.Connection, post: str, axis: str, community: str | None) -> int:
    """The latest pin (or lock) switch by anyone who moderates the post's community."""
    if community is None:
        return 0
    rows = state.execute("SELECT actor_id, on_ FROM social_mod_actions WHERE target_id=? AND "
                         "axis=? ORDER BY ts_ms DESC, hash DESC", (post, axis)).fetchall()
    for actor, on in rows:
        if is_moderator(state, community, str(actor)):
            return 1 if on else 0
    return 0


def post(state: apsw.Connection, pid: str) -> None:
    """Title, body, deletion, votes, comment count, pin and lock of post ``pid``."""
    row = _one(state, "SELECT author_id, first_title, first_body, community_id FROM posts "
               "WHERE id=?", (pid,))
    if row is None:
        return  # not arrived yet: its facts wait
    author, title, body, community = (str(row[0]), str(row[1]), str(row[2]),
                                      None if row[3] is None else str(row[3]))
    edited_ts = None
    for column in ("title", "body"):
        edit = _edited(state, pid, author, column)
        if edit is not None:
            if column == "title":
                title = edit[0]
            else:
                body = edit[0]
            edited_ts = max(edited_ts or 0, edit[1])
    deleted = _deleted(state, pid, author)
    if deleted:  # NIP-09: the content is no longer served
        title = body = ""
    score, up, down = _tally(state, pid)
    count = _one(state, "SELECT COUNT(*) FROM comments WHERE post_id=? AND deleted=0", (pid,))
    assert count is not None
    state.execute(
        "UPDATE posts SET title=?, body=?, deleted=?, edited_ts=?, score=?, upvotes=?, "
        "downvotes=?, comment_count=?, pinned=?, locked=? WHERE id=?",
        (title, body, int(deleted), edited_ts, score, up, down, count[0],
         _mod_flag(state, pid, "pin", community), _mod_flag(state, pid, "lock", community), pid))


def comment_count(state: apsw.Connection, pid: str) -> None:
    """A comment came or went: only the post's count changes."""
    state.execute("UPDATE posts SET comment_count = (SELECT COUNT(*) FROM comments WHERE "
                  "post_id=?1 AND deleted=0) WHERE id=?1", (pid,))


def vote_changed(state: apsw.Connection, target: str, old: int, new: int) -> None:
    """A voter's vote on ``target`` went from ``old`` to ``new`` (0: none)."""
    deltas = (new - old, int(new > 0) - int(old > 0), int(new < 0) - int(old < 0))
    if deltas == (0, 0, 0):
        return
    for table in ("posts", "comments"):
        state.execute(f"UPDATE {table} SET score=score+?, upvotes=upvotes+?, "
                      "downvotes=downvotes+? WHERE id=?", (*deltas, target))


def comment(state: apsw.Connection, cid: str) -> None:
    """Body, deletion and votes of comment ``cid``."""
    row = _one(state, "SELECT author_id, first_body FROM comments WHERE id=?", (cid,))
    if row is None:
        return
    author, body = str(row[0]), str(row[1])
    edit = _edited(state, cid, author, "body")
    edited_ts = None
    if edit is not None:
        body, edited_ts = edit
    deleted = _deleted(state, cid, author)
    if deleted:
        body = ""
    score, up, down = _tally(state, cid)
    state.execute("UPDATE comments SET body=?, deleted=?, edited_ts=?, score=?, upvotes=?, "
                  "downvotes=? WHERE id=?", (body, int(deleted), edited_ts, score, up, down, cid))


def target(state: apsw.Connection, tid: str) -> None:
    """An edit or deletion names a post or a comment: recompute whichever it is."""
    post(state, tid)
    comment(state, tid)


def membership(state: apsw.Connection, community: str, user: str) -> None:
    """The user's role in the community from its joins, leaves and the owner's grants."""
    last = _one(state, "SELECT joined FROM social_membership_events WHERE community_id=? AND "
                f"user_id=? {_LATEST}", (community, user))
    joined = last is not None and last[0] == 1
    comm = _one(state, "SELECT creator_id, visibility FROM communities WHERE id=?", (community,))
    role: str | None
    if comm is None:  # the community has not arrived: provisional, redone when it does
        role = "member" if joined else None
    elif user == comm[0]:
        role = "owner"
    else:
        granted = _one(state, "SELECT role FROM social_role_events WHERE community_id=? AND "
                       f"user_id=? AND actor_id=? {_LATEST}", (community, user, comm[0]))
        if granted is not None and granted[0] == "moderator":
            role = "moderator"
        elif joined:
            admitted = comm[1] == "public" or granted is not None
            role = "member" if admitted else "pending"
        else:
            role = None
    before = _one(state, "SELECT role FROM community_memberships WHERE community_id=? AND "
                  "user_id=?", (community, user))
    if role is None:
        state.execute("DELETE FROM community_memberships WHERE community_id=? AND user_id=?",
                      (community, user))
    else:
        state.execute(
            "INSERT INTO community_memberships (community_id, user_id, role, source_event) "
            "VALUES (?1,?2,?3,COALESCE((SELECT MAX(source_event) FROM social_membership_events "
            "WHERE community_id=?1 AND user_id=?2), (SELECT source_event FROM communities "
            "WHERE id=?1), (SELECT MAX(source_event) FROM social_role_events WHERE "
            "community_id=?1 AND user_id=?2))) ON CONFLICT (community_id, user_id) "
            "DO UPDATE SET role=excluded.role", (community, user, role))
    if (before[0] if before else None) != role:
        member_count(state, community)
        # A moderator came or went: the pins and locks they set count or stop counting.
        for (pid,) in state.execute(
                "SELECT DISTINCT m.target_id FROM social_mod_actions m JOIN posts p ON "
                "p.id = m.target_id WHERE p.community_id=? AND m.actor_id=?",
                (community, user)).fetchall():
            post(state, str(pid))


def member_count(state: apsw.Connection, community: str) -> None:
    state.execute("UPDATE communities SET member_count = (SELECT COUNT(*) FROM "
                  "community_memberships WHERE community_id=?1 AND role != 'pending') "
                  "WHERE id=?1", (community,))


def community(state: apsw.Connection, cid: str) -> None:
    """Every membership of a community that just arrived (its owner decides them)."""
    users = {str(u) for (u,) in state.execute(
        "SELECT user_id FROM social_membership_events WHERE community_id=?1 UNION "
        "SELECT user_id FROM social_role_events WHERE community_id=?1 UNION "
        "SELECT creator_id FROM communities WHERE id=?1", (cid,))}
    for user in sorted(users):
        membership(state, cid, user)
    member_count(state, cid)
