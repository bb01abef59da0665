"""Per-link budgets that are budgets (issue #8.6): what a peer may make a node read and hold.

In-memory links (``hartnode.testing.memory_transport``) on trio's autojump
clock, so every time below is exact virtual seconds:

- the read budget charges each frame whole: over any window of ``t`` seconds
  a link delivers at most ``link_rate·t + link_burst`` bytes;
- a link's send queue is bounded in bytes, and a peer that stops reading is
  dropped once one send has stalled behind a full queue for
  ``slow_reader_timeout``; its queue is freed with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import trio
import trio.testing

from hartnode.gossip import wire
from hartnode.gossip.link_service import LinkService
from hartnode.gossip.overlay_config import full
from hartnode.gossip.secretbox import TAG_BYTES
from hartnode.gossip.transport import TransportConfig, TransportStats
from hartnode.identity import NodeIdentity
from hartnode.testing.memory_transport import MemoryNetwork

from .test_service import NET, Node, until


@wire.register(65220)
@dataclass(frozen=True, slots=True)
class Load:
    """Bytes a peer sends or is sent."""

    data: bytes


def load(sealed_bytes: int) -> Load:
    """A Load whose sealed frame is exactly ``sealed_bytes``."""
    overhead = len(wire.encode(Load(b"x" * 70_000))) - 70_000 + TAG_BYTES
    msg = Load(b"x" * (sealed_bytes - overhead))
    assert len(wire.encode(msg)) + TAG_BYTES == sealed_bytes
    return msg


async def test_a_link_delivers_at_most_rate_times_t_plus_burst(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    rate, burst = 262_144.0, 65_536.0
    frame = 98_304  # 1.5 bursts: the old budget charged only min(frame, burst)
    net = MemoryNetwork()
    a = Node("a", net=net, overlay=replace(full(), link_rate=rate, link_burst=burst))
    taken: list[float] = []
    a.svc.register(LinkService("sink", message_types=frozenset({Load}),
                               on_message=lambda peer, msg: taken.append(trio.current_time())))
    await a.start(nursery)
    flooder = NodeIdentity.from_seed(b"flooder".ljust(32, b"."))
    conn = await net.transport().dial(nursery, "127.0.0.1", a.svc.port, flooder, NET,
                                      config=TransportConfig(), stats=TransportStats())
    t0 = trio.current_time()  # the link's bucket starts full now
    count = 12  # within 5 s: membership closes a link it did not place after neighbour_timeout
    for _ in range(count):
        await conn.send(load(frame))
    with trio.fail_after(60):  # virtual seconds
        while len(taken) < count:
            await trio.sleep(1)  # virtual: the budget sets the pace, checked once a second
    # Frame k (from 1) is taken once its whole charge is paid: (k·frame − burst) / rate.
    assert [t - t0 for t in taken] == [(k * frame - burst) / rate for k in range(1, count + 1)]
    assert [t - t0 for t in taken][:3] == [0.125, 0.5, 0.875]
    for k, t in enumerate(taken, start=1):
        assert k * frame <= rate * (t - t0) + burst
    assert a.svc.stats.throttled == count


async def test_a_peer_that_never_reads_is_dropped_and_its_queue_freed(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(buffer_frames=4)
    # neighbour_timeout: membership leaves the unplaced link alone for the whole test.
    overlay = replace(full(), send_queue_bytes=1 << 20, slow_reader_timeout=10.0,
                      neighbour_timeout=120.0)
    a = Node("a", net=net, overlay=overlay)
    downs: dict[str, float] = {}
    a.svc.register(LinkService("watch", on_link=lambda peer, up: None if up else downs.setdefault(
        peer, trio.current_time())))
    await a.start(nursery)
    deaf = NodeIdentity.from_seed(b"deaf".ljust(32, b"."))
    await net.transport().dial(nursery, "127.0.0.1", a.svc.port, deaf, NET,
                               config=TransportConfig(), stats=TransportStats())
    await until("a runs the link", lambda: deaf.node_id in a.links(), [a])
    link = a.links()[deaf.node_id]
    reply = load(200 * 1024)  # what 3,000 Wants made a node queue (issue #8.6)
    first_full: float | None = None
    peak = 0
    with trio.fail_after(60):  # virtual seconds
        while deaf.node_id not in downs:
            if not a.svc.send(deaf.node_id, reply) and first_full is None:
                first_full = trio.current_time()
            peak = max(peak, link.queued_bytes)
            await trio.sleep(0.25)  # virtual: one reply every 250 ms, as a Want flood asks
    assert first_full is not None
    # The queue never held more than its bound (one message more than fits is refused).
    assert peak <= overlay.send_queue_bytes
    # Dropped once a send had stalled behind the full queue for slow_reader_timeout.
    assert downs[deaf.node_id] == first_full + overlay.slow_reader_timeout
    assert a.svc.stats.links_dropped["slow_reader"] == 1
    assert a.svc.stats.dropped["queue_full"] >= 1
    # Gone, and with it what was queued for it.
    assert deaf.node_id not in a.links()
    assert link.queued_bytes == 0 and link.receive.statistics().current_buffer_used == 0
