"""Fraud alerts: a node's signed statement that a peer cheated (DESIGN §3, §4).

``trust.fraud_alert.raised`` is appended to the reporting node's own feed, so
the alert itself is signed, replicated and verifiable like every event. The
``fraud_alerts`` view keeps the seed's columns (node_id, alert_type, severity,
evidence_json) plus who reported it. The first alert type is ``equivocation``:
two signed events of one origin at one seq, whose hashes the evidence names
(the events themselves are in the reporter's ``equivocations`` table).
"""

from __future__ import annotations

import json

import apsw

from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import Hex, Int, KindRegistry, KindSpec, Obj, Str
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
    views.add_table("fraud_alerts", FRAUD_ALERTS_DDL)
    views.project(FRAUD_ALERT_RAISED.kind, _project)
