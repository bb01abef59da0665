"""The overlay's trio shell: links, timers and effects for the sans-I/O cores.

This is the only place the membership core (HyParView), the broadcast core
(Plumtree) and the transport meet (DESIGN §2, §3). It

- listens and dials through ``transport``, one ``SecureConnection`` per peer;
  when both ends dial at once, the link dialled by the smaller node id stays;
- feeds every received message to its core, with ``trio.current_time()`` as
  ``now``, and carries out the effects the cores return (``Send``,
  ``Connect``, ``CloseLink``, ``NeighbourUp/Down``, ``Deliver``);
- holds each inbound link to a token-bucket byte budget: a peer that sends
  faster is not read until its budget refills, so TCP pushes back on it and
  other links keep their latency;
- announces this node's signed peer record over Plumtree periodically (and
  directly to each new neighbour) and keeps the ``PeerTable``;
- bootstraps from the configured seed URLs (then from the peers it heard
  from most recently), retrying with exponential backoff (1 s to 60 s) while
  none answers, so a lonely node never spins;
- keeps the links other services ask it to keep (``connect``, ``keep_link``:
  hierarchy parent and child links, DESIGN §3 "Sync") open even when the
  membership core lets go of them; they carry everything an ordinary link does.

A malformed message or a protocol violation ends only that peer's link and is
counted by reason.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import blake3
import trio

from hartnode.attestation.revocation import SignedRevocationList
from hartnode.gossip import transport, wire
from hartnode.gossip.admission import LinkFacts
from hartnode.gossip.hyparview import (
    CloseLink,
    Connect,
    HyParView,
    NeighbourDown,
    NeighbourUp,
    PeerInfo,
    RemoteProtocolError,
    Send,
)
from hartnode.gossip.inbound_slots import address_key
from hartnode.gossip.messages import BROADCAST_TYPES, MEMBERSHIP_TYPES
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.peer_record import (
    PeerRecordError,
    PeerRecordMessage,
    PeerTable,
    announce_interval,
    decode_peer_record,
    sign_peer_record,
)
from hartnode.gossip.peer_store import bootstrap_urls
from hartnode.gossip.plumtree import Deliver, Plumtree
from hartnode.gossip.token_bucket import TokenBucket
from hartnode.gossip.trust import RevocationListMessage, TrustState
from hartnode.identity import NodeIdentity, short_id

log = logging.getLogger(__name__)

SEND_QUEUE = 256  # messages queued per link before further ones are dropped (counted)
PACE_BACKLOG = SEND_QUEUE // 4  # queued messages per link beyond which broadcast_paced waits
BOOTSTRAP_BACKOFF = (1.0, 60.0)  # seconds: first retry, cap
REMEMBERED_CONTACTS = 4  # remembered peers dialled when no seed answers
_URL_RE = re.compile(r"wss?://(\[[0-9a-fA-F:.]+\]|[^\s/:]+):(\d{1,5})(/\S*)?")

PayloadHandler = Callable[[bytes, str], None]


def _backlog(link: _Link) -> int:
    return link.send.statistics().current_buffer_used


def parse_url(url: str) -> tuple[str, int]:
    """``ws://HOST:PORT/path`` → (host, port). Raises ValueError."""
    m = _URL_RE.fullmatch(url)
    if not m or int(m.group(2)) > 65535:
        raise ValueError(f"not a ws://HOST:PORT/PATH URL: {url!r}")
    return m.group(1).strip("[]"), int(m.group(2))


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
    max_connections: int = 64


@dataclass(eq=False)
class _Link:
    peer: str
    conn: transport.SecureConnection
    initiator: str  # node id of the side that dialled
    send: trio.MemorySendChannel[object]
    receive: trio.MemoryReceiveChannel[object]
    bucket: TokenBucket
    replaced: bool = False  # closed by us on the cores' behalf: do not report it down
    # Bounds the sender's last flush once CloseLink closed the queue (DESIGN §2 grace period).
    flush: trio.CancelScope = field(default_factory=trio.CancelScope)


@dataclass
class GossipStats:
    """Counters for ``status`` and ``/metrics``; keys are stable reasons."""

    received: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    protocol_errors: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    delivered: int = 0


