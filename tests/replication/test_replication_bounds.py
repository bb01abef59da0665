"""Byte bounds of replication replies, between real nodes on loopback (issue #8.1).

A feed of large events (120 notes of 10,000 characters, ~1.2 MB) used to be
served as one Batch of up to 1,000 events: the encoder refused the frame
and the serving daemon's sender task died with it. Every Batch is now
bounded in bytes too, and the asker keeps pulling the rest.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trio

from hartnode.gossip import wire
from hartnode.gossip.overlay_config import full
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event
from hartnode.replication.core import MAX_BATCH_BYTES, FeedEvent, NewEvents, pack_batch
from hartnode.replication.service import PUSH_MAX_BYTES, push_chunks

from . import test_fork_spread
from .test_fork_spread import Peer, Pulse, note

WRITER = NodeIdentity.from_seed(b"writer".ljust(32, b"."))


def large_feed(n: int = 120, chars: int = 10_000) -> list[Event]:
    feed: list[Event] = []
    for seq in range(1, n + 1):
        text = (f"{seq:05d}" + "x" * chars)[:chars]
        feed.append(note(seq, feed[-1] if feed else None, text, WRITER))
    return feed


FEED = large_feed()


def test_a_batch_of_large_events_is_cut_by_bytes_and_always_encodes() -> None:
    batch, n = pack_batch(WRITER.node_id, list(FEED), MAX_BATCH_BYTES)
    assert 1 < n < len(FEED)
    assert len(wire.encode(batch)) <= MAX_BATCH_BYTES + 64
    one, n = pack_batch(WRITER.node_id, FEED[:3], 1)  # a bound below one event: one still goes
    assert n == 1 and len(one.events) == 1


def test_a_push_of_large_events_is_cut_by_bytes() -> None:
    chunks = push_chunks([FeedEvent(*e.wire()) for e in FEED])
    assert sum(len(c) for c in chunks) == len(FEED)
    for chunk in chunks:
        assert sum(len(e.envelope) + len(e.sig) for e in chunk) <= PUSH_MAX_BYTES
        wire.encode(NewEvents(chunk))


async def test_a_feed_of_large_events_replicates_in_byte_bounded_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A link budget that lets ~1.2 MB through at once: the bound under test is the Batch's.
    monkeypatch.setattr(test_fork_spread, "full", lambda: replace(
        full(), link_rate=float(1 << 22), link_burst=float(1 << 22)))
    pulse = Pulse()
    a = Peer(tmp_path, "a", pulse, holds=FEED)
    b = Peer(tmp_path, "b", pulse)

    def b_head() -> int:
        return b.ledger.ledger.heads().get(WRITER.node_id, 0)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            await nursery.start(b.run, [a])
            await pulse.until("B pulled all the large events", lambda: b_head() == len(FEED))
            assert a.repl.stats.served == len(FEED)  # each served once, over several Batches
            assert a.gossip.neighbours() == {b.id}  # A's link and A itself live on
            nursery.cancel_scope.cancel()
    finally:
        a.ledger.close()
        b.ledger.close()
