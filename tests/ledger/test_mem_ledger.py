"""The simulator's in-memory ledger gives ``Ledger.ingest``'s verdicts, item for item.

The same seeded mixes of good, duplicate, out-of-order, forked, forged,
chain-breaking, schema-breaking and withheld items are fed to a real
SQLite ``Ledger`` and to a ``MemLedger``; every ``IngestResult``, the heads,
fork marks, held-back counts and served ranges must be identical.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger import store
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.log import Draft, IngestResult, Ledger, Withheld, sign_withheld
from hartnode.testing.mem_ledger import Auditor, MemLedger, Verifier

CATALOG = build_catalog()
REACHES = frozenset({"network"})
Item = tuple[bytes, bytes] | Withheld


def sign(ident: NodeIdentity, seq: int, prev: str | None, text: str, *,
         kind: str = "note.created", reach: str = "network") -> Event:
    payload: dict[str, object] = {"text": text} if kind == "note.created" else {"x": text}
    return sign_event(ident, seq=seq, prev=prev, ts_ms=seq, actor="node", kind=kind,
                      scope="system", reach=reach, payload=payload, provenance={})


def chain(ident: NodeIdentity, n: int, tag: str, *, start: Event | None = None,
          rng: random.Random) -> list[Event]:
    out: list[Event] = []
    prev = start
    for _ in range(n):
        seq = 1 if prev is None else prev.seq + 1
        reach = "local" if rng.random() < 0.15 else "network"
        prev = sign(ident, seq, None if prev is None else prev.hash_hex, f"{tag}{seq}",
                    reach=reach)
        out.append(prev)
    return out


def item_mix(rng: random.Random) -> list[Item]:
    """Every kind of item ``Ledger.ingest`` distinguishes, in a random order."""
    idents = [NodeIdentity.from_seed(rng.randbytes(32)) for _ in range(3)]
    items: list[Item] = []
    for i, ident in enumerate(idents):
        main = chain(ident, 8, "m", rng=rng)
        for e in main:
            if e.reach == "local":  # a forwarder sends markers for what it may not pass on
                items.append(Withheld(e.origin, e.seq, e.hash, e.prev, e.reach))
            else:
                items.append(e.wire())
        if i < 2:  # a fork at seq 4 with its own continuation
            items += [e.wire() for e in chain(ident, 3, "f", start=main[2], rng=rng)]
        forged = main[5].wire()
        items.append((forged[0].replace(b'"m6"', b'"x6"'), forged[1]))  # tampered: bad hash/sig
        items.append((forged[0] + b" ", forged[1]))  # not canonical / malformed
        items.append((forged[0], bytes(64)))  # bad signature
        items.append(sign(ident, 9, "ab" * 32, "broken").wire())  # signed, wrong prev
        items.append(sign(idents[(i + 1) % 3], 3, main[1].hash_hex, "impostor").wire())
        items.append(sign(ident, 10, main[-1].hash_hex, "", kind="note.created").wire())
        items.append(sign(ident, 1, None, "opaque", kind="sim.thing.done").wire())
        items.append(Withheld(e.origin, 0, e.hash, None, "local"))  # malformed marker
        items.append(Withheld(e.origin, 5, bytes(32), main[3].hash_hex, "local"))  # false marker
    items += rng.sample(items, len(items) // 3)  # duplicates
    rng.shuffle(items)
    return items


def summary(r: IngestResult) -> tuple[object, ...]:
    return ([e.hash for _, e in r.stored], r.duplicates, r.held, r.opaque, r.withheld,
            dict(sorted(r.rejected.items())), [(a.hash, b.hash) for a, b in r.equivocations])


@pytest.mark.parametrize("seed", range(12))
def test_mem_ledger_matches_sqlite_ledger(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    items = item_mix(rng)
    conn = store.open_database(tmp_path, store.LEDGER, create=True)
    real = Ledger(conn, NodeIdentity.from_seed(bytes(32)), CATALOG.kinds)
    mem = MemLedger(Verifier(CATALOG.kinds))
    try:
        pos = 0
        while pos < len(items):
            size = rng.choice((1, 1, 2, 5, 20))
            batch = items[pos:pos + size]
            pos += size
            assert summary(mem.ingest(batch)) == summary(real.ingest(batch)), (seed, pos)
            assert mem.heads == real.heads()
            assert mem.forked() == real.forked()
            assert mem.held_count() == real.held_count()
        for origin in real.heads():
            for start in (1, 3):
                assert mem.serve(origin, start, 5, REACHES) == real.serve(origin, start, 5,
                                                                          REACHES)
        assert [(a.hash, b.hash) for a, b in mem.equivocations()] == [
            (a.hash, b.hash) for a, b in real.equivocations()]
        for origins in (1, 16):  # what a new neighbour is handed
            assert mem.evidence(origins) == real.evidence(origins)
        assert mem.hashes == {bytes(r[0]) for r in conn.execute(
            "SELECT hash_blake3 FROM events")}
        assert Auditor().unverified(mem) == 0
    finally:
        conn.close()


def test_a_fork_within_one_call_is_caught_by_both(tmp_path: Path) -> None:
    """Both versions of seq 1 in one batch: a fork, and the origin's seq 2 is refused."""
    ident = NodeIdentity.from_seed(bytes(range(32)))
    a1, b1 = sign(ident, 1, None, "a"), sign(ident, 1, None, "b")
    a2 = sign(ident, 2, a1.hash_hex, "a2")
    conn = store.open_database(tmp_path, store.LEDGER, create=True)
    real = Ledger(conn, NodeIdentity.from_seed(bytes(32)), CATALOG.kinds)
    mem = MemLedger(Verifier(CATALOG.kinds))
    try:
        for ledger in (real, mem):
            result = ledger.ingest([a1.wire(), b1.wire(), a2.wire()])
            assert [e.hash for _, e in result.stored] == [a1.hash]
            assert dict(result.rejected) == {"equivocation": 1, "forked_origin": 1}
            assert [(a.hash, b.hash) for a, b in result.equivocations] == [(a1.hash, b1.hash)]
            assert ledger.forked() == {ident.node_id: 1}
            again = ledger.ingest([b1.wire()])  # on record already: refused, not re-reported
            assert (again.rejected["equivocation"], again.equivocations) == (1, [])
        assert [(a.hash, b.hash) for a, b in real.equivocations()] == [(a1.hash, b1.hash)]
        assert Ledger(conn, None, CATALOG.kinds).forked() == {ident.node_id: 1}  # on disk
    finally:
        conn.close()