class GossipService:
    """One node's overlay. ``run`` is a trio service; the rest is read-mostly."""

    def __init__(self, identity: NodeIdentity, settings: GossipSettings, peers: PeerTable, *,
                 trust: TrustState | None = None,
                 on_revocations: Callable[[SignedRevocationList], None] | None = None,
                 on_payload: PayloadHandler | None = None, rng: random.Random | None = None,
                 transport_stats: transport.TransportStats | None = None) -> None:
        self.identity = identity
        self.settings = settings
        self.peers = peers
        ov = settings.overlay
        peers.limit_to(ov.peer_table_size, ov.active_view_size + ov.passive_view_size)
        self.trust = trust or TrustState(peers.master_public_key)
        self.on_revocations = on_revocations
        self.on_payload = on_payload
        self.app_validates = False  # on_payload's owner calls relay() with its verdict
        self.rng = rng or random.Random()
        self.announce_interval_s = settings.announce_interval  # stretched with the network
        self._room = trio.Event()  # set by a link's sender when its backlog fell (pacing)
        self._room_waiters = 0
        self.transport_stats = transport_stats or transport.TransportStats()
        self.stats = GossipStats()
        self.port = 0
        # Hooks for services that speak over the same links (ledger replication).
        self.app_types: frozenset[type] = frozenset()
        self.on_app_message: Callable[[str, object], None] | None = None
        self.on_link: Callable[[str, bool], None] | None = None
        # More link watchers and message handlers, for further services (hierarchy).
        self.link_watchers: list[Callable[[str, bool], None]] = []
        self.handlers: dict[type, Callable[[str, object], None]] = {}
        self._kept: set[str] = set()  # peers whose links stay open whatever membership says
        self._let_go: set[str] = set()  # kept links membership has closed (close when unkept)
        self._links: dict[str, _Link] = {}
        self._dialling: set[str] = set()
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._record_seq = 0
        self._hv: HyParView | None = None
        self._pt: Plumtree | None = None

    # -- reading ----------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def link_count(self) -> int:
        """Open authenticated links (the active view plus links not yet placed)."""
        return len(self._links)

    def has_link(self, peer: str) -> bool:
        return peer in self._links

    def neighbours(self) -> frozenset[str]:
        return frozenset(self._hv.active) if self._hv else frozenset()

    def overview(self) -> dict[str, object]:
        """The overlay's figures for ``hartnode status --json``."""
        hv, pt = self._hv, self._pt
        now_ms = time.time_ns() // 1_000_000
        statuses = Counter(self.peers.status(n, now_ms) for n in self.peers.entries)
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
        # The passive view's bucketing key must be secret: from the OS, not the rng.
        self._hv = HyParView(PeerInfo(self.node_id, ""), self.settings.overlay, self.rng, now,
                             salt=os.urandom(16))
        self._pt = Plumtree(self.node_id, self.settings.overlay, self.rng, validate=True)
        host, port = self.settings.listen
        config = transport.TransportConfig(host=host, port=port,
                                           max_connections=self.settings.max_connections)
        self._transport_config = config
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.port = await nursery.start(
                lambda task_status: transport.serve(
                    self.identity, self.settings.network_key, self._inbound, config=config,
                    stats=self.transport_stats, task_status=task_status,
                    priority=lambda n: n in self._kept or self.peers.tier_of(n) != "flat"))
            self._hv.me = PeerInfo(self.node_id, next(iter(self._advertised()), ""))
            nursery.start_soon(self._timers)
            nursery.start_soon(self._bootstrap)
            task_status.started(self.port)

    def broadcast(self, payload: bytes) -> bytes:
        """Spread ``payload`` to every node; returns its message id."""
        assert self._pt is not None, "broadcast before run"
        msg_id = blake3.blake3(payload).digest(length=16)
        self._apply(self._pt.broadcast(msg_id, payload, trio.current_time()))
        return msg_id

    async def broadcast_paced(self, payload: bytes) -> bytes:
        """``broadcast``, once no link has more than ``PACE_BACKLOG`` messages queued.

        ``broadcast`` never blocks: beyond a link's ``SEND_QUEUE`` messages it
        drops (counted ``queue_full``) and leaves the repair to IHAVE/GRAFT,
        which only works while the payload is still cached. A publisher that
        may outrun its links (a bulk import, a benchmark) awaits this instead,
        so the slowest link sets its pace and nothing is dropped on its way.
        """
        while any(_backlog(link) > PACE_BACKLOG for link in self._links.values()):
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
        if self.settings.advertise:
            return self.settings.advertise
        host = self.settings.listen[0]
        if host in ("0.0.0.0", "::", ""):
            return ()  # no single address to offer: behave as behind NAT
        port = self.port or self.settings.listen[1]
        return (f"ws://{'[' + host + ']' if ':' in host else host}:{port}/hart",)

    # -- links ----------------------------------------------------------------

    async def _inbound(self, conn: transport.SecureConnection) -> None:
        await self._run_link(conn, initiator=conn.remote_node_id)

    async def _dial(self, peer: str, addr: str | None) -> None:
        """Dial ``addr`` (expecting ``peer`` when given) and run the link."""
        assert self._nursery is not None
        try:
            host, port = parse_url(addr or "")
            conn = await transport.dial(
                self._nursery, host, port, self.identity, self.settings.network_key,
                expected_node_id=peer or None, config=self._transport_config,
                stats=self.transport_stats)
        except (transport.DialError, ValueError) as e:
            log.debug("dial_failed peer=%s addr=%s reason=%s", short_id(peer), addr, e)
            self._dialling.discard(peer)
            if peer and self._hv is not None:
                self._apply(self._hv.on_link_down(peer, trio.current_time()))
            return
        self._dialling.discard(peer)
        await self._run_link(conn, initiator=self.node_id)

    async def _run_link(self, conn: transport.SecureConnection, *, initiator: str,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run one link until it ends; ``task_status.started()`` once sends on it are queued
        behind this node's own record (or at once when the link is refused)."""
        peer = conn.remote_node_id
        hv = self._hv
        assert hv is not None
        self._dialling.discard(peer)
        if self.trust.is_revoked(peer):
            self.stats.dropped["revoked_peer"] += 1
            task_status.started()
            await conn.aclose("revoked by the master key")
            return
        existing = self._links.get(peer)
        if existing is not None:
            # Both ends dialled: keep the link whose dialler has the smaller id,
            # as the other end does. A second link from the same dialler means
            # it lost the first (it restarted, or that end died half-open, or
            # it closed it and dialled again): the newer link replaces it.
            if existing.initiator != initiator and existing.initiator < initiator:
                task_status.started()
                await conn.aclose("duplicate link")
                return
            existing.replaced = True
            self._nursery_start(existing.conn.aclose, "duplicate link")
        send, receive = trio.open_memory_channel[object](SEND_QUEUE)
        ov = self.settings.overlay
        link = _Link(peer, conn, initiator, send, receive,
                     TokenBucket(ov.link_rate, ov.link_burst, trio.current_time()))
        self._links[peer] = link
        self._let_go.discard(peer)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sender, link)
                if existing is None:
                    facts = LinkFacts(address_key(conn.remote_address.rsplit(":", 1)[0]),
                                      certified=self.peers.tier_of(peer) != "flat")
                    self._apply(hv.on_link_up(peer, trio.current_time(), facts))
                    if self.on_link is not None:
                        self.on_link(peer, True)
                self._send(peer, self._own_record())
                revocations = self.trust.message()
                if revocations is not None:  # a neighbour back from away pulls it on connect
                    self._send(peer, revocations)
                if existing is None:
                    for watch in self.link_watchers:
                        watch(peer, True)
                task_status.started()
                await self._reader(link)
                nursery.cancel_scope.cancel()
        finally:
            if self._links.get(peer) is link:
                del self._links[peer]
                self._room.set()  # a paced broadcast may have waited on this link
                if not link.replaced:
                    self._apply(hv.on_link_down(peer, trio.current_time()))
            # Ended or closed by membership, not replaced by a duplicate: gone.
            if peer not in self._links:
                self._let_go.discard(peer)
                if self.on_link is not None:
                    self.on_link(peer, False)
                for watch in self.link_watchers:
                    watch(peer, False)
            with trio.CancelScope(shield=True):
                await conn.aclose("link ended")

    async def _sender(self, link: _Link) -> None:
        with link.flush:
            async for msg in link.receive:
                try:
                    await link.conn.send(msg)
                except transport.LinkClosed:
                    return
                self.stats.sent[type(msg).__name__] += 1
                if self._room_waiters and _backlog(link) <= PACE_BACKLOG:
                    self._room.set()
        # Only CloseLink closes the queue: what was queued before it has gone
        # out (or its grace period ran out), so now the link may end.
        await link.conn.aclose("closed by membership")

    async def _reader(self, link: _Link) -> None:
        """Receive until the link closes, within the link's byte budget."""
        while True:
            try:
                msg = await link.conn.receive()
            except transport.LinkClosed:
                return
            now = trio.current_time()
            size = link.conn.last_frame_bytes
            ready_at = link.bucket.reserve(min(size, int(link.bucket.burst)), now)
            if ready_at > now:
                self.stats.throttled += 1
                await trio.sleep_until(ready_at)  # back-pressure: not a readiness wait
            if not self._dispatch(link, msg):
                return

    def _dispatch(self, link: _Link, msg: object) -> bool:
        """Hand ``msg`` to its core; False when the link must end."""
        hv, pt = self._hv, self._pt
        assert hv is not None and pt is not None
        kind = type(msg)
        self.stats.received[kind.__name__] += 1
        now = trio.current_time()
        self.peers.seen(link.peer, time.time_ns() // 1_000_000)
        try:
            if kind in MEMBERSHIP_TYPES:
                self._apply(hv.on_message(link.peer, msg, now))
            elif kind in BROADCAST_TYPES:
                self._apply(pt.on_message(link.peer, msg, now))
            elif kind is PeerRecordMessage:
                self._take_record(msg)  # type: ignore[arg-type]
            elif kind is RevocationListMessage:
                self.take_revocations(msg)  # type: ignore[arg-type]
            elif kind in self.app_types and self.on_app_message is not None:
                self.on_app_message(link.peer, msg)
            elif kind in self.handlers:
                self.handlers[kind](link.peer, msg)
            else:
                self.stats.dropped["unexpected_message"] += 1
        except RemoteProtocolError as e:
            self.stats.protocol_errors[e.reason] += 1
            log.info("protocol_error peer=%s reason=%s", short_id(link.peer), e.reason)
            return False
        self._wake.set()
        return True

    def send(self, peer: str, msg: object) -> bool:
        """Queue ``msg`` on the link to ``peer``; False when there is none or it is full."""
        return self._send(peer, msg)

    async def connect(self, url: str, *, expected: str | None = None) -> str:
        """Dial ``url`` and keep the link open (see ``keep_link``); returns the peer's node id.

        An existing link to the peer is reused. Once this returns, what is
        sent on the link follows this node's own peer record.

        Raises:
            transport.DialError: the dial or handshake failed (``expected``
                set and another node answered included).
            ValueError: ``url`` is not a ws:// URL, or it leads to this node.
        """
        assert self._nursery is not None, "connect before run"
        if expected is not None and expected in self._links:
            self.keep_link(expected, True)
            return expected
        host, port = parse_url(url)
        conn = await transport.dial(
            self._nursery, host, port, self.identity, self.settings.network_key,
            expected_node_id=expected, config=self._transport_config, stats=self.transport_stats)
        peer = conn.remote_node_id
        if peer == self.node_id:
            await conn.aclose("that is this node")
            raise ValueError(f"{url} leads to this node")
        self.keep_link(peer, True)
        # Even when a link to the peer exists (it dialled us meanwhile), the
        # new one goes through the duplicate rule both ends apply alike:
        # closing it here could leave each end keeping the link the other closed.
        await self._nursery.start(partial(self._run_link, conn, initiator=self.node_id))
        return peer

    def keep_link(self, peer: str, keep: bool) -> None:
        """Hold the link to ``peer`` open whatever membership decides, or stop doing so.

        A kept link that membership closed meanwhile is closed when let go.
        """
        if keep:
            self._kept.add(peer)
            return
        self._kept.discard(peer)
        if peer in self._let_go:
            self._let_go.discard(peer)
            self.close_link(peer, "no longer needed")

    def close_link(self, peer: str, reason: str) -> None:
        """End the link to ``peer`` (e.g. it broke another service's protocol)."""
        link = self._links.get(peer)
        if link is not None:
            self._nursery_start(link.conn.aclose, reason)

    def _send(self, peer: str, msg: object) -> bool:
        link = self._links.get(peer)
        if link is None:
            self.stats.dropped["no_link"] += 1
            return False
        try:
            link.send.send_nowait(msg)
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.stats.dropped["queue_full"] += 1
            return False
        return True

    def _nursery_start(self, fn: Callable[..., object], *args: object) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)  # type: ignore[arg-type]

    # -- effects ----------------------------------------------------------------

    def _apply(self, effects: Iterable[object]) -> None:
        hv, pt = self._hv, self._pt
        assert hv is not None and pt is not None
        now = trio.current_time()
        for effect in effects:
            if isinstance(effect, Send):
                self._send(effect.peer, effect.msg)
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

    def _deliver(self, d: Deliver) -> None:
        """Hand a delivered payload to whoever checks it; it is relayed once judged valid.

        Records and revocation lists are checked here; other payloads go to
        ``on_payload``, and with ``app_validates`` the application answers
        through ``relay(msg_id, ok)`` (the ledger verifies events in a worker
        thread first), else they are relayed at once.
        """
        self.stats.delivered += 1
        try:
            msg = wire.decode(d.payload)
        except wire.DecodeError as e:
            self.transport_stats.decode_errors[e.reason] += 1
            self.relay(d.msg_id, False)
            return
        if isinstance(msg, PeerRecordMessage):
            self.relay(d.msg_id, self._take_record(msg))
        elif isinstance(msg, RevocationListMessage):
            self.relay(d.msg_id, self.take_revocations(msg))  # only a newer, master-signed list
        elif self.on_payload is not None:
            self.on_payload(d.payload, d.msg_id.hex())
            if not self.app_validates:
                self.relay(d.msg_id, True)
        else:
            self.relay(d.msg_id, True)

    def relay(self, msg_id: bytes | str, ok: bool) -> None:
        """The verdict on a delivered payload: relay it on (``ok``) or let it die here."""
        assert self._pt is not None
        key = bytes.fromhex(msg_id) if isinstance(msg_id, str) else msg_id
        self._apply(self._pt.validated(key, ok, trio.current_time()))

    def _take_record(self, msg: PeerRecordMessage) -> bool:
        """Keep a verified record; False when it does not verify."""
        try:
            record = decode_peer_record(msg)
        except PeerRecordError as e:
            self.stats.protocol_errors[f"peer_record_{e.reason}"] += 1
            return False
        self.peers.observe(record, time.time_ns() // 1_000_000)
        return True

    def take_revocations(self, msg: RevocationListMessage) -> bool:
        """Apply a revocation list if it is newer and master-signed; spread it.

        Revoked nodes lose their tier in the peer table and their links are
        closed; they are refused from then on. Returns whether it was new.
        """
        if not self.trust.offer(msg):
            return False
        current = self.trust.current
        assert current is not None
        self.peers.revocations = current.revocations
        self.peers.reverify(time.time_ns() // 1_000_000)
        for peer in [p for p in self._links if self.trust.is_revoked(p)]:
            link = self._links[peer]
            self._nursery_start(link.conn.aclose, "revoked by the master key")
        log.info("revocations_applied seq=%d", current.seq)
        if self.on_revocations is not None:
            self.on_revocations(current)
        payload = wire.encode(msg)
        if self._pt is not None and not self._pt.has_seen(blake3.blake3(payload).digest(16)):
            self.broadcast(payload)
        return True

    def _own_record(self) -> PeerRecordMessage:
        # seq from the wall clock: a restarted node's records still win.
        self._record_seq = max(self._record_seq + 1, time.time_ns() // 1_000_000)
        s = self.settings
        return sign_peer_record(
            self.identity, addrs=self._advertised(), tier=s.tier, region=s.region,
            seq=self._record_seq, ts_ms=time.time_ns() // 1_000_000, chain=s.chain).message

    # -- timers and bootstrap -----------------------------------------------------

    async def _timers(self) -> None:
        hv, pt = self._hv, self._pt
        assert hv is not None and pt is not None
        # Not at once: with no neighbour yet that broadcast reaches nobody, and a
        # message seen makes Plumtree start every later neighbour lazy, so the
        # overlay's first broadcasts would crawl by IHAVE and GRAFT (1.25 s a
        # hop at ``full``) instead of building the tree by eager push. New
        # neighbours get the record directly (``_run_link``).
        next_announce = trio.current_time() + self.announce_interval_s
        while True:
            deadline = min(hv.next_deadline(), pt.next_deadline() or math.inf, next_announce)
            with trio.move_on_at(deadline):
                await self._wake.wait()
            self._wake = trio.Event()
            now = trio.current_time()
            if now >= hv.next_deadline():
                self._apply(hv.on_timer(now))
            pt_deadline = pt.next_deadline()
            if pt_deadline is not None and now >= pt_deadline:
                self._apply(pt.on_timer(now))
            if now >= next_announce:
                record = wire.encode(self._own_record())
                self.broadcast(record)
                self._stretch_announce_interval(len(record))
                # Jittered, so that nodes started together do not refresh in step.
                next_announce = now + self.announce_interval_s * self.rng.uniform(0.9, 1.1)
                self.peers.forget_dead(time.time_ns() // 1_000_000, 2 * 3 * self.peers.ttl_ms)

    def _stretch_announce_interval(self, record_bytes: int) -> None:
        """Follow the network's size: refreshes stay within the profile's record budget."""
        self.announce_interval_s = announce_interval(
            self.settings.announce_interval, self.peers.announce_peers(), record_bytes,
            self.settings.overlay.record_budget)
        # A peer is stale after 2.5 of its (about equal) intervals, dead after 7.5.
        self.peers.ttl_ms = int(2500 * self.announce_interval_s)

    async def _bootstrap(self) -> None:
        """Learn the seeds' node ids by dialling their URLs, then join through them.

        When no seed answers, the peers heard from most recently (remembered in
        ``peer_nodes`` across restarts) are tried too, so a node rejoins while
        its seeds are down. A node without seeds is the first of its network:
        it joins alone if no remembered peer answers either.
        """
        hv = self._hv
        assert hv is not None
        seeds = self.settings.seeds
        delay, cap = BOOTSTRAP_BACKOFF
        while True:
            contacts = await self._dial_contacts(seeds)
            if not contacts:
                remembered = bootstrap_urls(self.peers, REMEMBERED_CONTACTS, exclude=seeds)
                contacts = await self._dial_contacts(remembered)
            if contacts or not seeds:
                self._apply(hv.join(contacts, trio.current_time()))
                return
            log.info("no seed answered; retrying in %.0f s", delay)
            await trio.sleep(delay)  # backoff between bootstrap rounds, not a readiness wait
            delay = min(delay * 2, cap)

    async def _dial_contacts(self, urls: Sequence[str]) -> list[PeerInfo]:
        """Dial each URL; the node ids that answered (their links start running)."""
        assert self._nursery is not None
        contacts: list[PeerInfo] = []
        for url in urls:
            try:
                host, port = parse_url(url)
                conn = await transport.dial(
                    self._nursery, host, port, self.identity, self.settings.network_key,
                    config=self._transport_config, stats=self.transport_stats)
            except (transport.DialError, ValueError) as e:
                log.info("contact_unreachable url=%s reason=%s", url, e)
                continue
            if conn.remote_node_id == self.node_id:
                await conn.aclose("that contact is this node")
                continue
            if any(c.node_id == conn.remote_node_id for c in contacts):
                await conn.aclose("already linked")
                continue
            contacts.append(PeerInfo(conn.remote_node_id, url))
            # Marked as being dialled, so join's Connect waits for this link.
            self._dialling.add(conn.remote_node_id)
            self._nursery.start_soon(partial(self._run_link, conn, initiator=self.node_id))
        return contacts
