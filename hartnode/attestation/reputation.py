"""Per-peer Beta reputation and quarantine, in the style of Storj's audit score (DESIGN §8).

Each observed challenge outcome updates a peer's (α, β) with

    α′ = λα + w(1+v)/2,   β′ = λβ + w(1−v)/2,   score = α / (α + β)

where v = +1 for ``pass`` and v = −1 for ``fail`` and for ``offline`` (a
challenge left unanswered through all its re-asks: Storj counts containment
run out as a failed audit, so going quiet is no way to dodge one; here with
half the weight, ``offline_weight`` = 0.5, since an honest node's outage also
ends that way). ``unknown`` (our own error) never touches the score; it has
its own fast-forgetting track (u′ = μu + 1, μ = 0.5) so an operator sees our
side failing.

Parameters (``ReputationParams``), for ~144 challenges a day per node:
- λ = 0.98: a memory of 1/(1−λ) = 50 observations. One neighbour challenges
  a given peer ~29 times a day (144 rounds over ~5 neighbours), so it
  forgets in ~1.7 days; a regional that sees all ~144 verdicts a day about a
  peer, in ~8 hours.
- α₀ = w/(1−λ) = 50, β₀ = 0: a new peer starts where a peer that always
  passed converges (Storj's choice), so one early failure cannot quarantine it.
- threshold 0.9 (Storj disqualifies below 0.96 with λ = 0.999). An honest
  node never fails — a fail is a signed wrong answer — so the threshold can
  sit high: a peer that fails a fraction f of its challenges drifts to a
  score of 1−f and is caught for any f above 10 %; one that dodges by going
  quiet on a fraction f drifts to (1−f)/(1−f/2) and is caught above ~18 %.
  Closed form after n straight failures from (α, β):

      αₙ = λⁿα,   βₙ = λⁿβ + w(1−λⁿ)/(1−λ),   scoreₙ = λⁿα / (λⁿ(α+β) + w(1−λⁿ)/(1−λ))

  From (50, 0) that is scoreₙ = 0.98ⁿ: 0.98⁵ = 0.904, 0.98⁶ = 0.886, so **6
  straight failures quarantine** a peer with a perfect history, and 10
  straight offline verdicts (0.5 each) do; an honest peer's outage costs one
  offline verdict per challenger that had a challenge in flight.

Quarantine: below the threshold a peer is quarantined for a backoff that
starts at ``quarantine_base`` (1 h) and doubles with each further quarantine
(``strikes``) up to ``quarantine_max`` (7 days). When it ends the peer is on
**probation**: links are allowed again so it can be challenged, it is still
excluded from compute, and it recovers after ``recovery_passes`` passes in a
row with its score back above the threshold; a failure on probation
quarantines it again with the next backoff.

Sans-I/O: ``now`` is wall-clock seconds (quarantines outlive restarts, so the
shell persists ``export()`` and passes ``time.time()``); timers follow the
``get_timer()`` / ``handle_timer(now)`` shape.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from hartnode.attestation.challenge import Outcome


@dataclass(frozen=True, slots=True)
class ReputationParams:
    forgetting: float = 0.98  # λ: weight kept by the past at each observation
    weight: float = 1.0  # w: weight of one pass or fail
    offline_weight: float = 0.5  # w of an offline verdict (containment run out)
    alpha0: float = 50.0  # α of a new peer; w / (1 − λ)
    beta0: float = 0.0  # β of a new peer
    threshold: float = 0.9  # score below which a peer is quarantined
    quarantine_base: float = 3600.0  # seconds of a first quarantine
    quarantine_max: float = 7 * 86400.0  # seconds: the longest quarantine
    recovery_passes: int = 3  # passes in a row that end probation
    unknown_forgetting: float = 0.5  # μ of the unknown (our own error) track

    def __post_init__(self) -> None:
        if not 0 < self.forgetting < 1 or not 0 < self.unknown_forgetting < 1:
            raise ValueError("forgetting factors must be in (0, 1)")
        if not 0 < self.threshold < 1:
            raise ValueError("threshold must be in (0, 1)")
        if self.alpha0 <= 0 or self.beta0 < 0 or self.weight <= 0 or self.offline_weight < 0:
            raise ValueError("alpha0 and weight must be > 0, beta0 >= 0")
        if not 0 < self.quarantine_base <= self.quarantine_max:
            raise ValueError("0 < quarantine_base <= quarantine_max")
        if self.recovery_passes < 1:
            raise ValueError("recovery_passes must be >= 1")


def beta_update(alpha: float, beta: float, v: int, p: ReputationParams,
                weight: float | None = None) -> tuple[float, float]:
    """One Storj-style update: v = +1 (pass) or −1 (fail), weight w (default ``p.weight``)."""
    lam, w = p.forgetting, p.weight if weight is None else weight
    return lam * alpha + w * (1 + v) / 2, lam * beta + w * (1 - v) / 2


def score_after_failures(n: int, p: ReputationParams, alpha: float | None = None,
                         beta: float | None = None) -> float:
    """The closed form of the score after ``n`` straight failures from (α, β)."""
    a = p.alpha0 if alpha is None else alpha
    b = p.beta0 if beta is None else beta
    lam_n = p.forgetting ** n
    return lam_n * a / (lam_n * (a + b) + p.weight * (1 - lam_n) / (1 - p.forgetting))


def failures_to_quarantine(p: ReputationParams) -> int:
    """Straight failures that take a new peer below the threshold."""
    n = 0
    while score_after_failures(n, p) >= p.threshold:
        n += 1
    return n


class Standing(enum.Enum):
    """What a peer's integrity allows (``peer_nodes.integrity_status`` adds ``unknown``)."""

    TRUSTED = "trusted"
    QUARANTINED = "quarantined"  # links closed and refused, excluded from compute
    PROBATION = "probation"  # links allowed to be challenged, excluded from compute


