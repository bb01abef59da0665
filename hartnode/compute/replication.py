"""BOINC-style adaptive replication of job results, sans-I/O (DESIGN §4).

Per (provider, kind, model) a count of consecutive valid replicated
results. Below ``TRUST_AFTER`` (10) every job is replicated; after it a job
is replicated with probability max(1/n, ``MIN_RATE``) (5%), n the count.
Only replicated jobs move the count (an unchecked job proves nothing). A
mismatch resets the count to 0 and asks for a third replica: the result two
of three agree on is valid, and the signed receipts of the odd one out are
the evidence of a fraud alert. The rng is passed in.

``plan`` and ``third`` choose who runs a job: the daemon's requester
(``service.ComputeService.submit``) and the escrow simulator
(``testing.escrowsim``) both call them on one ``Replicator``, so the figures
the simulator prints are those of the rule the daemon runs. Counts live in
memory: a restart forgets them, so every provider is checked again from
zero, which errs on the side of checking.

A cheater that returns wrong results with probability q is caught, per job,
with probability p·q where p is the replication rate: after n of its
trusted-phase jobs, with probability 1 − (1 − p·q)ⁿ (the simulator
compares against this bound).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

TRUST_AFTER = 10
MIN_RATE = 0.05

Key = tuple[str, str, str]  # provider, kind, model


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing replicas of one job."""

    decided: bool  # False: the two disagree, a third replica is needed
    valid_hash: str | None
    cheaters: tuple[str, ...]  # providers whose result lost the vote


@dataclass
class Replicator:
    counts: dict[Key, int] = field(default_factory=dict)

    def rate(self, key: Key) -> float:
        n = self.counts.get(key, 0)
        return 1.0 if n < TRUST_AFTER else max(1.0 / n, MIN_RATE)

    def should_replicate(self, key: Key, rng: random.Random) -> bool:
        return rng.random() < self.rate(key)

    def plan(self, key: Key, candidates: Sequence[str], rng: random.Random) -> list[str]:
        """Who runs a new job of ``key``: its provider, and a second one drawn
        from ``candidates`` when the rate says replicate. With no other
        candidate the job runs once, unchecked (the count does not move)."""
        chosen = [key[0]]
        if self.should_replicate(key, rng):
            second = pick(candidates, chosen, rng)
            if second is not None:
                chosen.append(second)
        return chosen

    def judge(self, kind: str, model: str, results: dict[str, str]) -> Verdict:
        """Compare ``results`` (provider → result hash) of one replicated job and
        update the counts: an agreeing provider +1, a disagreeing one back to 0."""
        by_hash: dict[str, list[str]] = {}
        for provider, digest in sorted(results.items()):
            by_hash.setdefault(digest, []).append(provider)
        best = max(by_hash.values(), key=len)
        if len(by_hash) == 1:
            for provider in results:
                key = (provider, kind, model)
                self.counts[key] = self.counts.get(key, 0) + 1
            return Verdict(True, next(iter(by_hash)), ())
        # Any disagreement resets everyone in it: with two replicas nobody
        # knows who lied, and honest providers rebuild their count quickly.
        for provider in results:
            self.counts[(provider, kind, model)] = 0
        if len(best) * 2 <= len(results):
            return Verdict(False, None, ())
        valid = next(h for h, ps in by_hash.items() if ps is best)
        cheaters = tuple(p for h, ps in by_hash.items() if h != valid for p in ps)
        return Verdict(True, valid, cheaters)


def pick(candidates: Sequence[str], exclude: Collection[str], rng: random.Random) -> str | None:
    """A replica drawn at random from ``candidates`` not in ``exclude`` (None if none):
    at random, so that a provider cannot know whom its result is compared with."""
    rest = [c for c in candidates if c not in exclude]
    return rng.choice(rest) if rest else None
