"""Seeded ledger-replication scenarios on SimNet (issue #4) and the figures they measure.

Every scenario has the same timeline. Nodes join and the overlay settles;
then every node's anti-entropy rounds start and events are written at
``write_rate`` per virtual second network-wide (Poisson arrivals at random
honest live nodes), ``warmup`` seconds before the fault and through the
``fault`` seconds it lasts. When the fault ends, writing stops, and the run
waits (at most ``limit`` seconds) until every live honest node holds exactly
the events written by honest nodes: the same set of event hashes everywhere.

- ``partition-heal``: the nodes split into two random halves that both keep
  writing; the fault's end heals the partition (issue #4's goal: identical
  sets within 30 s of the heal at N = 1,000, nothing unverified stored);
- ``churn``: every ``churn_interval`` a random node crashes (half of them
  silently, as on power loss) and comes back 2-20 s later with its ledger and
  an empty overlay state; the last ones are back when the fault ends;
- ``forged``: one node lies about its heads, serves an impostor at the top of
  every feed it is asked for and pushes forged events every
  ``forge_interval``: none may be stored, or served or pushed by an honest
  node, and no forged push may be relayed beyond the forger's neighbours;
- ``lossy``: from the fault's start to the end of the run, each message is
  lost with probability ``loss`` and duplicated with probability ``loss / 2``;
- ``forking``: one node signs two events at one seq; it serves version B
  (neighbours pull it) for one sync interval, then pushes version A to all,
  then goes on writing on branch B. The nodes shown both versions detect
  the fork and spread the proof (``ForkEvidence``): convergence here also
  needs every live honest node to hold the fork as proven, and none may
  store the forker's later events once it does; the forker's feed is left
  out of the set comparison.

With ``late_joiners``, that many fresh nodes join when the fault ends: they
must pull every feed, and learn the known forks from the proofs their new
neighbours hand them on link-up (nobody re-broadcasts an old proof).

Figures: convergence time after the fault's end (virtual s), the overlay's
reconnection time, events written, messages and bytes per node per second
over the writing window and the convergence (push = Plumtree ``Gossip``,
pull = the replication messages, overlay = the rest with handshakes), the
unverified events stored (every stored event re-verified from its bytes at
the end, without the memo), the pulls still in flight well past the
core's want deadline (``stuck_window``), and wall time.

The nodes' Plumtree cores are built with ``validate`` as in the daemon, so a
broadcast is relayed only after the node's app judged it (``ReplicationApp``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hartnode.catalog import build_catalog
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.plumtree import Gossip, Plumtree
from hartnode.replication.core import REPLICATION_TYPES, WANT_ROUNDS
from hartnode.testing.mem_ledger import Auditor, fingerprint
from hartnode.testing.repsim import ReplicationApp, RepNode, Role
from hartnode.testing.sim_scenarios import ScenarioOptions, grow, make_net, wait_connected
from hartnode.testing.simnet import SimNet, SimNode

SCENARIOS = ("partition-heal", "churn", "forged", "lossy", "forking")
CHECK = 0.25  # virtual seconds between convergence checks
GOAL_S = 30.0  # issue #4: identical everywhere within 30 simulated seconds of the heal


@dataclass(frozen=True, slots=True)
class RepOptions:
    """Parameters of one run (``python -m hartnode.testing.sim replication --help``)."""

    scenario: str = "partition-heal"
    nodes: int = 1000
    seed: int = 1
    profile: str = "full"
    write_rate: float = 10.0  # events per virtual second, network-wide
    warmup: float = 10.0  # virtual s of writing before the fault starts
    fault: float = 60.0  # virtual s the fault lasts; writing goes on meanwhile
    limit: float = 120.0  # virtual s after the fault to wait for convergence
    sync_interval: float = 10.0  # s between anti-entropy rounds (network.sync_interval)
    loss: float = 0.05  # lossy: probability that a message is lost
    churn_interval: float = 1.0  # churn: virtual s between two crashes
    forge_interval: float = 1.0  # forged: virtual s between two forged pushes
    join_rate: float = 100.0  # joins per virtual second while the overlay forms
    settle: float = 20.0  # virtual s after the overlay is connected, before writing
    late_joiners: int = 0  # nodes that join with empty ledgers when the fault ends

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}")
        if self.nodes < 4:
            raise ValueError("need at least 4 nodes")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError("loss must be in [0, 1)")
        if self.late_joiners < 0:
            raise ValueError("late_joiners must not be negative")
        for name in ("write_rate", "sync_interval", "churn_interval", "forge_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(slots=True)
class RepResult:
    """Figures and invariants of one run; ``summary()`` prints them."""

    options: RepOptions
    converged_after: float | None = None  # virtual s after the fault's end; None: never
    reconnected_after: float | None = None  # virtual s until the overlay is one component
    components_at_end: int = 0  # overlay components when the fault ended (2 = split halves)
    alive: int = 0
    honest: int = 0
    events_written: int = 0
    events_per_node_s: float = 0.0
    msgs_per_node_s: float = 0.0
    bytes_per_node_s: float = 0.0
    bytes_by_kind: dict[str, float] = field(default_factory=dict)  # per node per second
    window_s: float = 0.0  # virtual s the per-second figures cover
    unverified_stored: int = 0  # stored items failing re-verification, all nodes
    missing: int = 0  # (node, event) pairs short of the honest events at the end
    extra: int = 0  # (node, event) pairs stored that no honest node wrote
    push_reach: float = 0.0  # share of nodes an honest push was delivered at, mean
    forged_offered: int = 0
    forged_stored: int = 0
    forged_forwarded: int = 0  # by honest nodes, in a Batch or a push of their own
    forged_push_reach: float = 0.0  # share of nodes Plumtree carried a forged push to
    fork_detected: int = 0  # honest nodes holding the fork as proven
    fork_offered_both: int = 0  # honest nodes offered both versions
    fork_offered_both_undetected: int = 0
    fork_stored_after_detection: int = 0
    fork_known_by_all_after: float | None = None  # virtual s after version A's push
    fraud_alerts: int = 0
    forged_push_beyond: int = 0  # (push, node) deliveries beyond the forger's neighbours
    stuck_pulls: int = 0  # (node, neighbour) pairs pulling at convergence and a window later
    wants_dropped: int = 0  # wants the cores gave up as lost (live cores, at the end)
    verifications: int = 0  # distinct events actually verified (the rest hit the memo)
    protocol_errors: dict[str, int] = field(default_factory=dict)
    virtual_s: float = 0.0
    wall_s: float = 0.0

    def summary(self) -> str:
        o = self.options
        conv = "never" if self.converged_after is None else f"{self.converged_after:.2f} s"
        recon = "-" if self.reconnected_after is None else f"{self.reconnected_after:.2f} s"
        kinds = ", ".join(f"{k} {v:.0f}" for k, v in self.bytes_by_kind.items())
        lines = [
            f"scenario             {o.scenario} (seed {o.seed}, profile {o.profile}, "
            f"sync every {o.sync_interval:g} s)",
            f"nodes                {o.nodes} ({self.alive} alive, {self.honest} honest)",
            f"events written       {self.events_written} ({o.write_rate:g}/s network-wide, "
            f"{self.events_per_node_s:.4f} per node per s)",
            f"converged            {conv} after the fault's end (goal for partition-heal: "
            f"<= {GOAL_S:g} s)",
            f"overlay reconnected  {recon} after the fault's end ({self.components_at_end} "
            "components when it ended)",
            f"unverified stored    {self.unverified_stored}",
            f"missing / extra      {self.missing} / {self.extra} (node, event) pairs",
            f"per node per second  {self.msgs_per_node_s:.2f} msgs, {self.bytes_per_node_s:.0f} B"
            f" over {self.window_s:.1f} s ({kinds})",
            f"verifications        {self.verifications} distinct events (memoised by bytes)",
            f"push reach           {self.push_reach:.2%} of nodes per honest push (mean)",
            f"stuck pulls          {self.stuck_pulls} (node, neighbour) pairs pulling at "
            f"convergence and still {stuck_window(o):g} s later; {self.wants_dropped} wants "
            f"dropped as lost after {WANT_ROUNDS} silent rounds",
        ]
        if o.scenario == "forged":
            lines.append(
                f"forged               {self.forged_offered} made, {self.forged_stored} stored, "
                f"{self.forged_forwarded} served or pushed by honest nodes; the forged pushes "
                f"reached {self.forged_push_reach:.2%} of nodes (forger and neighbours), "
                f"{self.forged_push_beyond} deliveries beyond its neighbours")
        if o.scenario == "forking":
            known = ("never" if self.fork_known_by_all_after is None
                     else f"{self.fork_known_by_all_after:.2f} s")
            lines.append(
                f"fork                 detected by {self.fork_detected} of {self.honest} "
                f"(by all {known} after version A's push); "
                f"offered both: {self.fork_offered_both} "
                f"({self.fork_offered_both_undetected} of them undetected); "
                f"stored after detection: {self.fork_stored_after_detection}; "
                f"fraud alerts: {self.fraud_alerts}")
        if self.protocol_errors:
            lines.append(f"protocol errors      {self.protocol_errors}")
        lines.append(f"virtual / wall time  {self.virtual_s:.1f} s / {self.wall_s:.2f} s")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _Run:
    """One scenario run: the net, the app and the bookkeeping between phases."""

    def __init__(self, options: RepOptions) -> None:
        self.o = options
        self.net: SimNet = make_net(ScenarioOptions(
            nodes=options.nodes, seed=options.seed, profile=options.profile),
            broadcast_factory=validating_plumtree)
        self.app = ReplicationApp(self.net, build_catalog().kinds,
                                  sync_interval=options.sync_interval)
        self.rng = random.Random(self.net.rng.getrandbits(64))  # scenario's own stream
        self.bad: RepNode | None = None
        self.excluded: set[str] = set()  # origins left out of the set comparison
        self.writing = False

    # --- phases ---

    def build(self) -> None:
        o, net = self.o, self.net
        last = grow(net, o.nodes, o.join_rate)
        bad_role = {"forged": Role.FORGER, "forking": Role.FORKER}.get(o.scenario)
        bad_index = self.rng.randrange(1, o.nodes) if bad_role else -1
        for sim in net.nodes:
            role = bad_role if bad_role and sim.index == bad_index else Role.HONEST
            node = self.app.add(sim, role)
            if role is not Role.HONEST:
                self.bad = node
                self.excluded.add(node.origin)
        net.run_until(last)
        wait_connected(net)
        net.run_until(net.now + o.settle)
        self.app.start_rounds()

    def writer(self) -> Callable[[], None]:
        def write() -> None:
            if not self.writing:
                return
            live = [n for n in self.app.nodes.values()
                    if n.sim.alive and n.role is Role.HONEST]
            self.app.note(self.rng.choice(live))
            self.net.call_at(self.net.now + self.rng.expovariate(self.o.write_rate), write)

        return write

    def every(self, interval: float, until: float, fn: Callable[[], None]) -> None:
        def tick() -> None:
            if self.net.now < until:
                fn()
                self.net.call_at(self.net.now + interval, tick)

        self.net.call_at(self.net.now, tick)

    def start_fault(self, end: float) -> None:
        o, net, app = self.o, self.net, self.app
        if o.scenario == "partition-heal":
            shuffled = list(net.nodes)
            self.rng.shuffle(shuffled)
            half = len(shuffled) // 2
            net.partition([shuffled[:half], shuffled[half:]])
        elif o.scenario == "lossy":
            net.loss, net.duplicate = o.loss, o.loss / 2
        elif o.scenario == "churn":
            self.every(o.churn_interval, end, lambda: self._churn(end))
        elif o.scenario == "forged":
            forger = self.bad
            assert forger is not None
            self.every(o.forge_interval, end, lambda: app.forge_push(forger, self.rng))
        elif o.scenario == "forking":
            forker = self.bad
            assert forker is not None

            def write() -> None:
                app.note(forker)

            # A few events everybody gets; then version B, only served (pulls
            # spread it for one sync interval); then version A, pushed to all;
            # then more events on branch B.
            for k in range(3):
                net.call_at(net.now + 1.0 + k, write)
            net.call_at(net.now + 5.0, lambda: app.fork_serve(forker))
            net.call_at(net.now + 5.0 + o.sync_interval, app.fork_push)
            for k in range(3):
                net.call_at(net.now + 10.0 + o.sync_interval + 5 * k, write)

    def _churn(self, end: float) -> None:
        net = self.net
        live = net.alive_nodes()
        victim = self.rng.choice(live)
        net.crash(victim, silent=self.rng.random() < 0.5)
        back = min(net.now + self.rng.uniform(2.0, 20.0), end)
        contacts = self.rng.sample([n for n in live if n is not victim], 3)
        net.call_at(back, lambda: self._restart(victim, contacts))

    def _restart(self, node: SimNode, contacts: list[SimNode]) -> None:
        if not node.alive:
            alive = [c for c in contacts if c.alive] or [self.rng.choice(self.net.alive_nodes())]
            self.net.start(node, alive)

    def end_fault(self) -> None:
        if self.o.scenario == "partition-heal":
            self.net.heal()
        # Nodes new to the network: they must pull every feed, and learn the
        # forks known so far from the proofs their neighbours hand them.
        late = []
        for _ in range(self.o.late_joiners):
            sim = self.net.add_node()
            late.append(self.app.add(sim))
            self.net.start(sim, self.rng.sample(self.net.alive_nodes(), 3))
        self.app.start_rounds(late)

    # --- checks ---

    def honest_live(self) -> list[RepNode]:
        return [n for n in self.app.nodes.values() if n.sim.alive and n.role is Role.HONEST]

    def target(self) -> tuple[int, int]:
        count = fp = 0
        for e in self.app.written:
            if e.origin not in self.excluded:
                count += 1
                fp ^= fingerprint(e.hash)
        return count, fp

    def view(self, node: RepNode) -> tuple[int, int]:
        """(count, fingerprint) of ``node``'s events, excluded origins left out."""
        ledger = self.app.nodes[node.sim.node_id].ledger
        count, fp = len(ledger.hashes), ledger.fingerprint
        for origin in self.excluded:
            for item in ledger.feeds.get(origin, ()):
                if item.hash in ledger.hashes:
                    count -= 1
                    fp ^= fingerprint(item.hash)
        return count, fp

    def converged(self) -> bool:
        """Every live honest node holds the honest events, and knows the fork if any."""
        want = self.target()
        honest = self.honest_live()
        if self.app.fork is not None:
            forker = self.app.fork[0].origin
            if not all(forker in n.ledger.forked() for n in honest):
                return False
        return all(self.view(n) == want for n in honest)


