"""The gossip service's links: one per peer, each run by a reader and a sender task.

- When both ends dial at once, the link dialled by the smaller node id stays;
  a second link from the same dialler replaces the first.
- The reader holds each inbound link to a token-bucket byte budget: every
  frame is charged whole, into debt if need be, and the next one is not
  taken before the debt is paid, so over any window of ``t`` seconds a link
  delivers at most ``link_rate·t + link_burst`` bytes and TCP pushes back on
  a peer that sends faster while other links keep their latency.
- The sender drains the link's byte-bounded queue (``links.Link``) and drops
  a peer that stopped reading (``slow_reader``).
- Containment: nothing raised while serving one peer leaves that peer's link.
  An exception from a service's callback, from a core, from encoding or from
  the transport is counted in ``GossipStats.links_dropped`` by stage
  (``link_up``, ``dispatch``, ``broadcast``, ``encode``, ``send``, ``link_down``),
  logged once at warning with the peer and the exception's type, and ends that
  link; every other link and the node go on. Cancellation and
  KeyboardInterrupt are not exceptions of this kind and pass through.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import ParamSpec

import trio

from hartnode.gossip import wire
from hartnode.gossip.admission import LinkFacts
from hartnode.gossip.bootstrap import parse_url
from hartnode.gossip.hyparview import HyParView, PeerInfo
from hartnode.gossip.inbound_slots import address_key
from hartnode.gossip.link_service import ServiceTable
from hartnode.gossip.links import PACE_BACKLOG, Connection, Link, Transport
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.peer_record import PeerRecordMessage, PeerTable
from hartnode.gossip.token_bucket import TokenBucket
from hartnode.gossip.transport import DialError, LinkClosed, TransportConfig, TransportStats
from hartnode.gossip.trust import TrustState
from hartnode.identity import NodeIdentity, short_id

log = logging.getLogger(__name__)
P = ParamSpec("P")


@dataclass
class GossipStats:
    """Counters for ``status`` and ``/metrics``; keys are stable reasons."""

    received: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    protocol_errors: Counter[str] = field(default_factory=Counter)
    links_dropped: Counter[str] = field(default_factory=Counter)  # by stage or slow_reader
    throttled: int = 0
    delivered: int = 0


class LinkTable:
    """Link bookkeeping and the per-link tasks; ``GossipService`` adds the cores."""

    identity: NodeIdentity
    peers: PeerTable
    transport: Transport
    trust: TrustState
    stats: GossipStats
    _services: ServiceTable
    _hv: HyParView | None
    _nursery: trio.Nursery | None
    _transport_config: TransportConfig
    _network_key: bytes
    transport_stats: TransportStats

    def _init_links(self, overlay: OverlayConfig) -> None:
        self._overlay = overlay
        self._links: dict[str, Link] = {}
        self._dialling: set[str] = set()
        self._kept: set[str] = set()  # peers whose links stay open whatever membership says
        self._let_go: set[str] = set()  # kept links membership has closed (close when unkept)
        self._serving: Link | None = None  # whose message is being dispatched
        self._room = trio.Event()  # set by a link's sender when its backlog fell (pacing)
        self._room_waiters = 0
        self._wake = trio.Event()

    # -- what the cores and services call -----------------------------------------

    def _dispatch(self, link: Link, msg: object) -> bool:
        raise NotImplementedError

    def _apply(self, effects: Iterable[object]) -> None:
        raise NotImplementedError

    def _own_record(self) -> PeerRecordMessage:
        raise NotImplementedError

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def link_count(self) -> int:
        """Open authenticated links (the active view plus links not yet placed)."""
        return len(self._links)

    def has_link(self, peer: str) -> bool:
        return peer in self._links

    def send(self, peer: str, msg: object) -> bool:
        """Queue ``msg`` on the link to ``peer``; False when there is none or it is full.

        A message that cannot be encoded (too large for a frame) ends the link
        to ``peer``, on whose behalf it was made (counted ``encode``)."""
        link = self._links.get(peer)
        if link is None:
            self.stats.dropped["no_link"] += 1
            return False
        try:
            data = wire.encode(msg, self._transport_config.wire_limits)
        except Exception as e:  # contained to this link (module docstring)
            self._link_failed(link, "encode", e)
            return False
        if not link.offer(type(msg).__name__, data, trio.current_time(),
                          self._overlay.slow_reader_timeout):
            self.stats.dropped["queue_full"] += 1
            return False
        return True

    def link_rows(self) -> dict[str, dict[str, object]]:
        """Per open link (by peer): bytes in and out, the last Ping's round trip in
        milliseconds (None before one was answered), and seconds since it opened."""
        now = trio.current_time()
        return {peer: {"bytes_in": link.bytes_in, "bytes_out": link.bytes_out,
                       "rtt_ms": None if link.rtt is None else round(link.rtt * 1000, 1),
                       "up_s": round(now - link.opened_at, 1)}
                for peer, link in self._links.items()}

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

    def _nursery_start(self, fn: Callable[..., object], *args: object) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)  # type: ignore[arg-type]

    # -- dialling -----------------------------------------------------------------

    async def _dial(self, peer: str, addr: str | None) -> None:
        """Dial ``addr`` (expecting ``peer`` when given) and run the link."""
        assert self._nursery is not None
        try:
            host, port = parse_url(addr or "")
            conn = await self.transport.dial(
                self._nursery, host, port, self.identity, self._network_key,
                expected_node_id=peer or None, config=self._transport_config,
                stats=self.transport_stats)
        except (DialError, ValueError) as e:
            log.debug("dial_failed peer=%s addr=%s reason=%s", short_id(peer), addr, e)
            self._dialling.discard(peer)
            if peer and self._hv is not None:
                self._apply(self._hv.on_link_down(peer, trio.current_time()))
            return
        self._dialling.discard(peer)
        await self._run_link(conn, initiator=self.node_id)

    async def connect(self, url: str, *, expected: str | None = None) -> str:
        """Dial ``url`` and keep the link open (see ``keep_link``); returns the peer's node id.

        An existing link to the peer is reused. Once this returns, what is
        sent on the link follows this node's own peer record.

        Raises:
            DialError: the dial or handshake failed (``expected``
                set and another node answered included).
            ValueError: ``url`` is not a ws:// URL, or it leads to this node.
        """
        assert self._nursery is not None, "connect before run"
        if expected is not None and expected in self._links:
            self.keep_link(expected, True)
            return expected
        host, port = parse_url(url)
        conn = await self.transport.dial(
            self._nursery, host, port, self.identity, self._network_key,
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

    async def join_through(self, url: str) -> str:
        """Join the overlay through the node at ``url`` now (``hartnode join``): the
        bootstrap path with one contact, dialled and then sent a Join (at once,
        whatever join went before), so it becomes a neighbour unless its view
        refuses us. Returns the contact's node id.

        Raises:
            DialError: the dial or handshake failed.
            ValueError: ``url`` is not a ws:// URL, or it leads to this node.
        """
        assert self._nursery is not None, "join before run"
        host, port = parse_url(url)
        conn = await self.transport.dial(
            self._nursery, host, port, self.identity, self._network_key,
            config=self._transport_config, stats=self.transport_stats)
        peer = conn.remote_node_id
        if peer == self.node_id:
            await conn.aclose("that is this node")
            raise ValueError(f"{url} leads to this node")
        # Run it before the Join, so the Join goes out on it. A link the peer
        # holds already goes through the duplicate rule both ends apply alike
        # (closing the new one here would make the peer close both).
        await self._nursery.start(partial(self._run_link, conn, initiator=self.node_id))
        assert self._hv is not None
        self._apply(self._hv.join_through(PeerInfo(peer, url), trio.current_time()))
        return peer

    async def _dial_contacts(self, urls: Sequence[str]) -> list[PeerInfo]:
        """Dial each URL; the node ids that answered (their links start running)."""
        assert self._nursery is not None
        contacts: list[PeerInfo] = []
        for url in urls:
            try:
                host, port = parse_url(url)
                conn = await self.transport.dial(
                    self._nursery, host, port, self.identity, self._network_key,
                    config=self._transport_config, stats=self.transport_stats)
            except (DialError, ValueError) as e:
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

    def _join(self, contacts: list[PeerInfo]) -> None:
        assert self._hv is not None
        self._apply(self._hv.join(contacts, trio.current_time()))

    # -- containment --------------------------------------------------------------

    def _link_failed(self, link: Link | None, stage: str, e: Exception) -> None:
        """Count and log an exception raised on a peer's behalf; end that peer's link."""
        self.stats.links_dropped[stage] += 1
        peer = short_id(link.peer) if link is not None else "-"
        log.warning("link_failed peer=%s stage=%s error=%s: %s", peer, stage,
                    type(e).__name__, str(e)[:200], exc_info=log.isEnabledFor(logging.DEBUG))
        if link is not None:
            self._nursery_start(link.conn.aclose, f"internal error ({stage})")

    def _contained(self, link: Link | None, stage: str, fn: Callable[P, object],
                   *args: P.args, **kwargs: P.kwargs) -> bool:
        """``fn(*args)``; False (and the link ended) when it raised."""
        try:
            fn(*args, **kwargs)
        except Exception as e:  # contained to this link (module docstring)
            self._link_failed(link, stage, e)
            return False
        return True

    # -- one link's life ------------------------------------------------------------

    async def _inbound(self, conn: Connection) -> None:
        await self._run_link(conn, initiator=conn.remote_node_id)

    async def _run_link(self, conn: Connection, *, initiator: str,
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
        refused = self._services.refusal(peer)
        if refused is not None:
            self.stats.dropped[f"refused_{refused}"] += 1
            task_status.started()
            await conn.aclose(refused)
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
        ov = self._overlay
        link = Link.open(peer, conn, initiator,
                         TokenBucket(ov.link_rate, ov.link_burst, trio.current_time()),
                         ov.send_queue_bytes)
        link.opened_at = trio.current_time()
        self._links[peer] = link
        self._let_go.discard(peer)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._sender, link)
                up = self._contained(link, "link_up", self._link_up, peer,
                                     replacing=existing is not None)
                task_status.started()
                if up:
                    await self._reader(link)
                nursery.cancel_scope.cancel()
        finally:
            if self._links.get(peer) is link:
                del self._links[peer]
                self._room.set()  # a paced broadcast may have waited on this link
                if not link.replaced:
                    self._contained(link, "link_down", lambda: self._apply(
                        hv.on_link_down(peer, trio.current_time())))
            # Ended or closed by membership, not replaced by a duplicate: gone.
            if peer not in self._links:
                self._let_go.discard(peer)
                for _, watch in self._services.link_watchers():
                    self._contained(None, "link_down", watch, peer, False)
            link.free()
            with trio.CancelScope(shield=True):
                await conn.aclose("link ended")

    def _link_up(self, peer: str, *, replacing: bool) -> None:
        """Greet the peer; tell the cores and services unless the link replaces one."""
        assert self._hv is not None
        if not replacing:
            conn = self._links[peer].conn
            facts = LinkFacts(address_key(conn.remote_address.rsplit(":", 1)[0]),
                              certified=self.peers.tier_of(peer) != "flat")
            self._apply(self._hv.on_link_up(peer, trio.current_time(), facts))
        self.send(peer, self._own_record())
        revocations = self.trust.message()
        if revocations is not None:  # a neighbour back from away pulls it on connect
            self.send(peer, revocations)
        if not replacing:
            for _, watch in self._services.link_watchers():
                watch(peer, True)

    async def _sender(self, link: Link) -> None:
        try:
            reading = await link.run_sender(self._overlay.slow_reader_timeout,
                                            partial(self._sent, link))
        except Exception as e:  # contained to this link (module docstring)
            self._link_failed(link, "send", e)
            return
        if not reading:
            self.stats.links_dropped["slow_reader"] += 1
            log.warning("slow_reader peer=%s queued_bytes=%d", short_id(link.peer),
                        link.queued_bytes)
            await link.conn.aclose("slow_reader")
            return
        # Only CloseLink closes the queue: what was queued before it has gone
        # out (or its grace period ran out), so now the link may end.
        await link.conn.aclose("closed by membership")

    def _sent(self, link: Link, name: str) -> None:
        self.stats.sent[name] += 1
        if self._room_waiters and link.backlog() <= PACE_BACKLOG:
            self._room.set()

    async def _reader(self, link: Link) -> None:
        """Receive until the link closes, within the link's byte budget."""
        while True:
            try:
                msg = await link.conn.receive()
            except LinkClosed:
                return
            now = trio.current_time()
            link.bytes_in += link.conn.last_frame_bytes
            # The whole frame, into debt if need be: the next read waits for the refill.
            ready_at = link.bucket.reserve(link.conn.last_frame_bytes, now)
            if ready_at > now:
                self.stats.throttled += 1
                await trio.sleep_until(ready_at)  # back-pressure: not a readiness wait
            self._serving = link
            try:
                ok = self._dispatch(link, msg)
            except Exception as e:  # contained to this link (module docstring)
                self._link_failed(link, "dispatch", e)
                return
            finally:
                self._serving = None
            if not ok:
                return
