"""The challenge core on a virtual clock: deadlines, re-asks, replays, signatures, evidence."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from hartnode.attestation.challenge import (
    Ask,
    Challenge,
    ChallengeAnswer,
    ChallengeError,
    ChallengeIssuer,
    ChallengeParams,
    ChallengeResponder,
    EvidenceError,
    LocalChallengeError,
    Outcome,
    Verdict,
    decode_challenge,
    derive_ranges,
    restart_verdicts,
    sign_answer,
    verify_evidence,
)
from hartnode.attestation.manifest import MemoryRelease
from hartnode.gossip.overlay_config import for_profile
from hartnode.identity import NodeIdentity
from hartnode.integrity.service import for_overlay

CHALLENGER = NodeIdentity.from_seed(b"challenger".ljust(32, b"."))
TARGET = NodeIdentity.from_seed(b"target".ljust(32, b"."))
OTHER = NodeIdentity.from_seed(b"other".ljust(32, b"."))
PARAMS = ChallengeParams(timeout=10.0, reask_delays=(60.0, 300.0, 900.0))


def release() -> MemoryRelease:
    rng = random.Random(5)
    return MemoryRelease("1.0.0", {f"hartnode/m{i}.py": rng.randbytes(rng.randrange(10, 20_000))
                                   for i in range(12)})


RELEASE = release()
ALTERED = RELEASE.modified({"hartnode/m3.py": b"print('altered')\n"})
_NONCE_RNG = random.Random(1)
NONCES = iter(lambda: _NONCE_RNG.randbytes(32), b"")


def start(issuer: ChallengeIssuer, now: float = 0.0) -> Ask:
    return issuer.issue(TARGET.node_id, RELEASE, nonce=next(NONCES),
                        challenge_id=random.Random(now).randbytes(16), now=now,
                        now_ms=int(now * 1000))


def respond(responder: ChallengeResponder, ask: Ask, now: float,
            holding: MemoryRelease = RELEASE) -> ChallengeAnswer:
    return responder.answer(ask.challenge, sender=CHALLENGER.node_id,
                            releases={RELEASE.manifest.root_hex: holding}, now=now)


def test_an_answer_one_ms_before_the_deadline_passes() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    ask = start(issuer, now=100.0)
    assert issuer.get_timer() == 110.0
    answer = respond(ChallengeResponder(TARGET, PARAMS), ask, now=100.5)
    verdict = issuer.receive(answer, sender=TARGET.node_id, now=109.999)
    assert verdict.outcome is Outcome.PASS
    assert issuer.get_timer() is None


def test_an_answer_one_ms_after_the_deadline_is_late_and_the_challenge_ends_offline() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    ask = start(issuer, now=100.0)
    answer = respond(ChallengeResponder(TARGET, PARAMS), ask, now=100.5)
    assert issuer.handle_timer(110.0) == []  # containment: a re-ask is due in 60 s
    with pytest.raises(ChallengeError) as e:
        issuer.receive(answer, sender=TARGET.node_id, now=110.001)
    assert e.value.reason == "late"
    # Three re-asks of the same signed challenge, each with its own deadline.
    asks = []
    for due, deadline in ((170.0, 180.0), (480.0, 490.0), (1390.0, 1400.0)):
        assert issuer.get_timer() == due
        (reask,) = issuer.handle_timer(due)
        assert isinstance(reask, Ask) and reask.challenge == ask.challenge
        asks.append(reask.attempt)
        assert issuer.get_timer() == deadline
        if deadline < 1400.0:
            assert issuer.handle_timer(deadline) == []
    assert asks == [1, 2, 3]
    (verdict,) = issuer.handle_timer(1400.0)
    assert isinstance(verdict, Verdict)
    assert (verdict.outcome, verdict.answer) == (Outcome.OFFLINE, None)
    assert issuer.pending_targets() == frozenset()


def test_a_re_ask_is_answered_in_time_passes_and_is_answered_from_memory() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    responder = ChallengeResponder(TARGET, PARAMS)
    ask = start(issuer, now=0.0)
    first = respond(responder, ask, now=1.0)  # the answer is lost on the way
    issuer.handle_timer(10.0)
    (reask,) = issuer.handle_timer(70.0)
    assert isinstance(reask, Ask)
    again = respond(responder, reask, now=71.0)
    assert again == first
    assert issuer.receive(again, sender=TARGET.node_id, now=79.0).outcome is Outcome.PASS


def test_a_replayed_answer_is_rejected() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    responder = ChallengeResponder(TARGET, PARAMS)
    answer = respond(responder, start(issuer, now=0.0), now=1.0)
    assert issuer.receive(answer, sender=TARGET.node_id, now=2.0).outcome is Outcome.PASS
    with pytest.raises(ChallengeError) as e:  # the same answer again
        issuer.receive(answer, sender=TARGET.node_id, now=3.0)
    assert e.value.reason == "unknown_challenge"
    # An old answer offered to a new challenge of the same target names the old one.
    start(issuer, now=10.0)
    with pytest.raises(ChallengeError) as e:
        issuer.receive(answer, sender=TARGET.node_id, now=11.0)
    assert e.value.reason == "unknown_challenge"


def test_a_replayed_nonce_is_rejected_by_the_target() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    responder = ChallengeResponder(TARGET, PARAMS)
    ask = start(issuer, now=0.0)
    respond(responder, ask, now=1.0)
    info = decode_challenge(ask.challenge)
    from hartnode.attestation.challenge import sign_challenge

    replay = sign_challenge(CHALLENGER, challenge_id="ab" * 16, target=TARGET.node_id,
                            manifest=info.manifest, nonce=info.nonce, issued_ms=5_000,
                            timeout_ms=10_000)
    with pytest.raises(ChallengeError) as e:
        responder.answer(replay, sender=CHALLENGER.node_id,
                         releases={RELEASE.manifest.root_hex: RELEASE}, now=5.0)
    assert e.value.reason == "replayed_nonce"


def test_the_challenger_never_reuses_a_nonce() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    nonce = bytes(32)
    issuer.issue(TARGET.node_id, RELEASE, nonce=nonce, challenge_id=bytes(16), now=0, now_ms=0)
    with pytest.raises(LocalChallengeError) as e:
        issuer.issue(OTHER.node_id, RELEASE, nonce=nonce, challenge_id=b"\x01" * 16, now=0,
                     now_ms=0)
    assert e.value.reason == "nonce_reused"


def test_a_bad_signature_always_fails_never_passes() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    answer = respond(ChallengeResponder(TARGET, PARAMS), start(issuer), now=1.0)
    forged = ChallengeAnswer(answer.body, bytes(64))  # the right digest, a bad signature
    verdict = issuer.receive(forged, sender=TARGET.node_id, now=2.0)
    assert (verdict.outcome, verdict.reason, verdict.answer) == (Outcome.FAIL, "bad_signature",
                                                                  None)  # no evidence
    with pytest.raises(ChallengeError) as e:  # judged: the good answer no longer counts
        issuer.receive(answer, sender=TARGET.node_id, now=2.5)
    assert e.value.reason == "unknown_challenge"
    # An answer relayed by another peer is refused and leaves the challenge pending.
    ask = start(issuer, now=3.0)
    answer = respond(ChallengeResponder(TARGET, PARAMS), ask, now=3.0)
    with pytest.raises(ChallengeError) as e:
        issuer.receive(answer, sender=OTHER.node_id, now=3.5)
    assert e.value.reason == "unknown_challenge"
    assert issuer.receive(answer, sender=TARGET.node_id, now=4.0).outcome is Outcome.PASS
    # An unsigned or forged challenge is refused by the target.
    ask = start(ChallengeIssuer(CHALLENGER, PARAMS))
    with pytest.raises(ChallengeError) as e:
        ChallengeResponder(TARGET, PARAMS).answer(
            Challenge(ask.challenge.body, b""), sender=CHALLENGER.node_id,
            releases={RELEASE.manifest.root_hex: RELEASE}, now=0)
    assert e.value.reason == "bad_signature"


def test_a_challenge_for_another_target_or_relayed_by_another_sender_is_refused() -> None:
    ask = start(ChallengeIssuer(CHALLENGER, PARAMS))
    releases: dict[str, MemoryRelease] = {RELEASE.manifest.root_hex: RELEASE}
    with pytest.raises(ChallengeError) as e:
        ChallengeResponder(OTHER, PARAMS).answer(ask.challenge, sender=CHALLENGER.node_id,
                                                 releases=releases, now=0)  # type: ignore[arg-type]
    assert e.value.reason == "wrong_target"
    with pytest.raises(ChallengeError) as e:
        ChallengeResponder(TARGET, PARAMS).answer(ask.challenge, sender=OTHER.node_id,
                                                  releases=releases, now=0)  # type: ignore[arg-type]
    assert e.value.reason == "wrong_sender"


def test_an_altered_install_fails_with_evidence_that_anyone_can_re_verify() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    responder = ChallengeResponder(TARGET, replace(PARAMS, max_answers_per_challenger=40))
    verdicts = []
    for i in range(40):  # until a range falls on the altered file
        ask = start(issuer, now=float(i))
        answer = respond(responder, ask, now=i + 0.5, holding=ALTERED)
        verdicts.append(issuer.receive(answer, sender=TARGET.node_id, now=i + 1.0))
    fails = [v for v in verdicts if v.outcome is Outcome.FAIL]
    passes = [v for v in verdicts if v.outcome is Outcome.PASS]
    assert fails and passes
    releases = {RELEASE.manifest.root_hex: RELEASE}
    for v in fails:
        assert v.challenge is not None and v.answer is not None
        info, _ = verify_evidence(v.challenge, v.answer, releases, PARAMS)  # type: ignore[arg-type]
        assert info.target == TARGET.node_id
        ranges = derive_ranges(info.nonce, RELEASE.manifest, PARAMS.ranges, PARAMS.range_bytes)
        assert any(RELEASE.manifest.files[r.index].path == "hartnode/m3.py" for r in ranges)
    v = passes[0]
    assert v.challenge is not None and v.answer is not None
    with pytest.raises(EvidenceError) as e:  # a right answer is no evidence
        verify_evidence(v.challenge, v.answer, releases, PARAMS)  # type: ignore[arg-type]
    assert e.value.reason == "answer_correct"
    # Evidence the target did not sign: a forged answer with a wrong digest.
    info = decode_challenge(v.challenge)
    forged = sign_answer(OTHER, info.hash, bytes(32))
    with pytest.raises(EvidenceError) as e:
        verify_evidence(v.challenge, forged, releases, PARAMS)  # type: ignore[arg-type]
    assert e.value.reason == "mismatch"
    with pytest.raises(EvidenceError) as e:
        verify_evidence(v.challenge, ChallengeAnswer(fails[0].answer.body, bytes(64)),  # type: ignore[union-attr]
                        releases, PARAMS)  # type: ignore[arg-type]
    assert e.value.reason == "bad_signature"
    with pytest.raises(EvidenceError) as e:
        verify_evidence(fails[0].challenge, fails[0].answer, {}, PARAMS)  # type: ignore[arg-type]
    assert e.value.reason == "unknown_release"


def test_the_target_id_is_bound_so_an_answer_cannot_be_borrowed() -> None:
    """An altered node relaying the challenge to an honest one gets an answer for that node."""
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    ask = start(issuer)
    with pytest.raises(ChallengeError):  # the honest node refuses a challenge not for it
        ChallengeResponder(OTHER, PARAMS).answer(
            ask.challenge, sender=CHALLENGER.node_id,
            releases={RELEASE.manifest.root_hex: RELEASE}, now=0)  # type: ignore[dict-item]


def test_pending_challenges_at_a_restart_resolve_as_unknown_not_fail() -> None:
    issuer = ChallengeIssuer(CHALLENGER, PARAMS)
    start(issuer)
    pending = issuer.pending()
    verdicts = restart_verdicts(pending)  # a new process knows them only from storage
    assert [(v.target, v.outcome) for v in verdicts] == [(TARGET.node_id, Outcome.UNKNOWN)]


def test_a_target_in_containment_is_not_challenged_again_and_state_is_bounded() -> None:
    params = replace(PARAMS, max_pending=2, per_round=5)
    issuer = ChallengeIssuer(CHALLENGER, params)
    start(issuer)
    with pytest.raises(LocalChallengeError) as e:
        start(issuer)
    assert e.value.reason == "pending"
    rng = random.Random(3)
    issuer.start_rounds(0.0, rng)
    assert 0.0 <= (issuer.get_timer() or 0) <= params.timeout
    picked = issuer.pick_targets([TARGET.node_id, OTHER.node_id], 0.0, rng)
    assert picked == [OTHER.node_id]
    issuer.issue(OTHER.node_id, RELEASE, nonce=next(NONCES), challenge_id=b"\x02" * 16, now=0,
                 now_ms=0)
    with pytest.raises(LocalChallengeError) as e:
        issuer.issue(CHALLENGER.node_id, RELEASE, nonce=next(NONCES), challenge_id=b"\x03" * 16,
                     now=0, now_ms=0)
    assert e.value.reason == "full"


def test_a_challenger_asking_too_often_is_refused_by_the_target() -> None:
    params = replace(PARAMS, max_answers_per_challenger=2)
    responder = ChallengeResponder(TARGET, params)
    for i in range(2):
        respond(responder, start(ChallengeIssuer(CHALLENGER, params), now=i), now=float(i))
    with pytest.raises(ChallengeError) as e:
        respond(responder, start(ChallengeIssuer(CHALLENGER, params), now=5), now=5.0)
    assert e.value.reason == "too_many"
    # After the memory window the challenger's share is back.
    later = params.answer_memory + 2
    respond(responder, start(ChallengeIssuer(CHALLENGER, params), now=9), now=later)


def test_profiles_give_about_144_challenges_a_day_on_full() -> None:
    full = for_overlay(for_profile("full"))
    assert 86_400 / full.round_interval * full.per_round == 144
    minimal = for_overlay(for_profile("minimal"))
    assert minimal.round_interval > full.round_interval and minimal.timeout > full.timeout