def validating_plumtree(node_id: str, config: OverlayConfig, rng: random.Random) -> Plumtree:
    """The daemon's broadcast core: relays a message only once the app judged it valid."""
    return Plumtree(node_id, config, rng, validate=True)


def stuck_window(o: RepOptions) -> float:
    """Virtual s after convergence to look for pulls that never end: past the core's
    want deadline (``WANT_ROUNDS`` rounds), so only pulls it failed to drop remain."""
    return (WANT_ROUNDS + 1) * o.sync_interval


def run_replication(options: RepOptions) -> RepResult:
    """Run one scenario and measure it (see the module docstring)."""
    wall = time.perf_counter()
    run = _Run(options)
    net, app, o = run.net, run.app, options
    result = RepResult(options)
    run.build()

    t0 = net.now
    stats0 = {t: (s[0], s[1]) for t, s in net.type_stats.items()}
    hs0 = net.handshake_bytes
    run.writing = True
    net.call_at(t0, run.writer())
    fault_at = t0 + o.warmup
    end = fault_at + o.fault
    net.run_until(fault_at)
    run.start_fault(end)
    net.run_until(end)
    run.writing = False
    result.components_at_end = len(net.components())
    run.end_fault()

    while net.now < end + o.limit:
        if result.reconnected_after is None and len(net.components()) == 1:
            result.reconnected_after = net.now - end
        if run.converged():
            result.converged_after = net.now - end
            break
        net.run_until(net.now + CHECK)
    if result.reconnected_after is None and len(net.components()) == 1:
        result.reconnected_after = net.now - end

    _figures(result, run, t0, stats0, hs0)
    _invariants(result, run)
    result.stuck_pulls = _stuck_pulls(run)
    result.wants_dropped = sum(n.core.wants_dropped for n in app.nodes.values())
    result.protocol_errors = dict(net.protocol_errors)
    result.verifications = app.verifier.verified
    result.virtual_s = net.now
    result.wall_s = time.perf_counter() - wall
    return result


