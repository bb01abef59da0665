"""Withheld markers speak for a feed only with its origin's signature (issue #8.2).

A marker once was unsigned: any peer could place one for any origin at
head + 1, move that head to a made-up hash, and leave the real event a
"duplicate" and its successor ``bad_prev`` forever, for the node's own feed
too. Now a marker carries the origin's signature of (origin, seq, hash,
prev, reach) under its own domain, made when the origin appends, checked
on ingest like an event signature, and checked again by ``kb verify``.
The simulator's ``MemLedger`` reaches the same verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance
from hartnode.ledger.log import Draft, FeedItem, Withheld
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.testing.mem_ledger import MemLedger, Verifier

CATALOG = build_catalog()
NET = frozenset({"network"})


def make(root: Path, name: str) -> NodeLedger:
    (root / name).mkdir()
    return NodeLedger(root / name, NodeIdentity.from_seed(name.encode().ljust(32, b".")),
                      CATALOG, create=True)


@pytest.fixture
def trio_of(tmp_path: Path) -> Iterator[tuple[NodeLedger, NodeLedger, NodeLedger]]:
    nodes = tuple(make(tmp_path, n) for n in ("a", "b", "c"))
    yield nodes  # type: ignore[misc]
    for n in nodes:
        n.close()


def as_items(items: list[FeedItem]) -> list[tuple[bytes, bytes] | Withheld]:
    return [i if isinstance(i, Withheld) else i.wire() for i in items]


def mixed_feed(nl: NodeLedger) -> list[FeedItem]:
    """Seqs 1 (network), 2 (local), 3 (network): what ``nl`` serves a plain link."""
    nl.append([Draft("note.created", {"text": "one"})])
    nl.append([Draft("note.created", {"text": "two, private"}, reach="local")])
    nl.append([Draft("note.created", {"text": "three"})])
    assert nl.ledger.identity is not None
    return nl.ledger.serve(nl.ledger.identity.node_id, 1, 10, NET)


def test_forged_markers_for_a_foreign_origin_are_refused_and_move_no_head(
        trio_of: tuple[NodeLedger, NodeLedger, NodeLedger]) -> None:
    a, b, c = trio_of
    served = mixed_feed(a)
    origin = served[0].origin
    b.ingest(as_items(served[:1]))
    # At head + 1, in seq 2's place: unsigned, and signed by someone else (C).
    fake = Withheld(origin, 2, b"\x11" * 32, served[0].hash_hex, "local")
    by_c = Withheld(origin, 2, fake.hash, fake.prev, "local",
                    c.ledger.identity.sign(fake.statement()))  # type: ignore[union-attr]
    result = b.ingest([fake, by_c])
    assert result.rejected == {"withheld_unsigned": 1, "withheld_bad_signature": 1}
    assert result.withheld == 0 and b.ledger.heads()[origin] == 1
    # The genuine marker and the next event still link.
    rest = b.ingest(as_items(served[1:]))
    assert (rest.withheld, len(rest.stored), rest.rejected) == (1, 1, {})
    assert b.ledger.heads()[origin] == 3


def test_forged_markers_for_our_own_origin_are_refused_and_our_chain_holds(
        trio_of: tuple[NodeLedger, NodeLedger, NodeLedger]) -> None:
    a, b, _ = trio_of
    mine = a.append([Draft("note.created", {"text": "one"})])[0]
    forged = Withheld(mine.origin, 2, b"\x22" * 32, mine.hash_hex, "local")
    result = a.ingest([forged])
    assert result.rejected == {"withheld_unsigned": 1} and result.withheld == 0
    [second] = a.append([Draft("note.created", {"text": "two"})])
    assert second.seq == 2 and second.prev == mine.hash_hex  # chained onto the real head
    # Once its head is confirmed, nothing about its own feed is taken from others,
    # not even items signed by its own key (a replay, or a stolen key).
    a.ledger.own_feed_closed = True
    own = a.ledger.serve(mine.origin, 1, 10, NET)
    assert b.ingest(as_items(own)).stored  # others take them
    assert a.ingest(as_items(own)).rejected == {"own_origin": 2}
    assert maintenance.verify(a.data_dir, CATALOG).ok


def test_a_local_event_travels_as_a_verifiable_marker_and_is_relayed(
        trio_of: tuple[NodeLedger, NodeLedger, NodeLedger]) -> None:
    a, b, c = trio_of
    served = mixed_feed(a)
    assert isinstance(served[1], Withheld) and len(served[1].sig) == 64
    assert [type(i).__name__ for i in served] == ["Event", "Withheld", "Event"]
    assert len(b.ingest(as_items(served)).stored) == 2
    relayed = b.ledger.serve(served[0].origin, 1, 10, NET)  # B relays A's signed marker
    assert relayed == served
    result = c.ingest(as_items(relayed))
    assert (len(result.stored), result.withheld, result.rejected) == (2, 1, {})
    for node in (b, c):
        report = maintenance.verify(node.data_dir, CATALOG)
        assert report.ok and report.markers == 1 and report.unsigned_markers == 0


def test_kb_verify_checks_marker_signatures(
        trio_of: tuple[NodeLedger, NodeLedger, NodeLedger]) -> None:
    a, b, _ = trio_of
    b.ingest(as_items(mixed_feed(a)))
    b.close()
    conn = apsw.Connection(str(b.data_dir / "ledger.sqlite"))
    conn.execute("UPDATE withheld SET sig = ?", (bytes(64),))
    conn.close()
    report = maintenance.verify(b.data_dir, CATALOG)
    assert not report.ok
    assert any("bad_signature" in p for p in report.problems)


def test_the_simulators_ledger_gives_the_same_marker_verdicts(
        trio_of: tuple[NodeLedger, NodeLedger, NodeLedger]) -> None:
    a, b, _ = trio_of
    served = mixed_feed(a)
    origin = served[0].origin
    fake = Withheld(origin, 2, b"\x11" * 32, served[0].hash_hex, "local")
    items = [*as_items(served[:1]), fake, *as_items(served[1:])]
    mem = MemLedger(Verifier(CATALOG.kinds))
    want, got = b.ingest(items), mem.ingest(items)
    assert (got.rejected, got.withheld, len(got.stored)) == (
        want.rejected, want.withheld, len(want.stored)) == ({"withheld_unsigned": 1}, 1, 2)


def test_markers_stored_before_1_2_0_are_kept_counted_and_not_served_on(
        trio_of: tuple[NodeLedger, NodeLedger, NodeLedger]) -> None:
    from hartnode.ledger.schema import SCHEMA_VERSION

    a, b, _ = trio_of
    served = mixed_feed(a)
    b.ingest(as_items(served))
    b.close()
    # Back to what a 1.1.0 build wrote: markers without a signature column.
    conn = apsw.Connection(str(b.data_dir / "ledger.sqlite"))
    conn.execute("DROP TABLE marker_sigs; ALTER TABLE withheld DROP COLUMN sig;"
                 " UPDATE meta SET schema_version = '1.1.0'")
    conn.close()
    assert maintenance.migrate(b.data_dir, CATALOG).applied["ledger"] == [SCHEMA_VERSION]
    report = maintenance.verify(b.data_dir, CATALOG)
    assert report.ok and (report.markers, report.unsigned_markers) == (1, 1)
    with NodeLedger(b.data_dir, NodeIdentity.generate(), CATALOG) as reopened:
        assert reopened.ledger.serve(served[0].origin, 1, 10, NET) == served[:1]
