"""Projections of posts and threaded comments, their edits and deletions.

A post or comment row keeps its text as created (``first_*``); the current
text is recomputed from the author's edits and deletion (``aggregates``), so
an edit or a deletion that arrives before its target waits in the fact
tables, and one by anyone but the author is kept and never counts.
Mentions are noted as facts too; notifications are read from them.
"""

from __future__ import annotations

import apsw

from hartnode.apps.social import aggregates
from hartnode.apps.social.names import author_of, mentions
from hartnode.ledger.envelope import Event


def _note_mentions(state: apsw.Connection, event_id: int, event: Event, text: str) -> None:
    for handle, prefix in mentions(text, event.origin):
        state.execute(
            "INSERT INTO social_mentions (source_id, handle, node_prefix, source_event) "
            "VALUES (?,?,?,?) ON CONFLICT DO NOTHING", (event.hash_hex, handle, prefix, event_id))


def post_created(state: apsw.Connection, event_id: int, event: Event) -> None:
    author = author_of(event)
    if author is None:
        return
    p = event.payload
    state.execute(
        "INSERT INTO posts (id, title, body, author_id, community_id, ts_ms, first_title, "
        "first_body, source_event) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        (event.hash_hex, p["title"], p["body"], author, p.get("community"), event.ts_ms,
         p["title"], p["body"], event_id))
    _note_mentions(state, event_id, event, f"{p['title']}\n{p['body']}")
    aggregates.post(state, event.hash_hex)


def comment_created(state: apsw.Connection, event_id: int, event: Event) -> None:
    author = author_of(event)
    if author is None:
        return
    p = event.payload
    state.execute(
        "INSERT INTO comments (id, post_id, parent_id, body, author_id, ts_ms, first_body, "
        "source_event) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        (event.hash_hex, p["root"], p["parent"], p["body"], author, event.ts_ms, p["body"],
         event_id))
    _note_mentions(state, event_id, event, p["body"])
    aggregates.comment(state, event.hash_hex)
    aggregates.comment_count(state, p["root"])


def _edit(state: apsw.Connection, event_id: int, event: Event, target: str,
          title: str | None, body: str | None) -> None:
    actor = author_of(event)
    if actor is None:
        return
    state.execute(
        "INSERT INTO social_edits (hash, target_id, actor_id, title, body, ts_ms, source_event) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT (hash) DO NOTHING",
        (event.hash_hex, target, actor, title, body, event.ts_ms, event_id))
    aggregates.target(state, target)


def post_edited(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    _edit(state, event_id, event, p["post"], p.get("title"), p.get("body"))


def comment_edited(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    _edit(state, event_id, event, p["comment"], None, p["body"])


def _delete(state: apsw.Connection, event_id: int, event: Event, target: str) -> None:
    actor = author_of(event)
    if actor is None:
        return
    state.execute(
        "INSERT INTO social_deletes (hash, target_id, actor_id, ts_ms, source_event) "
        "VALUES (?,?,?,?,?) ON CONFLICT (hash) DO NOTHING",
        (event.hash_hex, target, actor, event.ts_ms, event_id))
    aggregates.target(state, target)
    for (root,) in state.execute("SELECT post_id FROM comments WHERE id=?", (target,)).fetchall():
        aggregates.comment_count(state, str(root))  # one comment fewer


def post_deleted(state: apsw.Connection, event_id: int, event: Event) -> None:
    _delete(state, event_id, event, event.payload["post"])


def comment_deleted(state: apsw.Connection, event_id: int, event: Event) -> None:
    _delete(state, event_id, event, event.payload["comment"])
