"""The ``sync_queue`` table: what is pending, in flight and acknowledged per peer.

One row per (peer, event hash): an event this node owes its parent (``up``)
or a child (``down``). Rows live in ``state.sqlite`` (schema 1.2.0), so
nothing is lost when either side restarts: the sender resumes from its rows,
and the receiver acknowledges only what it holds durably. Delivery is
idempotent by event hash: a row is enqueued once per peer (UNIQUE), and a
resent event is acknowledged again as a duplicate.

Each row moves by this table (h11 style: a missing transition is a bug and
raises ``LocalProtocolError``; ``None`` means "no change")::

    pending   --send-->       in_flight   (attempts + 1; deadline = now + ack timeout)
    in_flight --ack-->        acked
    in_flight --refuse-->     pending     (peer could not store it yet: backoff)
    in_flight --timeout-->    pending     (no ack by the deadline: backoff)
    in_flight --link_down-->  pending     (backoff)
    pending   --ack-->        acked       (a late ack after a timeout still counts)
    acked     --ack-->        (no change)
    acked / pending --refuse|timeout|link_down--> (no change)

Backoff after the n-th attempt: ``min(retry_max, retry_min * 2**(n-1))``.
Nothing here reads a clock: every call takes ``now_ms`` (wall-clock ms, since
deadlines outlive the process). Calls run on the store's worker thread.

Rows are enqueued from the ledger by a scan with its own watermark
(``sync_scan``), in the same state transaction that moves it, so an event
stored just before a crash is still queued after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import apsw

from hartnode.hierarchy.direction import Direction
from hartnode.ledger import store
from hartnode.protocol import LocalProtocolError

Status = Literal["pending", "in_flight", "acked"]
Trigger = Literal["send", "ack", "refuse", "timeout", "link_down"]
STATUSES: tuple[Status, ...] = ("pending", "in_flight", "acked")

TRANSITIONS: dict[tuple[Status, Trigger], Status | None] = {
    ("pending", "send"): "in_flight",
    ("in_flight", "ack"): "acked",
    ("in_flight", "refuse"): "pending",
    ("in_flight", "timeout"): "pending",
    ("in_flight", "link_down"): "pending",
    ("pending", "ack"): "acked",
    ("acked", "ack"): None,
    ("acked", "refuse"): None,
    ("pending", "refuse"): None,
    ("acked", "timeout"): None,
    ("pending", "timeout"): None,
    ("acked", "link_down"): None,
    ("pending", "link_down"): None,
}


def transition(status: Status, trigger: Trigger) -> Status | None:
    """The status a row in ``status`` takes on ``trigger``; None: it stays.

    Raises:
        LocalProtocolError: no such transition (e.g. sending an acked row).
    """
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise LocalProtocolError(f"sync_queue: no transition from {status} on {trigger}") from None


def backoff_ms(attempts: int, retry_min_ms: int, retry_max_ms: int) -> int:
    """The wait before the next attempt, after ``attempts`` attempts (1 or more)."""
    return int(min(retry_max_ms, retry_min_ms * 2 ** min(max(attempts, 1) - 1, 30)))


@dataclass(frozen=True, slots=True)
class Queued:
    """What the scan hands the queue: one ledger event."""

    event_id: int
    event_hash: bytes
    origin: str
    seq: int


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    peer: str
    direction: str
    event_hash: bytes
    event_id: int
    origin: str
    seq: int
    status: Status
    attempts: int
    next_attempt_ms: int
    last_error: str | None
    updated_ms: int

    def as_json(self) -> dict[str, object]:
        return {"peer": self.peer, "direction": self.direction, "event": self.event_hash.hex(),
                "origin": self.origin, "seq": self.seq, "status": self.status,
                "attempts": self.attempts, "next_attempt_ms": self.next_attempt_ms,
                "last_error": self.last_error, "updated_ms": self.updated_ms}


_COLUMNS = ("id, peer, direction, event_hash, event_id, origin, seq, status, attempts,"
            " next_attempt_ms, last_error, updated_ms")


def _row(r: Sequence[Any]) -> Row:
    return Row(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11])


class SyncQueue:
    """The table, over the node's ``state.sqlite`` connection.

    Args:
        conn: the state database (``NodeLedger.views.state``).
        retry_min_ms, retry_max_ms: the backoff's first and longest wait.
        ack_timeout_ms: how long a sent row waits for its ack.
    """

    def __init__(self, conn: apsw.Connection, *, retry_min_ms: int = 1000,
                 retry_max_ms: int = 60_000, ack_timeout_ms: int = 10_000) -> None:
        self.conn = conn
        self.retry_min_ms = retry_min_ms
        self.retry_max_ms = retry_max_ms
        self.ack_timeout_ms = ack_timeout_ms

    # -- enqueueing ---------------------------------------------------------

    def scanned_id(self) -> int:
        return int(store.scalar(self.conn, "SELECT scanned_id FROM sync_scan WHERE id = 1") or 0)

    def enqueue(self, peer: str, direction: Direction, events: Iterable[Queued],
                now_ms: int) -> int:
        """Queue ``events`` for ``peer``; ones already queued for it stay as they are.

        Returns how many rows are new.
        """
        return self.enqueue_scan({(peer, direction): events}, now_ms)

    def enqueue_scan(self, batches: Mapping[tuple[str, Direction], Iterable[Queued]],
                     now_ms: int, *, scanned_id: int | None = None) -> int:
        """``enqueue`` for several peers, and move the scan watermark to ``scanned_id``,
        all in one transaction (so a crash leaves both or neither)."""
        with self.conn:
            before = self.conn.total_changes()
            for (peer, direction), events in batches.items():
                self.conn.executemany(
                    "INSERT OR IGNORE INTO sync_queue (peer, direction, event_hash, event_id,"
                    " origin, seq, status, next_attempt_ms, created_ms, updated_ms)"
                    " VALUES (?,?,?,?,?,?,'pending',?,?,?)",
                    [(peer, direction, e.event_hash, e.event_id, e.origin, e.seq, now_ms, now_ms,
                      now_ms) for e in events])
            added = self.conn.total_changes() - before
            if scanned_id is not None:
                self.conn.execute("UPDATE sync_scan SET scanned_id = ? WHERE id = 1 AND"
                                  " scanned_id < ?", (scanned_id, scanned_id))
        return int(added)

    # -- the state machine --------------------------------------------------

    def take_due(self, peer: str, now_ms: int, limit: int, window: int | None = None
                 ) -> list[Row]:
        """Pending rows of ``peer`` due at ``now_ms``, oldest event first, now in flight.

        ``window`` caps the rows in flight for ``peer`` (those sent count).
        """
        with self.conn:
            if window is not None:
                flying = int(store.scalar(
                    self.conn, "SELECT count(*) FROM sync_queue WHERE peer = ? AND"
                    " status = 'in_flight'", (peer,)))
                limit = min(limit, window - flying)
            if limit <= 0:
                return []
            rows = [_row(r) for r in self.conn.execute(
                f"SELECT {_COLUMNS} FROM sync_queue WHERE peer = ? AND status = 'pending' AND"
                " next_attempt_ms <= ? ORDER BY event_id LIMIT ?", (peer, now_ms, limit))]
            self._move(rows, "send", now_ms, None)
        return [Row(r.id, r.peer, r.direction, r.event_hash, r.event_id, r.origin, r.seq,
                    "in_flight", r.attempts + 1, now_ms + self.ack_timeout_ms, r.last_error,
                    now_ms) for r in rows]

    def ack(self, peer: str, hashes: Sequence[bytes], now_ms: int) -> int:
        """The peer holds these events; returns how many rows became ``acked``."""
        return self._select_and_move(peer, hashes, "ack", now_ms, None)

    def refuse(self, peer: str, hashes: Sequence[bytes], reason: str, now_ms: int) -> int:
        """The peer could not store these yet: retry them after a backoff."""
        return self._select_and_move(peer, hashes, "refuse", now_ms, reason)

    def expire(self, now_ms: int) -> int:
        """In-flight rows past their ack deadline go back to pending (with backoff)."""
        return self._where_and_move("status = 'in_flight' AND next_attempt_ms <= ?", (now_ms,),
                                    "timeout", now_ms, "ack_timeout")

    def release(self, peer: str, now_ms: int, reason: str = "link_down") -> int:
        """The link to ``peer`` ended: its rows in flight go back to pending (with backoff)."""
        return self._where_and_move("peer = ? AND status = 'in_flight'", (peer,), "link_down",
                                    now_ms, reason)

    def recover(self, now_ms: int) -> int:
        """At start: rows left in flight by the last run are due again at once."""
        with self.conn:
            self.conn.execute(
                "UPDATE sync_queue SET status = 'pending', next_attempt_ms = ?, updated_ms = ?,"
                " last_error = 'restarted' WHERE status = 'in_flight'", (now_ms, now_ms))
            changed = int(self.conn.changes())
        return changed

    def _select_and_move(self, peer: str, hashes: Sequence[bytes], trigger: Trigger,
                         now_ms: int, error: str | None) -> int:
        with self.conn:
            moved = self._move(self._rows(peer, hashes), trigger, now_ms, error)
        return moved

    def _where_and_move(self, where: str, params: tuple[Any, ...], trigger: Trigger,
                        now_ms: int, error: str | None) -> int:
        with self.conn:
            rows = [_row(r) for r in self.conn.execute(
                f"SELECT {_COLUMNS} FROM sync_queue WHERE {where}", params)]
            moved = self._move(rows, trigger, now_ms, error)
        return moved

    def _rows(self, peer: str, hashes: Sequence[bytes]) -> list[Row]:
        out: list[Row] = []
        for i in range(0, len(hashes), 500):  # SQLite's bound-variable limit
            chunk = list(hashes[i:i + 500])
            marks = ",".join("?" * len(chunk))
            out += [_row(r) for r in self.conn.execute(
                f"SELECT {_COLUMNS} FROM sync_queue WHERE peer = ? AND event_hash IN ({marks})",
                (peer, *chunk))]
        return out

    def _move(self, rows: Sequence[Row], trigger: Trigger, now_ms: int,
              error: str | None) -> int:
        """Apply ``trigger`` to ``rows`` (inside the caller's transaction)."""
        updates = []
        for r in rows:
            new = transition(r.status, trigger)
            if new is None:
                continue
            attempts = r.attempts + 1 if trigger == "send" else r.attempts
            if new == "in_flight":
                next_ms = now_ms + self.ack_timeout_ms
            elif new == "pending":
                next_ms = now_ms + backoff_ms(attempts, self.retry_min_ms, self.retry_max_ms)
            else:
                next_ms = r.next_attempt_ms
            updates.append((new, attempts, next_ms, error if new == "pending" else r.last_error,
                            now_ms, r.id))
        self.conn.executemany(
            "UPDATE sync_queue SET status = ?, attempts = ?, next_attempt_ms = ?, last_error = ?,"
            " updated_ms = ? WHERE id = ?", updates)
        return len(updates)

    # -- reading ------------------------------------------------------------

    def next_due_ms(self, peers: Iterable[str], window: int | None = None) -> int | None:
        """The earliest deadline that needs the pump: any row's ack deadline, and the
        retry time of a pending row of ``peers`` that has room in its ``window``."""
        found = []
        flying = store.scalar(self.conn, "SELECT min(next_attempt_ms) FROM sync_queue WHERE"
                              " status = 'in_flight'")
        if flying is not None:
            found.append(int(flying))
        for peer in peers:
            if window is not None and int(store.scalar(
                    self.conn, "SELECT count(*) FROM sync_queue WHERE peer = ? AND"
                    " status = 'in_flight'", (peer,))) >= window:
                continue  # its next ack wakes the pump
            due = store.scalar(self.conn, "SELECT min(next_attempt_ms) FROM sync_queue WHERE"
                               " peer = ? AND status = 'pending'", (peer,))
            if due is not None:
                found.append(int(due))
        return min(found) if found else None

    def rows(self, peer: str | None = None, limit: int = 1000) -> list[Row]:
        where, args = ("WHERE peer = ?", (peer,)) if peer is not None else ("", ())
        return [_row(r) for r in self.conn.execute(
            f"SELECT {_COLUMNS} FROM sync_queue {where} ORDER BY id LIMIT ?", (*args, limit))]

    def summary(self) -> dict[str, dict[str, dict[str, int]]]:
        """peer -> direction -> status -> rows (what ``status --json`` shows)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for peer, direction, status, n in self.conn.execute(
                "SELECT peer, direction, status, count(*) FROM sync_queue"
                " GROUP BY peer, direction, status"):
            counts = out.setdefault(peer, {}).setdefault(direction, dict.fromkeys(STATUSES, 0))
            counts[status] = n
        return out
