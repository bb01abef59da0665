"""Trust events on real ledger files: views, restart of pending challenges, alerts re-verified."""

from __future__ import annotations

import random
from pathlib import Path

from hartnode.attestation.certificate import issue_certificate
from hartnode.attestation.challenge import (
    ChallengeIssuer,
    ChallengeParams,
    ChallengeResponder,
    Outcome,
    restart_verdicts,
    sign_answer,
)
from hartnode.attestation.manifest import MemoryRelease
from hartnode.attestation.reputation import Reputation
from hartnode.attestation.trust_events import (
    AlertCheck,
    attestation_draft,
    check_integrity_alert,
    integrity_alert_draft,
    issued_draft,
    load_reputation,
    pending_challenges,
    quarantine_draft,
    release_draft,
    save_reputation,
    trusted_release,
)
from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.node_ledger import NodeLedger

ME = NodeIdentity.from_seed(b"me".ljust(32, b"."))
TARGET = NodeIdentity.from_seed(b"target".ljust(32, b"."))
MASTER = NodeIdentity.from_seed(b"master".ljust(32, b"."))
PARAMS = ChallengeParams()
RNG = random.Random(2)
RELEASE = MemoryRelease("1.0.0", {f"hartnode/f{i}.py": RNG.randbytes(3000) for i in range(3)})
ALTERED = RELEASE.modified({p: b"x" for p in RELEASE.contents})
RELEASES = {RELEASE.manifest.root_hex: RELEASE}


def rows(nl: NodeLedger, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in nl.views.state.execute(sql)]


def test_views_from_attestation_events_and_pending_challenges_at_restart(tmp_path: Path) -> None:
    issuer = ChallengeIssuer(ME, PARAMS)
    ask = issuer.issue(TARGET.node_id, RELEASE, nonce=RNG.randbytes(32),
                       challenge_id=RNG.randbytes(16), now=0, now_ms=0)
    ((cid, target),) = issuer.pending()
    with NodeLedger(tmp_path, ME, build_catalog(), create=True) as nl:
        nl.append([issued_draft(cid, target, RELEASE.manifest.root_hex)])
    # A restart: the process that sent the challenge is gone; storage names it.
    with NodeLedger(tmp_path, ME, build_catalog()) as nl:
        pending = pending_challenges(nl.views.state, ME.node_id)
        assert pending == [(cid, TARGET.node_id)]
        (verdict,) = restart_verdicts(pending)
        assert verdict.outcome is Outcome.UNKNOWN
        nl.append([attestation_draft(verdict, RELEASE.manifest.root_hex)])
        assert pending_challenges(nl.views.state, ME.node_id) == []
        assert rows(nl, "SELECT attester_node_id, subject_node_id, verdict FROM node_attestations"
                    ) == [(ME.node_id, TARGET.node_id, "unknown")]
        assert rows(nl, "SELECT challenger_node_id, target_node_id, status FROM"
                    " integrity_challenges") == [(ME.node_id, TARGET.node_id, "unknown")]
        answer = ChallengeResponder(TARGET, PARAMS).answer(
            ask.challenge, sender=ME.node_id, releases=RELEASES, now=0)  # type: ignore[arg-type]
        assert answer  # the late answer no longer matters: the challenge was judged unknown
        nl.append([quarantine_draft(TARGET.node_id, "quarantined", 5_000, 0.59, "regional")])
        assert rows(nl, "SELECT subject, standing, until_ms, score_ppm FROM quarantine_decisions"
                    ) == [(TARGET.node_id, "quarantined", 5_000, 590_000)]
        before = rows(nl, "SELECT * FROM integrity_challenges")
        nl.views.rebuild()
        assert rows(nl, "SELECT * FROM integrity_challenges") == before


def test_an_integrity_alert_is_re_verified_and_a_forged_one_is_caught(tmp_path: Path) -> None:
    issuer = ChallengeIssuer(ME, PARAMS)
    responder = ChallengeResponder(TARGET, PARAMS)
    ask = issuer.issue(TARGET.node_id, RELEASE, nonce=RNG.randbytes(32),
                       challenge_id=RNG.randbytes(16), now=0, now_ms=0)
    answer = responder.answer(ask.challenge, sender=ME.node_id,
                              releases={RELEASE.manifest.root_hex: ALTERED}, now=0)
    verdict = issuer.receive(answer, sender=TARGET.node_id, now=1)
    assert verdict.outcome is Outcome.FAIL and verdict.challenge and verdict.answer
    good = integrity_alert_draft(verdict.challenge, verdict.answer, TARGET.node_id)
    # A forgery: the sender signs a "wrong answer" in the target's name with its own key.
    from hartnode.attestation.challenge import decode_challenge

    fake = sign_answer(ME, decode_challenge(ask.challenge).hash, bytes(32))
    forged = integrity_alert_draft(verdict.challenge, fake, TARGET.node_id)
    with NodeLedger(tmp_path, ME, build_catalog(), create=True) as nl:
        e_good, e_forged = nl.append([good, forged])
        assert rows(nl, "SELECT node_id, alert_type, severity, reporter FROM fraud_alerts") == [
            (TARGET.node_id, "integrity_fail", "high", ME.node_id)] * 2
    ok = check_integrity_alert(e_good, RELEASES, PARAMS)  # type: ignore[arg-type]
    assert (ok.check, ok.subject) == (AlertCheck.VERIFIED, TARGET.node_id)
    bad = check_integrity_alert(e_forged, RELEASES, PARAMS)  # type: ignore[arg-type]
    assert (bad.check, bad.sender) == (AlertCheck.FORGED, ME.node_id)
    assert check_integrity_alert(e_good, {}, PARAMS).check is AlertCheck.UNJUDGED


