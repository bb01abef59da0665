"""The ledger explorer's reads: filtered pages of events, and one event checked (web UI, issue #13).

``page`` answers the explorer's table: the newest events first, filtered by
kind (exact, or a ``prefix.*``) and origin, paged by row id (``before``)
rather than by offset, so a deep page costs no more than the first.

``check_event`` is what the UI shows as "verified": the server recomputes
the event's hash from its stored columns, checks the origin's Ed25519
signature over it, and checks the chain link both ways (its ``prev`` is the
hash of the origin's previous stored event; the next stored event's ``prev``
is its hash). The browser only displays the verdict; it holds no keys and
does no crypto, so the verdict is exactly what ``kb verify`` would say of
that row. Worker-thread calls, like every ``Ledger`` method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import blake3

from hartnode.identity import verify_signature
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import EVENT_COLUMNS, Ledger, event_from_row, row_check

#: The most events one page answers.
PAGE_MAX = 500


@dataclass(frozen=True)
class PageQuery:
    """Which events a page holds: newest first, ``id < before`` (0: from the newest)."""

    n: int = 50
    before: int = 0
    kind: str = ""  # exact kind, or "social.*" for every kind under a prefix
    origin: str = ""  # a node id (64 hex digits)


def page(ledger: Ledger, q: PageQuery) -> dict[str, Any]:
    """One page of events, newest first, each with its row id; ``next_before``
    pages on (None on the last page)."""
    where: list[str] = []
    args: list[int | str] = []
    if q.before > 0:
        where.append("id < ?")
        args.append(q.before)
    if q.origin:
        where.append("origin = ?")
        args.append(q.origin)
    if q.kind.endswith(".*"):
        # A range, not LIKE: kinds hold '_' (a LIKE wildcard), and a range uses the index.
        prefix = q.kind[:-1]
        where.append("kind >= ? AND kind < ?")
        args += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    elif q.kind:
        where.append("kind = ?")
        args.append(q.kind)
    sql = f"SELECT {EVENT_COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    limit = min(q.n, PAGE_MAX)
    rows: list[Any] = ledger.conn.execute(sql, (*args, limit)).fetchall()
    events = [{"id": row[0], "received_ms": row[14], **event_from_row(row).as_json()}
              for row in rows]
    last_id = int(rows[-1][0]) if rows else 0
    more = len(rows) == limit and last_id > 1
    return {"events": events, "next_before": last_id if more else None,
            "total": ledger.max_id()}


def _row_by(ledger: Ledger, where: str, args: tuple[Any, ...]) -> Any:
    return ledger.conn.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}",
                               args).fetchone()


def check_event(ledger: Ledger, event_hash: bytes) -> dict[str, Any] | None:
    """The stored event with this hash and the server's verdict on it, or None
    when the ledger holds no such event.

    ``checks``: ``hash`` (the envelope rebuilt from the row hashes to the
    stored hash), ``signature`` (the origin signed that hash), ``row`` (the
    row's local columns are bound to it), ``prev`` (``seq`` 1 has no prev;
    otherwise the origin's previous stored event hashes to ``prev``; None when
    that event is not held here), ``next`` (the origin's next stored event
    names this one as its prev; None when there is none yet). ``verified`` is
    true when none of them is false.
    """
    row = _row_by(ledger, "hash_blake3 = ?", (event_hash,))
    if row is None:
        return None
    event = event_from_row(row)
    computed = blake3.blake3(event.text().encode("utf-8")).digest()
    try:
        key = bytes.fromhex(event.origin)
    except ValueError:
        key = b""
    checks: dict[str, bool | None] = {
        "hash": computed == event.hash,
        "signature": verify_signature(key, computed, event.sig),
        "row": bytes(row[15]) == row_check(row[0], row[14], event.hash),
    }
    prev_event: Event | None = None
    if event.seq == 1:
        checks["prev"] = event.prev is None
    else:
        prev_row = _row_by(ledger, "origin = ? AND seq = ?", (event.origin, event.seq - 1))
        prev_event = event_from_row(prev_row) if prev_row is not None else None
        checks["prev"] = None if prev_event is None else prev_event.hash_hex == event.prev
    next_row = _row_by(ledger, "origin = ? AND seq = ?", (event.origin, event.seq + 1))
    next_event = event_from_row(next_row) if next_row is not None else None
    checks["next"] = None if next_event is None else next_event.prev == event.hash_hex
    return {
        "id": row[0], "received_ms": row[14], "event": event.as_json(),
        "computed_hash": computed.hex(), "checks": checks,
        "verified": all(v is not False for v in checks.values()),
        "prev_event": _summary(prev_event), "next_event": _summary(next_event),
    }


def _summary(event: Event | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"hash": event.hash_hex, "seq": event.seq, "kind": event.kind, "prev": event.prev}
