"""Reads of the ledger for other services, so none of them runs SQL on its connection.

The hierarchy's sync queue, for one, asks which events of a reach were
stored in an id range, reads events by id, and asks which hashes the ledger
holds (to acknowledge only what is stored durably). Worker-thread calls,
like every ``Ledger`` method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hartnode.ledger import store
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import EVENT_COLUMNS, Ledger, event_from_row

# SQLite's default limit of host parameters in one statement is 32,766; stay far below.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Stored:
    """Where an event sits in the ledger: its row id, hash, origin, seq and kind."""

    event_id: int
    event_hash: bytes
    origin: str
    seq: int
    kind: str


def stored_with_reach(ledger: Ledger, reach: str, lo: int, hi: int) -> list[Stored]:
    """Events of ``reach`` with ``lo < id <= hi``, in id order."""
    return [Stored(i, bytes(h), origin, seq, kind) for i, h, origin, seq, kind in store.query(
        ledger.conn, "SELECT id, hash_blake3, origin, seq, kind FROM events"
        " WHERE id > ? AND id <= ? AND reach = ? ORDER BY id", (lo, hi, reach))]


def events_by_id(ledger: Ledger, ids: Sequence[int]) -> dict[int, Event]:
    """The events with these row ids (those that exist)."""
    out: dict[int, Event] = {}
    for i in range(0, len(ids), CHUNK):
        part = tuple(ids[i:i + CHUNK])
        marks = ",".join("?" * len(part))
        for row in ledger.conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({marks})", part):
            out[row[0]] = event_from_row(row)
    return out


def held_hashes(ledger: Ledger, hashes: Sequence[bytes]) -> set[bytes]:
    """Which of ``hashes`` the ledger holds as events (stored, so durable)."""
    out: set[bytes] = set()
    for i in range(0, len(hashes), CHUNK):
        part = tuple(hashes[i:i + CHUNK])
        marks = ",".join("?" * len(part))
        out.update(bytes(h) for (h,) in ledger.conn.execute(
            f"SELECT hash_blake3 FROM events WHERE hash_blake3 IN ({marks})", part))
    return out
