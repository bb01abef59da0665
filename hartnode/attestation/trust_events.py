"""Trust event kinds and their views (DESIGN §1, §4; issue 10).

Kinds (all signed by their origin like every event):
- ``policy.release.published`` (hierarchy or network): a release manifest. It counts only
  when its publisher is central: the payload carries the publisher's
  certificate chain, checked against the pinned master key by
  ``trusted_release`` (or the origin is the master key itself).
- ``trust.challenge.issued`` (local): a challenge this node sent, so that one
  in flight at a crash or restart is found and closed as ``unknown``.
- ``trust.attestation.recorded`` (hierarchy): attester (the origin), subject,
  code hash, verdict, challenge id; regionals aggregate their locals' ones.
- ``policy.quarantine.decided`` (hierarchy): a regional's decision about a
  subject, sent down its subtree (a ``policy.`` kind: only those go down).
- ``trust.integrity_alert.raised`` (network, hierarchy): a signed wrong
  answer, with the signed challenge it answers; any node holding the release
  re-verifies it (``check_integrity_alert``) and drops one that does not
  verify, penalising its sender. It lands in the seed's ``fraud_alerts``.

Views (seed names): ``node_attestations`` (attester_node_id,
subject_node_id, code_hash, verdict), ``integrity_challenges``
(challenger_node_id, target_node_id, challenge_data, status — pending until a
verdict), ``release_manifests`` and ``quarantine_decisions``. Scores are not
a view: each node's own judgement lives in ``trust_reputation`` (state
schema 1.3.0).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

import apsw

from hartnode.attestation.certificate import RevocationCheck, effective_tier
from hartnode.attestation.challenge import (
    Challenge,
    ChallengeAnswer,
    ChallengeParams,
    EvidenceError,
    RangeReader,
    Verdict,
    verify_evidence,
)
from hartnode.attestation.manifest import MAX_FILES, Manifest, ManifestError
from hartnode.attestation.reputation import Reputation
from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import Hex, Int, KindRegistry, KindSpec, List, Obj, Str
from hartnode.ledger.log import Draft
from hartnode.ledger.views import ViewRegistry

_HEXSTR = r"[0-9a-f]*"
VERDICTS = r"pass|fail|offline|unknown"

RELEASE_PUBLISHED = KindSpec(
    kind="policy.release.published",
    payload=Obj({
        "version": Str(min_len=1, max_len=64),
        "root": Hex(32),
        "files": List(Obj({"path": Str(min_len=1, max_len=200), "size": Int(min=0),
                           "blake3": Hex(32)}), max_items=MAX_FILES),
        "chain": List(Obj({"cert": Str(max_len=8192, pattern=_HEXSTR), "sig": Hex(64)}),
                      max_items=3),
    }),
    # Policy flows down the hierarchy; a release is also public (network), so
    # a flat node can answer and judge challenges of it.
    reaches=frozenset({"hierarchy", "network"}),
    doc="A release manifest (files as a Merkle root), published by a central node.",
)

CHALLENGE_ISSUED = KindSpec(
    kind="trust.challenge.issued",
    payload=Obj({"challenge_id": Hex(16), "target": Hex(32), "manifest": Hex(32)}),
    reaches=frozenset({"local"}),
    doc="This node sent an integrity challenge (closed by an attestation).",
)

ATTESTATION_RECORDED = KindSpec(
    kind="trust.attestation.recorded",
    payload=Obj({"subject": Hex(32), "code_hash": Hex(32),
                 "verdict": Str(pattern=VERDICTS), "challenge_id": Hex(16),
                 "reason": Str(max_len=120)}),
    reaches=frozenset({"hierarchy", "local"}),
    doc="The verdict of one integrity challenge this node ran.",
)

QUARANTINE_DECIDED = KindSpec(
    kind="policy.quarantine.decided",
    payload=Obj({"subject": Hex(32), "standing": Str(pattern=r"quarantined|probation|trusted"),
                 "until_ms": Int(min=0), "score_ppm": Int(min=0, max=1_000_000),
                 "reason": Str(max_len=120)}),
    reaches=frozenset({"hierarchy"}),
    doc="A regional's decision about a peer's integrity, for its subtree.",
)

INTEGRITY_ALERT_RAISED = KindSpec(
    kind="trust.integrity_alert.raised",
    payload=Obj({
        "node_id": Hex(32),
        "alert_type": Str(pattern=r"integrity_fail"),
        "severity": Str(pattern=r"high"),
        "evidence": Obj({"challenge": Str(max_len=2048, pattern=_HEXSTR), "challenge_sig": Hex(64),
                         "answer": Str(max_len=2048, pattern=_HEXSTR), "answer_sig": Hex(64)}),
    }),
    reaches=frozenset({"network", "hierarchy"}),
    doc="node_id signed a wrong answer to a signed challenge: re-verifiable evidence.",
)

_DDL = {
    "node_attestations": """
