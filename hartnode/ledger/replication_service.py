"""The replication core's trio shell: links from the overlay, ledger in a worker thread.

Rides on the gossip service's links (``GossipService.app_types`` routes the
replication messages here) and on its broadcast (``NewEvents`` payloads).
Messages are handled one at a time in arrival order from a bounded inbox, so
the core sees a consistent ``heads`` and the store is used by one thread.

``reach`` is enforced when serving: a link carries ``network`` events, and
``hierarchy`` ones too once it is a certified parent/child link (DESIGN §3);
everything else goes as a ``Withheld`` marker, and ``local`` events are never
broadcast or served. On a parent/child link the direction decides further
(``hartnode.hierarchy.direction``): to the parent go all ``hierarchy`` events
but policy ones, to a child only policy ones (``policy.*``). So a local's
events climb to central, central's policy comes down, and a sibling's events
never reach another local. ``hierarchy`` holds who is parent or child.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

from hartnode.gossip import wire
from hartnode.gossip.hyparview import RemoteProtocolError, Send
from hartnode.gossip.service import GossipService
from hartnode.hierarchy import direction
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import IngestResult, Withheld
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.replication import (
    REPLICATION_TYPES,
    Batch,
    FeedEvent,
    Heads,
    HeadsDigest,
    Ingest,
    NewEvents,
    ReplicationEffect,
    Replicator,
    Serve,
    withheld_to_wire,
)

log = logging.getLogger(__name__)
INBOX = 1024  # replication messages waiting; beyond it they are dropped (anti-entropy repairs)
PUSH_MAX = 256  # events in one NewEvents broadcast


@dataclass
class ReplicationStats:
    ingested: int = 0
    withheld: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    served: int = 0


class ReplicationService:
    def __init__(self, gossip: GossipService, node_ledger: NodeLedger, access: StoreAccess, *,
                 round_interval: float = 10.0,
                 on_ingested: Callable[[IngestResult], None] | None = None,
                 on_fork: Callable[[Event, Event], None] | None = None) -> None:
        self.gossip = gossip
        self.node_ledger = node_ledger
        self.access = access
        self.round_interval = round_interval
        self.on_ingested = on_ingested
        self.on_fork = on_fork  # the node raises a fraud alert
        self.core = Replicator()
        self.stats = ReplicationStats()
        # Set once a neighbour has shown its heads and nothing newer is left to
        # pull from it: from then on this node knows its own feed's true head
        # (a node restored from an old backup pulls its later events first).
        self.feed_confirmed = trio.Event()
        self.hierarchy: direction.Roles | None = None  # set by the node (issue #4)
        self._send, self._inbox = trio.open_memory_channel[tuple[str, str, object]](INBOX)
        gossip.app_types = REPLICATION_TYPES
        gossip.on_app_message = lambda peer, msg: self._enqueue("msg", peer, msg)
        gossip.on_link = lambda peer, up: self._enqueue("up" if up else "down", peer, None)
        gossip.on_payload = lambda payload, _id: self._enqueue("push", "", payload)

    def _enqueue(self, kind: str, peer: str, item: object) -> None:
        try:
            self._send.send_nowait((kind, peer, item))
        except trio.WouldBlock:
            self.stats.dropped += 1

    def announce(self, events: Sequence[Event]) -> None:
        """Broadcast this node's fresh ``network`` events (the committer calls this)."""
        fresh = [FeedEvent(*e.wire()) for e in events if e.reach == "network"]
        for i in range(0, len(fresh), PUSH_MAX):
            self.gossip.broadcast(wire.encode(NewEvents(tuple(fresh[i:i + PUSH_MAX]))))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._rounds)
            task_status.started()
            async for kind, peer, item in self._inbox:
                await self._handle(kind, peer, item)

    async def _rounds(self) -> None:
        while True:
            await trio.sleep(self.round_interval)  # the anti-entropy period, not a readiness wait
            self._enqueue("round", "", None)

    async def _heads(self) -> dict[str, int]:
        return await self.access.run(self.node_ledger.ledger.heads)

    async def _handle(self, kind: str, peer: str, item: object) -> None:
        if kind == "up":
            await self._apply(self.core.on_link_up(peer, await self._heads()))
        elif kind == "down":
            self.core.on_link_down(peer)
        elif kind == "round":
            await self._apply(self.core.round(await self._heads()))
        elif kind == "push":
            try:
                msg = wire.decode(item)  # type: ignore[arg-type]
            except wire.DecodeError:
                self.stats.rejected["push_undecodable"] += 1
                return
            if isinstance(msg, NewEvents):
                await self._ingest([(e.envelope, e.sig) for e in msg.events])
        else:
            try:
                effects = self.core.on_message(peer, item, await self._heads())
            except RemoteProtocolError as e:
                self.stats.rejected[f"protocol_{e.reason}"] += 1
                self.gossip.close_link(peer, f"replication: {e.reason}")
                return
            await self._apply(effects)
            in_step = (isinstance(item, HeadsDigest) and not effects) or isinstance(item, Heads)
            if in_step and not self.core.pulling(peer):
                self.feed_confirmed.set()

    async def _apply(self, effects: list[ReplicationEffect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.gossip.send(effect.peer, effect.msg)
            elif isinstance(effect, Serve):
                await self._serve(effect)
            elif isinstance(effect, Ingest):
                before = (await self._heads()).get(effect.origin, 0)
                await self._ingest(effect.items)
                await self._apply(self.core.on_ingested(effect.peer, effect.origin, before,
                                                        await self._heads()))
                if not self.core.pulling(effect.peer):
                    self.feed_confirmed.set()

    def reaches_for(self, peer: str) -> frozenset[str]:
        """What a link to ``peer`` may carry: ``hierarchy`` too on a parent/child link."""
        return direction.reaches_for(self._role(peer))

    def _role(self, peer: str) -> direction.Role | None:
        return self.hierarchy.role(peer) if self.hierarchy is not None else None

    async def _serve(self, s: Serve) -> None:
        role = self._role(s.peer)
        items = await self.access.run(self.node_ledger.ledger.serve, s.origin, s.from_seq,
                                      s.limit, direction.reaches_for(role))
        if role is not None:  # the link carries hierarchy events, but only one way each
            items = [i if isinstance(i, Withheld) or direction.may_send(role, i.reach, i.kind)
                     else Withheld(i.origin, i.seq, i.hash, i.prev, i.reach) for i in items]
        events = tuple(FeedEvent(*i.wire()) for i in items if isinstance(i, Event))
        markers = tuple(withheld_to_wire(i) for i in items if isinstance(i, Withheld))
        self.stats.served += len(items)
        self.gossip.send(s.peer, Batch(bytes.fromhex(s.origin), events, markers))

    async def ingest(self, items: list[tuple[bytes, bytes] | Withheld]) -> IngestResult:
        """Verified ingest with this service's counting and fork alerts (for other services)."""
        return await self._ingest(items)

    async def _ingest(self, items: list[tuple[bytes, bytes] | Withheld]) -> IngestResult:
        result = await self.access.run(self.node_ledger.ingest, items)
        self.stats.ingested += len(result.stored)
        self.stats.withheld += result.withheld
        self.stats.duplicates += result.duplicates
        self.stats.rejected.update(result.rejected)
        if self.on_ingested is not None:
            self.on_ingested(result)
        for a, b in result.equivocations:
            log.warning("fork_detected origin=%s seq=%d", a.origin[:12], a.seq)
            if self.on_fork is not None:
                self.on_fork(a, b)
        return result
