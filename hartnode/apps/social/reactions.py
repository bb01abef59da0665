"""Projections of votes and follows: one row per (actor, target), the last writer wins.

"Last" is the greatest ``(ts_ms, hash)``: every node picks the same winner
whatever order the events arrived in (a vote change before the earlier
vote included). A winning vote moves its target's tallies by the difference
(``aggregates.vote_changed``); a target that arrives later sums its votes.
"""

from __future__ import annotations

import apsw

from hartnode.apps.social import aggregates
from hartnode.apps.social.names import author_of
from hartnode.ledger.envelope import Event


def last_writer(state: apsw.Connection, table: str, key: tuple[str, ...],
                row: dict[str, object]) -> None:
    """Upsert ``row`` into ``table`` unless the row there has a greater (ts_ms, hash)."""
    cols = list(row)
    updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in key)
    state.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} "
        f"WHERE (excluded.ts_ms, excluded.hash) > ({table}.ts_ms, {table}.hash)",
        tuple(row.values()))


def vote_cast(state: apsw.Connection, event_id: int, event: Event) -> None:
    user = author_of(event)
    if user is None:
        return
    p = event.payload
    old = state.execute("SELECT value, ts_ms, hash FROM votes WHERE user_id=? AND target_id=?",
                        (user, p["target"])).fetchall()
    if old and (old[0][1], old[0][2]) >= (event.ts_ms, event.hash_hex):
        return  # an older vote, or this one again: the standing vote stays
    last_writer(state, "votes", ("user_id", "target_id"), {
        "user_id": user, "target_id": p["target"], "value": p["value"], "ts_ms": event.ts_ms,
        "hash": event.hash_hex, "source_event": event_id})
    before = int(str(old[0][0])) if old else 0
    aggregates.vote_changed(state, p["target"], before, p["value"])


def follow_set(state: apsw.Connection, event_id: int, event: Event) -> None:
    user = author_of(event)
    if user is None:
        return
    p = event.payload
    last_writer(state, "follows", ("follower_id", "followed_id"), {
        "follower_id": user, "followed_id": p["user"], "active": int(p["follow"]),
        "ts_ms": event.ts_ms, "hash": event.hash_hex, "source_event": event_id})