@dataclass(frozen=True, slots=True)
class Decision:
    """A change of a peer's standing, to act on and to publish (regionals)."""

    peer: str
    standing: Standing
    until: float | None  # seconds (wall clock) for quarantine
    score: float
    reason: str


@dataclass
class PeerReputation:
    alpha: float
    beta: float
    standing: Standing = Standing.TRUSTED
    until: float | None = None
    strikes: int = 0  # quarantines so far (the backoff doubles with each)
    streak: int = 0  # passes in a row on probation
    unknown: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    last_ms: int = 0

    @property
    def score(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def observed(self) -> int:
        return self.counts["pass"] + self.counts["fail"] + self.counts["offline"]


class Reputation:
    """Scores and standings of every peer this node (or region) judges."""

    def __init__(self, params: ReputationParams | None = None, max_peers: int = 100_000) -> None:
        self.params = params or ReputationParams()
        self.max_peers = max_peers  # a bound on our state: the least observed are dropped
        self.peers: dict[str, PeerReputation] = {}

    def _peer(self, peer: str) -> PeerReputation:
        rep = self.peers.get(peer)
        if rep is None:
            if len(self.peers) >= self.max_peers:
                victim = min((r.observed, p) for p, r in self.peers.items()
                             if r.standing is Standing.TRUSTED)[1]
                del self.peers[victim]
            rep = self.peers[peer] = PeerReputation(self.params.alpha0, self.params.beta0)
        return rep

    def standing(self, peer: str) -> Standing:
        rep = self.peers.get(peer)
        return Standing.TRUSTED if rep is None else rep.standing

    def integrity_status(self, peer: str) -> str:
        """``peer_nodes.integrity_status``: unknown (never judged), or the standing."""
        rep = self.peers.get(peer)
        if rep is None or (rep.observed == 0 and rep.standing is Standing.TRUSTED):
            return "unknown"
        return rep.standing.value

    def links_refused(self, peer: str) -> bool:
        return self.standing(peer) is Standing.QUARANTINED

    def compute_allowed(self, peer: str) -> bool:
        return self.standing(peer) is Standing.TRUSTED

    def _backoff(self, strikes: int) -> float:
        p = self.params
        return min(p.quarantine_max, p.quarantine_base * 2.0 ** min(strikes, 40))

    def _quarantine(self, peer: str, rep: PeerReputation, now: float, reason: str) -> Decision:
        rep.until = now + self._backoff(rep.strikes)
        rep.strikes += 1
        rep.standing = Standing.QUARANTINED
        rep.streak = 0
        return Decision(peer, Standing.QUARANTINED, rep.until, rep.score, reason)

    def observe(self, peer: str, outcome: Outcome, now: float) -> Decision | None:
        """Fold in one outcome; returns a decision when the peer's standing changes."""
        rep = self._peer(peer)
        rep.counts[outcome.value] += 1
        rep.last_ms = int(now * 1000)
        if outcome is Outcome.UNKNOWN:
            rep.unknown = self.params.unknown_forgetting * rep.unknown + 1
            return None
        v = 1 if outcome is Outcome.PASS else -1
        w = self.params.offline_weight if outcome is Outcome.OFFLINE else self.params.weight
        rep.alpha, rep.beta = beta_update(rep.alpha, rep.beta, v, self.params, w)
        below = rep.score < self.params.threshold
        if rep.standing is Standing.TRUSTED and below:
            return self._quarantine(peer, rep, now, f"score below {self.params.threshold}")
        if rep.standing is Standing.PROBATION:
            if v < 0:
                return self._quarantine(peer, rep, now, f"{outcome.value} on probation")
            rep.streak += 1
            if rep.streak >= self.params.recovery_passes and not below:
                rep.standing, rep.until, rep.streak = Standing.TRUSTED, None, 0
                return Decision(peer, Standing.TRUSTED, None, rep.score, "recovered")
        return None

    def penalise(self, peer: str, now: float, reason: str) -> Decision | None:
        """A peer sent evidence that does not verify: counted as a failure."""
        decision = self.observe(peer, Outcome.FAIL, now)
        return None if decision is None else Decision(decision.peer, decision.standing,
                                                      decision.until, decision.score, reason)

    def apply(self, decision: Decision, now: float) -> Decision | None:
        """Mirror a decision our regional published; returns it when it changes this view.

        Keep the regional's decisions in their own ``Reputation`` beside the
        node's own: a peer is refused when either view refuses it, so neither
        a regional's release nor our own one lifts the other's quarantine.
        """
        rep = self._peer(decision.peer)
        if (rep.standing, rep.until) == (decision.standing, decision.until):
            return None
        rep.standing, rep.until, rep.streak = decision.standing, decision.until, 0
        if decision.standing is Standing.QUARANTINED:
            rep.strikes += 1
        return decision

    def get_timer(self) -> float | None:
        return min((r.until for r in self.peers.values()
                    if r.standing is Standing.QUARANTINED and r.until is not None), default=None)

    def handle_timer(self, now: float) -> list[Decision]:
        """Quarantines that ended: the peers go on probation."""
        out = []
        for peer, rep in self.peers.items():
            if rep.standing is Standing.QUARANTINED and rep.until is not None and now >= rep.until:
                rep.standing, rep.streak = Standing.PROBATION, 0
                out.append(Decision(peer, Standing.PROBATION, None, rep.score, "backoff over"))
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-safe object per judged peer (``hartnode trust --json``)."""
        return [{
            "node_id": peer, "score": round(rep.score, 6), "alpha": round(rep.alpha, 6),
            "beta": round(rep.beta, 6), "integrity_status": self.integrity_status(peer),
            "outcomes": dict(rep.counts), "unknown_recent": round(rep.unknown, 6),
            "quarantine_until_ms": None if rep.until is None else int(rep.until * 1000),
            "strikes": rep.strikes,
        } for peer, rep in sorted(self.peers.items())]

    def export(self) -> list[dict[str, Any]]:
        """State to persist (``load`` takes it back)."""
        return [{"node_id": peer, "alpha": rep.alpha, "beta": rep.beta,
                 "standing": rep.standing.value, "until": rep.until, "strikes": rep.strikes,
                 "streak": rep.streak, "unknown": rep.unknown, "counts": dict(rep.counts)}
                for peer, rep in self.peers.items()]

    def load(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            alpha, beta = float(row["alpha"]), float(row["beta"])
            if not (math.isfinite(alpha) and math.isfinite(beta) and alpha > 0 and beta >= 0):
                continue  # a damaged row: start that peer afresh rather than divide by zero
            rep = PeerReputation(alpha, beta, Standing(row["standing"]), row["until"],
                                 int(row["strikes"]), int(row["streak"]), float(row["unknown"]))
            rep.counts.update({k: int(v) for k, v in row["counts"].items() if k in rep.counts})
            self.peers[row["node_id"]] = rep
