"""Append own events and ingest foreign ones (DESIGN §1).

``Ledger`` is synchronous: the daemon calls it from one worker thread (see
``committer``), the CLI and benchmarks call it directly.

Append is group commit: ``append([draft, ...])`` signs every draft and writes
them in ONE ``BEGIN IMMEDIATE`` transaction, so one fsync covers the batch.
The feed's head is read inside that transaction, so two processes appending
to one data directory serialise on SQLite's write lock instead of forking the
feed.

Ingest verifies every event (hash, signature, canonical form, member syntax,
payload schema, chain link) before it is stored:

- a duplicate (same hash) is accepted idempotently and changes nothing;
- a gap (seq beyond head + 1) is held back in memory, bounded, and stored as
  soon as the missing events arrive; never stored out of order;
- a second, different event at a stored (origin, seq) is equivocation: both
  signed events are kept as evidence in ``equivocations`` and the new one is
  rejected; "stored" includes events stored earlier in the same call (rows
  are inserted at its end), so a batch carrying both versions is caught, and
  the origin's events past the fork are refused from that item on;
- an event whose place this node holds only as a ``Withheld`` marker with the
  same hash is stored (it came later, over a link that carries its reach:
  hierarchical sync, issue #4); the chain and the head do not change;
- an event whose ``prev`` is not the stored predecessor's hash is rejected;
- a ``Withheld`` marker must carry its origin's signature (``check_withheld``),
  and once a neighbour confirmed this node's own head (``own_feed_closed``)
  nothing about the own feed is taken from another node (DESIGN §8).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

import apsw
import blake3

from hartnode.canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonical_text
from hartnode.identity import NodeIdentity
from hartnode.ledger import store, verdict
from hartnode.ledger.envelope import (
    ENVELOPE_OVERHEAD_MAX,
    MAX_ENVELOPE_BYTES,
    EnvelopeError,
    Event,
    check_header,
    decode_event,
    sign_canonical,
)
from hartnode.ledger.held import MAX_HELD_PER_ORIGIN, MAX_HELD_TOTAL, HeldBack, HeldLimits
from hartnode.ledger.items import (
    WITHHELD_DOMAIN,
    WITHHELD_REACHES,
    Draft,
    FeedItem,
    Head,
    IngestResult,
    Withheld,
    admit_markers,
    check_withheld,
    refuse_own,
    sign_withheld,
    withheld_statement,
)
from hartnode.ledger.kinds import KindRegistry, PayloadError, UnknownKindError

__all__ = [  # what other modules import from here (items and held re-exported)
    "EVENT_COLUMNS", "MAX_HELD_PER_ORIGIN", "MAX_HELD_TOTAL", "WITHHELD_DOMAIN",
    "WITHHELD_REACHES", "Draft", "FeedItem", "Head", "HeldBack", "HeldLimits", "IngestResult",
    "Ledger", "Withheld", "check_draft", "check_withheld", "event_from_row", "refuse_own",
    "row_check", "sign_withheld", "wall_clock_ms", "withheld_statement", "write_transaction",
]


_INSERT = (
    "INSERT INTO events (id, ts_ms, actor, kind, scope, payload_json, provenance_json,"
    " hash_blake3, origin, seq, prev_hash, reach, sig, received_ms, v, row_check)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
EVENT_COLUMNS = (
    "id, origin, seq, prev_hash, ts_ms, actor, kind, scope, reach, payload_json,"
    " provenance_json, hash_blake3, sig, v, received_ms, row_check"
)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def row_check(event_id: int, received_ms: int, digest: bytes) -> bytes:
    """Binds a row's local columns to its signed hash (see ``schema``)."""
    return blake3.blake3(
        event_id.to_bytes(8, "big") + received_ms.to_bytes(8, "big", signed=True) + digest
    ).digest(length=16)


def event_from_row(row: Sequence[Any]) -> Event:
    """Build an ``Event`` from a row selected with ``EVENT_COLUMNS`` (id first)."""
    prev = row[3]
    return Event(
        origin=row[1], seq=row[2], prev=None if prev is None else bytes(prev).hex(),
        ts_ms=row[4], actor=row[5], kind=row[6], scope=row[7], reach=row[8],
        payload_json=row[9], provenance_json=row[10], hash=bytes(row[11]), sig=bytes(row[12]),
        v=row[13],
    )


