"""The hierarchy's trio shell: parent link, child links, what each is owed (DESIGN §3 "Sync").

Child side (a local, or a regional): ``ParentChoice`` names a candidate;
the node dials it through the gossip service (``GossipService.connect``, an
ordinary link the service keeps open), sends ``HierarchyJoin`` and waits for
``HierarchyWelcome``. The parent must also show a verified chain of the tier
above (its record came first on the link). When the link ends, the next
candidate is tried at once and the lost one is backed off.

Parent side: a ``HierarchyJoin`` is welcomed when the peer's verified
record shows the tier one below this node's and a region within its own;
the link is then kept open and the peer is a child until it ends.

Both sides: syncing is replication's act (DESIGN §1: one act). The
hierarchy attaches to replication once (``attach_hierarchy``): its
``role(peer)`` tells replication what a link carries and which way
(``replication.direction``, checked when serving, pushing and on receipt),
and replication's answers to pushes (``Held``) come back as confirmations.
A pump scans the ledger for ``hierarchy`` events (``sync_queue``'s
watermark), queues each for the parent (up) or the children (policy, down),
hands due rows to ``ReplicationService.push`` and marks the rows from the
confirmations; unconfirmed rows come back after the ack timeout with
exponential backoff. The receiver confirms only events it holds durably
after its verified ingest, so an event is never lost between a child's
queue and its parent's ledger, whichever side restarts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from hartnode.gossip import transport
from hartnode.gossip.link_service import LinkService
from hartnode.gossip.service import GossipService
from hartnode.hierarchy.direction import Direction, Role, is_parent_of, may_send
from hartnode.hierarchy.messages import HIERARCHY_TYPES, HierarchyJoin, HierarchyWelcome
from hartnode.hierarchy.parent_choice import Candidate, Dial, Offer, ParentChoice
from hartnode.hierarchy.sync_queue import Queued, SyncQueue
from hartnode.identity import short_id
from hartnode.ledger import queries
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.log import Ledger, wall_clock_ms
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.core import PUSH_MAX
from hartnode.replication.service import ReplicationService

log = logging.getLogger(__name__)
INBOX = 1024  # confirmations and link ends waiting; beyond it one is dropped (rows time out)
WINDOW = 4 * PUSH_MAX  # rows in flight to one peer at most
SCAN_CHUNK = 5000  # ledger ids per scan transaction
# Joins sent on one link before the candidate counts as silent. When the two
# nodes dial each other at once, the gossip service keeps one of the two
# links, and a Join or Welcome sent on the other is lost with it; the link
# that stays carries the second Join (a parent answers each one, idempotently).
JOIN_TRIES = 2


@dataclass(frozen=True)
class HierarchySettings:
    """This node's verified standing and the sync's timing (config ``[hierarchy]``)."""

    tier: str  # verified tier: "flat" without a valid chain
    region: str  # verified region ("*" for a central)
    parents: tuple[str, ...] = ()
    retry_min: float = 1.0  # seconds
    retry_max: float = 60.0  # seconds
    ack_timeout: float = 10.0  # seconds a push, or a join, waits for its answer
    stable_after: float = 30.0  # seconds a parent link must last to reset its backoff


@dataclass
class HierarchyStats:
    pushed: int = 0  # events sent in pushes
    acked: int = 0  # queue rows the peers acknowledged
    refused: Counter[str] = field(default_factory=Counter)  # rows refused, by reason
    joins_refused: Counter[str] = field(default_factory=Counter)  # joins we turned down
    failovers: int = 0  # parent links lost
    dropped: int = 0  # inbox overflow


@dataclass
class _JoinWait:
    done: trio.Event = field(default_factory=trio.Event)
    accepted: bool = False
    reason: str = "no_answer"


class HierarchyService:
    """One node's place in the hierarchy. ``run`` is a trio service."""

    def __init__(self, gossip: GossipService, replication: ReplicationService,
                 node_ledger: NodeLedger, access: StoreAccess, settings: HierarchySettings, *,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.gossip = gossip
        self.replication = replication
        self.node_ledger = node_ledger
        self.access = access
        self.settings = settings
        self.clock_ms = clock_ms
        self.queue = SyncQueue(node_ledger.views.state, retry_min_ms=int(settings.retry_min * 1000),
                               retry_max_ms=int(settings.retry_max * 1000),
                               ack_timeout_ms=int(settings.ack_timeout * 1000))
        self.choice = ParentChoice(gossip.node_id, settings.tier, settings.region,
                                   settings.parents, settings.retry_min, settings.retry_max,
                                   settings.stable_after)
        self.stats = HierarchyStats()
        self.parent: str | None = None
        self.children: dict[str, int] = {}  # child -> when it joined (ms)
        self._joining: dict[str, _JoinWait] = {}
        self._parent_lost = trio.Event()
        self._choose = trio.Event()
        self._wake = trio.Event()
        self._backfill: list[tuple[str, Direction]] = []
        self._send, self._inbox = trio.open_memory_channel[tuple[str, str, Any]](INBOX)
        gossip.register(LinkService(
            "hierarchy", message_types=frozenset(HIERARCHY_TYPES), on_message=self._on_message,
            on_link=self._on_link,
            # A parent or child may have lost its standing.
            on_revocations=lambda _signed: self.recheck()))
        replication.attach_hierarchy(self, self._on_confirmed)

    # -- what other services read ---------------------------------------------

    def role(self, peer: str) -> Role | None:
        if peer == self.parent:
            return "parent"
        return "child" if peer in self.children else None

    def recheck(self) -> None:
        """Drop a parent or children whose verified standing no longer fits
        (a new revocation list made a chain invalid; revoked nodes themselves
        are cut off by the gossip service already)."""
        if self.parent is not None and not self._certified_parent(self.parent):
            log.info("parent_uncertified parent=%s", short_id(self.parent))
            self._parent_lost.set()
        for child in [c for c in self.children if self._child_problem(c) is not None]:
            del self.children[child]
            self.gossip.keep_link(child, False)
            log.info("child_uncertified child=%s", short_id(child))

    def wake(self) -> None:
        """New events are in the ledger (the node calls this after commits and ingests)."""
        self._wake.set()

    async def status(self) -> dict[str, object]:
        """The hierarchy's part of ``status --json``."""
        summary = await self.access.run(self.queue.summary)
        return {
            "tier": self.settings.tier, "region": self.settings.region,
            "parent": self.parent, "children": sorted(self.children),
            "backoff": self.choice.backoff(trio.current_time()),
            "sync_queue": summary,
            "stats": {"pushed": self.stats.pushed, "acked": self.stats.acked,
                      "refused": dict(self.stats.refused),
                      "received": self.replication.stats.push_received,
                      "joins_refused": dict(self.stats.joins_refused),
                      "failovers": self.stats.failovers, "dropped": self.stats.dropped},
        }

    # -- the service --------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.access.run(self.queue.recover, self.clock_ms())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump)
            if self.choice.parent_tier is not None:
                nursery.start_soon(self._parent_loop)
            task_status.started()
            async for kind, peer, item in self._inbox:
                await self._handle(kind, peer, item)

    # -- gossip hooks (called synchronously from the gossip service) ----------------

    def _enqueue(self, kind: str, peer: str, item: object) -> None:
        try:
            self._send.send_nowait((kind, peer, item))
        except trio.WouldBlock:
            self.stats.dropped += 1

    def _on_link(self, peer: str, up: bool) -> None:
        if up:
            self._choose.set()  # a new link may bring the record of a parent candidate
            return
        wait = self._joining.get(peer)
        if wait is not None:
            wait.reason = "link_lost"
            wait.done.set()
        was_target = peer == self.parent or peer in self.children
        if peer == self.parent:
            self._parent_lost.set()
        if self.children.pop(peer, None) is not None:
            self.gossip.keep_link(peer, False)
            log.info("child_left child=%s", short_id(peer))
        if was_target:  # only a parent or child has rows in flight to release
            self._enqueue("down", peer, None)

    def _on_message(self, peer: str, msg: object) -> None:
        if isinstance(msg, HierarchyJoin):
            self._on_join(peer)
        elif isinstance(msg, HierarchyWelcome):
            self._on_welcome(peer, msg)

    def _on_confirmed(self, peer: str, acked: Sequence[bytes], refused: Sequence[bytes],
                      reason: str) -> None:
        """Replication's answer to one of our pushes (its ``Held``, checked)."""
        self._enqueue("ack", peer, (list(acked), list(refused), reason))

    # -- parent side -----------------------------------------------------------

    def _on_join(self, peer: str) -> None:
        reason = self._child_problem(peer)
        if reason is None:
            if peer not in self.children:
                self.children[peer] = self.clock_ms()
                self.gossip.keep_link(peer, True)
                self._backfill.append((peer, "down"))
                self.wake()
                log.info("child_joined child=%s", short_id(peer))
            self.gossip.send(peer, HierarchyWelcome(True, ""))
        else:
            self.stats.joins_refused[reason] += 1
            self.gossip.send(peer, HierarchyWelcome(False, reason))

    def _child_problem(self, peer: str) -> str | None:
        """Why ``peer`` cannot be this node's child, or None."""
        if self.settings.tier not in ("regional", "central"):
            return "not_a_parent_tier"
        entry = self.gossip.peers.entries.get(peer)
        if entry is None or entry.verified is None:
            return "not_certified"
        v = entry.verified
        if not is_parent_of(self.settings.tier, self.settings.region, v.tier, v.region):
            return "wrong_tier_or_region"
        return None

    # -- child side ----------------------------------------------------------------

    def _offers(self) -> list[Offer]:
        now_ms = wall_clock_ms()  # the peer table keeps wall-clock times
        table = self.gossip.peers
        return [Offer(node_id, e.verified.tier if e.verified else "flat",
                      e.verified.region if e.verified else "", e.record.addrs,
                      table.status(node_id, now_ms) == "active")
                for node_id, e in table.entries.items()]

    def _on_welcome(self, peer: str, msg: HierarchyWelcome) -> None:
        wait = self._joining.get(peer)
        if wait is None:
            return
        wait.accepted, wait.reason = msg.accepted, msg.reason[:64]
        if wait.accepted and not self._certified_parent(peer):
            wait.accepted, wait.reason = False, "not_certified"
        if wait.accepted:
            # The parent now, before the link's next message is read: the
            # parent's first pushes follow its welcome at once, and replication
            # checks each against what this link carries down.
            self._parent_lost = trio.Event()
            self.parent = peer
        wait.done.set()

    def _certified_parent(self, peer: str) -> bool:
        entry = self.gossip.peers.entries.get(peer)
        v = entry.verified if entry is not None else None
        return v is not None and self.choice.accepts(v.tier, v.region)

    async def _parent_loop(self) -> None:
        while True:
            action = self.choice.next(self._offers(), trio.current_time())
            if action is None:
                return
            if isinstance(action, Dial):
                await self._try_parent(action.candidate)
                continue
            self._choose = trio.Event()
            with trio.move_on_at(action.until):
                await self._choose.wait()

    async def _try_parent(self, candidate: Candidate) -> None:
        started = trio.current_time()
        try:
            peer = await self.gossip.connect(candidate.url, expected=candidate.node_id)
        except transport.DialError as e:
            self.choice.on_failed(candidate, trio.current_time(), e.reason)
            return
        except ValueError:
            self.choice.on_failed(candidate, trio.current_time(), "bad_url")
            return
        self.choice.on_dialled(candidate, peer)
        wait = _JoinWait()
        self._joining[peer] = wait
        for _ in range(JOIN_TRIES):
            self.gossip.send(peer, HierarchyJoin())
            with trio.move_on_after(self.settings.ack_timeout):
                await wait.done.wait()
            if wait.done.is_set() or not self.gossip.has_link(peer):
                break
        self._joining.pop(peer, None)
        accepted, reason = wait.accepted, wait.reason
        if accepted and not self.gossip.has_link(peer):
            accepted, reason = False, "link_lost"
        if not accepted:
            if self.parent == peer:
                self.parent = None
            log.info("parent_refused parent=%s reason=%s", short_id(peer), reason)
            self.gossip.keep_link(peer, False)
            self.choice.on_failed(candidate, trio.current_time(), reason)
            return
        self.choice.on_parent(candidate, peer, started)
        self._backfill.append((peer, "up"))
        self.wake()
        log.info("parent_linked parent=%s url=%s", short_id(peer), candidate.url)
        await self._parent_lost.wait()
        self.parent = None
        self.stats.failovers += 1
        self.choice.on_lost(trio.current_time())
        self.gossip.keep_link(peer, False)
        log.info("parent_lost parent=%s", short_id(peer))

    # -- inbox: confirmations, link ends ------------------------------------------------

    async def _handle(self, kind: str, peer: str, item: Any) -> None:
        if kind == "ack":
            acked, refused, reason = item
            now = self.clock_ms()
            self.stats.acked += await self.access.run(self.queue.ack, peer, acked, now)
            if refused:
                self.stats.refused[reason] += len(refused)
                await self.access.run(self.queue.refuse, peer, refused, reason, now)
            self.wake()
        elif kind == "down":
            await self.access.run(self.queue.release, peer, self.clock_ms())

    # -- the pump ------------------------------------------------------------------------

    def _targets(self) -> list[tuple[str, Direction]]:
        out: list[tuple[str, Direction]] = []
        if self.parent is not None:
            out.append((self.parent, "up"))
        out += [(child, "down") for child in self.children]
        return out

    async def _pump(self) -> None:
        while True:
            self._wake = trio.Event()  # before the work: a wake during it is kept
            now = self.clock_ms()
            targets = self._targets()
            backfill, self._backfill = self._backfill, []
            if targets or backfill:  # with no one to sync with, a later backfill covers it
                await self.access.run(self._scan, now, targets, backfill)
            await self.access.run(self.queue.expire, now)
            for peer, _ in targets:
                if self.gossip.has_link(peer):
                    await self._push_due(peer, now)
            linked = [p for p, _ in targets if self.gossip.has_link(p)]
            due = await self.access.run(self.queue.next_due_ms, linked, WINDOW)
            if due is None:
                await self._wake.wait()
            else:
                with trio.move_on_after(max(0, due - self.clock_ms()) / 1000):
                    await self._wake.wait()

    async def _push_due(self, peer: str, now: int) -> None:
        while True:
            rows = await self.access.run(self.queue.take_due, peer, now, PUSH_MAX, WINDOW)
            if not rows:
                return
            sent = await self.replication.push(peer, [r.event_id for r in rows])
            self.stats.pushed += len(sent)
            unsent = [r.event_hash for r in rows if r.event_hash not in sent]
            if unsent:
                await self.access.run(self.queue.refuse, peer, unsent, "send_failed", now)
                return
            if len(rows) < PUSH_MAX:
                return

    def _scan(self, now_ms: int, targets: Sequence[tuple[str, Direction]],
              backfill: Sequence[tuple[str, Direction]]) -> None:
        """Queue new ``hierarchy`` events for the current targets (worker thread).

        A new parent or child is first given every event it should have
        (``backfill``; already queued rows are kept as they are). Then the
        ledger past the scan watermark is queued for every target, and the
        watermark moves in the same transaction.
        """
        ledger = self.node_ledger.ledger
        top = ledger.max_id()
        for peer, direction in backfill:
            for lo in range(0, top, SCAN_CHUNK):
                found = _hierarchy_events(ledger, lo, lo + SCAN_CHUNK)
                self.queue.enqueue(peer, direction, _for(peer, direction, found), now_ms)
        lo = self.queue.scanned_id()
        while lo < top:
            hi = min(top, lo + SCAN_CHUNK)
            found = _hierarchy_events(ledger, lo, hi)
            self.queue.enqueue_scan({(p, d): _for(p, d, found) for p, d in targets}, now_ms,
                                    scanned_id=hi)
            lo = hi


def _hierarchy_events(ledger: Ledger, lo: int, hi: int) -> list[tuple[Queued, str]]:
    """``hierarchy`` events with ``lo < id <= hi``, with their kinds."""
    return [(Queued(s.event_id, s.event_hash, s.origin, s.seq), s.kind)
            for s in queries.stored_with_reach(ledger, "hierarchy", lo, hi)]


def _for(peer: str, direction: Direction, found: Sequence[tuple[Queued, str]]) -> list[Queued]:
    """The events of ``found`` that go to ``peer`` (never its own back to it)."""
    role: Role = "parent" if direction == "up" else "child"
    return [q for q, kind in found if q.origin != peer and may_send(role, "hierarchy", kind)]

