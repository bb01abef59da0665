"""SimNet: a seeded discrete-event network that drives the real overlay cores.

DESIGN §2: the cores are sans-I/O, so the simulator plays the shell. One heap
of events ordered by (virtual time, sequence number) replaces trio; links are
FIFO with a per-link latency drawn from a log-normal distribution; faults are
injected on purpose: message loss and duplication, partitions, crashes (with
or without the peers being told, i.e. process kill vs. power loss), restarts
with empty state, slow nodes, and a per-link token bucket (DESIGN §3 byte
budget). Everything random comes from one ``random.Random(seed)``, and no
``set`` of strings is ever iterated, so a seed reproduces a run bit for bit,
whatever ``PYTHONHASHSEED`` is.

The shell duties of ``hyparview``'s docstring are implemented here exactly:
simultaneous dials end as one link, a link the core closed is never reported
down to it, a link to a restarted peer is replaced, and a message is dropped
when the receiver has closed the link (not when only the sender has: the
sender's FIN travels behind its data).

Byte counts come from ``wire_size``, a model of the msgpack encoding plus
sealed-frame overhead with production-sized node ids (64 hex characters) and
addresses, since simulated ids are short.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hartnode.gossip.admission import LinkFacts
from hartnode.gossip.hyparview import ALL_MESSAGES as HYPARVIEW_MESSAGES
from hartnode.gossip.hyparview import (
    CloseLink,
    Connect,
    Disconnect,
    ForwardJoin,
    HyParView,
    Join,
    MembershipEffect,
    Neighbour,
    NeighbourDown,
    NeighbourReply,
    NeighbourUp,
    PeerInfo,
    Ping,
    Pong,
    Shuffle,
    ShuffleReply,
)
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.plumtree import BroadcastEffect, Gossip, Graft, IHave, Plumtree, Prune
from hartnode.gossip.token_bucket import TokenBucket
from hartnode.protocol import RemoteProtocolError, Send

# --- size model (bytes on the wire) ---

FRAME_OVERHEAD = 2 + 16  # WebSocket binary frame header + Poly1305 tag (DESIGN §3)
HANDSHAKE_BYTES = 400  # both directions of the authenticated key agreement, per link
ID_SIZE = 66  # msgpack str8 of a 64-hex-digit node id
ADDR_SIZE = 28  # msgpack of e.g. "ws://203.0.113.77:6778/hart"
_PEER = 1 + ID_SIZE + ADDR_SIZE  # PeerInfo as a 2-element array
_HEAD = 2  # array header + message type number


def _bin(n: int) -> int:
    return n + (2 if n < 256 else 3 if n < 65536 else 5)


def _arr(n: int) -> int:
    return 1 if n < 16 else 3


_SIZES: dict[type, Callable[[Any], int]] = {
    Gossip: lambda m: _HEAD + _bin(len(m.msg_id)) + 2 + _bin(len(m.payload)),
    IHave: lambda m: _HEAD + _arr(len(m.entries)) + sum(5 + len(i) for i, _ in m.entries),
    Graft: lambda m: _HEAD + _bin(len(m.msg_id)) + 2,
    Prune: lambda m: _HEAD + _bin(len(m.msg_id)),
    Join: lambda m: _HEAD + _PEER,
    ForwardJoin: lambda m: _HEAD + _PEER + 1,
    Neighbour: lambda m: _HEAD + _PEER + 1,
    NeighbourReply: lambda m: _HEAD + 1,
    Disconnect: lambda m: _HEAD,
    Shuffle: lambda m: _HEAD + _PEER + _arr(len(m.peers)) + _PEER * len(m.peers) + 1,
    ShuffleReply: lambda m: _HEAD + _arr(len(m.peers)) + _PEER * len(m.peers),
    Ping: lambda m: _HEAD + 5,
    Pong: lambda m: _HEAD + 5,
}


def wire_size(msg: object) -> int:
    """Estimated bytes of one framed, sealed ``msg`` (see the module docstring).

    Raises:
        KeyError: ``msg`` is not an overlay message.
    """
    return FRAME_OVERHEAD + _SIZES[type(msg)](msg)


# --- the broadcast core interface (Plumtree, or the flooding baseline) ---


class BroadcastCore(Protocol):
    """What the simulator needs of a broadcast core."""

    def broadcast(self, msg_id: bytes, payload: bytes, now: float) -> list[BroadcastEffect]: ...
    def on_neighbour_up(self, peer: str, now: float) -> list[BroadcastEffect]: ...
    def on_neighbour_down(self, peer: str, now: float) -> list[BroadcastEffect]: ...
    def on_message(self, peer: str, msg: object, now: float) -> list[BroadcastEffect]: ...
    def handle_timer(self, now: float) -> list[BroadcastEffect]: ...
    def validated(self, msg_id: bytes, ok: bool, now: float) -> list[BroadcastEffect]: ...
    def has_seen(self, msg_id: bytes) -> bool: ...
    def get_timer(self) -> float | None: ...


BroadcastFactory = Callable[[str, OverlayConfig, random.Random], BroadcastCore]


class SimApp(Protocol):
    """An application riding on the overlay (e.g. ledger replication), as SimNet drives it.

    Like a ``LinkService`` registered on the daemon's ``GossipService``:
    messages of ``types`` arriving on a link go to ``on_message`` (a
    ``RemoteProtocolError`` from it ends the link), every broadcast delivered
    at a node goes to ``on_deliver``, and active-view changes go to
    ``on_neighbour``. The app sends with ``SimNet.send``; ``size`` gives the
    bytes of one of its messages before framing. With a validating broadcast
    core (``Plumtree(..., validate=True)``) the app gives its verdict on each
    delivery through ``SimNet.validated``, as the daemon's ``GossipService.relay``.
    """

    types: frozenset[type]

    def size(self, msg: object) -> int: ...
    def on_neighbour(self, node: SimNode, peer: str, up: bool) -> None: ...
    def on_message(self, node: SimNode, peer: str, msg: object) -> None: ...
    def on_deliver(self, node: SimNode, msg_id: bytes, payload: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """One-way link latency: log-normal around ``median`` seconds, clipped."""

    median: float = 0.040  # seconds
    sigma: float = 0.5  # spread of the underlying normal
    low: float = 0.005  # seconds
    high: float = 0.400  # seconds

    def sample(self, rng: random.Random) -> float:
        """One link's latency in seconds."""
        return min(self.high, max(self.low, rng.lognormvariate(math.log(self.median), self.sigma)))


