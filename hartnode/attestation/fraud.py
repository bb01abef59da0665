"""Fraud alerts: a node's signed statement that a peer cheated (DESIGN §3, §4).

``trust.fraud_alert.raised`` is appended to the reporting node's own feed, so
the alert itself is signed, replicated and verifiable like every event. The
``fraud_alerts`` view keeps the seed's columns (node_id, alert_type, severity,
evidence_json) plus who reported it. The first alert type is ``equivocation``:
two signed events of one origin at one seq, whose hashes the evidence names
(the events themselves are in the reporter's ``equivocations`` table).

``trust.result_alert.raised`` (alert type ``result_mismatch``) is the verdict
of redundant execution (``compute.replication``): three providers' signed
receipts for one job (same kind, same params hash, same model), two of which
agree on the result hash and the subject's differs. The receipts are the
evidence, whole and signed, so any node re-verifies the alert from the event
alone (``check_result_alert``), without the job's inputs or outputs, and
without trusting the reporter, who could not have forged them. What it
cannot tell is two colluding providers outvoting an honest one: 2 of 3 is
the rule's limit, which is why replicas are drawn at random.
"""

from __future__ import annotations

import json

import apsw

from hartnode.ledger.envelope import EnvelopeError, Event, decode_event
from hartnode.ledger.kinds import Hex, Int, KindRegistry, KindSpec, List, Obj, Str
from hartnode.ledger.log import Draft, Ledger
from hartnode.ledger.views import ViewRegistry

FRAUD_ALERT_RAISED = KindSpec(
    kind="trust.fraud_alert.raised",
    payload=Obj({
        "node_id": Hex(32),
        "alert_type": Str(min_len=1, max_len=64, pattern=r"[a-z_]+"),
        "severity": Str(pattern=r"low|medium|high|critical"),
        "evidence": Obj({"seq": Int(min=1), "hash_a": Hex(32), "hash_b": Hex(32)}),
    }),
    reaches=frozenset({"network", "hierarchy"}),
    doc="This node holds proof that node_id cheated.",
)

MAX_RECEIPT_HEX = 2 * 4096  # a receipt's envelope is ~600 bytes: room, and a bound

RESULT_ALERT_RAISED = KindSpec(
    kind="trust.result_alert.raised",
    payload=Obj({
        "node_id": Hex(32),
        "alert_type": Str(pattern=r"result_mismatch"),
        "severity": Str(pattern=r"high"),
        "evidence": Obj({"receipts": List(Obj({
            "envelope": Str(min_len=2, max_len=MAX_RECEIPT_HEX, pattern=r"[0-9a-f]+"),
            "sig": Hex(64)}), max_items=3)}),
    }),
    reaches=frozenset({"network", "hierarchy"}),
    doc="Replicas of one job: node_id signed a result that two others contradict.",
)

