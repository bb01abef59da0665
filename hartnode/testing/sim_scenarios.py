"""Seeded overlay scenarios on SimNet and the figures they measure.

One scenario: nodes join one by one through random earlier nodes, the overlay
settles, optionally a fraction of the nodes is killed at once, then a series
of broadcasts goes out from random live nodes, one every ``interval`` virtual
seconds. Figures (Leitão et al. 2007 define RMR and last delivery hop):

- reliability: nodes that delivered a broadcast / live nodes (mean, minimum),
  counted until ``drain`` seconds after the last broadcast (GRAFT repairs
  included);
- RMR, relative message redundancy: payload messages received /
  (nodes reached − 1) − 1, over all broadcasts (0 means a perfect tree);
- last delivery hop: the most links any first copy crossed;
- time to a connected overlay: from the last join until the graph of active
  views over all nodes is one component (checked every 0.25 virtual s);
- messages and bytes per node per second over the broadcast window (every
  message counts: membership, keepalive, IHAVE, handshakes, and with
  ``record_size`` each node's peer-record refreshes at the interval the
  service would use, ``peer_record.announce_interval``), by ``wire_size``;
- after a kill: the number of components of the survivors' active views at
  each broadcast round (the first is taken at the instant of the kill).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hartnode.gossip.hyparview import ALL_MESSAGES as HYPARVIEW_MESSAGES
from hartnode.gossip.hyparview import Ping, Pong
from hartnode.gossip.overlay_config import OverlayConfig, for_profile
from hartnode.gossip.peer_record import announce_interval
from hartnode.gossip.plumtree import Gossip, Graft, IHave, Prune
from hartnode.testing.flood import FloodGossip
from hartnode.testing.simnet import BroadcastCore, BroadcastFactory, SimNet, SimNode

CONNECT_CHECK = 0.25  # virtual seconds between connectivity checks
CONNECT_LIMIT = 120.0  # virtual seconds after the last join before giving up on connectivity
ANNOUNCE_BASE_S = 60.0  # the default ``[network] announce_interval``


@dataclass(frozen=True, slots=True)
class ScenarioOptions:
    """Parameters of one run (``python -m hartnode.testing.sim --help`` lists them)."""

    nodes: int = 1000
    broadcasts: int = 100
    seed: int = 1
    profile: str = "full"
    loss: float = 0.0  # probability a message is lost
    duplicate: float = 0.0  # probability a message arrives twice
    kill_fraction: float = 0.0  # nodes killed at once before the broadcasts
    silent_kill: bool = False  # killed nodes' peers are not told (keepalive must notice)
    flood_baseline: bool = False  # flooding with ``fanout`` instead of Plumtree
    fanout: int = 5
    nat_fraction: float = 0.0  # nodes without a dialable address
    slow_fraction: float = 0.0  # nodes that add ``slow_delay`` to every message
    slow_delay: float = 0.2  # seconds
    payload_size: int = 512  # bytes per broadcast payload
    interval: float = 1.0  # virtual seconds between broadcasts
    join_rate: float = 100.0  # joins per virtual second
    settle: float = 60.0  # virtual seconds after connectivity before broadcasting
    drain: float = 10.0  # virtual seconds after the last broadcast
    shaping: bool = True  # per-link token bucket of the profile
    record_size: int = 0  # bytes of the peer record each node re-announces (0: none)

    def __post_init__(self) -> None:
        if self.nodes < 2 or self.broadcasts < 0:
            raise ValueError("need at least 2 nodes and a non-negative number of broadcasts")
        for name in ("loss", "duplicate", "kill_fraction", "nat_fraction", "slow_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")


@dataclass(slots=True)
class ScenarioResult:
    """Figures of one run; ``summary()`` prints them."""

    options: ScenarioOptions
    core: str
    join_window: float = 0.0  # virtual seconds from the first to the last join
    connected_after: float | None = None  # virtual seconds after the last join
    alive: int = 0
    reliability_mean: float = 0.0
    reliability_min: float = 0.0
    per_broadcast_reliability: list[float] = field(default_factory=list)
    components_per_round: list[int] = field(default_factory=list)  # after a kill only
    rmr: float = 0.0
    max_hops: int = 0
    mean_max_hops: float = 0.0
    max_latency: float = 0.0  # virtual seconds from broadcast to the last delivery
    duplicate_deliveries: int = 0
    components: int = 0
    largest_component: int = 0
    isolated: int = 0
    asymmetric: int = 0
    msgs_per_node_s: float = 0.0
    bytes_per_node_s: float = 0.0
    max_node_bytes_per_s: float = 0.0
    bytes_by_kind: dict[str, float] = field(default_factory=dict)  # per node per second
    protocol_errors: dict[str, int] = field(default_factory=dict)
    events: int = 0
    virtual_s: float = 0.0
    wall_s: float = 0.0
    broadcast_wall_s: float = 0.0  # of which: the broadcasts and the drain after them

    def summary(self) -> str:
        """Human-readable lines of every figure."""
        o = self.options
        conn = "never" if self.connected_after is None else f"{self.connected_after:.2f} s"
        kinds = ", ".join(f"{k} {v:.0f}" for k, v in self.bytes_by_kind.items())
        lines = [
            f"core                 {self.core} (profile {o.profile}, seed {o.seed})",
            f"nodes                {o.nodes} ({self.alive} alive at the end)",
            f"broadcasts           {o.broadcasts}, one per {o.interval} s, {o.payload_size} B",
            f"join window          {self.join_window:.2f} s virtual",
            f"connected overlay    {conn} after the last join",
            f"reliability          mean {self.reliability_mean:.4%}, min "
            f"{self.reliability_min:.4%}",
            f"RMR                  {self.rmr:.4f}",
            f"last delivery hop    max {self.max_hops}, mean {self.mean_max_hops:.2f}",
            f"last delivery        {self.max_latency:.3f} s after broadcast (worst)",
            f"duplicate deliveries {self.duplicate_deliveries}",
            f"components           {self.components} (largest {self.largest_component}), "
            f"isolated {self.isolated}, asymmetric {self.asymmetric}",
            f"per node per second  {self.msgs_per_node_s:.2f} msgs, "
            f"{self.bytes_per_node_s:.0f} B (max node {self.max_node_bytes_per_s:.0f} B)",
            f"bytes by kind        {kinds} (B per node per second)",
            f"events               {self.events} over {self.virtual_s:.1f} s virtual",
            f"wall time            {self.wall_s:.2f} s ({self.broadcast_wall_s:.2f} s of it "
            "for the broadcasts)",
        ]
        if self.protocol_errors:
            lines.append(f"protocol errors      {self.protocol_errors}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return asdict(self)


def make_net(options: ScenarioOptions, config: OverlayConfig | None = None, *,
             broadcast_factory: BroadcastFactory | None = None) -> SimNet:
    """A SimNet with the scenario's faults and broadcast core.

    ``broadcast_factory`` builds the nodes' broadcast cores instead (e.g. a
    validating Plumtree); None: the scenario's (plain Plumtree, or flooding).
    """
    cfg = config or for_profile(options.profile)
    factory = broadcast_factory
    if factory is None and options.flood_baseline:
        fanout = options.fanout

        def factory(node_id: str, c: OverlayConfig, rng: random.Random) -> BroadcastCore:
            return FloodGossip(node_id, fanout, rng, c.seen_cache_size)

    return SimNet(
        options.seed,
        cfg,
        broadcast_factory=factory,
        loss=options.loss,
        duplicate=options.duplicate,
        shaping=options.shaping,
    )


def grow(net: SimNet, count: int, join_rate: float, nat_fraction: float = 0.0,
         boot: Callable[[SimNode, list[SimNode]], None] | None = None) -> float:
    """Add ``count`` nodes joining one by one through random earlier nodes.

    Node 0 (always dialable) starts alone at ``net.now``; the others follow at
    ``join_rate`` per virtual second, each given three dialable contacts.
    ``boot`` starts a node instead of ``net.start`` (another core for some).
    Returns the virtual time of the last join (the caller runs the net).
    """
    rng = net.rng
    start = net.now
    first = len(net.nodes)
    dialable: list[SimNode] = [n for n in net.nodes if n.addr]
    for i in range(count):
        nat = i > 0 and rng.random() < nat_fraction
        node = net.add_node(nat=nat)
        t = start + i / join_rate
        contacts = rng.sample(dialable, min(3, len(dialable))) if dialable else []
        net.call_at(t, _starter(boot or net.start, node, contacts))
        if not nat:
            dialable.append(node)
    return start + (len(net.nodes) - first - 1) / join_rate


def _starter(boot: Callable[[SimNode, list[SimNode]], None], node: SimNode,
             contacts: list[SimNode]) -> Callable[[], None]:
    def start() -> None:
        boot(node, contacts)

    return start


def wait_connected(net: SimNet, limit: float = CONNECT_LIMIT) -> float | None:
    """Run until every live node is in one component; return the virtual time, or None."""
    deadline = net.now + limit
    while True:
        if len(net.components()) == 1:
            return net.now
        if net.now >= deadline:
            return None
        net.run_until(net.now + CONNECT_CHECK)


def _announce_records(net: SimNet, size: int, t0: float, window: float) -> None:
    """Schedule every live node's record refreshes over ``[t0, t0 + window)``.

    The interval is the one ``GossipService`` stretches to for a network of
    this size (each node knows all the others once the overlay settled; the
    simulated nodes are flat, so ``PeerTable.announce_peers`` counts them up
    to half the table), jittered the same way; the first refresh falls at a
    random phase.
    """
    rng = net.rng
    alive = net.alive_nodes()
    known = min(len(alive) - 1, net.config.peer_table_size // 2)
    interval = announce_interval(ANNOUNCE_BASE_S, known, size, net.config.record_budget)
    record = bytes(size)
    for node in alive:
        t = t0 + rng.uniform(0.0, interval)
        while t < t0 + window:
            net.call_at(t, _announcer(net, node, record))
            t += interval * rng.uniform(0.9, 1.1)


def _announcer(net: SimNet, node: SimNode, record: bytes) -> Callable[[], None]:
    def announce() -> None:
        if node.alive:
            net.broadcast(node, record)

    return announce


def _kind(t: type) -> str:
    if t is Gossip:
        return "payload"
    if t in (IHave, Graft, Prune):
        return "lazy"
    if t in (Ping, Pong):
        return "keepalive"
    if t in HYPARVIEW_MESSAGES:
        return "membership"
    return "other"


def run_scenario(options: ScenarioOptions, config: OverlayConfig | None = None) -> ScenarioResult:
    """Run one scenario and measure it (see the module docstring)."""
    wall = time.perf_counter()
    net = make_net(options, config)
    result = ScenarioResult(options, "flood" if options.flood_baseline else "plumtree")
    rng = net.rng
    last_join = grow(net, options.nodes, options.join_rate, options.nat_fraction)
    result.join_window = last_join
    for node in net.nodes:
        if rng.random() < options.slow_fraction:
            node.slow = options.slow_delay
    net.run_until(last_join)
    connected = wait_connected(net)
    result.connected_after = None if connected is None else connected - last_join
    net.run_until(net.now + options.settle)

    if options.kill_fraction:
        victims = rng.sample(net.nodes, int(options.nodes * options.kill_fraction))
        for node in victims:
            net.crash(node, silent=options.silent_kill)

    # The measurement window: broadcasts at a steady rate.
    broadcast_wall = time.perf_counter()
    t0 = net.now
    window = options.broadcasts * options.interval
    stats_before = {t: (s[0], s[1]) for t, s in net.type_stats.items()}
    hs_before = net.handshake_bytes
    node_before = [n.sent_bytes for n in net.nodes]
    payload = bytes(options.payload_size)
    if options.record_size:
        _announce_records(net, options.record_size, t0, window)
    msg_ids: list[bytes] = []
    for k in range(options.broadcasts):
        net.run_until(t0 + k * options.interval)
        if options.kill_fraction:
            result.components_per_round.append(len(net.components()))
        msg_ids.append(net.broadcast(rng.choice(net.alive_nodes()), payload))
    net.run_until(t0 + window)
    alive = net.alive_nodes()
    n_alive = len(alive)
    if window > 0:
        per_node = 1.0 / (n_alive * window)
        by_kind: dict[str, float] = {"membership": (net.handshake_bytes - hs_before) * per_node}
        msgs = 0
        for t, (count, size) in net.type_stats.items():
            c0, b0 = stats_before.get(t, (0, 0))
            msgs += count - c0
            kind = _kind(t)
            by_kind[kind] = by_kind.get(kind, 0.0) + (size - b0) * per_node
        result.bytes_by_kind = {k: round(v, 1) for k, v in sorted(by_kind.items())}
        result.msgs_per_node_s = msgs * per_node
        result.bytes_per_node_s = sum(by_kind.values())
        result.max_node_bytes_per_s = (
            max(n.sent_bytes - node_before[n.index] for n in alive) / window
        )
    net.run_until(t0 + window + options.drain)
    result.broadcast_wall_s = time.perf_counter() - broadcast_wall

    received = reached_minus_one = 0
    hops: list[int] = []
    for msg_id in msg_ids:
        rec = net.records[msg_id]
        reached = len(rec.reached)
        result.per_broadcast_reliability.append(reached / n_alive)
        received += rec.payload_received
        reached_minus_one += max(0, reached - 1)
        hops.append(rec.max_hops)
        result.duplicate_deliveries += rec.duplicates
        result.max_latency = max(result.max_latency, rec.last_delivery - rec.start)
    if msg_ids:
        rel = result.per_broadcast_reliability
        result.reliability_mean = sum(rel) / len(rel)
        result.reliability_min = min(rel)
        result.rmr = received / reached_minus_one - 1 if reached_minus_one else 0.0
        result.max_hops = max(hops)
        result.mean_max_hops = sum(hops) / len(hops)
    comps = net.components()
    result.alive = n_alive
    result.components = len(comps)
    result.largest_component = max((len(c) for c in comps), default=0)
    result.isolated = sum(1 for n in alive if not n.hv.active)
    result.asymmetric = len(net.asymmetric_pairs())
    result.protocol_errors = dict(net.protocol_errors)
    result.events = net.events
    result.virtual_s = net.now
    result.wall_s = time.perf_counter() - wall
    return result