@pytest.mark.parametrize("seed", range(4))
def test_mem_ledger_matches_sqlite_ledger_in_one_call(tmp_path: Path, seed: int) -> None:
    """The whole mix in one call: every fork is found among rows not yet inserted."""
    items = item_mix(random.Random(seed))
    conn = store.open_database(tmp_path, store.LEDGER, create=True)
    real = Ledger(conn, NodeIdentity.from_seed(bytes(32)), CATALOG.kinds)
    mem = MemLedger(Verifier(CATALOG.kinds))
    try:
        result = real.ingest(items)
        assert result.equivocations  # the mix's fork, found within the call
        assert summary(mem.ingest(items)) == summary(result)
        assert (mem.heads, mem.forked(), mem.held_count()) == (
            real.heads(), real.forked(), real.held_count())
    finally:
        conn.close()


def test_auditor_finds_an_event_that_does_not_verify() -> None:
    ident = NodeIdentity.from_seed(bytes(range(32)))
    mem = MemLedger(Verifier(CATALOG.kinds), ident)
    [good] = mem.append([Draft("note.created", {"text": "hello"})], ts_ms=1)
    assert Auditor().unverified(mem) == 0
    mem.feeds[ident.node_id][0] = Event(**{**{f: getattr(good, f) for f in (
        "origin", "seq", "prev", "ts_ms", "actor", "kind", "scope", "reach", "payload_json",
        "provenance_json", "hash")}, "sig": bytes(64)})
    assert Auditor().unverified(mem) == 1


def test_an_event_fills_its_signed_marker_in_both(tmp_path: Path) -> None:
    """One verdict (``verdict.place``): a marker first (a plain link), then its event
    in full (a parent link) takes the marker's place in both ledgers alike."""
    ident = NodeIdentity.from_seed(bytes(range(1, 33)))
    e1 = sign(ident, 1, None, "one")
    e2 = sign(ident, 2, e1.hash_hex, "two", reach="hierarchy")
    e3 = sign(ident, 3, e2.hash_hex, "three")
    conn = store.open_database(tmp_path, store.LEDGER, create=True)
    real = Ledger(conn, NodeIdentity.from_seed(bytes(32)), CATALOG.kinds)
    mem = MemLedger(Verifier(CATALOG.kinds))
    try:
        marker = sign_withheld(ident, e2)
        for ledger in (real, mem):
            first = ledger.ingest([e1.wire(), marker, e3.wire()])
            assert ([e.hash for _, e in first.stored], first.withheld) == ([e1.hash, e3.hash], 1)
            filled = ledger.ingest([e2.wire(), e2.wire()])
            assert ([e.hash for _, e in filled.stored], filled.filled, filled.duplicates) == (
                [e2.hash], 1, 1)
        assert mem.heads == real.heads()
        assert mem.hashes == {bytes(r[0]) for r in conn.execute("SELECT hash_blake3 FROM events")}
    finally:
        conn.close()