def _figures(result: RepResult, run: _Run, t0: float,
             stats0: dict[type, tuple[int, int]], hs0: int) -> None:
    net = run.net
    window = net.now - t0
    n = len(net.alive_nodes())
    per = 1.0 / (n * window)
    by_kind = {"overlay": (net.handshake_bytes - hs0) * per, "pull": 0.0, "push": 0.0}
    msgs = 0
    for t, (count, size) in net.type_stats.items():
        c0, b0 = stats0.get(t, (0, 0))
        msgs += count - c0
        kind = "push" if t is Gossip else "pull" if t in REPLICATION_TYPES else "overlay"
        by_kind[kind] += (size - b0) * per
    result.window_s = window
    result.bytes_by_kind = {k: round(v, 1) for k, v in sorted(by_kind.items())}
    result.msgs_per_node_s = msgs * per
    result.bytes_per_node_s = sum(by_kind.values())
    result.events_written = len(run.app.written)
    result.events_per_node_s = result.events_written / (len(net.nodes) * window)


def _stuck_pulls(run: _Run) -> int:
    """Pulls in flight now and still ``stuck_window`` later.

    A pull takes well under a second here; one that lasts longer lost its
    Want or Batch. ``Replicator`` drops such wants after ``WANT_ROUNDS``
    silent rounds and digests the peer again, so none should last the
    window (before that deadline, 491 of ~5,000 directions did in the lossy
    run at N = 1,000: that link direction's anti-entropy was off). Links to
    a misbehaving node are left out: a forger that claims more than it has
    is pulled from again every round, which is its doing, not a stall.
    """
    honest = {n.sim.node_id for n in run.honest_live()}

    def pulling() -> set[tuple[str, str]]:
        return {(n.sim.node_id, p) for n in run.honest_live() for p in n.sim.hv.active
                if p in honest and n.core.pulling(p)}

    before = pulling()
    run.net.run_until(run.net.now + stuck_window(run.o))
    return len(before & pulling())