class Link:
    """One transport connection between two nodes; FIFO per direction."""

    __slots__ = ("a", "b", "bucket_ab", "bucket_ba", "latency", "open", "tail_ab", "tail_ba")

    def __init__(self, a: SimNode, b: SimNode, latency: float) -> None:
        self.a = a
        self.b = b
        self.latency = latency
        self.open = True
        self.tail_ab = 0.0  # last arrival time a -> b (keeps the link FIFO)
        self.tail_ba = 0.0
        self.bucket_ab: TokenBucket | None = None
        self.bucket_ba: TokenBucket | None = None


class SimNode:
    """One simulated node: its two cores and what its shell would know."""

    __slots__ = (
        "addr",
        "addr_group",
        "alive",
        "bc",
        "dialling",
        "group",
        "hv",
        "hv_deadline",
        "incarnation",
        "index",
        "info",
        "links",
        "node_id",
        "sent_bytes",
        "slow",
        "timer_at",
    )

    def __init__(self, index: int, node_id: str, addr: str) -> None:
        self.index = index
        self.node_id = node_id
        self.addr = addr
        self.info = PeerInfo(node_id, addr)
        self.alive = False
        self.incarnation = 0
        self.hv: HyParView = None  # type: ignore[assignment]  # set by SimNet.start
        self.bc: BroadcastCore = None  # type: ignore[assignment]
        self.links: dict[str, Link] = {}  # links this node's core knows are up
        self.dialling: dict[str, None] = {}
        self.timer_at = math.inf
        self.hv_deadline = math.inf  # cached hv.get_timer(), refreshed after each hv call
        self.group = 0  # partition group; messages cross groups only when equal
        self.addr_group = ""  # address group its links report (LinkFacts); "" its own
        self.slow = 0.0  # extra seconds added to every message this node sends or receives
        self.sent_bytes = 0


@dataclass(slots=True)
class BroadcastRecord:
    """What happened to one broadcast (filled in as deliveries happen)."""

    msg_id: bytes
    source: int
    start: float
    reached: set[int] = field(default_factory=set)  # node indices that delivered it
    duplicates: int = 0  # deliveries to a node that had delivered it already
    payload_received: int = 0  # Gossip messages that arrived at a live node
    max_hops: int = 0
    last_delivery: float = 0.0


