"""A service refusing a peer's links (quarantine): refused before membership sees them, and the
refused node re-dials at a bounded pace, not in a loop."""

from __future__ import annotations

import trio
import trio.testing

from hartnode.gossip.link_service import LinkService
from hartnode.gossip.overlay_config import full
from hartnode.identity import NodeIdentity
from hartnode.testing.memory_transport import MemoryNetwork

from .test_service import Node, until


async def test_a_refused_peer_never_reaches_membership_and_redials_at_a_bounded_pace(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    bad_id = NodeIdentity.from_seed(b"bad".ljust(32, b".")).node_id
    seen_up: list[str] = []
    a = Node("a", net=net)
    a.svc.register(LinkService(
        "quarantine", refuse_link=lambda peer: "quarantined" if peer == bad_id else None,
        on_link=lambda peer, up: seen_up.append(peer) if up else None))
    await a.start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    await until("a linked to b", lambda: b.id in a.links(), [a, b])
    bad = await Node("bad", seeds=[a.url], net=net).start(nursery)
    await until("a refused bad", lambda: a.svc.stats.dropped["refused_quarantined"] >= 1,
                [a, b, bad])
    start = trio.current_time()
    limit = 60.0 / full().neighbour_timeout + 2

    # A re-dial loop never lets the virtual clock move (some task is always
    # runnable): catch it by count over many scheduler turns at one instant.
    for _ in range(10_000):
        assert a.svc.stats.dropped["refused_quarantined"] <= limit, "a re-dial loop"
        await trio.sleep(0)
    await trio.sleep(60.0)  # virtual: how often does bad come back in a minute?
    refused = a.svc.stats.dropped["refused_quarantined"]
    # One rejoin per neighbour_timeout (5 s on full), plus the first: not hundreds.
    assert refused <= (trio.current_time() - start) / full().neighbour_timeout + 2
    assert bad_id not in seen_up and bad_id not in a.svc.neighbours()
    assert b.id in a.svc.neighbours()
