"""One chunker of event pushes (issue #9): replication's ``NewEvents``, the
simulator's and the hierarchy's ``HierarchyPush`` are all cut by
``messages.chunk_events``, by count and by bytes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from hartnode.gossip import wire
from hartnode.hierarchy import messages as hierarchy_messages
from hartnode.hierarchy.service import _pack
from hartnode.hierarchy.sync_queue import Row
from hartnode.replication.core import FeedEvent, NewEvents
from hartnode.replication.messages import chunk_events, event_bytes
from hartnode.replication.service import PUSH_MAX, PUSH_MAX_BYTES
from hartnode.testing.repsim import ReplicationApp, RepNode

from .test_replication_bounds import FEED


def test_chunks_keep_order_and_both_bounds_and_one_event_always_goes() -> None:
    events = [FeedEvent(b"e" * size, b"s" * 64) for size in (10, 500, 10, 10, 2000, 10)]
    chunks = chunk_events(events, lambda e: e, 2, 700)
    assert [e for c in chunks for e in c] == events  # nothing lost, nothing reordered
    assert all(len(c) <= 2 and (len(c) == 1 or sum(map(event_bytes, c)) <= 700)
               for c in chunks)
    assert [len(c) for c in chunks] == [2, 2, 1, 1]  # the 2 KB event goes alone
    assert chunk_events([], lambda e: e, 2, 700) == []


def test_the_simulator_cuts_its_pushes_as_the_daemon_does() -> None:
    """It cut by count only: a write of large events made pushes beyond PUSH_MAX_BYTES."""
    pushed: list[NewEvents] = []
    app = SimpleNamespace(_push=lambda node, msg: pushed.append(msg))
    ReplicationApp._announce(cast(ReplicationApp, app), cast(RepNode, None), FEED)
    assert [e for m in pushed for e in m.events] == [FeedEvent(*e.wire()) for e in FEED]
    for msg in pushed:
        assert len(msg.events) <= PUSH_MAX
        assert sum(map(event_bytes, msg.events)) <= PUSH_MAX_BYTES
        wire.encode(msg)


def test_the_hierarchy_packer_bounds_count_too_and_keeps_the_hashes() -> None:
    """It cut by bytes only: given more rows than PUSH_MAX, one push carried them all."""
    n = hierarchy_messages.PUSH_MAX + 44
    rows = [Row(i, "p" * 64, "up", i.to_bytes(32, "big"), i, "o" * 64, i, "pending", 0, 0,
                None, 0) for i in range(1, n + 1)]
    events = {i: FeedEvent(b"e%d" % i, b"s" * 64) for i in range(1, n + 1) if i != 7}
    packed = _pack(rows, events)
    cap = hierarchy_messages.PUSH_MAX
    assert [len(b) for b, _ in packed] == [cap, n - 1 - cap]  # row 7's event is gone
    for batch, hashes in packed:  # each push with its own rows' hashes, in order
        assert [int.from_bytes(h, "big") for h in hashes] == [
            int(e.envelope[1:]) for e in batch]
