"""``python -m hartnode.testing.sim eclipse``: sybils that re-join aggressively (issue #8.5).

A seeded overlay of ``nodes`` nodes grows and settles as in the broadcast
scenarios; a ``sybil_fraction`` of them are the attacker's, behaving like
everyone else until the attack. Then, for ``attack`` virtual seconds, every
sybil sends a Join to a random honest node that is not yet its neighbour,
one every ``rejoin_interval`` seconds; from then on a sybil never evicts
anyone (its active view is unbounded) and accepts every request, so each
link it wins stays won until the honest end lets go.

Figure: the fraction of honest nodes **eclipsed**, i.e. with at least
``threshold`` of their active view sybil, sampled every ``sample`` seconds
over the attack (mean, and the last sample), and the sybils' mean share of
honest active-view slots. ``--no-guard`` runs the paper's rules (every Join
accepted, a random neighbour evicted), the baseline; the same seed gives the
same overlay and the same attack.

Example::

    python -m hartnode.testing.sim eclipse --nodes 1000 --seed 1
    python -m hartnode.testing.sim eclipse --nodes 1000 --seed 1 --no-guard
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from hartnode.gossip.hyparview import HyParView, Join, MembershipEffect, PeerInfo
from hartnode.gossip.overlay_config import PROFILES, for_profile
from hartnode.protocol import Send
from hartnode.testing import options_cli
from hartnode.testing.sim_scenarios import grow, wait_connected
from hartnode.testing.simnet import SimNet, SimNode

SYBIL_VIEW = 100_000  # a sybil's active view: it keeps every link it wins


@dataclass(frozen=True, slots=True)
class EclipseOptions:
    """Parameters of one run (``python -m hartnode.testing.sim eclipse --help``)."""

    nodes: int = 1000
    seed: int = 1
    profile: str = "full"
    sybil_fraction: float = 0.1
    rejoin_interval: float = 1.0  # virtual seconds between two Joins of one sybil
    sybil_groups: int = 0  # address groups the sybils share (0: one each, the worst case)
    attack: float = 300.0  # virtual seconds of attack
    sample: float = 5.0  # virtual seconds between two samples
    threshold: float = 0.8  # sybil share of an active view that counts as eclipsed
    guard: bool = True  # the eclipse guard (False: the paper's rules, the baseline)
    join_rate: float = 100.0  # joins per virtual second while the overlay grows
    settle: float = 60.0  # virtual seconds after connectivity before the attack

    def __post_init__(self) -> None:
        if self.nodes < 10 or not 0.0 < self.sybil_fraction < 1.0:
            raise ValueError("need at least 10 nodes and a sybil fraction in (0, 1)")
        if self.rejoin_interval <= 0 or self.sample <= 0 or self.attack < self.sample:
            raise ValueError("rejoin_interval and sample must be > 0, attack >= sample")


@dataclass(slots=True)
class EclipseResult:
    options: EclipseOptions
    honest: int = 0
    sybils: int = 0
    joins_sent: int = 0
    eclipsed_mean: float = 0.0  # fraction of honest nodes, mean over the samples
    eclipsed_last: float = 0.0  # at the last sample
    sybil_share_mean: float = 0.0  # of honest active-view slots, mean over the samples
    sybil_share_before: float = 0.0  # just before the attack
    isolated_last: int = 0  # honest nodes with an empty active view at the end
    samples: list[float] = field(default_factory=list)  # eclipsed fraction per sample
    wall_s: float = 0.0

    def summary(self) -> str:
        o = self.options
        return "\n".join([
            f"rules             {'guarded' if o.guard else 'paper (no guard)'}, profile "
            f"{o.profile}, seed {o.seed}",
            f"nodes             {self.honest} honest, {self.sybils} sybil "
            + (f"(sharing {o.sybil_groups} address groups)" if o.sybil_groups
               else "(an address group each)"),
            f"attack            {o.attack:.0f} s, a Join per sybil every {o.rejoin_interval} s "
            f"({self.joins_sent} Joins)",
            f"eclipsed (>= {o.threshold:.0%}) mean {self.eclipsed_mean:.2%}, at the end "
            f"{self.eclipsed_last:.2%} of honest nodes",
            f"sybil share       {self.sybil_share_mean:.2%} of honest active slots "
            f"(before the attack {self.sybil_share_before:.2%})",
            f"isolated honest   {self.isolated_last} at the end",
            f"wall time         {self.wall_s:.1f} s",
        ])

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class SybilMembership(HyParView):
    """An attacker's core: a normal node until ``go_rogue``, then it keeps every
    link it wins (no view bound, no eviction) and Joins honest nodes on command."""

    def go_rogue(self) -> None:
        self.config = replace(self.config, active_view_size=SYBIL_VIEW, admission_guard=False)
        self._guard.config = self.config

    def attack(self, target: PeerInfo, now: float) -> list[MembershipEffect]:
        """Open a link to ``target`` (or reuse one) and Join it."""
        out: list[MembershipEffect] = []
        if target.node_id in self._links:
            out.append(Send(target.node_id, Join(self.me)))
            self._add_active(target.node_id, target.addr, now, out)
        elif self._send(target.node_id, target.addr, Join(self.me), now, out):
            self._joining[target.node_id] = target.addr
        return out


def _share(honest: list[SimNode], sybil_ids: set[str],
           threshold: float) -> tuple[float, float, int]:
    """(eclipsed fraction, sybil share of slots, isolated) over the live honest nodes."""
    eclipsed = slots = sybil_slots = isolated = 0
    live = [n for n in honest if n.alive]
    for n in live:
        view = n.hv.active
        if not view:
            isolated += 1
            continue
        s = sum(1 for p in view if p in sybil_ids)
        slots += len(view)
        sybil_slots += s
        if s / len(view) >= threshold:
            eclipsed += 1
    return eclipsed / max(1, len(live)), sybil_slots / max(1, slots), isolated


def run_eclipse(options: EclipseOptions) -> EclipseResult:
    wall = time.perf_counter()
    cfg = replace(for_profile(options.profile), admission_guard=options.guard)
    net = SimNet(options.seed, cfg)
    rng = net.rng
    count = options.nodes
    sybil_idx = set(rng.sample(range(1, count), int(count * options.sybil_fraction)))
    def boot(node: SimNode, contacts: list[SimNode]) -> None:
        if node.index in sybil_idx:
            k = options.sybil_groups
            node.addr_group = f"sybil{node.index % k}" if k else ""
            net.start(node, contacts, membership=SybilMembership)
        else:
            net.start(node, contacts)

    last_join = grow(net, count, options.join_rate, boot=boot)
    net.run_until(last_join)
    wait_connected(net)
    net.run_until(net.now + options.settle)
    honest = [n for n in net.nodes if n.index not in sybil_idx]
    sybils = [n for n in net.nodes if n.index in sybil_idx]
    sybil_ids = {n.node_id for n in sybils}
    result = EclipseResult(options, honest=len(honest), sybils=len(sybils))
    result.sybil_share_before = _share(honest, sybil_ids, options.threshold)[1]
    t0 = net.now
    for s in sybils:  # staggered, so the Joins arrive evenly
        assert isinstance(s.hv, SybilMembership)
        s.hv.go_rogue()
        first = t0 + rng.uniform(0, options.rejoin_interval)
        net.call_at(first, _rejoiner(net, s, honest, options.rejoin_interval,
                                     t0 + options.attack, result))
    shares: list[float] = []
    t = t0
    while t < t0 + options.attack:
        t += options.sample
        net.run_until(t)
        eclipsed, share, isolated = _share(honest, sybil_ids, options.threshold)
        result.samples.append(round(eclipsed, 4))
        shares.append(share)
        result.isolated_last = isolated
    result.eclipsed_mean = sum(result.samples) / len(result.samples)
    result.eclipsed_last = result.samples[-1]
    result.sybil_share_mean = sum(shares) / len(shares)
    result.wall_s = time.perf_counter() - wall
    return result


def _rejoiner(net: SimNet, sybil: SimNode, honest: list[SimNode], interval: float,
              until: float, result: EclipseResult) -> Callable[[], None]:
    def rejoin() -> None:
        if net.now >= until or not sybil.alive:
            return
        core = sybil.hv
        assert isinstance(core, SybilMembership)
        targets = [n for n in honest if n.alive and n.node_id not in core.active]
        if targets:
            target = net.rng.choice(targets)
            result.joins_sent += 1
            net.apply(sybil, core.attack(target.info, net.now))
        net.call_at(net.now + interval, rejoin)

    return rejoin


_HELP = {
    "nodes": "number of nodes, sybils included",
    "seed": "seed of every random choice (same seed, same run)",
    "profile": "bandwidth profile: " + ", ".join(PROFILES),
    "sybil_fraction": "fraction of the nodes that are sybils",
    "rejoin_interval": "virtual seconds between two Joins of one sybil",
    "sybil_groups": "address groups the sybils share (0: one each)",
    "attack": "virtual seconds of attack",
    "sample": "virtual seconds between two samples",
    "threshold": "sybil share of an active view that counts as eclipsed",
    "guard": "the eclipse guard (--no-guard: the paper's rules, the baseline)",
    "join_rate": "joins per virtual second while the overlay grows",
    "settle": "virtual seconds after connectivity before the attack",
}


def main(argv: Sequence[str]) -> int:
    parser = options_cli.build_parser(EclipseOptions, _HELP,
                                      prog="python -m hartnode.testing.sim eclipse",
                                      description=__doc__ or "",
                                      choices={"profile": sorted(PROFILES)})
    return options_cli.run_cli(parser, EclipseOptions, run_eclipse, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
