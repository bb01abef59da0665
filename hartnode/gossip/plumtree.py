"""Plumtree broadcast core, sans-I/O (DESIGN §2, §3 "Overlay").

Leitão, Pereira, Rodrigues, "Epidemic Broadcast Trees" (SRDS 2007). Every
neighbour starts *eager*: a new message is pushed to it whole. A duplicate
shows that the link is redundant, so the receiver answers PRUNE and both ends
turn it *lazy*: from then on it only carries IHAVE digests, batched per tick.
What is left of the eager links is a spanning tree. When a digest names a
message that has not arrived within ``graft_timeout``, the node sends GRAFT to
the announcer, which sends the message and makes the link eager again: the
tree repairs itself around failures.

Four deviations from the paper, each measured with ``bench/bench_overlay.py``
or the tests (without the first two the last delivery hop at 10,000 nodes
drifted from ~18 to ~35):
- a duplicate prunes the link of the copy with *more hops* (the paper: the
  later copy), so the tree converges to fewest-hop paths (``_on_duplicate``);
- a neighbour that comes up after the first message starts *lazy* (the paper:
  eager), so HyParView topping up its views never reshapes the tree; it
  becomes a tree link through GRAFT when the tree needs it (``on_neighbour_up``),
  or at once when it replaces a tree link lost while carrying broadcasts
  (``on_neighbour_down``: no message may go missing to trigger that GRAFT);
- a link that pushed us a first copy within ``graft_timeout`` is not pruned,
  so concurrent broadcasts cannot cut the tree in two (``_feeds_a_tree``);
- nor is a node's last eager link (``_last_tree_link``), and a node that
  loses it grafts a lazy one: a node with lazy links alone is off every tree.
Where one end keeps a link eager that the other made lazy (a held Prune, a
push that crossed our Prune), it sends GRAFT: a link eager at one end only
pushes one way, and a node fed by such links alone waited for IHAVE + GRAFT
on every message.
The paper's IHAVE-driven tree "optimisation" is left out: in simulation it
made concurrent parent swaps that cut the tree and raised the hop count.

Driven by the shell like the membership core (``hyparview.py``):

    core.broadcast(msg_id, payload, now)  -> effects   originate a message
    core.on_neighbour_up(peer, now)        -> effects   from HyParView's NeighbourUp
    core.on_neighbour_down(peer, now)      -> effects   from HyParView's NeighbourDown
    core.on_message(peer, msg, now)        -> effects   Gossip, IHave, Graft or Prune arrived
    core.handle_timer(now)                 -> effects   once ``now >= get_timer()``
    core.validated(msg_id, ok, now)        -> effects   the application's verdict (``validate``)
    core.get_timer()                       -> float | None (``protocol.TimerCore``)

Effects are ``protocol.Send`` and ``Deliver``. Built with ``validate``, the
core relays a received message only after the application judged it valid
(``validated``): a forged payload is delivered to one node's application,
which drops it, and goes no further. Each message is delivered to
the application exactly once per core lifetime (the origin included, with
``hops`` 0), as long as its id is still in the bounded seen-cache
(``seen_cache_size`` ids). Ids are opaque bytes chosen by the application
(e.g. the 32-byte BLAKE3 of a signed event, DESIGN §1), so a replay after
eviction is caught by the ledger, which is idempotent by hash.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.protocol import LocalProtocolError, RemoteProtocolError, Send

MAX_ID_LEN = 64  # bytes in a message id
MAX_HOPS = 1024  # hops a Gossip or Graft may claim
MAX_IHAVE_ENTRIES = 4096  # (id, hops) pairs in one IHave
REPAIR_WINDOW = 10  # graft timeouts of fast grafting after a tree link is lost


# --- wire messages (nouns; registered by ``hartnode.gossip.wire``) ---


@dataclass(frozen=True, slots=True)
class Gossip:
    """A broadcast message; ``hops`` counts the links it crossed, this one included."""

    msg_id: bytes
    hops: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class IHave:
    """Digest of messages the sender has: ``(msg_id, hops)`` pairs."""

    entries: tuple[tuple[bytes, int], ...]


@dataclass(frozen=True, slots=True)
class Graft:
    """Makes the link eager again and asks for ``msg_id`` (none when empty)."""

    msg_id: bytes
    hops: int


@dataclass(frozen=True, slots=True)
class Prune:
    """The sender's push of ``msg_id`` was a duplicate here: make the link lazy."""

    msg_id: bytes