CREATE TABLE IF NOT EXISTS node_attestations (
  id                INTEGER PRIMARY KEY,
  attester_node_id  TEXT NOT NULL,
  subject_node_id   TEXT NOT NULL,
  code_hash         TEXT NOT NULL,
  verdict           TEXT NOT NULL,
  challenge_id      TEXT NOT NULL,
  reason            TEXT NOT NULL,
  ts_ms             INTEGER NOT NULL,
  source_event      INTEGER NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS idx_node_attestations_subject
  ON node_attestations(subject_node_id, ts_ms)""",
    "integrity_challenges": """
CREATE TABLE IF NOT EXISTS integrity_challenges (
  id                  INTEGER PRIMARY KEY,
  challenger_node_id  TEXT NOT NULL,
  target_node_id      TEXT NOT NULL,
  challenge_data      TEXT NOT NULL,   -- JSON: challenge_id, manifest
  status              TEXT NOT NULL,   -- pending | pass | fail | offline | unknown
  challenge_id        TEXT NOT NULL,
  ts_ms               INTEGER NOT NULL,
  source_event        INTEGER NOT NULL,
  UNIQUE (challenger_node_id, challenge_id)
)""",
    "release_manifests": """
CREATE TABLE IF NOT EXISTS release_manifests (
  id             INTEGER PRIMARY KEY,
  root           TEXT NOT NULL,
  version        TEXT NOT NULL,
  publisher      TEXT NOT NULL,
  manifest_json  TEXT NOT NULL,
  chain_json     TEXT NOT NULL,
  ts_ms          INTEGER NOT NULL,
  source_event   INTEGER NOT NULL UNIQUE
)""",
    "quarantine_decisions": """
CREATE TABLE IF NOT EXISTS quarantine_decisions (
  id            INTEGER PRIMARY KEY,
  decider       TEXT NOT NULL,
  subject       TEXT NOT NULL,
  standing      TEXT NOT NULL,
  until_ms      INTEGER NOT NULL,
  score_ppm     INTEGER NOT NULL,
  reason        TEXT NOT NULL,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL UNIQUE
)""",
}


# --- drafts ------------------------------------------------------------------


def release_draft(manifest: Manifest, chain: list[tuple[bytes, bytes]],
                  reach: str = "network") -> Draft:
    """The ``policy.release.published`` event a central appends."""
    return Draft(RELEASE_PUBLISHED.kind, release_payload(manifest, chain), reach=reach)


def release_payload(manifest: Manifest, chain: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {**manifest.to_json(), "chain": [{"cert": c.hex(), "sig": s.hex()} for c, s in chain]}


def issued_draft(challenge_id: str, target: str, manifest: str) -> Draft:
    return Draft(CHALLENGE_ISSUED.kind, {"challenge_id": challenge_id, "target": target,
                                         "manifest": manifest}, reach="local")


def attestation_draft(verdict: Verdict, code_hash: str) -> Draft:
    return Draft(ATTESTATION_RECORDED.kind, {
        "subject": verdict.target, "code_hash": code_hash, "verdict": verdict.outcome.value,
        "challenge_id": verdict.challenge_id, "reason": verdict.reason[:120]}, reach="hierarchy")


def quarantine_draft(subject: str, standing: str, until_ms: int, score: float,
                     reason: str) -> Draft:
    return Draft(QUARANTINE_DECIDED.kind, {
        "subject": subject, "standing": standing, "until_ms": until_ms,
        "score_ppm": max(0, min(1_000_000, round(score * 1_000_000))), "reason": reason[:120]},
        reach="hierarchy")


def integrity_alert_draft(challenge: Challenge, answer: ChallengeAnswer, target: str) -> Draft:
    """The alert a challenger raises on a fail verdict: the two signed messages."""
    return Draft(INTEGRITY_ALERT_RAISED.kind, {
        "node_id": target, "alert_type": "integrity_fail", "severity": "high",
        "evidence": {"challenge": challenge.body.hex(), "challenge_sig": challenge.sig.hex(),
                     "answer": answer.body.hex(), "answer_sig": answer.sig.hex()}},
        reach="network")


# --- checks of what others sent -----------------------------------------------


class AlertCheck(enum.Enum):
    VERIFIED = "verified"  # the subject signed a wrong answer: count it as a fail
    FORGED = "forged"  # the evidence does not hold: drop it, penalise the sender
    UNJUDGED = "unjudged"  # a release we do not hold: neither


@dataclass(frozen=True, slots=True)
class AlertResult:
    check: AlertCheck
    subject: str
    sender: str
    challenge_id: str
    reason: str


def check_integrity_alert(event: Event, releases: dict[str, RangeReader],
                          params: ChallengeParams) -> AlertResult:
    """Re-verify an integrity alert's evidence from the bytes of our own release copy."""
    p = event.payload
    ev = p["evidence"]
    try:
        challenge = Challenge(bytes.fromhex(ev["challenge"]), bytes.fromhex(ev["challenge_sig"]))
        answer = ChallengeAnswer(bytes.fromhex(ev["answer"]), bytes.fromhex(ev["answer_sig"]))
        info, _ = verify_evidence(challenge, answer, releases, params)
    except ValueError:
        return AlertResult(AlertCheck.FORGED, p["node_id"], event.origin, "", "malformed")
    except EvidenceError as e:
        check = AlertCheck.UNJUDGED if e.reason == "unknown_release" else AlertCheck.FORGED
        return AlertResult(check, p["node_id"], event.origin, "", e.reason)
    if info.target != p["node_id"] or info.challenger != event.origin:
        # Evidence is only raised by the challenger, about the challenge's target.
        return AlertResult(AlertCheck.FORGED, p["node_id"], event.origin, info.id, "mismatch")
    return AlertResult(AlertCheck.VERIFIED, info.target, event.origin, info.id, "wrong_digest")


def trusted_release(event: Event, *, master_public_key: bytes | None, now_ms: int,
                    revocations: RevocationCheck | None = None) -> Manifest | None:
    """The manifest of a ``policy.release.published`` event whose publisher is central.

    None when the manifest is invalid, or its origin is neither the master key
    nor a node whose chain proves the ``central`` tier.
    """
    p = event.payload
    try:
        manifest = Manifest.from_json({"version": p["version"], "root": p["root"],
                                       "files": p["files"]})
    except ManifestError:
        return None
    if master_public_key is None:
        return None
    if event.origin == master_public_key.hex():
        return manifest
    try:
        chain = [(bytes.fromhex(c["cert"]), bytes.fromhex(c["sig"])) for c in p["chain"]]
    except ValueError:
        return None
    verified, error = effective_tier(chain, master_public_key=master_public_key, now_ms=now_ms,
                                     revocations=revocations, presenter_node_id=event.origin)
    return manifest if error is None and verified.tier == "central" else None


# --- projections -------------------------------------------------------------


def _release(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    manifest = {"version": p["version"], "root": p["root"], "files": p["files"]}
    state.execute(
        "INSERT INTO release_manifests (root, version, publisher, manifest_json, chain_json, ts_ms,"
        " source_event) VALUES (?,?,?,?,?,?,?)",
        (p["root"], p["version"], event.origin, json.dumps(manifest, sort_keys=True),
         json.dumps(p["chain"], sort_keys=True), event.ts_ms, event_id))


def _issued(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    data = json.dumps({"challenge_id": p["challenge_id"], "manifest": p["manifest"]},
                      sort_keys=True)
    state.execute(
        "INSERT INTO integrity_challenges (challenger_node_id, target_node_id, challenge_data,"
        " status, challenge_id, ts_ms, source_event) VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT (challenger_node_id, challenge_id) DO NOTHING",
        (event.origin, p["target"], data, "pending", p["challenge_id"], event.ts_ms, event_id))


def _attested(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "INSERT INTO node_attestations (attester_node_id, subject_node_id, code_hash, verdict,"
        " challenge_id, reason, ts_ms, source_event) VALUES (?,?,?,?,?,?,?,?)",
        (event.origin, p["subject"], p["code_hash"], p["verdict"], p["challenge_id"],
         p["reason"], event.ts_ms, event_id))
    data = json.dumps({"challenge_id": p["challenge_id"], "code_hash": p["code_hash"]},
                      sort_keys=True)
    state.execute(
        "INSERT INTO integrity_challenges (challenger_node_id, target_node_id, challenge_data,"
        " status, challenge_id, ts_ms, source_event) VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT (challenger_node_id, challenge_id) DO UPDATE SET status = excluded.status,"
        " ts_ms = excluded.ts_ms, source_event = excluded.source_event",
        (event.origin, p["subject"], data, p["verdict"], p["challenge_id"], event.ts_ms, event_id))


def _decided(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "INSERT INTO quarantine_decisions (decider, subject, standing, until_ms, score_ppm, reason,"
        " ts_ms, source_event) VALUES (?,?,?,?,?,?,?,?)",
        (event.origin, p["subject"], p["standing"], p["until_ms"], p["score_ppm"], p["reason"],
         event.ts_ms, event_id))


def _alert(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "INSERT INTO fraud_alerts (node_id, alert_type, severity, evidence_json, reporter, ts_ms,"
        " source_event) VALUES (?,?,?,?,?,?,?)",
        (p["node_id"], p["alert_type"], p["severity"], json.dumps(p["evidence"], sort_keys=True),
         event.origin, event.ts_ms, event_id))


def pending_challenges(state: apsw.Connection, challenger: str) -> list[tuple[str, str]]:
    """(challenge id, target) of this node's challenges still pending in the view."""
    return [(cid, target) for cid, target in state.execute(
        "SELECT challenge_id, target_node_id FROM integrity_challenges"
        " WHERE challenger_node_id = ? AND status = 'pending' ORDER BY id", (challenger,))]


def register(kinds: KindRegistry, views: ViewRegistry) -> None:
    """Register the trust kinds and views (after ``fraud``: alerts use its table)."""
    for spec, fn in ((RELEASE_PUBLISHED, _release), (CHALLENGE_ISSUED, _issued),
                     (ATTESTATION_RECORDED, _attested), (QUARANTINE_DECIDED, _decided),
                     (INTEGRITY_ALERT_RAISED, _alert)):
        kinds.register(spec)
        views.project(spec.kind, fn)
    for name, ddl in _DDL.items():
        views.add_table(name, ddl)



# --- this node's reputation table (state schema 1.3.0; not a view) ---------------


def save_reputation(state: apsw.Connection, rep: Reputation, now_ms: int) -> None:
    """Make ``trust_reputation`` hold ``rep``'s state, in one transaction."""
    with state:
        state.execute("DELETE FROM trust_reputation")
        for row in rep.export():
            until = row["until"]
            state.execute(
                "INSERT INTO trust_reputation (node_id, alpha, beta, standing, until_ms, strikes,"
                " streak, unknown, counts_json, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (row["node_id"], row["alpha"], row["beta"], row["standing"],
                 None if until is None else int(until * 1000), row["strikes"], row["streak"],
                 row["unknown"], json.dumps(row["counts"], sort_keys=True), now_ms))


def load_reputation(state: apsw.Connection, rep: Reputation) -> None:
    """Take back what ``save_reputation`` wrote."""
    rows = []
    for (node_id, alpha, beta, standing, until_ms, strikes, streak, unknown,
         counts) in state.execute(
            "SELECT node_id, alpha, beta, standing, until_ms, strikes, streak, unknown,"
            " counts_json FROM trust_reputation"):
        rows.append({"node_id": node_id, "alpha": alpha, "beta": beta, "standing": standing,
                     "until": None if until_ms is None else until_ms / 1000, "strikes": strikes,
                     "streak": streak, "unknown": unknown, "counts": json.loads(counts)})
    rep.load(rows)
