"""A hierarchy event that arrives after its withheld marker is stored, and kb verify agrees.

A regional or central usually learns of a local's ``hierarchy`` event first as
a marker (over any flat link), then receives the event itself over a
parent/child link. Heads cannot tell the two apart, so the ledger must take
the event in the marker's place, or the event would never be stored there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft, Withheld
from hartnode.ledger.node_ledger import NodeLedger

CATALOG = build_catalog()


def ledger(path: Path) -> NodeLedger:
    path.mkdir()
    return NodeLedger(path, NodeIdentity.generate(), CATALOG, create=True)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeLedger, NodeLedger]]:
    local, central = ledger(tmp_path / "local"), ledger(tmp_path / "central")
    yield local, central
    local.close()
    central.close()


def feed(nl: NodeLedger) -> tuple[str, list[Event]]:
    identity = nl.ledger.identity
    assert identity is not None
    nl.append([Draft("note.created", {"text": "public"}),
               Draft("note.created", {"text": "for my parents"}, reach="hierarchy"),
               Draft("note.created", {"text": "public again"})])
    return identity.node_id, nl.ledger.feed(identity.node_id, 1, 10)


def test_an_event_after_its_marker_is_stored_and_the_ledger_verifies(
        tmp_path: Path, pair: tuple[NodeLedger, NodeLedger]) -> None:
    local, central = pair
    origin, events = feed(local)
    flat = local.ledger.serve(origin, 1, 10, frozenset({"network"}))
    central.ingest([i if isinstance(i, Withheld) else i.wire() for i in flat])
    assert [e.seq for e in central.ledger.feed(origin, 1, 10)] == [1, 3]

    result = central.ingest([events[1].wire()])  # now over the parent link
    assert result.filled == 1 and [e.seq for _, e in result.stored] == [2]
    assert [e.seq for e in central.ledger.feed(origin, 1, 10)] == [1, 2, 3]
    assert central.ledger.heads()[origin] == 3
    assert central.ingest([events[1].wire()]).duplicates == 1  # once only
    # Twice in one batch: stored once, not a constraint failure.
    third = ledger(tmp_path / "third")
    try:
        third.ingest([i if isinstance(i, Withheld) else i.wire() for i in flat])
        twice = third.ingest([events[1].wire(), events[1].wire()])
        assert (twice.filled, twice.duplicates) == (1, 1)
    finally:
        third.close()
    report = maintenance.verify(central.data_dir, CATALOG)
    assert report.ok, report.problems
    assert report.events == 3


def test_an_event_that_is_not_the_one_its_marker_names_is_not_stored(
        pair: tuple[NodeLedger, NodeLedger]) -> None:
    local, central = pair
    origin, events = feed(local)
    # A marker in seq 1's place, naming seq 2's hash: signed, so the origin's own lie.
    assert local.ledger.identity is not None
    unsigned = Withheld(origin, 1, events[1].hash, None, "hierarchy")
    wrong = Withheld(origin, 1, events[1].hash, None, "hierarchy",
                     local.ledger.identity.sign(unsigned.statement()))
    assert central.ingest([wrong]).withheld == 1
    result = central.ingest([events[0].wire()])
    assert not result.stored and result.filled == 0
    assert central.ledger.feed(origin, 1, 10) == []
