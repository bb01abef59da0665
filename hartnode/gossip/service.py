"""The overlay's trio shell: the cores' effect executor, timers and the services' seam.

This is the only place the membership core (HyParView), the broadcast core
(Plumtree) and the transport meet (DESIGN §2, §3). It

- listens and dials through a ``links.Transport`` (the real WebSocket one by
  default; ``hartnode.testing.memory_transport`` for tests), one link per
  peer (``link_table``: per-link tasks, byte budget, send queue, containment);
- feeds every received message to its core, with ``trio.current_time()`` as
  ``now``, and carries out the effects the cores return (``Send``,
  ``Connect``, ``CloseLink``, ``NeighbourUp/Down``, ``Deliver``);
- hands the messages, link events, broadcast payloads and revocation lists
  other services registered for to them (``register``, ``link_service``);
- announces this node's signed peer record over Plumtree periodically (and
  directly to each new neighbour) and keeps the ``PeerTable`` (``records``);
- bootstraps from the configured seed URLs (``bootstrap``);
- keeps the links other services ask it to keep (``connect``, ``keep_link``:
  hierarchy parent and child links, DESIGN §3 "Sync") open even when the
  membership core lets go of them; they carry everything an ordinary link does.

A malformed message or a protocol violation ends only that peer's link and is
counted by reason; so does anything else raised on a peer's behalf.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial

import blake3
import trio

from hartnode.gossip import transport, wire
from hartnode.gossip.bootstrap import BOOTSTRAP_BACKOFF, bootstrap, parse_url
from hartnode.gossip.hyparview import (
    CloseLink,
    Connect,
    HyParView,
    NeighbourDown,
    NeighbourUp,
    PeerInfo,
    Ping,
    Pong,
)
from hartnode.gossip.link_service import LinkService, ServiceTable
from hartnode.gossip.link_table import GossipStats, LinkTable
from hartnode.gossip.links import PACE_BACKLOG, SEND_QUEUE, Link, SocketTransport, Transport
from hartnode.gossip.messages import BROADCAST_TYPES, MEMBERSHIP_TYPES
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.peer_record import PeerRecordMessage, PeerTable
from hartnode.gossip.plumtree import Deliver, Plumtree
from hartnode.gossip.records import Records, wall_ms
from hartnode.gossip.transport import TransportConfig
from hartnode.gossip.trust import RevocationListMessage, TrustState
from hartnode.identity import NodeIdentity, short_id
from hartnode.protocol import RemoteProtocolError, Send, TimerCore, is_due, next_timer

log = logging.getLogger(__name__)

__all__ = ["BOOTSTRAP_BACKOFF", "PACE_BACKLOG", "SEND_QUEUE", "GossipService", "GossipSettings",
           "GossipStats", "LinkService", "parse_url"]
BROADCAST_OVERHEAD = 64  # bytes a Gossip message adds to its payload, with room to spare


@dataclass(frozen=True)
class GossipSettings:
    """What the service needs from the node's config (see ``from_config`` in node.py)."""

    network_key: bytes
    listen: tuple[str, int]
    advertise: tuple[str, ...]
    seeds: tuple[str, ...]
    overlay: OverlayConfig
    tier: str = "flat"
    region: str = ""
    announce_interval: float = 60.0
    chain: tuple[tuple[bytes, bytes], ...] = ()
    # The listener's and links' limits; host and port are taken from ``listen``.
    transport_config: TransportConfig = field(
        default_factory=partial(TransportConfig, max_connections=64))
    capabilities: tuple[str, ...] = ()  # carried in the peer record (code hash, compute tags)