_MSG, _TIMER, _DIAL, _DOWN, _CALL = range(5)
_HV_TYPES = frozenset(HYPARVIEW_MESSAGES)


class SimNet:
    """A simulated network of overlay nodes.

    Args:
        seed: seeds the one random generator everything draws from.
        config: overlay parameters shared by all nodes.
        broadcast_factory: builds each node's broadcast core (Plumtree by default).
        latency: one-way latency model.
        loss: probability that a message is silently lost.
        duplicate: probability that a message arrives twice.
        connect_timeout: seconds a dial into a partition or a silent host hangs.
        shaping: apply the config's token bucket to every link direction.
    """

    def __init__(
        self,
        seed: int,
        config: OverlayConfig,
        *,
        broadcast_factory: BroadcastFactory | None = None,
        latency: LatencyModel | None = None,
        loss: float = 0.0,
        duplicate: float = 0.0,
        connect_timeout: float = 3.0,
        shaping: bool = True,
    ) -> None:
        self.rng = random.Random(seed)
        self.config = config
        self.broadcast_factory: BroadcastFactory = broadcast_factory or Plumtree
        self.latency = latency or LatencyModel()
        self.loss = loss
        self.duplicate = duplicate
        self.connect_timeout = connect_timeout
        self.shaping = shaping
        self.now = 0.0
        self.nodes: list[SimNode] = []
        self.by_id: dict[str, SimNode] = {}
        self.by_addr: dict[str, SimNode] = {}
        self.records: dict[bytes, BroadcastRecord] = {}
        self.type_stats: dict[type, list[int]] = {}  # message type -> [count, bytes]
        self.handshake_bytes = 0
        self.links_opened = 0
        self.protocol_errors: dict[str, int] = {}
        self.events = 0
        self._heap: list[tuple[float, int, int, object, object, object, object]] = []
        self._seq = 0
        self._sized: object = None  # the last message sized, and its size
        self._size = 0
        self.app: SimApp | None = None  # set before the first node starts

    # --- building and faults ---

    def add_node(self, *, nat: bool = False) -> SimNode:
        """Create a node (not started); ``nat`` nodes have no address."""
        i = len(self.nodes)
        node_id = f"n{i}"
        node = SimNode(i, node_id, "" if nat else f"sim://{node_id}")
        self.nodes.append(node)
        self.by_id[node_id] = node
        if node.addr:
            self.by_addr[node.addr] = node
        return node

    def start(self, node: SimNode, contacts: Sequence[SimNode], *,
              config: OverlayConfig | None = None,
              membership: type[HyParView] = HyParView) -> None:
        """Boot ``node`` with empty state and join through ``contacts``.

        ``config`` and ``membership`` replace the network's for this node (an
        attacker's core in ``sim_eclipse``).
        """
        node.alive = True
        node.incarnation += 1
        node.links = {}
        node.dialling = {}
        node.timer_at = math.inf
        rng = random.Random(self.rng.getrandbits(64))
        node.hv = membership(node.info, config or self.config, rng, self.now)
        node.bc = self.broadcast_factory(node.node_id, self.config, rng)
        self._apply(node, node.hv.join([c.info for c in contacts], self.now))
        self._schedule_timer(node)

    def crash(self, node: SimNode, *, silent: bool = False) -> None:
        """Stop ``node``. Peers see their links drop one latency later, unless ``silent``
        (power loss, cable cut): then only their keepalive finds out."""
        node.alive = False
        node.incarnation += 1
        node.timer_at = math.inf
        for link in node.links.values():
            link.open = False
            other = link.b if link.a is node else link.a
            if not silent and other.links.get(node.node_id) is link and other.group == node.group:
                self._push(self.now + link.latency, _DOWN, other, link, node.node_id, None)
        node.links = {}
        node.dialling = {}

    def partition(self, groups: Iterable[Iterable[SimNode]]) -> None:
        """Split the network: from now on only nodes of the same group talk."""
        for g, members in enumerate(groups, start=1):
            for node in members:
                node.group = g

    def heal(self) -> None:
        """End every partition."""
        for node in self.nodes:
            node.group = 0

    def broadcast(self, node: SimNode, payload: bytes, msg_id: bytes | None = None) -> bytes:
        """Originate a broadcast at ``node``; return its id.

        Args:
            msg_id: the id to use, e.g. one derived from the payload as the
                daemon does (two nodes broadcasting the same proof then send
                one message); a fresh random 16-byte id when None. The record
                of an id broadcast by several nodes is the first one's.

        Raises:
            LocalProtocolError: ``node`` has already seen ``msg_id``.
        """
        if msg_id is None:
            msg_id = self.rng.randbytes(16)
        if msg_id not in self.records:
            self.records[msg_id] = BroadcastRecord(msg_id, node.index, self.now)
        self._apply_bc(node, node.bc.broadcast(msg_id, payload, self.now))
        self._schedule_bc(node)
        return msg_id

    def validated(self, node: SimNode, msg_id: bytes, ok: bool) -> None:
        """The app's verdict on a broadcast delivered at ``node``: relay it on or drop it."""
        self._apply_bc(node, node.bc.validated(msg_id, ok, self.now))
        self._schedule_bc(node)

    def send(self, node: SimNode, peer_id: str, msg: object) -> None:
        """Send an app message from ``node`` on its link to ``peer_id`` (dropped if none)."""
        self._send(node, peer_id, msg)

    def call_at(self, t: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at virtual time ``t``."""
        self._push(t, _CALL, fn, None, None, None)

    # --- running ---

    def run_until(self, t_end: float) -> None:
        """Process every event up to virtual time ``t_end``; then ``now == t_end``.

        The cyclic garbage collector is paused meanwhile: events allocate
        millions of short-lived, acyclic objects that reference counting
        frees, and the collector's passes over the long-lived node state cost
        a quarter of the run time at 10,000 nodes.
        """
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._run_until(t_end)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.now = max(self.now, t_end)

    def _run_until(self, t_end: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        on_msg = self._on_msg
        while heap and heap[0][0] <= t_end:
            t, _, kind, a, b, c, d = pop(heap)
            self.now = t
            self.events += 1
            if kind == _MSG:
                on_msg(a, b, c, d)  # type: ignore[arg-type]
            elif kind == _TIMER:
                node: SimNode = a  # type: ignore[assignment]
                if node.timer_at == t and node.incarnation == b:
                    node.timer_at = math.inf
                    if node.hv_deadline <= t:
                        self._apply(node, node.hv.handle_timer(t))
                        self._apply_bc(node, node.bc.handle_timer(t))
                        self._schedule_timer(node)
                    else:
                        self._apply_bc(node, node.bc.handle_timer(t))
                        self._schedule_bc(node)
            elif kind == _DIAL:
                self._on_dial(a, b, c, d)  # type: ignore[arg-type]
            elif kind == _DOWN:
                self._on_down(a, b, c)  # type: ignore[arg-type]
            else:
                a()  # type: ignore[operator]

    # --- inspection ---

    def alive_nodes(self) -> list[SimNode]:
        """Nodes currently running."""
        return [n for n in self.nodes if n.alive]

    def components(self) -> list[list[SimNode]]:
        """Connected components of live nodes, linked by active-view entries (undirected)."""
        alive = {n.node_id: n for n in self.nodes if n.alive}
        adjacency: dict[str, list[str]] = {nid: [] for nid in alive}
        for nid, node in alive.items():
            for peer in node.hv.active:
                if peer in alive:
                    adjacency[nid].append(peer)
                    adjacency[peer].append(nid)
        seen: set[str] = set()
        result: list[list[SimNode]] = []
        for start in alive:
            if start in seen:
                continue
            seen.add(start)
            stack = [start]
            comp: list[SimNode] = []
            while stack:
                nid = stack.pop()
                comp.append(alive[nid])
                for p in adjacency[nid]:
                    if p not in seen:
                        seen.add(p)
                        stack.append(p)
            result.append(comp)
        return result

    def asymmetric_pairs(self) -> list[tuple[str, str]]:
        """Active-view entries (u, v) between live nodes where v does not list u.

        A pair whose Neighbour exchange is in flight (v asked u and awaits the
        reply, which u has sent) is not one, nor is one whose link v has
        already closed (its Disconnect and the close reach u one latency
        later): a check at any instant may see either.
        """
        return [
            (n.node_id, p)
            for n in self.nodes
            if n.alive
            for p in n.hv.active
            if self.by_id[p].alive and n.node_id not in self.by_id[p].hv.active
            and not self.by_id[p].hv.is_asking(n.node_id)
            and n.node_id in self.by_id[p].links
        ]

    # --- internals: events ---

    def _push(self, t: float, kind: int, a: object, b: object, c: object, d: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, a, b, c, d))

    def _schedule_timer(self, node: SimNode) -> None:
        node.hv_deadline = node.hv.get_timer()
        self._schedule_bc(node)

    def _schedule_bc(self, node: SimNode) -> None:
        """Reschedule after only the broadcast core was called (hv's deadline is cached)."""
        d = node.hv_deadline
        d2 = node.bc.get_timer()
        if d2 is not None and d2 < d:
            d = d2
        if d < node.timer_at:
            node.timer_at = d
            self._push(d, _TIMER, node, node.incarnation, None, None)

    def _on_msg(self, dst: SimNode, link: Link, msg: object, src_id: str) -> None:
        if dst.links.get(src_id) is not link:
            return  # the receiver closed this link, or crashed
        if type(msg) is Gossip:
            rec = self.records.get(msg.msg_id)
            if rec is not None:
                rec.payload_received += 1
        try:
            if type(msg) in _HV_TYPES:
                self._apply(dst, dst.hv.on_message(src_id, msg, self.now))
                self._schedule_timer(dst)
            elif self.app is not None and type(msg) in self.app.types:
                self.app.on_message(dst, src_id, msg)
            else:
                self._apply_bc(dst, dst.bc.on_message(src_id, msg, self.now))
                self._schedule_bc(dst)
        except RemoteProtocolError as exc:
            self.protocol_errors[exc.reason] = self.protocol_errors.get(exc.reason, 0) + 1
            self._close(dst, src_id)
            self._apply(dst, dst.hv.on_link_down(src_id, self.now))
            self._schedule_timer(dst)

    def _on_dial(self, node: SimNode, inc: int, peer_id: str, latency: float) -> None:
        if node.incarnation != inc or peer_id not in node.dialling:
            return  # we crashed meanwhile, or the core cancelled the dial
        del node.dialling[peer_id]
        if peer_id in node.links:
            return  # the peer dialled us first; the core already heard link_up
        target = self.by_id.get(peer_id)
        if target is None or not target.alive or target.group != node.group:
            self._apply(node, node.hv.on_link_down(peer_id, self.now))
            self._schedule_timer(node)
            return
        stale = target.links.get(node.node_id)
        if stale is not None:
            # The target still holds a link to our previous incarnation: replace it.
            del target.links[node.node_id]
            self._apply(target, target.hv.on_link_down(node.node_id, self.now))
        link = Link(node, target, latency)
        if self.shaping:
            cfg = self.config
            link.bucket_ab = TokenBucket(cfg.link_rate, cfg.link_burst, self.now)
            link.bucket_ba = TokenBucket(cfg.link_rate, cfg.link_burst, self.now)
        node.links[peer_id] = link
        target.links[node.node_id] = link
        target.dialling.pop(node.node_id, None)  # a crossing dial of theirs is now moot
        self.links_opened += 1
        self.handshake_bytes += HANDSHAKE_BYTES
        node.sent_bytes += HANDSHAKE_BYTES // 2
        target.sent_bytes += HANDSHAKE_BYTES // 2
        # The address group each end sees of the other (a sybil host's, say).
        self._apply(node, node.hv.on_link_up(peer_id, self.now, LinkFacts(target.addr_group)))
        self._apply(target, target.hv.on_link_up(node.node_id, self.now,
                                                 LinkFacts(node.addr_group)))
        self._schedule_timer(node)
        self._schedule_timer(target)

    def _on_down(self, node: SimNode, link: Link, peer_id: str) -> None:
        if node.links.get(peer_id) is not link:
            return  # the core closed it itself, or a newer link replaced it
        del node.links[peer_id]
        self._apply(node, node.hv.on_link_down(peer_id, self.now))
        self._schedule_timer(node)

    def apply(self, node: SimNode, effects: Sequence[MembershipEffect]) -> None:
        """Carry out membership effects a caller got from ``node.hv`` directly."""
        self._apply(node, effects)
        self._schedule_timer(node)

    # --- internals: effects ---

    def _apply(self, node: SimNode, effects: Sequence[MembershipEffect]) -> None:
        for e in effects:
            t = type(e)
            if t is Send:
                self._send(node, e.peer, e.msg)  # type: ignore[union-attr]
            elif t is NeighbourUp:
                self._apply_bc(node, node.bc.on_neighbour_up(e.peer, self.now))
                if self.app is not None:
                    self.app.on_neighbour(node, e.peer, True)
            elif t is NeighbourDown:
                self._apply_bc(node, node.bc.on_neighbour_down(e.peer, self.now))
                if self.app is not None:
                    self.app.on_neighbour(node, e.peer, False)
            elif t is Connect:
                self._dial(node, e.peer, e.addr)  # type: ignore[union-attr]
            elif t is CloseLink:
                self._close(node, e.peer)

    def _apply_bc(self, node: SimNode, effects: Sequence[BroadcastEffect]) -> None:
        for e in effects:
            if type(e) is Send:
                self._send(node, e.peer, e.msg)
            else:
                if self.app is not None:
                    self.app.on_deliver(node, e.msg_id, e.payload)  # type: ignore[union-attr]
                rec = self.records.get(e.msg_id)  # type: ignore[union-attr]
                if rec is None:
                    continue
                if node.index in rec.reached:
                    rec.duplicates += 1
                    continue
                rec.reached.add(node.index)
                rec.last_delivery = self.now
                if e.hops > rec.max_hops:  # type: ignore[union-attr]
                    rec.max_hops = e.hops  # type: ignore[union-attr]

    def _send(self, node: SimNode, peer_id: str, msg: object) -> None:
        link = node.links.get(peer_id)
        if link is None or not link.open:
            return  # no link (the core will hear link_down), or a dead one (black hole)
        t = type(msg)
        if msg is self._sized:
            size = self._size  # one Gossip object is pushed to every eager neighbour
        else:
            sizer = _SIZES.get(t)
            if sizer is not None:
                size = FRAME_OVERHEAD + sizer(msg)
            elif self.app is not None:
                size = FRAME_OVERHEAD + self.app.size(msg)
            else:
                raise KeyError(t)  # not an overlay message, and no app to size it
            self._sized = msg
            self._size = size
        stats = self.type_stats.get(t)
        if stats is None:
            self.type_stats[t] = [1, size]
        else:
            stats[0] += 1
            stats[1] += size
        node.sent_bytes += size
        forward = link.a is node
        dst = link.b if forward else link.a
        if dst.group != node.group or (self.loss and self.rng.random() < self.loss):
            return
        now = self.now
        bucket = link.bucket_ab if forward else link.bucket_ba
        depart = bucket.reserve(size, now) if bucket is not None else now
        arrive = depart + link.latency + node.slow + dst.slow
        if forward:
            if arrive < link.tail_ab:
                arrive = link.tail_ab
            link.tail_ab = arrive
        else:
            if arrive < link.tail_ba:
                arrive = link.tail_ba
            link.tail_ba = arrive
        self._seq += 1
        heapq.heappush(self._heap, (arrive, self._seq, _MSG, dst, link, msg, node.node_id))
        if self.duplicate and self.rng.random() < self.duplicate:
            self._push(arrive, _MSG, dst, link, msg, node.node_id)

    def _dial(self, node: SimNode, peer_id: str, addr: str) -> None:
        if peer_id in node.links or peer_id in node.dialling:
            return
        node.dialling[peer_id] = None
        latency = self.latency.sample(self.rng)
        target = self.by_addr.get(addr)
        if target is None or target.node_id != peer_id:
            delay = 2 * latency  # refused, or the handshake met another id and aborted
        elif target.alive and target.group == node.group:
            delay = 3 * latency  # TCP handshake, then the authenticated key agreement
        elif target.group != node.group:
            delay = self.connect_timeout
        else:
            delay = 2 * latency  # the host answers with a reset: nobody listens
        self._push(self.now + delay, _DIAL, node, node.incarnation, peer_id, latency)

    def _close(self, node: SimNode, peer_id: str) -> None:
        node.dialling.pop(peer_id, None)
        link = node.links.pop(peer_id, None)
        if link is None:
            return
        link.open = False
        other = link.b if link.a is node else link.a
        if other.links.get(node.node_id) is link and other.group == node.group:
            tail = link.tail_ab if link.a is node else link.tail_ba
            self._push(max(self.now + link.latency, tail), _DOWN, other, link, node.node_id, None)