PlumtreeMessage = Gossip | IHave | Graft | Prune
# Top-level messages in the order the wire module registers them (append only).
ALL_MESSAGES: tuple[type, ...] = (Gossip, IHave, Graft, Prune)


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand ``payload`` to the application: the first copy of ``msg_id`` to arrive."""

    msg_id: bytes
    payload: bytes
    hops: int


BroadcastEffect = Send | Deliver


def _hops_of(announcement: tuple[str, int]) -> int:
    return announcement[1]


class Plumtree:
    """Broadcast state of one node.

    Args:
        node_id: this node's id (only for error messages).
        config: overlay parameters (``overlay_config``).
        rng: the only source of randomness (which lazy peers get a digest).
        validate: relay a received message only once the application called
            ``validated(msg_id, True)`` for it (nothing unchecked is forwarded).

    ``eager`` and ``lazy`` hold the current neighbours (read them, never write).
    """

    def __init__(self, node_id: str, config: OverlayConfig, rng: random.Random, *,
                 validate: bool = False) -> None:
        self.node_id = node_id
        self.config = config
        self._rng = rng
        self.validate = validate
        self.eager: dict[str, None] = {}
        self.lazy: dict[str, None] = {}
        self._seen: dict[bytes, None] = {}  # FIFO-bounded: duplicate suppression
        # id -> (payload, hops, parent): answers GRAFTs; hops/parent pick the tree links
        self._cache: dict[bytes, tuple[bytes, int, str | None]] = {}
        self._missing: dict[bytes, list[tuple[str, int]]] = {}  # id -> announcers (peer, hops)
        self._graft_timers: list[tuple[float, bytes]] = []  # heap; stale entries are skipped
        self._lazy_queue: dict[str, dict[bytes, int]] = {}  # peer -> {id: hops} to announce
        self._flush_at: float | None = None
        self._repair_until = -1.0  # until then, a missing message is grafted sooner
        self._owed = 0  # tree links lost in the repair window that a newcomer may replace
        # Peers whose GRAFT came before their NeighbourUp (FIFO, bounded):
        # the link starts eager when it comes up, as the peer asked.
        self._early_grafts: dict[str, None] = {}
        self._fed_at: dict[str, float] = {}  # peer -> when it last pushed us a first copy
        # With ``validate``: delivered, not yet judged by the application, so
        # neither relayed nor announced nor given to a GRAFT (id -> None, FIFO).
        self._unjudged: dict[bytes, None] = {}

    # --- public API ---

    def broadcast(self, msg_id: bytes, payload: bytes, now: float) -> list[BroadcastEffect]:
        """Originate a message: deliver it here and push it to the neighbours.

        Raises:
            LocalProtocolError: ``msg_id`` is empty, too long, or was already seen.
        """
        if not 0 < len(msg_id) <= MAX_ID_LEN:
            raise LocalProtocolError(f"message id must be 1..{MAX_ID_LEN} bytes")
        if msg_id in self._seen:
            raise LocalProtocolError(f"message id {msg_id.hex()} was already broadcast or seen")
        return self._accept(Gossip(msg_id, 0, payload), None, now)

    def on_neighbour_up(self, peer: str, now: float) -> list[BroadcastEffect]:
        """A new active neighbour: eager until the first message built the tree, then lazy.

        The paper makes every new neighbour eager. Before any message arrived
        that is what lets the first broadcast grow the tree. After that, an
        eager newcomer closes a cycle, and pruning it reshapes the tree around
        whichever source comes next; HyParView tops its views up for minutes
        after an overlay forms, and these reshapes drift the tree towards a
        random spanning tree with a last delivery hop far above log N. So a
        newcomer starts lazy: it still hears every id through IHAVE, and GRAFT
        makes it a tree link the moment the tree needs it (after a failure
        that is one ``graft_timeout``, DESIGN §3 "yet it self-heals").

        Two newcomers start eager all the same: one whose GRAFT came before
        this NeighbourUp (it asked), and one that replaces a tree link lost
        while it was carrying messages (``on_neighbour_down``).
        """
        if peer in self.eager or peer in self.lazy:
            return []
        asked = peer in self._early_grafts
        if asked:
            del self._early_grafts[peer]
        if not self._seen or asked:
            self.eager[peer] = None
            return []
        if self._owed and now < self._repair_until:
            # The GRAFT makes it eager at the other end too; should the tree
            # not need it, the next duplicate prunes it (one copy's cost).
            self._owed -= 1
            self.eager[peer] = None
            return [Send(peer, Graft(b"", 1))]
        self.lazy[peer] = None
        return []

    def on_neighbour_down(self, peer: str, now: float) -> list[BroadcastEffect]:
        """A neighbour left: forget it (its announcements are skipped when grafting).

        Losing a tree link cuts the tree here, and only a missing message
        makes Plumtree graft. A link that pushed us a first copy lately was
        carrying broadcasts that will now have no path, and once the cut
        happens right after them (HyParView still settling as the overlay's
        first messages spread) no message may go missing for a long while:
        the next broadcast would then reach the cut-off part only by IHAVE and
        GRAFT, one graft timeout late, and so would every one sent within that
        timeout. So such a loss is made good at once: the next newcomer
        replaces it as a tree link, and a node left with no tree link at all
        grafts its oldest lazy neighbour. A link that has been quiet longer
        was either idle or dead for a while, and the grafts for what went
        missing through it repaired the tree already (proactive repair there
        cost copies in the 50 % silent kill of ``bench/bench_overlay.py``).
        """
        out: list[BroadcastEffect] = []
        if peer in self.eager:
            # A tree link is gone, so the tree is cut here: for a while, GRAFT
            # after ``graft_retry_timeout`` instead of waiting ``graft_timeout``
            # for a push that cannot come (halves the worst latency after a
            # 50 % crash in simulation).
            if now >= self._repair_until:
                self._owed = 0  # the last window's losses were made good or grafted around
            self._repair_until = now + REPAIR_WINDOW * self.config.graft_timeout
            del self.eager[peer]
            if self._feeds_a_tree(peer, now):
                self._owed += 1
            if not self.eager and self.lazy:
                heir = next(iter(self.lazy))
                del self.lazy[heir]
                self.eager[heir] = None
                out.append(Send(heir, Graft(b"", 1)))
        self.lazy.pop(peer, None)
        self._lazy_queue.pop(peer, None)
        self._fed_at.pop(peer, None)
        self._early_grafts.pop(peer, None)
        return out

    def on_message(self, peer: str, msg: object, now: float) -> list[BroadcastEffect]:
        """Handle a Plumtree message that arrived on the link to ``peer``.

        Raises:
            LocalProtocolError: ``msg`` is not a Plumtree message.
            RemoteProtocolError: ``msg`` breaks the protocol (state is unchanged).
        """
        if type(msg) is Gossip:
            return self._on_gossip(peer, msg, now)
        if type(msg) is IHave:
            return self._on_ihave(peer, msg, now)
        if type(msg) is Graft:
            return self._on_graft(peer, msg)
        if type(msg) is Prune:
            return self._on_prune(peer, msg, now)
        raise LocalProtocolError(f"not a Plumtree message: {type(msg).__name__}")

    def handle_timer(self, now: float) -> list[BroadcastEffect]:
        """Send due IHAVE batches and GRAFT messages whose digest came without a push."""
        out: list[BroadcastEffect] = []
        if self._flush_at is not None and now >= self._flush_at:
            self._flush(out)
        timers = self._graft_timers
        while timers and timers[0][0] <= now:
            _, msg_id = heapq.heappop(timers)
            announcers = self._missing.get(msg_id)
            if announcers is None:
                continue  # arrived meanwhile
            # Graft the announcer with the fewest hops (the paper takes the
            # first): the repaired part of the tree then hangs as high as it can.
            announcers.sort(key=_hops_of, reverse=True)
            while announcers:
                peer, hops = announcers.pop()
                if peer in self.eager or peer in self.lazy:
                    self.lazy.pop(peer, None)
                    self.eager[peer] = None
                    out.append(Send(peer, Graft(msg_id, hops)))
                    break
            if announcers:
                heapq.heappush(timers, (now + self.config.graft_retry_timeout, msg_id))
            else:
                # Nobody else announced it yet; the next IHAVE starts a new timer.
                del self._missing[msg_id]
        return out

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must run next, or None when nothing is scheduled."""
        timers = self._graft_timers
        while timers and timers[0][1] not in self._missing:
            heapq.heappop(timers)
        deadline = timers[0][0] if timers else None
        if self._flush_at is not None and (deadline is None or self._flush_at < deadline):
            deadline = self._flush_at
        return deadline

    def has_seen(self, msg_id: bytes) -> bool:
        """True when ``msg_id`` was delivered here and is still remembered."""
        return msg_id in self._seen

    def validated(self, msg_id: bytes, ok: bool, now: float) -> list[BroadcastEffect]:
        """The application's verdict on a delivered message (only with ``validate``).

        ``ok``: relay it (eager push, IHAVE) as if it had just arrived. Not ok:
        forget its payload, so it is never relayed nor served to a GRAFT; its
        id stays seen, so further copies are dropped as duplicates. A verdict
        on an unknown, already judged or evicted id does nothing.
        """
        if msg_id not in self._unjudged:
            return []
        del self._unjudged[msg_id]
        cached = self._cache.get(msg_id)
        if cached is None:
            return []
        if not ok:
            del self._cache[msg_id]
            return []
        payload, hops, sender = cached
        return self._relay(msg_id, payload, hops, sender, now)

    def _feeds_a_tree(self, peer: str, now: float) -> bool:
        """True while ``peer`` pushed us a first copy less than ``graft_timeout`` ago.

        Such a link is a tree link of a broadcast that may still be in flight,
        so it is not pruned yet. Without this hold, broadcasts from several
        sources at once cut every cycle of the eager graph in several places
        (each source's duplicates prune links of the others' trees), leaving a
        forest that later broadcasts can only cross by IHAVE + GRAFT, and
        grafted links were cut again the same way: at 10 nodes sending their
        first message at once, half of all later deliveries waited a graft
        timeout (tests/gossip/test_service.py,
        ``test_concurrent_first_broadcasts_still_leave_a_broadcast_tree``).
        With it a cycle lives until a quieter duplicate prunes it: a little
        more redundancy under bursts, never a cut tree.
        """
        return now - self._fed_at.get(peer, -math.inf) < self.config.graft_timeout

    def _last_tree_link(self, peer: str) -> bool:
        """True when ``peer`` is our only eager neighbour.

        Pruning it would leave this node on lazy links alone, outside every
        broadcast tree: each message would then reach it only by IHAVE and
        GRAFT, one graft timeout late, and with no message missing nothing
        would ever graft it back (a leaf has exactly one tree link).
        """
        return len(self.eager) == 1 and peer in self.eager

    # --- handlers (the paper's Algorithm 2) ---

    def _on_gossip(self, peer: str, msg: Gossip, now: float) -> list[BroadcastEffect]:
        if not 0 < len(msg.msg_id) <= MAX_ID_LEN or not 0 < msg.hops <= MAX_HOPS:
            raise RemoteProtocolError("bad_gossip", f"id {len(msg.msg_id)} B, hops {msg.hops}")
        if msg.msg_id in self._seen:
            return self._on_duplicate(peer, msg, now)
        self._fed_at[peer] = now
        if peer in self.lazy:
            # A tree link after all. The push crossed our Prune, so the peer
            # has the link lazy by now (or will): GRAFT, or the link pushes
            # only from us to it, and it may be the one tree link we keep.
            del self.lazy[peer]
            self.eager[peer] = None
            return [Send(peer, Graft(b"", 1)), *self._accept(msg, peer, now)]
        return self._accept(msg, peer, now)

    def _on_duplicate(self, peer: str, msg: Gossip, now: float) -> list[BroadcastEffect]:
        """A second copy: one of the two links that carried it is redundant (DESIGN §3 PRUNE).

        The paper prunes the link of the later copy, which grows a fastest-path
        tree. While a node handles the first message it ever sees (the one
        that builds the tree), it keeps the copy that crossed fewer hops
        instead, so the tree becomes a fewest-hop tree from the first source
        and the last delivery hop stays near twice the overlay's radius:
        - adopting the sender as parent sends it a GRAFT, because it may be
          pruning us at this very moment for our own copy; a ``Prune`` naming
          the message of our parent choice is then ignored;
        - the shorter copy is pushed on to our eager neighbours, so nodes below
          us compare true distances too (a Bellman-Ford wave over the tree
          being built; RMR +0.01 over 100 broadcasts, one hop less).
        Later duplicates follow the paper: after failures many copies cross
        at once, and re-shaping the tree for each source then cost more
        redundancy (RMR 0.5 instead of 0.2 in the 50 % kill) and deeper trees.
        """
        if peer not in self.eager and peer not in self.lazy:
            return []  # not a neighbour (any more): nothing to fix
        cached = self._cache.get(msg.msg_id)
        parent = cached[2] if cached is not None else None
        if cached is not None and msg.hops < cached[1] and len(self._seen) == 1:
            self._cache[msg.msg_id] = (cached[0], msg.hops, peer)
            out: list[BroadcastEffect] = []
            if peer != parent:
                self.lazy.pop(peer, None)
                self.eager[peer] = None
                out.append(Send(peer, Graft(b"", msg.hops)))
                if parent is not None and parent in self.eager:
                    del self.eager[parent]
                    self.lazy[parent] = None
                    out.append(Send(parent, Prune(msg.msg_id)))
            if msg.msg_id not in self._unjudged:
                forward = Gossip(msg.msg_id, msg.hops + 1, cached[0])
                out.extend(Send(p, forward) for p in self.eager if p != peer)
            return out
        if peer == parent:
            return []  # the network duplicated our parent's push: the link is fine
        if self._feeds_a_tree(peer, now) or self._last_tree_link(peer):
            return []  # a tree link of a broadcast still in flight, or our only one: not yet
        # Prune even when the sender is lazy here already: it pushed, so it
        # still has us eager, and only our Prune makes the link lazy both ways.
        if peer in self.eager:
            del self.eager[peer]
            self.lazy[peer] = None
        return [Send(peer, Prune(msg.msg_id))]

    def _on_prune(self, peer: str, msg: Prune, now: float) -> list[BroadcastEffect]:
        """Our push to ``peer`` was a duplicate there: make the link lazy, unless we need it.

        ``peer`` made the link lazy at its end already. Where this end holds
        the link (the same holds as in ``_on_duplicate``: it fed us a first
        copy lately, or it is our only tree link), keeping it eager here alone
        would leave a one-way link that pushes to ``peer`` and never from it:
        a node whose feeders all pruned it at once then hung on IHAVE alone.
        So the hold answers GRAFT, and ``peer`` pushes to us again.
        """
        if len(msg.msg_id) > MAX_ID_LEN:
            raise RemoteProtocolError("bad_prune", f"id {len(msg.msg_id)} B")
        if peer not in self.eager:
            return []
        cached = self._cache.get(msg.msg_id)
        if cached is not None and cached[2] == peer:
            return []  # our parent choice in ``_on_duplicate``: its GRAFT is on the way
        if self._feeds_a_tree(peer, now) or self._last_tree_link(peer):
            return [Send(peer, Graft(b"", 1))]
        del self.eager[peer]
        self.lazy[peer] = None
        return []

    def _accept(self, msg: Gossip, sender: str | None, now: float) -> list[BroadcastEffect]:
        msg_id = msg.msg_id
        seen = self._seen
        seen[msg_id] = None
        if len(seen) > self.config.seen_cache_size:
            del seen[next(iter(seen))]
        cache = self._cache
        cache[msg_id] = (msg.payload, msg.hops, sender)
        if len(cache) > self.config.payload_cache_size:
            del cache[next(iter(cache))]
        self._missing.pop(msg_id, None)
        delivered = Deliver(msg_id, msg.payload, msg.hops)
        if self.validate and sender is not None:
            unjudged = self._unjudged
            unjudged[msg_id] = None
            if len(unjudged) > self.config.payload_cache_size:
                del unjudged[next(iter(unjudged))]  # never judged: never relayed
            return [delivered]
        return [delivered, *self._relay(msg_id, msg.payload, msg.hops, sender, now)]

    def _relay(self, msg_id: bytes, payload: bytes, hops: int, sender: str | None,
               now: float) -> list[BroadcastEffect]:
        """Push to the eager neighbours, queue an IHAVE for (some) lazy ones."""
        out: list[BroadcastEffect] = []
        forward = Gossip(msg_id, hops + 1, payload)
        for p in self.eager:
            if p != sender:
                out.append(Send(p, forward))
        lazy = [p for p in self.lazy if p != sender]
        if lazy:
            if len(lazy) > self.config.lazy_fanout:
                lazy = self._rng.sample(lazy, self.config.lazy_fanout)
            queue = self._lazy_queue
            for p in lazy:
                q = queue.get(p)
                if q is None:
                    queue[p] = {msg_id: hops + 1}
                else:
                    q[msg_id] = hops + 1
            if self._flush_at is None:
                # Batch digests per tick: one IHave carries all ids of the interval.
                self._flush_at = now + self.config.ihave_interval
        return out

    def _on_ihave(self, peer: str, msg: IHave, now: float) -> list[BroadcastEffect]:
        entries = msg.entries
        if len(entries) > MAX_IHAVE_ENTRIES:
            raise RemoteProtocolError("ihave_too_long", str(len(entries)))
        for msg_id, hops in entries:
            if not 0 < len(msg_id) <= MAX_ID_LEN or not 0 < hops <= MAX_HOPS:
                raise RemoteProtocolError("bad_ihave", f"id {len(msg_id)} B, hops {hops}")
        seen = self._seen
        if not seen and self.eager:
            # A fresh node hears of a message by digest before any push: it
            # joined an overlay whose tree already exists, where every link
            # it has is lazy at the other end. Match them, and GRAFT into the
            # tree as a leaf instead of flooding our first message to all.
            self.lazy.update(self.eager)
            self.eager.clear()
        missing = self._missing
        queued = self._lazy_queue.get(peer)
        for msg_id, hops in entries:
            if msg_id in seen:
                if queued:
                    # The peer has it: our own digest of it would only cost bytes.
                    queued.pop(msg_id, None)
                continue
            announcers = missing.get(msg_id)
            if announcers is None:
                missing[msg_id] = [(peer, hops)]
                cfg = self.config
                wait = cfg.graft_retry_timeout if now < self._repair_until else cfg.graft_timeout
                deadline = now + wait
                heapq.heappush(self._graft_timers, (deadline, msg_id))
            else:
                announcers.append((peer, hops))
        return []

    def _on_graft(self, peer: str, msg: Graft) -> list[BroadcastEffect]:
        if len(msg.msg_id) > MAX_ID_LEN or not 0 < msg.hops <= MAX_HOPS:
            raise RemoteProtocolError("bad_graft", f"id {len(msg.msg_id)} B, hops {msg.hops}")
        if peer in self.lazy:
            del self.lazy[peer]
            self.eager[peer] = None
        elif peer not in self.eager:
            # Its NeighbourUp fired first and ours is still to come (the
            # membership cores of the two ends add each other one at a time):
            # dropping the GRAFT would leave the link eager at its end alone.
            early = self._early_grafts
            early[peer] = None
            if len(early) > 2 * self.config.active_view_size:
                del early[next(iter(early))]
        cached = self._cache.get(msg.msg_id) if msg.msg_id else None
        if cached is None or peer not in self.eager or msg.msg_id in self._unjudged:
            return []
        return [Send(peer, Gossip(msg.msg_id, cached[1] + 1, cached[0]))]

    def _flush(self, out: list[BroadcastEffect]) -> None:
        self._flush_at = None
        batch_max = self.config.ihave_batch_max
        for peer, queued in self._lazy_queue.items():
            if not queued or (peer not in self.lazy and peer not in self.eager):
                continue
            entries = list(queued.items())
            for i in range(0, len(entries), batch_max):
                out.append(Send(peer, IHave(tuple(entries[i : i + batch_max]))))
        self._lazy_queue = {}