def _invariants(result: RepResult, run: _Run) -> None:
    app = run.app
    honest = run.honest_live()
    result.alive = len(run.net.alive_nodes())
    result.honest = len(honest)
    want = {e.hash for e in app.written if e.origin not in run.excluded}
    auditor = Auditor()
    for node in app.nodes.values():
        result.unverified_stored += auditor.unverified(node.ledger)
    for node in honest:
        left_out = {i.hash for o in run.excluded for i in node.ledger.feeds.get(o, ())}
        have = node.ledger.hashes - left_out
        result.missing += len(want - have)
        result.extra += len(have - want)
        result.forged_stored += len(node.ledger.hashes & app.forged_hashes)
    result.forged_offered = len(app.forged)
    result.forged_forwarded = app.forwarded_forged
    if app.honest_pushes:
        result.push_reach = sum(len(run.net.records[m].reached) for m in app.honest_pushes) / (
            len(app.honest_pushes) * len(run.net.nodes))
    if app.forged_pushes:
        records = [run.net.records[m] for m in app.forged_pushes]
        result.forged_push_reach = (sum(len(r.reached) for r in records)
                                    / (len(records) * len(run.net.nodes)))
        result.forged_push_beyond = sum(len(r.reached - app.forged_push_allowed[r.msg_id])
                                        for r in records)
    if app.fork is not None:
        forker = app.fork[0].origin
        both = {nid for nid, seen in app.saw_fork_version.items() if len(seen) == 2}
        for node in honest:
            detected = forker in node.ledger.forked()
            result.fork_detected += detected
            if node.sim.node_id in both:
                result.fork_offered_both += 1
                result.fork_offered_both_undetected += not detected
        result.fork_stored_after_detection = app.stored_after_detection
        result.fraud_alerts = app.alerts
        known = [app.fork_known_at.get(n.sim.node_id) for n in honest]
        if app.fork_pushed_at is not None and honest and None not in known:
            result.fork_known_by_all_after = max(
                t for t in known if t is not None) - app.fork_pushed_at
