"""Projections of a local user's own settings: mute words, blocks, notifications read.

Their kinds are ``local`` only (``kinds``), so these rows exist on the user's
node and nowhere else. Last writer by ``(ts_ms, hash)`` like votes.
"""

from __future__ import annotations

import apsw

from hartnode.apps.social.names import author_of
from hartnode.apps.social.reactions import last_writer
from hartnode.ledger.envelope import Event


def mute_set(state: apsw.Connection, event_id: int, event: Event) -> None:
    user = author_of(event)
    if user is None:
        return
    p = event.payload
    last_writer(state, "social_mutes", ("user_id", "word"), {
        "user_id": user, "word": p["word"].casefold(), "active": int(p["on"]),
        "ts_ms": event.ts_ms, "hash": event.hash_hex, "source_event": event_id})


def block_set(state: apsw.Connection, event_id: int, event: Event) -> None:
    user = author_of(event)
    if user is None:
        return
    p = event.payload
    last_writer(state, "social_blocks", ("user_id", "blocked_id"), {
        "user_id": user, "blocked_id": p["user"], "active": int(p["on"]),
        "ts_ms": event.ts_ms, "hash": event.hash_hex, "source_event": event_id})


def notifications_seen(state: apsw.Connection, event_id: int, event: Event) -> None:
    user = author_of(event)
    if user is None:
        return
    state.execute(
        "INSERT INTO social_seen (user_id, seen_ts, source_event) VALUES (?,?,?) "
        "ON CONFLICT (user_id) DO UPDATE SET seen_ts=excluded.seen_ts, "
        "source_event=excluded.source_event WHERE excluded.seen_ts > social_seen.seen_ts",
        (user, event.payload["up_to_ts"], event_id))
