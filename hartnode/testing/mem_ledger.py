"""An in-memory ledger with ``Ledger.ingest``'s exact verdicts, for simulating many nodes.

A thousand SQLite ledgers are too heavy for one simulation process, so each
simulated node keeps its feeds in dicts instead. Everything that decides
whether an event is stored is *shared* with ``hartnode.ledger.log``, not
re-implemented: ``decode_event`` (size, JSON shape, members, canonical
bytes, BLAKE3 hash, Ed25519 signature), the kind registry's payload schema
check, ``check_withheld``, and the same limits on held-back events. What is
re-written here is only the bookkeeping around them, line for line after
``Ledger.ingest`` / ``serve`` (gaps: the same ``HeldBack``).
The verdict itself is ``verdict.place``, shared with ``Ledger``.
``tests/ledger/test_mem_ledger.py`` feeds the same
item sequences to both and demands identical results, so the two cannot
drift apart unnoticed.

``Verifier`` memoises the verdict of ``decode_event`` plus the schema check
by the event's exact ``(envelope bytes, signature)``. That verdict is a pure
function of those bytes (and of the kind registry, which is fixed for a
simulation), so a memoised answer is the answer verification would give; a
forged or altered event has other bytes and is verified afresh. It turns
"every node verifies every event" from N x E signature checks into E, which
is what makes 1,000 verifying nodes fit in one process. ``Auditor`` re-checks
every stored event from its bytes without the memo.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hartnode.identity import NodeIdentity
from hartnode.ledger import verdict
from hartnode.ledger.envelope import EnvelopeError, Event, decode_event, sign_canonical
from hartnode.ledger.kinds import KindRegistry, PayloadError, UnknownKindError
from hartnode.ledger.log import (
    Draft,
    FeedItem,
    Head,
    HeldBack,
    IngestResult,
    Withheld,
    check_draft,
    check_withheld,
    refuse_own,
    sign_withheld,
)


@dataclass(frozen=True, slots=True)
class _Verdict:
    event: Event | None  # None: refused, ``reason`` says why
    reason: str
    opaque: bool  # verified, but of a kind this registry does not know


class Verifier:
    """``decode_event`` + payload schema, memoised by the event's exact bytes.

    One per simulation (all its nodes share the kind registry). The memo
    holds every distinct event offered, forged ones included; a simulation
    offers thousands, not millions.
    """

    def __init__(self, kinds: KindRegistry) -> None:
        self.kinds = kinds
        self._memo: dict[tuple[bytes, bytes], _Verdict] = {}
        self.verified = 0  # distinct (envelope, sig) pairs actually checked

    def check(self, envelope: bytes, sig: bytes) -> _Verdict:
        key = (envelope, sig)
        verdict = self._memo.get(key)
        if verdict is None:
            verdict = self._verify(envelope, sig)
            self._memo[key] = verdict
            self.verified += 1
        return verdict

    def _verify(self, envelope: bytes, sig: bytes) -> _Verdict:
        # As ``log._decode_chunk`` then ``Ledger._decode_all``.
        try:
            event = decode_event(envelope, sig)
        except EnvelopeError as e:
            return _Verdict(None, e.reason, False)
        if event.kind not in self.kinds:
            return _Verdict(event, "", True)
        try:
            self.kinds.check(event.kind, event.payload)
        except (PayloadError, UnknownKindError):
            return _Verdict(None, "bad_payload", False)
        return _Verdict(event, "", False)


class MemLedger:
    """One node's ledger in memory: feeds, held-back events, fork evidence.

    ``heads`` is the live per-origin high-water mark map (the replication
    core only reads it, so the shell passes it without copying, where
    ``Ledger.heads()`` returns a copy).
    """

    def __init__(self, verifier: Verifier, identity: NodeIdentity | None = None) -> None:
        self.verifier = verifier
        self.kinds = verifier.kinds
        self.identity = identity
        self.feeds: dict[str, list[FeedItem]] = {}  # origin -> chain, index seq - 1
        self.heads: dict[str, int] = {}
        self.hashes: set[bytes] = set()  # hashes of stored events (not markers)
        self.fingerprint = 0  # XOR of ``fingerprint(hash)`` over ``hashes``: cheap set compare
        self._held = HeldBack()  # the real ledger's own bookkeeping of gaps
        self.own_feed_closed = False  # as ``Ledger.own_feed_closed``
        self._forked: dict[str, int] = {}  # origin -> lowest seq it forked at
        self._evidence: dict[tuple[str, int], tuple[Event, Event]] = {}
        self._next_id = 1

    # -- reading (as ``Ledger``) ----------------------------------------

    def head(self, origin: str) -> Head | None:
        feed = self.feeds.get(origin)
        if not feed:
            return None
        last = feed[-1]
        return Head(last.seq, last.hash)

    def event_at(self, origin: str, seq: int) -> FeedItem | None:
        feed = self.feeds.get(origin)
        if feed is None or not 1 <= seq <= len(feed):
            return None
        return feed[seq - 1]

    def forked(self) -> dict[str, int]:
        return self._forked

    def equivocations(self) -> list[tuple[Event, Event]]:
        return list(self._evidence.values())

    def held_count(self) -> int:
        return self._held.total

    def events(self) -> Iterable[Event]:
        """Every stored event (markers left out)."""
        for feed in self.feeds.values():
            for item in feed:
                if isinstance(item, Event):
                    yield item

    def serve(self, origin: str, from_seq: int, limit: int,
              reaches: frozenset[str]) -> list[FeedItem]:
        """As ``Ledger.serve``: the chain from ``from_seq``, other reaches as signed
        markers; it stops at an event whose marker this node cannot sign or hold."""
        feed = self.feeds.get(origin, [])
        out: list[FeedItem] = []
        for item in feed[max(from_seq, 1) - 1:max(from_seq, 1) - 1 + limit]:
            if isinstance(item, Event) and item.reach not in reaches:
                if self.identity is None or item.origin != self.identity.node_id:
                    break  # as ``Ledger``: no marker signature held for a foreign event
                item = sign_withheld(self.identity, item)
            out.append(item)
        return out

    # -- appending own events (as ``Ledger.append``) ---------------------

    def append(self, drafts: Sequence[Draft], ts_ms: int) -> list[Event]:
        """Sign and store ``drafts`` on this node's own feed.

        Raises:
            UnknownKindError, PayloadError, EnvelopeError: as ``Ledger.append``.
        """
        if self.identity is None:
            raise RuntimeError("this MemLedger has no node key")
        texts = [check_draft(self.kinds, d) for d in drafts]
        origin = self.identity.node_id
        head = self.head(origin)
        seq, prev = (head.seq, head.hash.hex()) if head else (0, None)
        out: list[Event] = []
        for d, (payload_json, provenance_json) in zip(drafts, texts, strict=True):
            seq += 1
            event = sign_canonical(
                self.identity, seq=seq, prev=prev, ts_ms=ts_ms if d.ts_ms is None else d.ts_ms,
                actor=d.actor, kind=d.kind, scope=d.scope, reach=d.reach,
                payload_json=payload_json, provenance_json=provenance_json, members_checked=True)
            self._store(event)
            out.append(event)
            prev = event.hash_hex
        return out

    # -- ingesting foreign events (as ``Ledger.ingest``) ------------------

    def ingest(self, items: Sequence[tuple[bytes, bytes] | Withheld]) -> IngestResult:
        """Verify and store events and markers with ``Ledger.ingest``'s verdicts.

        Items are stored as they are placed, so a second version of a seq
        stored earlier in the same call is a fork, and the origin's later
        items in that call are refused: as ``Ledger.ingest``, which looks at
        the rows it has yet to insert before the table.
        """
        result = IngestResult()
        decoded = self._decode_all(items, result)
        if not decoded:
            return result
        queue = deque(decoded)
        while queue:
            item = queue.popleft()
            placed = self._place(item, self.head(item.origin), result)
            if placed == "fill" and isinstance(item, Event):
                self._fill(item)
                result.stored.append((self._next_id - 1, item))
                result.filled += 1
                continue
            if placed != "store":
                continue
            self._store(item)
            result.heads[item.origin] = Head(item.seq, item.hash)
            if isinstance(item, Withheld):
                result.withheld += 1
            else:
                result.stored.append((self._next_id - 1, item))
            following = self._held.take(item.origin, item.seq + 1)
            if following is not None:
                queue.appendleft(following)
        return result

    def record_evidence(self, a_wire: tuple[bytes, bytes],
                        b_wire: tuple[bytes, bytes]) -> tuple[Event, Event] | None:
        """As ``Ledger.record_evidence``: keep a proven fork; the pair if new here.

        Raises:
            EnvelopeError: either event does not verify, or they are no fork.
        """
        return self.record_fork(decode_event(*a_wire), decode_event(*b_wire))

    def record_fork(self, a: Event, b: Event) -> tuple[Event, Event] | None:
        """As ``Ledger.record_fork``: ``record_evidence`` for decoded events."""
        if (a.origin, a.seq) != (b.origin, b.seq) or a.hash == b.hash:
            raise EnvelopeError("malformed", "evidence is not two events at one origin and seq")
        return (a, b) if self._record_equivocation(a, b) else None

    def evidence(self, origins: int) -> list[tuple[tuple[bytes, bytes], tuple[bytes, bytes]]]:
        """As ``Ledger.evidence``: for at most ``origins`` forked origins, most
        recently detected first, the pair at the lowest seq each forked at."""
        firsts: list[tuple[int, tuple[Event, Event]]] = [
            (i, pair) for i, ((origin, seq), pair) in enumerate(self._evidence.items())
            if seq == self._forked[origin]]
        firsts.sort(key=lambda t: t[0], reverse=True)
        return [(a.wire(), b.wire()) for _, (a, b) in firsts[:origins]]

    def _fill(self, event: Event) -> None:
        """``event`` takes the place of its marker (the chain's hash is unchanged)."""
        self.feeds[event.origin][event.seq - 1] = event
        self.hashes.add(event.hash)
        self.fingerprint ^= fingerprint(event.hash)
        self._next_id += 1

    def _store(self, item: FeedItem) -> None:
        self.feeds.setdefault(item.origin, []).append(item)
        self.heads[item.origin] = item.seq
        if isinstance(item, Event):
            self.hashes.add(item.hash)
            self.fingerprint ^= fingerprint(item.hash)
            self._next_id += 1

    def _decode_all(self, items: Sequence[tuple[bytes, bytes] | Withheld],
                    result: IngestResult) -> list[FeedItem]:
        decoded: list[FeedItem] = []
        for marker in (i for i in items if isinstance(i, Withheld)):
            problem = check_withheld(marker)
            if problem is not None:
                result.rejected[f"withheld_{problem}"] += 1
            elif refuse_own(self.identity, self.own_feed_closed, marker):
                result.rejected["own_origin"] += 1
            else:
                decoded.append(marker)
        check = self.verifier.check
        for item in items:
            if isinstance(item, Withheld):
                continue
            verdict = check(*item)
            if verdict.event is None:
                result.rejected[verdict.reason] += 1
                continue
            if refuse_own(self.identity, self.own_feed_closed, verdict.event):
                result.rejected["own_origin"] += 1
                continue
            if verdict.opaque:
                result.opaque += 1
            decoded.append(verdict.event)
        decoded.sort(key=lambda e: (e.origin, e.seq))
        return decoded

    def _place(self, event: FeedItem, head: Head | None, result: IngestResult) -> str:
        """As ``Ledger._place``: ``verdict.place`` decides, this acts."""
        origin, seq = event.origin, event.seq

        def stored_at() -> Event | bytes | None:
            there = self.event_at(origin, seq)
            return there.hash if isinstance(there, Withheld) else there

        found = verdict.place(event, head, self._forked.get(origin), stored_at)
        verdict.tally(found, result)
        if found == "hold":
            self._held.hold(event, result)
        elif found == "equivocation":
            stored = self.event_at(origin, seq)
            assert isinstance(stored, Event) and isinstance(event, Event)
            if self._record_equivocation(stored, event):  # at once, as ``Ledger``
                result.equivocations.append((stored, event))
        return found

    def _record_equivocation(self, a: Event, b: Event) -> bool:
        # As the SQLite table: one pair per (origin, seq), the first one kept;
        # the fork mark is taken either way.
        key = (a.origin, a.seq)
        new = key not in self._evidence
        if new:
            self._evidence[key] = (a, b)
        self._forked[a.origin] = min(a.seq, self._forked.get(a.origin, a.seq))
        return new


def fingerprint(digest: bytes) -> int:
    """64 bits of an event hash; XORed over a set, equal sets give equal values."""
    return int.from_bytes(digest[:8], "big")


class Auditor:
    """Counts stored items that fail verification from their bytes, without the memo.

    Every event must re-verify with ``decode_event`` and every item (event or
    marker) must sit at its seq and link to its predecessor's hash. Nodes of
    one simulation share event objects, so each object is verified once per
    auditor (keyed by ``id``: keep the ledgers alive while auditing).
    """

    def __init__(self) -> None:
        self._ok: dict[int, bool] = {}
        self.verified = 0

    def unverified(self, ledger: MemLedger) -> int:
        bad = 0
        for origin, feed in ledger.feeds.items():
            prev: str | None = None
            for seq, item in enumerate(feed, start=1):
                ok = item.origin == origin and item.seq == seq and item.prev == prev
                if ok and isinstance(item, Event):
                    ok = self._verify(item)
                bad += not ok
                prev = item.hash.hex()
        return bad

    def _verify(self, event: Event) -> bool:
        ok = self._ok.get(id(event))
        if ok is None:
            self.verified += 1
            try:
                ok = decode_event(*event.wire()).hash == event.hash
            except EnvelopeError:
                ok = False
            self._ok[id(event)] = ok
        return ok