@contextmanager
def write_transaction(conn: apsw.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock up front so a
    concurrent writer waits at the start instead of failing at commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def check_draft(kinds: KindRegistry, draft: Draft) -> tuple[str, str]:
    """Everything that could make signing ``draft`` fail, checked up front so
    one bad draft never fails the group-commit batch it would have joined.

    Returns:
        The canonical texts of its payload and provenance (``append`` signs
        them as they are instead of encoding them again).

    Raises:
        UnknownKindError, PayloadError: the payload does not match its kind.
        EnvelopeError: a member is malformed or the payload has no canonical
            form (e.g. a lone surrogate in a string).
    """
    kinds.check(draft.kind, draft.payload, draft.reach)
    check_header(origin="00" * 32, seq=1, prev=None, ts_ms=draft.ts_ms or 0, actor=draft.actor,
                 kind=draft.kind, scope=draft.scope, reach=draft.reach)
    try:
        payload_json, provenance_json = canonical_text(draft.payload), canonical_text(
            draft.provenance)
    except CanonicalizationError as e:
        raise EnvelopeError("bad_field", f"payload: {e}") from e
    size = len(payload_json.encode()) + len(provenance_json.encode()) + ENVELOPE_OVERHEAD_MAX
    if size > MAX_ENVELOPE_BYTES:
        room = MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD_MAX
        raise EnvelopeError("too_large", f"payload and provenance take "
                            f"{size - ENVELOPE_OVERHEAD_MAX} bytes; an event holds at most {room}")
    return payload_json, provenance_json


class Ledger:
    """The node's ledger: its own feed plus every verified foreign feed.

    ``identity`` is None for readers (``kb`` commands) that never append.
    """

    def __init__(
        self,
        conn: apsw.Connection,
        identity: NodeIdentity | None,
        kinds: KindRegistry,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.kinds = kinds
        self.clock_ms = clock_ms
        self._held = HeldBack()
        self._peer = ""  # the sender of the items ``ingest`` is placing
        # Set once a neighbour confirmed this node's own head: from then on
        # nothing about the own feed is taken from others (``refuse_own``).
        self.own_feed_closed = False
        self._heads: dict[str, Head] | None = None  # origin -> its chain's last link
        self._forked: dict[str, int] | None = None  # origin -> lowest seq it forked at

    # -- reading ---------------------------------------------------------

    def head(self, origin: str) -> Head | None:
        """The last link of ``origin``'s chain here: an event or a withheld marker."""
        rows = store.query(
            self.conn,
            "SELECT seq, hash_blake3 FROM (SELECT seq, hash_blake3 FROM events WHERE origin = ?"
            " ORDER BY seq DESC LIMIT 1) UNION ALL SELECT * FROM (SELECT seq, hash_blake3"
            " FROM withheld WHERE origin = ? ORDER BY seq DESC LIMIT 1) ORDER BY seq DESC LIMIT 1",
            (origin, origin),
        )
        return Head(rows[0][0], bytes(rows[0][1])) if rows else None

    def heads(self) -> dict[str, int]:
        """Per-origin high watermarks (the highest seq held, event or marker)."""
        return {origin: head.seq for origin, head in self._head_cache().items()}

    def head_map(self) -> dict[str, Head]:
        """Per-origin heads with their hashes: what replication compares.

        Two nodes at one seq of a feed may hold different events there (a
        fork); only the hash tells them apart. Read from the database once,
        then kept up to date by ``append`` and ``ingest``: replication asks
        for it on every link, every round and every message.
        """
        return dict(self._head_cache())

    def _head_cache(self) -> dict[str, Head]:
        if self._heads is None:
            # SQLite's bare-column rule: with MAX() the other columns come
            # from the row that holds the maximum, i.e. the head's own hash.
            heads = {origin: Head(seq, bytes(digest)) for origin, seq, digest in
                     self.conn.execute("SELECT origin, MAX(seq), hash_blake3 FROM events"
                                       " GROUP BY origin")}
            for origin, seq, digest in self.conn.execute(
                    "SELECT origin, MAX(seq), hash_blake3 FROM withheld GROUP BY origin"):
                if seq > heads.get(origin, Head(0, b"")).seq:
                    heads[origin] = Head(seq, bytes(digest))
            self._heads = heads
        return self._heads

    def _advance(self, origin: str, head: Head) -> None:
        if self._heads is not None and head.seq > self._heads.get(origin, Head(0, b"")).seq:
            self._heads[origin] = head

    def serve(self, origin: str, from_seq: int, limit: int, reaches: frozenset[str],
              may_send: Callable[[Event], bool] | None = None) -> list[FeedItem]:
        """``origin``'s chain from ``from_seq`` for a link that carries ``reaches``.

        Events of another reach (or that ``may_send`` refuses) become signed
        ``Withheld`` markers, so the chain stays linkable; the answer stops at
        the first seq this node lacks, or holds no origin-signed marker for.
        """
        events = {e.seq: e for e in self.feed(origin, from_seq, limit)}
        markers = {
            row[0]: Withheld(origin, row[0], bytes(row[1]),
                             None if row[2] is None else bytes(row[2]).hex(), row[3],
                             b"" if row[4] is None else bytes(row[4]))
            for row in store.query(
                self.conn, "SELECT seq, hash_blake3, prev_hash, reach, sig FROM withheld "
                "WHERE origin = ? AND seq >= ? ORDER BY seq LIMIT ?", (origin, from_seq, limit))
        }
        out: list[FeedItem] = []
        seq = from_seq
        while len(out) < limit:
            event = events.get(seq)
            item: FeedItem | None = markers.get(seq)
            if event is not None:
                if event.reach in reaches and (may_send is None or may_send(event)):
                    item = event
                else:
                    item = self._marker_of(event)
            if item is None or (isinstance(item, Withheld) and not item.sig):
                break  # a gap, or a marker no one can verify: not served on
            out.append(item)
            seq += 1
        return out

    def _marker_of(self, event: Event) -> Withheld | None:
        """The origin-signed marker of a stored event, or None when none is held."""
        if self.identity is not None and event.origin == self.identity.node_id:
            # Ed25519 is deterministic: the same signature as the one stored at append
            # (events appended before schema 1.2.0 have none stored).
            return sign_withheld(self.identity, event)
        sig = store.scalar(self.conn, "SELECT sig FROM marker_sigs WHERE origin = ? AND seq = ?",
                           (event.origin, event.seq))
        if sig is None:
            return None
        return Withheld(event.origin, event.seq, event.hash, event.prev, event.reach, bytes(sig))

    def max_id(self) -> int:
        return int(store.scalar(self.conn, "SELECT COALESCE(MAX(id), 0) FROM events"))

    def read_after(self, after_id: int, limit: int) -> list[tuple[int, Event]]:
        """Events with ``id > after_id`` in id order, at most ``limit``."""
        rows = self.conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [(row[0], event_from_row(row)) for row in rows]

    def tail(self, n: int) -> list[Event]:
        return [event for _, event in self.tail_with_ids(n)]

    def tail_with_ids(self, n: int) -> list[tuple[int, Event]]:
        """The newest ``n`` events with their ids, oldest first (``ledger tail -f``
        goes on with ``read_after`` the last id)."""
        rows = self.conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id DESC LIMIT ?", (n,)
        ).fetchall()
        return [(row[0], event_from_row(row)) for row in reversed(rows)]

    def feed(self, origin: str, from_seq: int, limit: int) -> list[Event]:
        """``origin``'s events from ``from_seq`` on, in seq order."""
        rows = self.conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE origin = ? AND seq >= ? "
            "ORDER BY seq LIMIT ?",
            (origin, from_seq, limit),
        )
        return [event_from_row(row) for row in rows]

    # -- appending own events -------------------------------------------

    def append(self, drafts: Sequence[Draft],
               checked: Sequence[tuple[str, str]] | None = None, *,
               guard: Callable[[], None] | None = None) -> list[tuple[int, Event]]:
        """Sign and durably store ``drafts`` in one transaction (group commit).

        Returns ``(id, event)`` pairs only after the commit is on disk.

        Args:
            checked: what ``check_draft`` returned for each draft, when the
                caller already ran it (the daemon's committer does, before
                queueing); None to check here.
            guard: called inside the write transaction, before signing; what
                it raises aborts the append. A precondition that other own
                appends could invalidate (an escrow's balance, a daily spending
                limit) is checked here, in the same write (DESIGN §4).

        Raises:
            UnknownKindError, PayloadError: a draft does not match its schema;
                nothing of the batch is stored.
            EnvelopeError: a draft has a malformed member.
        """
        if self.identity is None:
            raise RuntimeError("this Ledger was opened read-only, without the node key")
        texts = checked if checked is not None else [check_draft(self.kinds, d) for d in drafts]
        if len(texts) != len(drafts):
            raise ValueError("checked must hold one entry per draft")
        now = self.clock_ms()
        origin = self.identity.node_id
        out: list[tuple[int, Event]] = []
        with write_transaction(self.conn):
            if guard is not None:
                guard()
            head = self.head(origin)
            seq, prev = (head.seq, head.hash.hex()) if head else (0, None)
            if seq + len(drafts) > MAX_SAFE_INTEGER:  # check_draft cannot see the seq
                raise EnvelopeError("bad_field", "seq: this feed has reached 2^53-1 events")
            next_id = self.max_id() + 1
            rows = []
            marker_sigs = []
            for d, (payload_json, provenance_json) in zip(drafts, texts, strict=True):
                seq += 1
                event = sign_canonical(
                    self.identity, seq=seq, prev=prev,
                    ts_ms=now if d.ts_ms is None else d.ts_ms, actor=d.actor, kind=d.kind,
                    scope=d.scope, reach=d.reach, payload_json=payload_json,
                    provenance_json=provenance_json, members_checked=True,
                )
                rows.append(_row(next_id, event, now))
                if event.reach in WITHHELD_REACHES:  # it will travel as a marker: sign that too
                    marker_sigs.append((origin, seq, sign_withheld(self.identity, event).sig))
                out.append((next_id, event))
                prev = event.hash_hex
                next_id += 1
            self.conn.executemany(_INSERT, rows)
            self.conn.executemany("INSERT INTO marker_sigs (origin, seq, sig) VALUES (?,?,?)",
                                  marker_sigs)
        if out:
            last = out[-1][1]
            self._advance(origin, Head(last.seq, last.hash))
        return out

    # -- ingesting foreign events ----------------------------------------

    def ingest(
        self, items: Sequence[tuple[bytes, bytes] | Withheld], *,
        executor: Executor | None = None, peer: str = "",
        accept: Callable[[Event], bool] | None = None,
    ) -> IngestResult:
        """Verify and store events received as ``(envelope bytes, sig)``, and
        ``Withheld`` markers for the events the sender may not pass on.

        Args:
            executor: verify signatures on its threads (libsodium releases
                the GIL, so a second core helps).
            peer: the node the items came from ("" when not one link): events
                it sends beyond a gap are held under its byte bound, and
                dropped when its link goes down (``drop_held``).
            accept: whether the link it came by may carry a verified event
                that way (``replication.direction.may_receive``); one it may
                not is refused as ``wrong_direction``, before it is placed.
        """
        result = IngestResult()
        now = self.clock_ms()
        self._held.expire(now)
        decoded = self._decode_all(items, executor, result, accept)
        if not decoded:
            return result
        self._peer = peer
        try:
            with write_transaction(self.conn):
                heads = self._ingest_decoded(decoded, result, now)
        except BaseException:
            self._forked = None  # a fork marked in the rolled-back transaction is not on record
            raise
        for origin, head in heads.items():
            if head is not None:
                self._advance(origin, head)
        # The heads of every origin this call looked at (most moved; a head
        # only moves up, so an unmoved one tells a reader nothing new).
        result.heads = {o: h for o, h in heads.items() if h is not None}
        return result

    def _ingest_decoded(self, decoded: list[FeedItem], result: IngestResult,
                        now: int) -> dict[str, Head | None]:
        """``ingest``'s work inside its transaction; returns the new heads."""
        heads: dict[str, Head | None] = {}
        next_id = self.max_id() + 1
        rows: list[tuple[Any, ...]] = []
        marker_rows: list[tuple[Any, ...]] = []
        # Items stored by this call: their rows are inserted at its end, so
        # ``_place`` looks here before the database (a fork within one batch).
        pending: dict[tuple[str, int], FeedItem] = {}
        filled: set[tuple[str, int]] = set()
        queue = deque(decoded)
        while queue:
            item = queue.popleft()
            if item.origin not in heads:
                heads[item.origin] = self.head(item.origin)
            head = heads[item.origin]
            placed = self._place(item, head, pending, result, now)
            if placed == "fill" and isinstance(item, Event):
                if (item.origin, item.seq) in filled:  # twice in this batch
                    result.duplicates += 1
                    continue
                filled.add((item.origin, item.seq))
                rows.append(_row(next_id, item, now))
                result.stored.append((next_id, item))
                result.filled += 1
                next_id += 1
                continue
            if placed != "store":
                continue
            if isinstance(item, Withheld):
                marker_rows.append((item.origin, item.seq, item.hash, None if item.prev is None
                                    else bytes.fromhex(item.prev), item.reach, now, item.sig))
                result.withheld += 1
            else:
                rows.append(_row(next_id, item, now))
                result.stored.append((next_id, item))
                next_id += 1
            pending[(item.origin, item.seq)] = item
            heads[item.origin] = Head(item.seq, item.hash)
            following = self._held.take(item.origin, item.seq + 1)
            if following is not None:
                queue.appendleft(following)
        self.conn.executemany(_INSERT, rows)
        self.conn.executemany(
            "INSERT INTO withheld (origin, seq, hash_blake3, prev_hash, reach, received_ms, sig)"
            " VALUES (?,?,?,?,?,?,?)", marker_rows)
        return heads

    def _decode_all(
        self, items: Sequence[tuple[bytes, bytes] | Withheld], executor: Executor | None,
        result: IngestResult, accept: Callable[[Event], bool] | None = None,
    ) -> list[FeedItem]:
        signed = [i for i in items if not isinstance(i, Withheld)]
        decoded = admit_markers(items, self.identity, self.own_feed_closed, result)
        if executor is not None and len(signed) >= 64:
            half = len(signed) // 2
            parts = list(executor.map(_decode_chunk, (signed[:half], signed[half:])))
            outcomes = parts[0] + parts[1]
        else:
            outcomes = _decode_chunk(signed)
        for outcome in outcomes:
            if isinstance(outcome, str):
                result.rejected[outcome] += 1
                continue
            if accept is not None and not accept(outcome):
                result.rejected["wrong_direction"] += 1
                continue
            if refuse_own(self.identity, self.own_feed_closed, outcome):
                result.rejected["own_origin"] += 1
                continue
            if outcome.kind in self.kinds:
                try:
                    self.kinds.check(outcome.kind, outcome.payload)
                except (PayloadError, UnknownKindError):
                    result.rejected["bad_payload"] += 1
                    continue
            else:
                result.opaque += 1
            decoded.append(outcome)
        # Within one batch, lower seqs first, so a feed sent out of order still links up.
        decoded.sort(key=lambda e: (e.origin, e.seq))
        return decoded

    def _place(self, event: FeedItem, head: Head | None,
               pending: dict[tuple[str, int], FeedItem], result: IngestResult, now: int) -> str:
        """Decide with ``verdict.place`` and act on it: hold, record a fork, count.

        ``pending``: what this ``ingest`` call stored so far, not yet in the table.
        """
        origin, seq = event.origin, event.seq

        def stored_at() -> Event | bytes | None:
            stored = self._stored_event(origin, seq, pending)
            return stored if stored is not None else self._marker_hash(origin, seq)

        found = verdict.place(event, head, self.forked().get(origin), stored_at)
        verdict.tally(found, result)
        if found == "hold":
            self._hold(event, result)
        elif found == "equivocation":
            stored = self._stored_event(origin, seq, pending)
            assert stored is not None and isinstance(event, Event)
            # Recorded now, in this transaction, so that the origin's later
            # events in this very call are already held back. Only forks new
            # on record are reported: each is alerted once.
            if self._record_equivocation(stored, event, now):
                result.equivocations.append((stored, event))
        return found

    def _marker_hash(self, origin: str, seq: int) -> bytes | None:
        digest = store.scalar(self.conn, "SELECT hash_blake3 FROM withheld WHERE origin = ? AND"
                              " seq = ?", (origin, seq))
        return None if digest is None else bytes(digest)

    def _stored_event(self, origin: str, seq: int,
                      pending: dict[tuple[str, int], FeedItem]) -> Event | None:
        """The event stored at (origin, seq), by this call or before; None for a marker."""
        item = pending.get((origin, seq))
        if item is not None:
            return item if isinstance(item, Event) else None
        stored = self.feed(origin, seq, 1)
        return stored[0] if stored and stored[0].seq == seq else None

    def _hold(self, event: FeedItem, result: IngestResult) -> None:
        self._held.hold(event, result, peer=self._peer, now_ms=self.clock_ms())

    def held_count(self) -> int:
        return self._held.total

    @property
    def held(self) -> HeldBack:
        """Events held back beyond gaps (their limits may be set from the profile)."""
        return self._held

    def drop_held(self, peer: str) -> int:
        """Forget what ``peer`` sent beyond gaps: its link went down."""
        return self._held.drop_peer(peer)

    def expire_held(self) -> int:
        """Forget held events whose gap stayed open past the time bound."""
        return self._held.expire(self.clock_ms())

    def _record_equivocation(self, a: Event, b: Event, now: int) -> bool:
        """Keep both signed events as evidence; False if this fork was on record."""
        env_a, sig_a = a.wire()
        env_b, sig_b = b.wire()
        self.conn.execute(
            "INSERT OR IGNORE INTO equivocations (origin, seq, envelope_a, sig_a, envelope_b,"
            " sig_b, detected_ms) VALUES (?,?,?,?,?,?,?)",
            (a.origin, a.seq, env_a, sig_a, env_b, sig_b, now),
        )
        new = self.conn.changes() > 0
        forked = self.forked()
        forked[a.origin] = min(a.seq, forked.get(a.origin, a.seq))
        return new

    def forked(self) -> dict[str, int]:
        """Origins with a fork on record, each with the lowest seq it forked at."""
        if self._forked is None:
            self._forked = dict(self.conn.execute(
                "SELECT origin, MIN(seq) FROM equivocations GROUP BY origin"))
        return self._forked

    def record_evidence(self, a_wire: tuple[bytes, bytes],
                        b_wire: tuple[bytes, bytes]) -> tuple[Event, Event] | None:
        """Store fork evidence received from a peer, once it proves a fork.

        Both must be valid signed events of one origin and seq with different
        hashes. Returns the pair when it was new here, None otherwise.

        Raises:
            EnvelopeError: either event does not verify, or they are no fork.
        """
        return self.record_fork(decode_event(*a_wire), decode_event(*b_wire))

    def record_fork(self, a: Event, b: Event) -> tuple[Event, Event] | None:
        """``record_evidence`` for two events already decoded (so verified).

        Raises:
            EnvelopeError: they are no fork (not one origin and seq, or one event).
        """
        if (a.origin, a.seq) != (b.origin, b.seq) or a.hash == b.hash:
            raise EnvelopeError("malformed", "evidence is not two events at one origin and seq")
        with write_transaction(self.conn):
            new = self._record_equivocation(a, b, self.clock_ms())
        return (a, b) if new else None

    def evidence(self, origins: int) -> list[tuple[tuple[bytes, bytes], tuple[bytes, bytes]]]:
        """Fork evidence to hand a new neighbour: for at most ``origins`` forked
        origins, most recently detected first, the pair at the lowest seq each
        forked at (one proof per origin is enough to hold its feed back).
        Returned as stored, in wire form; the receiver verifies it."""
        rows = self.conn.execute(
            "SELECT envelope_a, sig_a, envelope_b, sig_b FROM equivocations AS e"
            " WHERE seq = (SELECT MIN(seq) FROM equivocations WHERE origin = e.origin)"
            " ORDER BY id DESC LIMIT ?", (origins,))
        return [((bytes(ea), bytes(sa)), (bytes(eb), bytes(sb))) for ea, sa, eb, sb in rows]

    def equivocations(self) -> list[tuple[Event, Event]]:
        """Stored fork evidence, each pair re-verified from its signed bytes."""
        rows = self.conn.execute(
            "SELECT envelope_a, sig_a, envelope_b, sig_b FROM equivocations ORDER BY id"
        )
        return [
            (decode_event(bytes(ea), bytes(sa)), decode_event(bytes(eb), bytes(sb)))
            for ea, sa, eb, sb in rows
        ]


def _decode_chunk(items: Sequence[tuple[bytes, bytes]]) -> list[Event | str]:
    out: list[Event | str] = []
    for envelope, sig in items:
        try:
            out.append(decode_event(envelope, sig))
        except EnvelopeError as e:
            out.append(e.reason)
    return out


def _row(event_id: int, e: Event, received_ms: int) -> tuple[Any, ...]:
    return (
        event_id, e.ts_ms, e.actor, e.kind, e.scope, e.payload_json, e.provenance_json, e.hash,
        e.origin, e.seq, None if e.prev is None else bytes.fromhex(e.prev), e.reach, e.sig,
        received_ms, e.v, row_check(event_id, received_ms, e.hash),
    )
