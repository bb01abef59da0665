"""The bandwidth profile reaches the replication core (issue #9.4): on ``minimal``
a feed streaming in is never taken for a lost one and asked for again.

A two-node model on a virtual clock: the real cores on both ends, control
messages (digests, heads, wants) delivered at once, and every Batch queued on
one link that carries ``link_rate`` bytes per second, as a profile's token
bucket lets it. The asker pulls four feeds of 1,000 events of ~420 B.
"""

from __future__ import annotations

import heapq
import itertools
import random
from pathlib import Path

from hartnode.catalog import build_catalog
from hartnode.gossip.hyparview import Send
from hartnode.gossip.overlay_config import OverlayConfig, for_profile
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.core import (
    ITEM_FRAMING_BYTES,
    MAX_BATCH_BYTES,
    WANT_ROUNDS,
    ConfirmFeed,
    Replicator,
    Serve,
    want_budget,
)
from hartnode.replication.service import ReplicationService

from .helpers import next_round

ROUND = 10.0  # seconds: network.sync_interval's default
EVENT_BYTES = 420 + 64 + ITEM_FRAMING_BYTES  # envelope, signature, framing
FEED = 1000
ORIGINS = [f"{i:x}" * 64 for i in range(1, 5)]  # four feeds, pulled in parallel


def pull_over_link(asker: Replicator, server: Replicator, link_rate: float,
                   until: float = 3600.0) -> tuple[float | None, int]:
    """Pull every feed from ``server`` over one link: (virtual s taken, None if
    not done by ``until``; events served)."""
    heads: dict[str, dict[str, int]] = {"me": {}, "them": dict.fromkeys(ORIGINS, FEED)}
    cores = {"me": asker, "them": server}
    timers: list[tuple[float, int, object]] = []
    order = itertools.count()
    now = 0.0
    link_free = 0.0
    served = 0

    def handle(node: str, effects: list[object]) -> None:
        nonlocal link_free, served
        for e in effects:
            if isinstance(e, Send):
                other = "them" if node == "me" else "me"
                handle(other, cores[other].on_message(node, e.msg, heads[other]))
            elif not isinstance(e, ConfirmFeed):
                assert isinstance(e, Serve) and node == "them"
                have = heads["them"][e.origin]
                fit = max(1, e.max_bytes // EVENT_BYTES)
                n = max(0, min(e.limit, have - e.from_seq + 1, fit))
                size = n * EVENT_BYTES
                server.on_served(e.peer, size)
                served += n
                link_free = max(now, link_free) + size / link_rate  # one link, in order
                heapq.heappush(timers, (link_free, next(order), (e.origin, e.from_seq, n)))

    handle("me", asker.on_link_up("them", heads["me"]))
    handle("them", server.on_link_up("me", heads["them"]))
    heapq.heappush(timers, (ROUND, next(order), "round"))
    while timers and now < until:
        now, _, what = heapq.heappop(timers)
        if what == "round":
            handle("them", next_round(server, heads["them"]))
            handle("me", next_round(asker, heads["me"]))
            if any(heads["me"].get(o, 0) < FEED for o in ORIGINS):
                heapq.heappush(timers, (now + ROUND, next(order), "round"))
            continue
        origin, from_seq, n = what  # type: ignore[misc]
        before = heads["me"].get(origin, 0)
        if n and from_seq <= before + 1:  # ingest stores what links onto the head
            heads["me"][origin] = max(before, from_seq + n - 1)
        handle("me", asker.on_ingested("them", origin, before, heads["me"]))
        if all(heads["me"].get(o, 0) == FEED for o in ORIGINS):
            return now, served
    return None, served


def core_for(profile: OverlayConfig) -> Replicator:
    return Replicator.for_link(profile.link_rate, profile.link_burst, ROUND)


def test_minimal_pulls_every_event_once_without_asking_again() -> None:
    minimal = for_profile("minimal")
    asker, server = core_for(minimal), core_for(minimal)
    took, served = pull_over_link(asker, server, minimal.link_rate)
    assert took is not None
    assert asker.wants_dropped == 0
    assert served == len(ORIGINS) * FEED  # nothing sent twice
    # The link was the limit, not the protocol: ~2 MB at 4 KiB/s, give or take a round.
    assert took <= len(ORIGINS) * FEED * EVENT_BYTES / minimal.link_rate + 2 * ROUND


def test_the_limits_before_the_profile_reached_the_core_asked_again_on_minimal() -> None:
    # What the daemon ran before (the core's defaults, Batch bytes cut to the
    # burst): the same link re-asked for batches still on their way.
    minimal = for_profile("minimal")

    def old() -> Replicator:
        return Replicator(batch_bytes=min(MAX_BATCH_BYTES, int(minimal.link_burst)),
                          want_bytes_per_round=want_budget(minimal.link_rate, ROUND))

    asker = old()
    took, served = pull_over_link(asker, old(), minimal.link_rate)
    assert asker.wants_dropped > 0
    # Batches sent again and again filled the link: not done in an hour of virtual time.
    assert took is None and served > 2 * len(ORIGINS) * FEED


def test_full_and_constrained_keep_their_batches_and_want_deadline() -> None:
    full, constrained = core_for(for_profile("full")), core_for(for_profile("constrained"))
    assert (full.batch_bytes, full.want_rounds) == (MAX_BATCH_BYTES, WANT_ROUNDS)
    assert (constrained.batch_bytes, constrained.want_rounds) == (65_536, WANT_ROUNDS)
    minimal = core_for(for_profile("minimal"))
    assert (minimal.batch_bytes, minimal.want_rounds) == (40_960, 3)


def test_every_profile_streams_without_re_asking() -> None:
    for name in ("full", "constrained", "minimal"):
        profile = for_profile(name)
        asker = core_for(profile)
        took, served = pull_over_link(asker, core_for(profile), profile.link_rate)
        assert took is not None
        assert (name, asker.wants_dropped, served) == (name, 0, len(ORIGINS) * FEED)


def test_the_daemon_shell_sizes_its_core_from_the_gossip_profile(tmp_path: Path) -> None:
    identity = NodeIdentity.from_seed(b"profile".ljust(32, b"."))
    ledger = NodeLedger(tmp_path, identity, build_catalog(), create=True)
    try:
        settings = GossipSettings(network_key=b"P" * 32, listen=("127.0.0.1", 0), advertise=(),
                                  seeds=(), overlay=for_profile("minimal"))
        gossip = GossipService(identity, settings, PeerTable(identity.node_id, ttl_ms=600_000),
                               rng=random.Random(1))
        service = ReplicationService(gossip, ledger, StoreAccess(), round_interval=ROUND)
        assert (service.core.batch_bytes, service.core.want_rounds) == (40_960, 3)
        assert service.core.want_bytes_per_round == want_budget(4_096.0, ROUND)
    finally:
        ledger.close()