class GossipService(LinkTable):
    """One node's overlay. ``run`` is a trio service; the rest is read-mostly."""

    def __init__(self, identity: NodeIdentity, settings: GossipSettings, peers: PeerTable, *,
                 trust: TrustState | None = None, rng: random.Random | None = None,
                 transport_stats: transport.TransportStats | None = None,
                 transport: Transport | None = None) -> None:
        self.identity = identity
        self.settings = settings
        self._network_key = settings.network_key
        self.peers = peers
        ov = settings.overlay
        peers.limit_to(ov.peer_table_size)
        self.trust = trust or TrustState(peers.master_public_key)
        self._seeded = rng is not None
        self.rng = rng or random.Random()
        self.transport = transport or SocketTransport()
        self.transport_stats = transport_stats or _transport_stats()
        self.stats = GossipStats()
        self.port = 0
        self._services = ServiceTable(
            MEMBERSHIP_TYPES | BROADCAST_TYPES | {PeerRecordMessage, RevocationListMessage})
        self._records = Records(identity, peers, tier=settings.tier, region=settings.region,
                                chain=settings.chain, base_interval=settings.announce_interval,
                                record_budget=settings.overlay.record_budget,
                                protocol_errors=self.stats.protocol_errors,
                                capabilities=settings.capabilities)
        self._init_links(settings.overlay)
        self._nursery: trio.Nursery | None = None
        self._changed: trio.Event | None = None  # ``changes()``: set at the next change
        self._hv: HyParView | None = None
        self._pt: Plumtree | None = None
        host, port = settings.listen
        self._transport_config = replace(settings.transport_config, host=host, port=port)

    def changes(self) -> trio.Event:
        """An event set at this service's next change of state: a message handled,
        a link up or down, a timer run. For an observer that waits for a condition
        over the overlay (tests, tools) without polling or subclassing; none is
        made until one is asked for, so a node nobody watches pays nothing."""
        if self._changed is None:
            self._changed = trio.Event()
        return self._changed

    def _notify_changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def register(self, service: LinkService) -> None:
        """Attach a service: its message types, broadcast types and link events.

        Raises:
            link_service.ServiceConflict: a type it claims is claimed already.
        """
        self._services.register(service)

    # -- reading ----------------------------------------------------------

    @property
    def announce_interval_s(self) -> float:
        return self._records.interval_s

    def neighbours(self) -> frozenset[str]:
        return frozenset(self._hv.active) if self._hv else frozenset()

    def overview(self) -> dict[str, object]:
        """The overlay's figures for ``hartnode status --json``."""
        hv, pt = self._hv, self._pt
        statuses = Counter(self.peers.status(n, wall_ms()) for n in self.peers.entries)
        return {
            "listen_port": self.port,
            "advertise": list(self._advertised()),
            "active_view": sorted(hv.active) if hv else [],
            "passive_view": len(hv.passive) if hv else 0,
            "eager": len(pt.eager) if pt else 0,
            "lazy": len(pt.lazy) if pt else 0,
            "links": len(self._links),
            "peers": dict(statuses),
            "announce_interval_s": round(self.announce_interval_s, 1),
            "received": dict(self.stats.received),
            "dropped": dict(self.stats.dropped),
            "protocol_errors": dict(self.stats.protocol_errors),
            "links_dropped": dict(self.stats.links_dropped),
            "throttled": self.stats.throttled,
            "link_bytes": dict(self.transport_stats.link_bytes),
            "handshake_failures": dict(self.transport_stats.handshake_failures),
            "decode_errors": {k: v for k, v in self.transport_stats.decode_errors.items() if v},
        }

    # -- the service --------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, join, and keep the overlay until cancelled.

        Calls ``task_status.started(port)`` once the listener is bound.

        Raises:
            OSError: the listen address cannot be bound.
        """
        now = trio.current_time()
        # The address to offer is known only once the listener is bound (listen
        # port 0 picks one): until then the core says it has none.
        # The passive view's bucketing key must be secret: from the OS, not the
        # rng, whose outputs peers may observe; a test or bench that injected a
        # seeded rng gets a salt from it, so its run repeats.
        salt = self.rng.randbytes(16) if self._seeded else os.urandom(16)
        self._hv = HyParView(PeerInfo(self.node_id, ""), self.settings.overlay, self.rng, now,
                             salt=salt)
        self._records.start(now)
        self._pt = Plumtree(self.node_id, self.settings.overlay, self.rng, validate=True)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.port = await nursery.start(partial(
                self.transport.serve, self.identity, self.settings.network_key, self._inbound,
                config=self._transport_config, stats=self.transport_stats,
                priority=lambda n: n in self._kept or self.peers.tier_of(n) != "flat"))
            self._hv.me = PeerInfo(self.node_id, next(iter(self._advertised()), ""))
            nursery.start_soon(self._timers)
            nursery.start_soon(bootstrap, self.settings.seeds, self.peers, self._dial_contacts,
                               self._join)
            task_status.started(self.port)

    def broadcast(self, payload: bytes) -> bytes:
        """Spread ``payload`` to every node; returns its message id.

        A payload too large for one frame goes nowhere (counted
        ``oversized_broadcast``): no link could carry it.
        """
        assert self._pt is not None, "broadcast before run"
        msg_id = blake3.blake3(payload).digest(length=16)
        if len(payload) + BROADCAST_OVERHEAD > self._transport_config.wire_limits.max_frame_bytes:
            self.stats.dropped["oversized_broadcast"] += 1
            log.warning("oversized_broadcast bytes=%d", len(payload))
            return msg_id
        self._apply(self._pt.broadcast(msg_id, payload, trio.current_time()))
        return msg_id

    async def broadcast_paced(self, payload: bytes) -> bytes:
        """``broadcast``, once no link has more than ``PACE_BACKLOG`` messages queued
        (or a quarter of its ``send_queue_bytes``).

        ``broadcast`` never blocks: beyond a link's queue it drops (counted
        ``queue_full``) and leaves the repair to IHAVE/GRAFT, which only works
        while the payload is still cached. A publisher that may outrun its
        links (a bulk import, a benchmark) awaits this instead, so the slowest
        link sets its pace and nothing is dropped on its way.
        """
        quarter = self.settings.overlay.send_queue_bytes // 4
        while any(link.backlog() > PACE_BACKLOG or link.queued_bytes > quarter
                  for link in self._links.values()):
            self._room_waiters += 1
            try:
                await self._room.wait()
            finally:
                self._room_waiters -= 1
            self._room = trio.Event()
        return self.broadcast(payload)

    def spread(self, payload: bytes) -> bool:
        """Broadcast ``payload`` unless this node already sent or delivered it.

        For proofs a node may learn both over a link and by broadcast: one it
        got by broadcast is already being relayed by Plumtree. Returns whether
        it was broadcast now.
        """
        assert self._pt is not None, "spread before run"
        if self._pt.has_seen(blake3.blake3(payload).digest(length=16)):
            return False
        self.broadcast(payload)
        return True

    def _advertised(self) -> tuple[str, ...]:
        return advertised_addrs(self.settings.advertise, self.settings.listen[0],
                                self.port or self.settings.listen[1])

    # -- messages and effects -------------------------------------------------------

    def _dispatch(self, link: Link, msg: object) -> bool:
        """Hand ``msg`` to its core or service; False when the link must end."""
        hv, pt = self._hv, self._pt
        assert hv is not None and pt is not None
        kind = type(msg)
        self.stats.received[kind.__name__] += 1
        now = trio.current_time()
        self.peers.seen(link.peer, wall_ms())
        if isinstance(msg, Pong) and link.ping is not None and link.ping[0] == msg.nonce:
            link.rtt, link.ping = now - link.ping[1], None
        try:
            if kind in MEMBERSHIP_TYPES:
                self._apply(hv.on_message(link.peer, msg, now))
            elif kind in BROADCAST_TYPES:
                self._apply(pt.on_message(link.peer, msg, now))
            elif kind is PeerRecordMessage:
                self._records.take(msg, linked=self._is_linked, now=now)  # type: ignore[arg-type]
            elif kind is RevocationListMessage:
                self.take_revocations(msg)  # type: ignore[arg-type]
            elif (service := self._services.messages.get(kind)) is not None:
                assert service.on_message is not None
                service.on_message(link.peer, msg)
            else:
                self.stats.dropped["unexpected_message"] += 1
        except RemoteProtocolError as e:
            self.stats.protocol_errors[e.reason] += 1
            log.info("protocol_error peer=%s reason=%s", short_id(link.peer), e.reason)
            return False
        finally:
            self._wake.set()
            self._notify_changed()
        return True

    def _apply(self, effects: Iterable[object]) -> None:
        try:
            hv, pt = self._hv, self._pt
            assert hv is not None and pt is not None
            now = trio.current_time()
            for effect in effects:
                if isinstance(effect, Send):
                    if type(effect.msg) is Ping and (link := self._links.get(effect.peer)):
                        link.ping = (effect.msg.nonce, now)  # its Pong times the round trip
                    self.send(effect.peer, effect.msg)
                elif isinstance(effect, Deliver):
                    self._deliver(effect)
                elif isinstance(effect, Connect):
                    if effect.peer in self._links:
                        self._apply(hv.on_link_up(effect.peer, now))
                    elif effect.peer not in self._dialling:
                        self._dialling.add(effect.peer)
                        self._nursery_start(self._dial, effect.peer, effect.addr)
                elif isinstance(effect, CloseLink):
                    if effect.peer in self._kept and effect.peer in self._links:
                        # Membership is done with it, the hierarchy is not: the link
                        # stays, outside the active view (the core forgot it).
                        self._let_go.add(effect.peer)
                        continue
                    link = self._links.pop(effect.peer, None)
                    if link is not None:
                        link.replaced = True
                        link.send.close()  # the sender flushes what is queued, then ends the link
                        link.flush.deadline = now + self._transport_config.close_timeout
                        self._room.set()  # it no longer holds back a paced broadcast
                elif isinstance(effect, NeighbourUp):
                    self._apply(pt.on_neighbour_up(effect.peer, now))
                elif isinstance(effect, NeighbourDown):
                    self._apply(pt.on_neighbour_down(effect.peer, now))
            self._wake.set()
        finally:
            self._notify_changed()

    def _deliver(self, d: Deliver) -> None:
        """Hand a delivered payload to whoever judges it; it is relayed once judged valid.

        Records and revocation lists are checked here; other payloads go to
        the service that registered their type, whose verdict comes back at
        once or later through ``relay``. A type no service claimed goes no
        further (counted ``unclaimed_broadcast``).
        """
        self.stats.delivered += 1
        try:
            msg = wire.decode(d.payload)
        except wire.DecodeError as e:
            self.transport_stats.decode_errors[e.reason] += 1
            self.relay(d.msg_id, False)
            return
        if isinstance(msg, PeerRecordMessage):
            # Not taken (over the intake budget, too frequent, stale): not relayed either.
            taken = self._records.take(msg, linked=self._is_linked, now=trio.current_time())
            self.relay(d.msg_id, taken)
            return
        if isinstance(msg, RevocationListMessage):
            self.relay(d.msg_id, self.take_revocations(msg))  # only a newer, master-signed list
            return
        service = self._services.broadcasts.get(type(msg))
        if service is None:
            self.stats.dropped["unclaimed_broadcast"] += 1
            self.relay(d.msg_id, False)
            return
        assert service.on_broadcast is not None
        try:
            verdict = service.on_broadcast(d.payload, d.msg_id.hex())
        except Exception as e:  # contained to the sender's link
            self._link_failed(self._serving, "broadcast", e)
            verdict = False
        if verdict is not None:
            self.relay(d.msg_id, verdict)

    def relay(self, msg_id: bytes | str, ok: bool) -> None:
        """The verdict on a delivered payload: relay it on (``ok``) or let it die here."""
        assert self._pt is not None
        key = bytes.fromhex(msg_id) if isinstance(msg_id, str) else msg_id
        self._apply(self._pt.validated(key, ok, trio.current_time()))

    def take_revocations(self, msg: RevocationListMessage) -> bool:
        """Apply a revocation list if it is newer and master-signed; spread it.

        Revoked nodes lose their tier in the peer table and their links are
        closed; they are refused from then on. Every registered service's
        ``on_revocations`` hears of it. Returns whether it was new.
        """
        if not self.trust.offer(msg):
            return False
        current = self.trust.current
        assert current is not None
        self.peers.revocations = current.revocations
        self.peers.reverify(wall_ms())
        for peer in [p for p in self._links if self.trust.is_revoked(p)]:
            link = self._links[peer]
            self._nursery_start(link.conn.aclose, "revoked by the master key")
        log.info("revocations_applied seq=%d", current.seq)
        for watch in self._services.revocation_watchers():
            # A service that fails here must not keep the list from the others.
            self._contained(None, "revocations", watch, current)
        payload = wire.encode(msg)
        if self._pt is not None and not self._pt.has_seen(blake3.blake3(payload).digest(16)):
            self.broadcast(payload)
        return True

    def _own_record(self) -> PeerRecordMessage:
        return self._records.own(self._advertised())

    def _is_linked(self, node_id: str) -> bool:
        return node_id in self._links

    # -- timers -----------------------------------------------------------------

    async def _timers(self) -> None:
        hv, pt = self._hv, self._pt
        assert hv is not None and pt is not None
        # Not at once: with no neighbour yet that broadcast reaches nobody, and a
        # message seen makes Plumtree start every later neighbour lazy, so the
        # overlay's first broadcasts would crawl by IHAVE and GRAFT (1.25 s a
        # hop at ``full``) instead of building the tree by eager push. New
        # neighbours get the record directly (``_link_up``).
        next_announce = trio.current_time() + self.announce_interval_s
        cores: tuple[TimerCore, ...] = (hv, pt)  # membership first: its effects reach pt
        while True:
            armed = next_timer(cores)
            deadline = min(math.inf if armed is None else armed, next_announce)
            with trio.move_on_at(deadline):
                await self._wake.wait()
            self._wake = trio.Event()
            now = trio.current_time()
            for core in cores:
                if is_due(core, now):
                    self._apply(core.handle_timer(now))
            if now >= next_announce:
                record = wire.encode(self._own_record())
                self.broadcast(record)
                self._records.stretch(len(record))
                # Jittered, so that nodes started together do not refresh in step.
                next_announce = now + self.announce_interval_s * self.rng.uniform(0.9, 1.1)
                self.peers.forget_dead(wall_ms(), 2 * 3 * self.peers.ttl_ms)


def _transport_stats() -> transport.TransportStats:
    return transport.TransportStats()


def advertised_addrs(advertise: tuple[str, ...], host: str, port: int) -> tuple[str, ...]:
    """The URLs this node offers peers: ``network.advertise``, else one derived
    from the listen address when it names a single host (``hartnode id`` shows
    the same list offline)."""
    if advertise:
        return advertise
    if host in ("0.0.0.0", "::", ""):
        return ()  # no single address to offer: behave as behind NAT
    return (f"ws://{'[' + host + ']' if ':' in host else host}:{port}/hart",)
