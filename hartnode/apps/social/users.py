"""Projection of ``social.user.created`` into ``users``.

A handle is unique per node: if an origin ever signed two creations of one
handle, the earliest ``(ts_ms, hash)`` is the account on every node.
"""

from __future__ import annotations

import apsw

from hartnode.apps.social.names import author_of
from hartnode.ledger.envelope import Event


def user_created(state: apsw.Connection, event_id: int, event: Event) -> None:
    ref = author_of(event)
    p = event.payload
    if ref is None or event.actor != f"user:{p['handle']}":
        return  # a node speaks for its own users only, each for itself
    state.execute(
        "INSERT INTO users (id, handle, node_id, display_name, ts_ms, hash, source_event) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET display_name=excluded.display_name,"
        " ts_ms=excluded.ts_ms, hash=excluded.hash, source_event=excluded.source_event "
        "WHERE (excluded.ts_ms, excluded.hash) < (users.ts_ms, users.hash)",
        (ref, p["handle"], event.origin, p.get("display_name", ""), event.ts_ms, event.hash_hex,
         event_id))