FRAUD_ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS fraud_alerts (
  id             INTEGER PRIMARY KEY,
  node_id        TEXT NOT NULL,
  alert_type     TEXT NOT NULL,
  severity       TEXT NOT NULL,
  evidence_json  TEXT NOT NULL,
  reporter       TEXT NOT NULL,
  ts_ms          INTEGER NOT NULL,
  source_event   INTEGER NOT NULL UNIQUE
)
"""


def equivocation_alert(a: Event, b: Event) -> Draft:
    """The alert this node raises on proof that ``a.origin`` forked its feed."""
    return Draft(FRAUD_ALERT_RAISED.kind, {
        "node_id": a.origin, "alert_type": "equivocation", "severity": "critical",
        "evidence": {"seq": a.seq, "hash_a": a.hash_hex, "hash_b": b.hash_hex},
    })


def result_alert_draft(subject: str, receipts: list[Event]) -> Draft:
    """The alert a requester raises when ``subject`` lost a 2-of-3 vote: the
    three signed receipts, as they travel (``Event.wire``)."""
    return Draft(RESULT_ALERT_RAISED.kind, {
        "node_id": subject, "alert_type": "result_mismatch", "severity": "high",
        "evidence": {"receipts": [{"envelope": env.hex(), "sig": sig.hex()}
                                  for env, sig in (r.wire() for r in receipts)]}},
        reach="network")


def check_result_alert(event: Event, receipt: KindSpec) -> str | None:
    """Re-verify a result alert from the event alone; None when it holds, else why not.

    ``receipt`` is the lender's receipt kind (``compute.events.RECEIPT_SIGNED``,
    passed in: compute stands on attestation, not the reverse). It holds when
    the three receipts decode and verify, are signed by three providers other
    than the reporter, each states the job's kind and params hash, all the
    same job and model, and the subject's result hash is the one the two
    others contradict with one voice.
    """
    p = event.payload
    try:
        receipts = [decode_event(bytes.fromhex(r["envelope"]), bytes.fromhex(r["sig"]))
                    for r in p["evidence"]["receipts"]]
    except (EnvelopeError, ValueError):
        return "malformed"
    if len(receipts) != 3:
        return "not_three"
    facts = []
    for r in receipts:
        errors: list[tuple[str, str]] = []
        payload = r.payload
        receipt.payload.walk(payload, "payload", errors)
        if r.kind != receipt.kind or errors or "params_hash" not in payload \
                or "job_kind" not in payload:
            return "not_a_receipt"
        facts.append((r.origin, payload["job_kind"], payload["params_hash"],
                      payload["model_hash"], payload["result_hash"]))
    origins = {f[0] for f in facts}
    if len(origins) != 3 or event.origin in origins:
        return "not_three_providers"
    if len({f[1:4] for f in facts}) != 1:
        return "not_one_job"
    accused = [f for f in facts if f[0] == p["node_id"]]
    others = {f[4] for f in facts if f[0] != p["node_id"]}
    if not accused or len(others) != 1 or accused[0][4] in others:
        return "no_majority_against_subject"
    return None


def accused_receipt(event: Event) -> str:
    """The signature of the subject's receipt in a result alert (one that
    ``check_result_alert`` passed): what makes two alerts one piece of evidence,
    so that whoever relays the same receipts again counts nothing new."""
    for r in event.payload["evidence"]["receipts"]:
        if decode_event(bytes.fromhex(r["envelope"]), bytes.fromhex(r["sig"])).origin \
                == event.payload["node_id"]:
            return str(r["sig"])
    raise ValueError("no receipt of the subject")  # pragma: no cover - checked before


def unreported_forks(ledger: Ledger, state: apsw.Connection,
                     reporter: str) -> list[tuple[Event, Event]]:
    """Forks on record here for which ``reporter`` has raised no alert yet.

    A crash between recording a fork and appending the alert would otherwise
    leave the fork known (so never reported again) and unreported; the node
    runs this at start, once its views have caught up with its ledger. Only
    forks of feeds this node holds: as live, a node that never held the
    feed records the proof without an alert of its own (issue #8.8).
    """
    reported = {
        (node_id, json.loads(evidence)["seq"])
        for node_id, evidence in state.execute(
            "SELECT node_id, evidence_json FROM fraud_alerts"
            " WHERE reporter = ? AND alert_type = 'equivocation'", (reporter,))
    }
    return [(a, b) for a, b in ledger.equivocations()
            if (a.origin, a.seq) not in reported and ledger.head(a.origin) is not None]


def _project(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "INSERT INTO fraud_alerts (node_id, alert_type, severity, evidence_json, reporter, ts_ms,"
        " source_event) VALUES (?,?,?,?,?,?,?)",
        (p["node_id"], p["alert_type"], p["severity"], json.dumps(p["evidence"], sort_keys=True),
         event.origin, event.ts_ms, event_id),
    )


def register(kinds: KindRegistry, views: ViewRegistry) -> None:
    kinds.register(FRAUD_ALERT_RAISED)
    kinds.register(RESULT_ALERT_RAISED)
    views.add_table("fraud_alerts", FRAUD_ALERTS_DDL)
    views.project(FRAUD_ALERT_RAISED.kind, _project)
    # Every node lists the alert as it came; each one's TrustService re-verifies
    # it (``check_result_alert``) before it counts against anyone.
    views.project(RESULT_ALERT_RAISED.kind, _project)