def test_a_release_counts_only_from_a_central_publisher(tmp_path: Path) -> None:
    cert = issue_certificate(MASTER, serial="01" * 16, subject=ME.node_id, tier="central",
                             region="*", not_before=0, not_after=10**13, path_len=2,
                             capabilities=[])
    regional = issue_certificate(MASTER, serial="02" * 16, subject=ME.node_id, tier="regional",
                                 region="eu", not_before=0, not_after=10**13, path_len=1,
                                 capabilities=[])
    with NodeLedger(tmp_path, ME, build_catalog(), create=True) as nl:
        central_ev, regional_ev, bare_ev = nl.append([
            release_draft(RELEASE.manifest, [cert.to_wire()]),
            release_draft(RELEASE.manifest, [regional.to_wire()]),
            release_draft(RELEASE.manifest, [])])
        assert len(rows(nl, "SELECT root FROM release_manifests")) == 3
    key = MASTER.public_key
    assert trusted_release(central_ev, master_public_key=key, now_ms=1) == RELEASE.manifest
    assert trusted_release(regional_ev, master_public_key=key, now_ms=1) is None
    assert trusted_release(bare_ev, master_public_key=key, now_ms=1) is None
    assert trusted_release(central_ev, master_public_key=None, now_ms=1) is None


def test_reputation_survives_a_restart_in_the_state_database(tmp_path: Path) -> None:
    rep = Reputation()
    for _ in range(6):
        rep.observe(TARGET.node_id, Outcome.FAIL, 1000.0)
    with NodeLedger(tmp_path, ME, build_catalog(), create=True) as nl:
        save_reputation(nl.views.state, rep, 1_000_000)
    again = Reputation()
    with NodeLedger(tmp_path, ME, build_catalog()) as nl:
        load_reputation(nl.views.state, again)
    assert again.rows() == rep.rows() and again.links_refused(TARGET.node_id)


def test_kb_migrate_to_1_3_0_projects_trust_events_an_older_build_stored_opaque(
        tmp_path: Path) -> None:
    import apsw
    import pytest

    from hartnode.apps import notes
    from hartnode.attestation import fraud
    from hartnode.catalog import Catalog
    from hartnode.hierarchy import policy
    from hartnode.ledger import maintenance, store
    from hartnode.ledger.kinds import KindRegistry
    from hartnode.ledger.views import ViewRegistry

    old_catalog = Catalog(KindRegistry(), ViewRegistry())
    for app in (notes, fraud, policy):
        app.register(old_catalog.kinds, old_catalog.views)
    verdict = restart_verdicts([("cd" * 16, TARGET.node_id)])[0]
    (tmp_path / "new").mkdir()
    with NodeLedger(tmp_path / "new", TARGET, build_catalog(), create=True) as newer:
        (event,) = newer.append([attestation_draft(verdict, RELEASE.manifest.root_hex)])
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    with NodeLedger(old_dir, ME, old_catalog, create=True) as older:
        assert len(older.ingest([event.wire()]).stored) == 1  # opaque: stored, not projected
    conn = apsw.Connection(str(old_dir / "state.sqlite"))  # as a 1.2.0 build left it
    conn.execute("DROP TABLE trust_reputation")
    for column in ("cause_alignment", "electricity_rate_uusd_kwh", "gpu_ms_served",
                   "total_inferences", "energy_wh_contributed",
                   "metered_api_costs_absorbed_uusd"):  # compute's 1.4.0 columns
        conn.execute(f"ALTER TABLE peer_nodes DROP COLUMN {column}")
    for column in ("gpu_count", "gpu_model", "gpu_memory_mib", "compute_kinds_json",
                   "compute_models_json", "compute_price_msp",
                   "compute_policy"):  # compute's 1.5.0 columns
        conn.execute(f"ALTER TABLE peer_nodes DROP COLUMN {column}")
    conn.execute("UPDATE meta SET schema_version = '1.2.0'")
    conn.close()
    with pytest.raises(store.StoreError) as err:
        NodeLedger(old_dir, ME, build_catalog())
    assert "kb migrate" in str(err.value)
    report = maintenance.migrate(old_dir, build_catalog())
    assert report.applied["state"] == ["1.3.0", "1.4.0", "1.5.0"]
    with NodeLedger(old_dir, ME, build_catalog()) as migrated:
        assert rows(migrated, "SELECT attester_node_id, verdict FROM node_attestations") == [
            (TARGET.node_id, "unknown")]
        assert rows(migrated, "SELECT COUNT(*) FROM trust_reputation") == [(0,)]
    assert maintenance.verify(old_dir, build_catalog()).ok
