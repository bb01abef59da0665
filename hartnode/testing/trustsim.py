"""Integrity challenges at network scale: the real cores on a virtual clock (issue 10).

``python -m hartnode.testing.sim trust --nodes 1000 --hours 24`` runs every
node's ``ChallengeIssuer``, ``ChallengeResponder`` and ``Reputation`` with
real signatures and real BLAKE3 over an in-memory release shaped like
hartnode's own (72 files, ~700 KB). A fraction of the nodes runs a modified
install (``modified_files`` files with a line inserted near the top, which
shifts every later byte, as a patch does); a fraction of the honest nodes is
slow (``slow_delay_min``..``slow_delay_max`` seconds added to every message
each way). Every message is lost with probability ``loss``.

What each node does, as the daemon would:
- every ``round_interval`` (jittered) it challenges ``per_round`` random
  neighbours that it does not refuse and that are not in containment;
- its own verdicts feed its own ``Reputation``; a fail is raised as an
  integrity alert (network reach) that reaches every node after
  ``alert_delay`` and counts as a fail there too once re-verified;
- each verdict is an attestation that reaches the node's regional after
  ``sync_delay``; the regional's ``Reputation`` over all its locals'
  attestations publishes decisions that reach its locals after another
  ``sync_delay``.

Differences from the daemon, chosen for speed and said plainly: neighbours
form a static random graph (degree ~6) rather than a live HyParView view; an
alert is re-verified once and the result handed to every node (all hold the
same release, so each would compute the same); regionals are virtual,
always-up aggregators, one per ``region_size`` nodes; a quarantined peer's
links are "closed" by the refusing side not challenging it.

Figures: per modified node, when it was first quarantined by anyone and when
every one of its neighbours refused it (isolated); honest nodes quarantined
by anyone (the goal is zero); verdict counts; challenge traffic per node in
bytes per second (challenge and answer frames, each way, counted at both
ends, divided by 2 for a per-node figure of sent bytes).
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from hartnode.attestation.challenge import (
    Ask,
    ChallengeAnswer,
    ChallengeError,
    ChallengeIssuer,
    ChallengeResponder,
    LocalChallengeError,
    Outcome,
    Verdict,
    verify_evidence,
)
from hartnode.attestation.manifest import MemoryRelease
from hartnode.attestation.reputation import Decision, Reputation, Standing
from hartnode.gossip.overlay_config import for_profile
from hartnode.identity import NodeIdentity
from hartnode.integrity.service import for_overlay

FRAME_OVERHEAD = 40  # bytes: msgpack framing, type number and the transport's seal per message


@dataclass(frozen=True, slots=True)
class TrustOptions:
    """Parameters of one run (``python -m hartnode.testing.sim trust --help``)."""

    nodes: int = 1000
    hours: float = 24.0
    seed: int = 1
    profile: str = "full"
    modified_fraction: float = 0.05
    modified_files: int = 4
    slow_fraction: float = 0.10
    slow_delay_min: float = 0.5
    slow_delay_max: float = 5.0
    loss: float = 0.01
    degree: int = 3  # links each node adds (the graph's mean degree is about twice this)
    region_size: int = 100
    sync_delay: float = 30.0
    alert_delay: float = 5.0
    goal_hours: float = 8.0

    def __post_init__(self) -> None:
        if self.nodes < 4 or self.hours <= 0:
            raise ValueError("need at least 4 nodes and a positive duration")
        for name in ("modified_fraction", "slow_fraction", "loss"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1)")


@dataclass
class TrustResult:
    options: TrustOptions
    modified: int
    slow: int
    isolated: int  # modified nodes refused by all their neighbours
    first_quarantine_h: list[float] = field(default_factory=list)
    isolated_h: list[float] = field(default_factory=list)
    honest_quarantined: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    challenges_per_node_day: float = 0.0
    challenge_bytes_per_node_s: float = 0.0
    wall_s: float = 0.0

    @property
    def goal_met(self) -> bool:
        return (self.isolated == self.modified and self.honest_quarantined == 0
                and max(self.isolated_h, default=0.0) <= self.options.goal_hours)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["goal_met"] = self.goal_met
        return d

    def summary(self) -> str:
        o = self.options
        q = sorted(self.isolated_h)

        def pct(p: float) -> str:
            return f"{q[min(len(q) - 1, int(p * len(q)))]:.2f}" if q else "-"
        return "\n".join([
            f"nodes {o.nodes}, {o.hours:g} h, profile {o.profile}, seed {o.seed}: "
            f"{self.modified} modified ({o.modified_files} files), {self.slow} slow honest "
            f"(+{o.slow_delay_min:g}..{o.slow_delay_max:g} s each way), loss {o.loss:g}",
            f"modified isolated (every neighbour refuses it): {self.isolated}/{self.modified}; "
            f"hours p50 {pct(0.5)}, p90 {pct(0.9)}, max {pct(1.0)} (goal {o.goal_hours:g} h)",
            f"first quarantined by anyone, max h: "
            f"{max(self.first_quarantine_h, default=0):.2f}",
            f"honest nodes quarantined by anyone: {self.honest_quarantined}",
            f"verdicts: {self.verdicts}; integrity alerts: {self.alerts}",
            f"challenges per node per day: {self.challenges_per_node_day:.1f}; "
            f"challenge traffic per node: {self.challenge_bytes_per_node_s:.2f} B/s",
            f"goal met: {self.goal_met}  (wall {self.wall_s:.1f} s)",
        ])


def hartnode_like_release(rng: random.Random) -> MemoryRelease:
    """72 files of 0.3–30 KB, ~700 KB in all, like the installed package."""
    files = {f"hartnode/m{i:02d}.py": rng.randbytes(int(rng.uniform(300, 19_000)))
             for i in range(72)}
    return MemoryRelease("1.0.0", files)


def _modified(release: MemoryRelease, rng: random.Random, count: int) -> MemoryRelease:
    paths = rng.sample(sorted(release.contents), count)
    return release.modified({p: release.contents[p][:40] + b"import evil  # patched\n"
                             + release.contents[p][40:] for p in paths})


class _Sim:
    def __init__(self, o: TrustOptions) -> None:
        self.o = o
        self.rng = random.Random(o.seed)
        rng = self.rng
        overlay = for_profile(o.profile)
        self.params = for_overlay(overlay)
        self.release = hartnode_like_release(rng)
        self.root = self.release.manifest.root_hex
        n = o.nodes
        self.ids = [NodeIdentity.from_seed(rng.randbytes(32)) for _ in range(n)]
        self.index = {ident.node_id: i for i, ident in enumerate(self.ids)}
        order = list(range(n))
        rng.shuffle(order)
        self.modified = set(order[:round(o.modified_fraction * n)])
        self.slow = set(order[len(self.modified):len(self.modified) + round(o.slow_fraction * n)])
        self.installs = {i: _modified(self.release, rng, o.modified_files) for i in self.modified}
        self.delay = [rng.uniform(0.02, 0.15) + (rng.uniform(o.slow_delay_min, o.slow_delay_max)
                                                 if i in self.slow else 0.0) for i in range(n)]
        self.neighbours: list[set[int]] = [set() for _ in range(n)]
        for i in range(n):
            for j in rng.sample(range(n), o.degree + 1):
                if j != i and len(self.neighbours[i]) < o.degree * 3:
                    self.neighbours[i].add(j)
                    self.neighbours[j].add(i)
        self.issuers = [ChallengeIssuer(ident, self.params) for ident in self.ids]
        self.responders = [ChallengeResponder(ident, self.params) for ident in self.ids]
        self.reps = [Reputation() for _ in range(n)]
        self.regions = [Reputation() for _ in range(0, n, o.region_size)]
        # What a region's locals know of its decisions (they arrive sync_delay later).
        self.region_known = [Reputation() for _ in self.regions]
        self.queue: list[tuple[float, int, str, tuple[object, ...]]] = []
        self.seq = 0
        self.verdicts: Counter[str] = Counter()
        self.alerts = 0
        self.bytes = 0
        self.challenges = 0
        self.first_q: dict[int, float] = {}
        self.refused_by: dict[int, set[int]] = {i: set() for i in self.modified}
        self.isolated_at: dict[int, float] = {}
        self.honest_q: set[int] = set()

    def push(self, t: float, kind: str, *args: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (t, self.seq, kind, args))

    def send(self, t: float, src: int, dst: int, kind: str, payload: object, size: int) -> None:
        self.bytes += size + FRAME_OVERHEAD
        if self.rng.random() < self.o.loss:
            return
        self.push(t + self.delay[src] + self.delay[dst], kind, src, dst, payload)

    def arm(self, i: int) -> None:
        t = self.issuers[i].get_timer()
        if t is not None:
            self.push(t, "timer", i)

    def note_decision(self, judge: int | None, subject: int, standing: Standing, t: float) -> None:
        if standing is not Standing.QUARANTINED:
            return
        if subject in self.modified:
            self.first_q.setdefault(subject, t)
        else:
            self.honest_q.add(subject)

    def refuses(self, i: int, j: int) -> bool:
        node_id = self.ids[j].node_id
        known = self.region_known[i // self.o.region_size]
        return self.reps[i].links_refused(node_id) or known.links_refused(node_id)

    def update_isolation(self, subject: int, t: float) -> None:
        if subject not in self.modified or subject in self.isolated_at:
            return
        if all(self.refuses(i, subject) for i in self.neighbours[subject]):
            self.isolated_at[subject] = t

    def run(self) -> TrustResult:
        o = self.o
        for i in range(o.nodes):
            self.issuers[i].start_rounds(0.0, self.rng)
            self.arm(i)
        end = o.hours * 3600
        while self.queue and self.queue[0][0] <= end:
            t, _, kind, args = heapq.heappop(self.queue)
            getattr(self, "on_" + kind)(t, *args)
        return TrustResult(
            options=o, modified=len(self.modified), slow=len(self.slow),
            isolated=len(self.isolated_at),
            first_quarantine_h=sorted(v / 3600 for v in self.first_q.values()),
            isolated_h=sorted(v / 3600 for v in self.isolated_at.values()),
            honest_quarantined=len(self.honest_q), verdicts=dict(self.verdicts),
            alerts=self.alerts,
            challenges_per_node_day=self.challenges / o.nodes / (o.hours / 24),
            challenge_bytes_per_node_s=self.bytes / o.nodes / (o.hours * 3600))

    def on_timer(self, t: float, i: int) -> None:
        issuer = self.issuers[i]
        if issuer.get_timer() is None or issuer.get_timer() > t:  # type: ignore[operator]
            return  # a stale wake-up
        for d in self.reps[i].handle_timer(t):
            self.note_decision(i, self.index[d.peer], d.standing, t)
        if issuer.round_due(t):
            candidates = [self.ids[j].node_id for j in self.neighbours[i]
                          if not self.refuses(i, j)]
            for target in issuer.pick_targets(candidates, t, self.rng):
                try:
                    ask = issuer.issue(target, self.release, nonce=self.rng.randbytes(32),
                                       challenge_id=self.rng.randbytes(16), now=t,
                                       now_ms=int(t * 1000))
                except LocalChallengeError:
                    continue
                self.challenges += 1
                self.deliver_ask(t, i, ask)
        for item in issuer.handle_timer(t):
            if isinstance(item, Ask):
                self.deliver_ask(t, i, item)
            else:
                self.on_verdict(t, i, item)
        self.arm(i)

    def deliver_ask(self, t: float, i: int, ask: Ask) -> None:
        j = self.index[ask.target]
        size = len(ask.challenge.body) + len(ask.challenge.sig)
        self.send(t, i, j, "challenge", ask, size)

    def on_challenge(self, t: float, src: int, dst: int, ask: Ask) -> None:
        install = self.installs.get(dst, self.release)
        try:
            answer = self.responders[dst].answer(ask.challenge, sender=self.ids[src].node_id,
                                                 releases={self.root: install}, now=t)
        except ChallengeError:
            return
        self.send(t, dst, src, "answer", answer, len(answer.body) + len(answer.sig))

    def on_answer(self, t: float, src: int, dst: int, answer: ChallengeAnswer) -> None:
        try:
            verdict = self.issuers[dst].receive(answer, sender=self.ids[src].node_id, now=t)
        except ChallengeError:
            return
        self.on_verdict(t, dst, verdict)
        self.arm(dst)

    def on_verdict(self, t: float, i: int, v: Verdict) -> None:
        self.verdicts[v.outcome.value] += 1
        subject = self.index[v.target]
        d = self.reps[i].observe(v.target, v.outcome, t)
        if d is not None:
            self.note_decision(i, subject, d.standing, t)
            self.update_isolation(subject, t)
        self.push(t + self.o.sync_delay, "attestation", i, subject, v.outcome)
        if v.outcome is Outcome.FAIL and v.challenge is not None and v.answer is not None:
            self.alerts += 1
            verify_evidence(v.challenge, v.answer, {self.root: self.release},
                            self.params)
            self.push(t + self.o.alert_delay, "alert", i, subject)

    def on_attestation(self, t: float, attester: int, subject: int, outcome: Outcome) -> None:
        r = attester // self.o.region_size
        d = self.regions[r].observe(self.ids[subject].node_id, outcome, t)
        if d is not None:
            self.push(t + self.o.sync_delay, "regional", r, subject, d)
            if d.until is not None:
                self.push(d.until, "region_timer", r)

    def on_region_timer(self, t: float, r: int) -> None:
        for d in self.regions[r].handle_timer(t):  # quarantines over: probation, sent down
            self.push(t + self.o.sync_delay, "regional", r, self.index[d.peer], d)

    def on_regional(self, t: float, r: int, subject: int, d: Decision) -> None:
        self.region_known[r].apply(d, t)
        self.note_decision(None, subject, d.standing, t)
        self.update_isolation(subject, t)

    def on_alert(self, t: float, raiser: int, subject: int) -> None:
        node_id = self.ids[subject].node_id
        for i in self.neighbours[subject]:  # only a node that would link to it needs to act
            if i == raiser:
                continue
            d = self.reps[i].observe(node_id, Outcome.FAIL, t)
            if d is not None:
                self.note_decision(i, subject, d.standing, t)
        self.update_isolation(subject, t)


def run_trust(options: TrustOptions) -> TrustResult:
    """Run one seeded scenario and return its figures."""
    started = time.perf_counter()
    result = _Sim(options).run()
    result.wall_s = time.perf_counter() - started
    return result
