"""Beta reputation: the closed form, quarantine with backoff, probation and recovery."""

from __future__ import annotations

import math

import pytest

from hartnode.attestation.challenge import Outcome
from hartnode.attestation.reputation import (
    Decision,
    Reputation,
    ReputationParams,
    Standing,
    failures_to_quarantine,
    score_after_failures,
)

PEER = "aa" * 32


@pytest.mark.parametrize("n", [0, 1, 5, 9, 10, 25])
def test_the_score_after_n_failures_equals_the_closed_form(n: int) -> None:
    rep = Reputation()
    for _ in range(n):
        rep.observe(PEER, Outcome.FAIL, 0.0)
    assert math.isclose(rep.peers[PEER].score if n else 1.0, score_after_failures(n, rep.params),
                        rel_tol=1e-12)
    assert math.isclose(score_after_failures(n, rep.params), 0.98 ** n, rel_tol=1e-12)


def test_the_closed_form_from_any_history() -> None:
    rep = Reputation()
    for o in [Outcome.PASS, Outcome.FAIL, Outcome.PASS, Outcome.PASS]:
        rep.observe(PEER, o, 0.0)
    a, b = rep.peers[PEER].alpha, rep.peers[PEER].beta
    for n in range(1, 4):
        rep.observe(PEER, Outcome.FAIL, 0.0)
        assert math.isclose(rep.peers[PEER].score, score_after_failures(n, rep.params, a, b))


def test_six_straight_failures_quarantine_and_five_do_not() -> None:
    assert failures_to_quarantine(ReputationParams()) == 6
    rep = Reputation()
    decisions = [rep.observe(PEER, Outcome.FAIL, 100.0) for _ in range(6)]
    assert decisions[:5] == [None] * 5
    d = decisions[5]
    assert d is not None and d.standing is Standing.QUARANTINED and d.until == 100.0 + 3600.0
    assert rep.links_refused(PEER) and not rep.compute_allowed(PEER)


def test_offline_counts_against_the_score_unknown_never_does() -> None:
    rep = Reputation()
    for _ in range(50):
        assert rep.observe(PEER, Outcome.UNKNOWN, 0.0) is None
    assert rep.peers[PEER].score == 1.0 and rep.integrity_status(PEER) == "unknown"
    assert 1.99 < rep.peers[PEER].unknown <= 2.0  # the fast-forgetting track
    rep.observe(PEER, Outcome.OFFLINE, 0.0)  # half the weight of a fail
    assert math.isclose(rep.peers[PEER].score, 49 / 49.5)


def test_quarantine_backoff_probation_and_recovery() -> None:
    rep = Reputation()
    for _ in range(6):
        rep.observe(PEER, Outcome.FAIL, 0.0)
    assert rep.get_timer() == 3600.0
    assert rep.handle_timer(3599.0) == []
    (d,) = rep.handle_timer(3600.0)
    assert d.standing is Standing.PROBATION
    assert not rep.links_refused(PEER) and not rep.compute_allowed(PEER)
    # A failure on probation: quarantined again, for twice as long.
    d2 = rep.observe(PEER, Outcome.FAIL, 4000.0)
    assert d2 is not None and d2.standing is Standing.QUARANTINED and d2.until == 4000.0 + 7200.0
    rep.handle_timer(11_200.0)
    results = [rep.observe(PEER, Outcome.PASS, 11_300.0 + i) for i in range(20)]
    recovered = [r for r in results if r is not None]
    assert len(recovered) == 1 and recovered[0].standing is Standing.TRUSTED
    assert results.index(recovered[0]) >= 2  # at least recovery_passes passes
    assert rep.compute_allowed(PEER) and rep.integrity_status(PEER) == "trusted"


def test_the_backoff_is_capped() -> None:
    rep = Reputation(ReputationParams(quarantine_base=3600.0, quarantine_max=86_400.0))
    now = 0.0
    for _ in range(12):
        for _ in range(30):
            d = rep.observe(PEER, Outcome.FAIL, now)
            if d is not None:
                break
        assert d is not None and d.until is not None and d.until - now <= 86_400.0
        now = d.until
        rep.handle_timer(now)


def test_a_regional_decision_applies_and_state_survives_export() -> None:
    rep = Reputation()
    d = Decision(PEER, Standing.QUARANTINED, 500.0, 0.5, "regional")
    assert rep.apply(d, 0.0) == d and rep.links_refused(PEER)
    assert rep.apply(d, 0.0) is None  # nothing new
    assert rep.handle_timer(500.0)[0].standing is Standing.PROBATION
    assert rep.apply(Decision(PEER, Standing.TRUSTED, None, 0.95, "recovered"), 600.0)
    assert rep.compute_allowed(PEER)
    assert rep.apply(d, 700.0) == d  # quarantined again (an old until: the view mirrors it)
    again = Reputation()
    again.load(rep.export())
    assert again.links_refused(PEER) and again.get_timer() == 500.0
    assert again.rows()[0]["quarantine_until_ms"] == 500_000


def test_state_is_bounded() -> None:
    rep = Reputation(max_peers=3)
    for i in range(10):
        rep.observe(f"{i:064x}", Outcome.PASS, 0.0)
    assert len(rep.peers) == 3
