"""Events held back beyond a gap are bounded in bytes and time (issue #8.6).

They were bounded by count only (4,096 per origin, 100,000 in all) and
kept forever: 5 links sending large events beyond gaps took a node's RSS
from 53 to 151 MB, still held after the links left. Now each sending peer
and the whole node have a byte bound, items expire after ``ttl_ms`` (on the
ledger's own clock, here a virtual one), and a peer's items go with its link.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.log import HeldLimits
from hartnode.ledger.node_ledger import NodeLedger

CATALOG = build_catalog()
WRITER = NodeIdentity.from_seed(b"held-writer".ljust(32, b"."))


def feed(n: int, chars: int) -> list[Event]:
    out: list[Event] = []
    for seq in range(1, n + 1):
        out.append(sign_event(
            WRITER, seq=seq, prev=out[-1].hash_hex if out else None, ts_ms=seq, actor="node",
            kind="note.created", scope="system", reach="network",
            payload={"text": (f"{seq}:" + "y" * chars)[:chars]}, provenance={}))
    return out


FEED = feed(600, 10_000)  # ~6 MB beyond seq 1, more than one peer may have held


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[NodeLedger, Clock]]:
    nl = NodeLedger(tmp_path, NodeIdentity.generate(), CATALOG, create=True)
    clock = Clock()
    nl.ledger.clock_ms = clock
    yield nl, clock
    nl.close()


def test_one_peers_held_back_events_are_bounded_in_bytes(
        node: tuple[NodeLedger, Clock]) -> None:
    nl, _ = node
    result = nl.ingest([e.wire() for e in FEED[1:]], peer="p1")  # seq 1 missing: all a gap
    held = nl.ledger.held
    assert result.rejected["held_bytes"] > 0 and result.held == nl.ledger.held_count()
    assert held.peer_bytes("p1") <= HeldLimits().peer_bytes == 4 << 20
    assert held.bytes == held.peer_bytes("p1")
    # Another peer's room is its own.
    other = nl.ingest([e.wire() for e in FEED[-5:]], peer="p2")
    assert other.duplicates + other.held == 5


def test_all_peers_together_are_bounded_in_bytes(node: tuple[NodeLedger, Clock]) -> None:
    nl, _ = node
    nl.ledger.held.limits = HeldLimits(peer_bytes=1 << 20, total_bytes=2 << 20)
    for i, chunk in enumerate((FEED[1:150], FEED[150:300], FEED[300:450])):
        nl.ingest([e.wire() for e in chunk], peer=f"p{i}")
    assert nl.ledger.held.bytes <= 2 << 20
    assert nl.ledger.held.peer_bytes("p2") == 0  # no room left by the time it came


def test_held_back_events_expire_on_the_ledgers_clock(node: tuple[NodeLedger, Clock]) -> None:
    nl, clock = node
    assert nl.ingest([FEED[2].wire()], peer="p1").held == 1
    clock.ms += HeldLimits().ttl_ms - 1
    nl.ingest([], peer="p1")
    assert nl.ledger.held_count() == 1  # not yet
    clock.ms += 1
    nl.ingest([FEED[0].wire()])  # any later ingest drops what waited ttl_ms
    assert nl.ledger.held_count() == 0 and nl.ledger.held.bytes == 0
    # The gap closes later: seq 3 is no longer held, so it is not stored with it.
    assert len(nl.ingest([FEED[1].wire()]).stored) == 1
    assert nl.ledger.heads()[WRITER.node_id] == 2


def test_a_peers_held_back_events_go_when_its_link_does(node: tuple[NodeLedger, Clock]) -> None:
    nl, _ = node
    nl.ingest([e.wire() for e in FEED[2:6]], peer="p1")
    nl.ingest([e.wire() for e in FEED[6:8]], peer="p2")
    assert nl.ledger.drop_held("p1") == 4
    assert nl.ledger.held_count() == 2 and nl.ledger.held.peer_bytes("p1") == 0
    assert nl.ledger.drop_held("p1") == 0
