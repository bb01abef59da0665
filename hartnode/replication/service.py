"""The replication core's trio shell: links from the overlay, ledger in a worker thread.

Rides on the gossip service's links (its ``LinkService`` claims the
replication messages) and on its broadcast (``NewEvents`` payloads).
Messages are handled one at a time in arrival order from a bounded inbox, so
the core sees a consistent ``heads`` and the store is used by one thread.
A broadcast payload (``NewEvents``, ``ForkEvidence``) is relayed on by the
gossip layer only after it was verified here (``GossipService.relay``): a
forged event reaches one node's ingest, is refused, and goes no further.

``reach`` is enforced when serving: a link carries ``network`` events, and
``hierarchy`` ones too once it is a certified parent/child link (DESIGN §3);
everything else goes as a ``Withheld`` marker, and ``local`` events are never
broadcast or served. On a parent/child link the direction decides further
(``replication.direction``): to the parent go all ``hierarchy`` events
but policy ones, to a child only policy ones (``policy.*``). So a local's
events climb to central, central's policy comes down, and a sibling's events
never reach another local. The same rule is checked on receipt: an event the
link it came by may not carry that way (a pull's Batch, a ``Push``, or a
broadcast, which carries ``network`` only) is refused at ingest
(``wrong_direction``), whatever the sender claims.

The hierarchy's sync is this service's link push (``push``: ``Push``, answered
by ``Held``). The hierarchy attaches once (``attach_hierarchy``): it says who
is parent or child, and hears each answer (``Confirmed``) to mark its
``sync_queue`` rows; it never reads or writes events itself.

Forks (DESIGN §1): the core decides (``Replicator.fork``): an equivocation
found by ingest, or proven by a peer's ``ForkEvidence`` (verified once, then
kept by ``Ledger.record_fork``), is reported once per (origin, seq) through
``on_fork`` (the node raises a fraud alert) when this node held the origin's
feed, within an alert budget (``fork_evidence.EvidenceGate``: one alert per
fork network-wide in effect), leaves digests and heads, and is spread:
broadcast when new here, and sent to every new neighbour on link-up. Evidence
that does not verify is dropped and counted; it raises nothing.

This module is the core's effect executor: it reads and writes the ledger
in a worker thread, sends on the gossip links, and keeps counters; the
simulator's ``ReplicationApp`` executes the same effects on its network.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import blake3
import trio

from hartnode.gossip import wire
from hartnode.gossip.link_service import LinkService, Verdict
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.service import GossipService
from hartnode.ledger import queries
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import EnvelopeError, Event, decode_event
from hartnode.ledger.held import HeldLimits
from hartnode.ledger.items import Head, IngestResult, Withheld
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.protocol import LocalProtocolError, RemoteProtocolError, Send, is_due
from hartnode.replication import direction
from hartnode.replication.core import (
    PUSH_MAX,
    PUSH_MAX_BYTES,
    REPLICATION_TYPES,
    WANTS_PER_ROUND,
    Confirmed,
    ConfirmFeed,
    FeedEvent,
    Held,
    Ingest,
    NewEvents,
    Push,
    RaiseAlert,
    ReplicationEffect,
    Replicator,
    SendEvidence,
    Serve,
    Spread,
    TakePush,
    batch_bytes_for,
    pack_batch,
    seq_of,
    want_budget,
    want_rounds_for,
)
from hartnode.replication.fork_evidence import (
    MAX_ON_LINK,
    MAX_ON_LINK_BYTES,
    EvidenceGate,
    EvidenceLimits,
    ForkEvidence,
    check_evidence,
    fork_evidence,
)
from hartnode.replication.messages import chunk_events

log = logging.getLogger(__name__)
INBOX = 1024  # replication messages waiting; beyond it they are dropped (anti-entropy repairs)
PUSH_SENDER = "push"  # EvidenceGate's name for evidence that came by broadcast
MARKER_BYTES = 200  # a Withheld marker on the wire, rounded up
# What the hierarchy hears of each answer to its pushes: (peer, acked, refused, reason).
OnConfirmed = Callable[[str, Sequence[bytes], Sequence[bytes], str], None]


def push_chunks(fresh: list[FeedEvent]) -> list[tuple[FeedEvent, ...]]:
    """``fresh`` in push-sized chunks (a ``NewEvents`` or a ``Push``): at most
    PUSH_MAX events and PUSH_MAX_BYTES."""
    return [tuple(c) for c in chunk_events(fresh, lambda e: e, PUSH_MAX, PUSH_MAX_BYTES)]


@dataclass(frozen=True, slots=True)
class ReplicationLimits:
    """Per-peer bounds of replication (DESIGN §8); the node builds them from
    config (``hartnode.limits``), others take ``from_profile``."""

    batch_bytes: int  # bytes of the items of one Batch reply
    wants_per_round: int  # one peer's wants served per anti-entropy round
    want_bytes_per_round: int  # bytes of replies to one peer's wants per round
    held: HeldLimits  # events held back beyond a gap
    evidence: EvidenceLimits  # fork proofs taken per sender, alerts signed

    @classmethod
    def from_profile(cls, overlay: OverlayConfig, round_interval: float) -> ReplicationLimits:
        """Per-link bounds from the bandwidth profile: reply bytes per round and per
        Batch (what the link sends in one round, within its burst), and the bytes
        of held-back events per peer."""
        return cls(batch_bytes=batch_bytes_for(overlay.link_rate, overlay.link_burst,
                                               round_interval),
                   wants_per_round=WANTS_PER_ROUND,
                   want_bytes_per_round=want_budget(overlay.link_rate, round_interval),
                   held=HeldLimits.for_link_burst(overlay.link_burst),
                   evidence=EvidenceLimits())


@dataclass
class ReplicationStats:
    ingested: int = 0
    withheld: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    served: int = 0
    forks: int = 0  # forks new here: detected by ingest or proven by a peer
    evidence_known: int = 0  # evidence received for a fork already on record
    alerts_withheld: int = 0  # forks recorded here without this node's own alert (#8.8)
    held_dropped: int = 0  # held-back events dropped as their sender's link went down
    held_expired: int = 0  # held-back events dropped as their gap stayed open too long
    pushed: int = 0  # events sent in link pushes (the hierarchy's sync)
    push_received: int = 0  # events received in link pushes


class ReplicationService:
    def __init__(self, gossip: GossipService, node_ledger: NodeLedger, access: StoreAccess, *,
                 round_interval: float = 10.0,
                 on_ingested: Callable[[IngestResult], None] | None = None,
                 on_fork: Callable[[Event, Event], None] | None = None,
                 limits: ReplicationLimits | None = None) -> None:
        self.gossip = gossip
        self.node_ledger = node_ledger
        self.access = access
        self.round_interval = round_interval
        self.on_ingested = on_ingested
        self.on_fork = on_fork  # the node raises a fraud alert
        overlay = gossip.settings.overlay  # the bandwidth profile's links (and config's)
        self.limits = limits or ReplicationLimits.from_profile(overlay, round_interval)
        self.core = Replicator(
            batch_bytes=self.limits.batch_bytes, wants_per_round=self.limits.wants_per_round,
            want_bytes_per_round=self.limits.want_bytes_per_round,
            # Room for twice a Batch's time on the link, so a slow link is never
            # taken for a lossy one (``minimal`` would re-ask otherwise).
            want_rounds=want_rounds_for(self.limits.batch_bytes, overlay.link_rate,
                                        round_interval),
            gate=EvidenceGate(limits=self.limits.evidence), round_interval=round_interval)
        self.stats = ReplicationStats()
        # Set once a neighbour has shown its heads and nothing newer is left to
        # pull from it: from then on this node knows its own feed's true head
        # (a node restored from an old backup pulls its later events first).
        self.feed_confirmed = trio.Event()
        self.hierarchy: direction.Roles | None = None  # who is parent or child (issue #4)
        self._on_confirmed: OnConfirmed | None = None
        self._send, self._inbox = trio.open_memory_channel[tuple[str, str, object]](INBOX)
        gossip.register(LinkService(
            "replication",
            message_types=REPLICATION_TYPES | {ForkEvidence},
            on_message=lambda peer, msg: self._enqueue("msg", peer, msg),
            on_link=lambda peer, up: self._enqueue("up" if up else "down", peer, None),
            # Pushed payloads are relayed only once verified here (``_handle``).
            broadcast_types=frozenset({NewEvents, ForkEvidence}),
            on_broadcast=self._on_push))

    def _on_push(self, payload: bytes, msg_id: str) -> Verdict:
        self._enqueue("push", msg_id, payload)
        return None  # judged in ``_handle``, which calls ``gossip.relay``

    def _enqueue(self, kind: str, peer: str, item: object) -> None:
        try:
            self._send.send_nowait((kind, peer, item))
        except trio.WouldBlock:
            self.stats.dropped += 1

    def announce(self, events: Sequence[Event]) -> None:
        """Tell the core this node's fresh events and broadcast the ``network`` ones
        (the committer calls this)."""
        self.core.appended(events)
        for chunk in push_chunks([FeedEvent(*e.wire()) for e in events if e.reach == "network"]):
            self.gossip.broadcast(wire.encode(NewEvents(chunk)))

    def attach_hierarchy(self, roles: direction.Roles, on_confirmed: OnConfirmed) -> None:
        """The hierarchy's one seam: ``roles`` says who is parent or child (what a
        link carries, which way), ``on_confirmed`` hears every answer to a push.

        Raises:
            LocalProtocolError: a hierarchy is attached already (a wiring bug).
        """
        if self.hierarchy is not None:
            raise LocalProtocolError("replication: a hierarchy is attached already")
        self.hierarchy, self._on_confirmed = roles, on_confirmed

    async def push(self, peer: str, event_ids: Sequence[int]) -> set[bytes]:
        """Send ``peer`` the events with these ledger ids in ``Push`` messages;
        the hashes of those sent. Only what the link may carry that way goes
        (``direction.may_send``); an id not held, or a full send queue, leaves
        its event unsent. The answers come to ``on_confirmed``."""
        role = self._role(peer)
        ledger = self.node_ledger.ledger
        found = await self.access.run(queries.events_by_id, ledger, list(event_ids))
        fit = [found[i] for i in event_ids
               if i in found and direction.may_send(role, found[i].reach, found[i].kind)]
        sent: set[bytes] = set()
        for chunk in push_chunks([FeedEvent(*e.wire()) for e in fit]):
            if not self.gossip.send(peer, Push(chunk)):
                break  # the link is gone or full: the rest waits for a retry
            sent.update(blake3.blake3(e.envelope).digest() for e in chunk)
            self.stats.pushed += len(chunk)
        return sent

    def _limit_held(self) -> None:
        self.node_ledger.ledger.held.limits = self.limits.held

    @property
    def evidence_gate(self) -> EvidenceGate:
        """The core's gate: which fork proofs are taken, which forks alerted."""
        return self.core.gate

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.access.run(self._limit_held)  # the ledger's, so in the store's thread
        for origin in await self.access.run(lambda: list(self.node_ledger.ledger.forked())):
            self.core.mark_forked(origin)
        self.core.load(await self._heads())
        self.core.start(trio.current_time())
        task_status.started()
        # One loop for messages and the core's timer (``TimerCore``), so a round
        # is handled between two messages, never in the middle of one.
        while True:
            armed = self.core.get_timer()
            item: tuple[str, str, object] | None = None
            with trio.move_on_at(math.inf if armed is None else armed):
                try:
                    item = await self._inbox.receive()
                except trio.EndOfChannel:
                    return
            if item is not None:
                await self._handle(*item)
            now = trio.current_time()
            if is_due(self.core, now):
                await self._round(now)

    async def _round(self, now: float) -> None:
        """The core's timer is due: the ledger's housekeeping and heads, then the round."""
        self.stats.held_expired += await self.access.run(self.node_ledger.ledger.expire_held)
        self.core.load(await self._heads())
        await self._apply(self.core.handle_timer(now))

    async def _heads(self) -> dict[str, Head]:
        return await self.access.run(self.node_ledger.ledger.head_map)

    async def _handle(self, kind: str, peer: str, item: object) -> None:
        # The core keeps the heads: the ledger's are read on link-up and each
        # round only (a safety net; every ingest and append tells the core).
        if kind == "up":
            self.core.load(await self._heads())
            await self._apply(self.core.on_link_up(peer))
        elif kind == "down":
            self.core.on_link_down(peer)
            # What it sent beyond gaps goes with it (its link may be a flood's).
            self.stats.held_dropped += await self.access.run(
                self.node_ledger.ledger.drop_held, peer)
        elif kind == "push":  # ``peer`` holds the broadcast's id here
            self.gossip.relay(peer, await self._take_push(item))  # type: ignore[arg-type]
        elif isinstance(item, ForkEvidence):
            await self._take_evidence(item, peer)
        else:
            try:
                effects = self.core.on_message(peer, item)
            except RemoteProtocolError as e:
                self.stats.rejected[f"protocol_{e.reason}"] += 1
                self.gossip.close_link(peer, f"replication: {e.reason}")
                return
            await self._apply(effects)

    async def _apply(self, effects: list[ReplicationEffect]) -> None:
        """Carry out the core's effects, in order."""
        for effect in effects:
            if isinstance(effect, Send):
                self.gossip.send(effect.peer, effect.msg)
            elif isinstance(effect, Serve):
                await self._serve(effect)
            elif isinstance(effect, Ingest):
                before = seq_of(self.core.heads.get(effect.origin))
                await self._ingest(effect.items, effect.peer)
                await self._apply(self.core.on_ingested(effect.peer, effect.origin, before))
            elif isinstance(effect, TakePush):
                await self._take_link_push(effect)
            elif isinstance(effect, Confirmed):
                if self._on_confirmed is not None:
                    self._on_confirmed(effect.peer, effect.acked, effect.refused, effect.reason)
            elif isinstance(effect, SendEvidence):
                await self._send_evidence(effect.peer)
            elif isinstance(effect, RaiseAlert):
                if self.on_fork is not None:
                    self.on_fork(effect.a, effect.b)
            elif isinstance(effect, Spread):
                log.warning("%s origin=%s seq=%d", effect.how, effect.origin[:12], effect.seq)
                self.stats.forks += 1
                self.stats.alerts_withheld = self.core.gate.alerts_withheld
                # Received by broadcast, it is already being relayed; else broadcast it.
                self.gossip.spread(wire.encode(effect.evidence))
            elif isinstance(effect, ConfirmFeed):
                # This node takes nothing about its own feed from others from now on.
                self.node_ledger.ledger.own_feed_closed = True
                self.feed_confirmed.set()

    def reaches_for(self, peer: str) -> frozenset[str]:
        """What a link to ``peer`` may carry: ``hierarchy`` too on a parent/child link."""
        return direction.reaches_for(self._role(peer))

    def _role(self, peer: str) -> direction.Role | None:
        return self.hierarchy.role(peer) if self.hierarchy is not None else None

    async def _serve(self, s: Serve) -> None:
        role = self._role(s.peer)
        # On a parent/child link the link carries hierarchy events, but only one way each.
        may_send = (None if role is None
                    else lambda e: direction.may_send(role, e.reach, e.kind))
        items = await self.access.run(self.node_ledger.ledger.serve, s.origin, s.from_seq,
                                      s.limit, direction.reaches_for(role), may_send)
        batch, n = pack_batch(s.origin, items, s.max_bytes)  # the asker pulls the rest
        self.stats.served += n
        self.core.on_served(s.peer, sum(len(e.envelope) + len(e.sig) for e in batch.events)
                            + MARKER_BYTES * len(batch.withheld))
        self.gossip.send(s.peer, batch)

    async def _take_link_push(self, push: TakePush) -> None:
        """Ingest a peer's link push, then tell it which events this node holds
        durably now (stored, or stored before): only those are acknowledged.

        Only a parent or child pushes on a link (others' events come by pull and
        broadcast); a push from any other peer is refused whole, unread."""
        if self._role(push.peer) is None:
            self.stats.rejected["not_linked"] += len(push.items)
            self.gossip.send(push.peer, Held((), push.hashes, "not_linked"))
            return
        self.stats.push_received += len(push.items)
        result = await self._ingest(push.items, push.peer)
        held = await self.access.run(queries.held_hashes, self.node_ledger.ledger,
                                     list(push.hashes))
        await self._apply(self.core.pushed(push.peer, push.hashes, held, result))

    async def _ingest(self, items: list[tuple[bytes, bytes] | Withheld],
                      peer: str = "") -> IngestResult:
        """Verified ingest; ``peer`` is the link the items came by ("" for a
        broadcast: relayed by anyone, so ``network`` events only)."""
        role = self._role(peer) if peer else None

        def accept(e: Event) -> bool:
            return direction.may_receive(role, e.reach, e.kind)

        result = await self.access.run(
            lambda: self.node_ledger.ingest(items, peer=peer, accept=accept))
        self.stats.ingested += len(result.stored)
        self.stats.withheld += result.withheld
        self.stats.duplicates += result.duplicates
        self.stats.rejected.update(result.rejected)
        if self.on_ingested is not None:
            self.on_ingested(result)
        await self._apply(self.core.stored(result, trio.current_time()))
        return result

    async def _take_push(self, payload: bytes) -> bool:
        """Ingest a broadcast payload (decoded here, once); whether it is fit to relay."""
        try:
            msg = wire.decode(payload)
        except wire.DecodeError:
            self.stats.rejected["push_undecodable"] += 1
            return False
        if isinstance(msg, NewEvents):
            result = await self._ingest([(e.envelope, e.sig) for e in msg.events])
            return self.core.push_verdict(result)
        if isinstance(msg, ForkEvidence):
            return await self._take_evidence(msg, PUSH_SENDER)
        self.stats.rejected["push_unexpected"] += 1
        return False

    async def _take_evidence(self, msg: ForkEvidence, sender: str) -> bool:
        """Check a peer's fork evidence; record, report and spread it if new.

        Within ``EvidenceGate``'s bounds: per sender, and for origins this node
        never held. Each event is decoded (verified) once. Returns whether it
        is true evidence taken (new or known)."""
        ledger = self.node_ledger.ledger

        def decode() -> tuple[Event, Event, bool]:
            a, b = decode_event(msg.a.envelope, msg.a.sig), decode_event(msg.b.envelope, msg.b.sig)
            return a, b, ledger.head(a.origin) is not None

        try:
            check_evidence(msg)
            a, b, held = await self.access.run(decode)
            refused = self.core.admit_evidence(sender, msg, held, trio.current_time())
            if refused is not None:
                self.stats.rejected[f"evidence_{refused}"] += 1
                return False
            pair = await self.access.run(ledger.record_fork, a, b)
        except (wire.DecodeError, EnvelopeError) as e:
            self.stats.rejected[f"evidence_{e.reason}"] += 1
            return False
        if pair is None:
            self.stats.evidence_known += 1
            return True
        await self._apply(self.core.fork(*pair, held=held, how="fork_proven",
                                         now=trio.current_time()))
        return True

    async def _send_evidence(self, peer: str) -> None:
        """The forks this node knows, to a new neighbour (bounded: MAX_ON_LINK*)."""
        budget = MAX_ON_LINK_BYTES
        for a, b in await self.access.run(self.node_ledger.ledger.evidence, MAX_ON_LINK):
            size = len(a[0]) + len(a[1]) + len(b[0]) + len(b[1])
            if size > budget:
                break
            budget -= size
            self.gossip.send(peer, fork_evidence(a, b))

