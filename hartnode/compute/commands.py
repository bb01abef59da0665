"""``hartnode compute status|policy|jobs|escrow`` and ``hartnode wallet``: what they read.

Each returns a JSON-safe dict (``--json`` prints it; the text form is a few
lines of it), read from the node's views; the daemon's API serves the same
dicts under ``/api/v1/compute/...`` and ``/api/v1/wallet``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hartnode.compute import gpu_probe, jobs, policy
from hartnode.ledger import store
from hartnode.ledger.node_ledger import NodeLedger

if TYPE_CHECKING:  # only the type: catalog imports compute (its views), not the reverse
    from hartnode.catalog import Catalog


def own_policy(nl: NodeLedger, file_layer: Mapping[str, str],
               env: Mapping[str, str] | None = None) -> policy.Policy:
    """This node's effective policy (env > node_compute_config > config > defaults)."""
    me = nl.ledger.identity.node_id if nl.ledger.identity else ""
    db = {key: value for key, value in store.query(
        nl.views.state, "SELECT key, value FROM node_compute_config WHERE node_id = ?", (me,))}
    return policy.resolve(env=os.environ if env is None else env, db=db, file=file_layer)


def status(nl: NodeLedger, catalog: Catalog, file_layer: Mapping[str, str],
           facts: gpu_probe.GpuFacts | None = None) -> dict[str, Any]:
    facts = facts if facts is not None else gpu_probe.probe()
    counts = dict(store.query(nl.views.state,
                              "SELECT status, COUNT(*) FROM compute_escrow GROUP BY status"))
    return {"gpu": facts.to_json(), "capabilities": list(facts.capabilities()),
            "policy": own_policy(nl, file_layer).to_json(), "escrows": counts,
            "wallet": wallet(nl, catalog, limit=0)["wallet"], "job_kinds": sorted(jobs.REGISTRY)}


def escrows(nl: NodeLedger, *, limit: int = 100) -> dict[str, Any]:
    rows = store.query(nl.views.state,
                       "SELECT escrow_id, debtor_node_id, creditor_node_id, spark_amount, status,"
                       " regional, central, deadline_ms, job_id, job_kind, model, opened_ts_ms,"
                       " receipt_hash FROM compute_escrow ORDER BY opened_ts_ms DESC, escrow_id"
                       " LIMIT ?", (limit,))
    names = ("escrow_id", "borrower", "lender", "amount_msp", "status", "regional", "central",
             "deadline_ms", "job_id", "job_kind", "model", "opened_ts_ms", "receipt")
    return {"escrows": [dict(zip(names, row, strict=True)) for row in rows]}


def job_list(nl: NodeLedger, *, limit: int = 100) -> dict[str, Any]:
    rows = escrows(nl, limit=limit)["escrows"]
    # Redundant execution's verdicts this node holds (its own and relayed ones;
    # the trust service re-verifies each before it counts, ``hartnode trust``).
    alerts = store.query(nl.views.state,
                         "SELECT node_id, reporter, ts_ms FROM fraud_alerts"
                         " WHERE alert_type = 'result_mismatch' ORDER BY ts_ms DESC LIMIT ?",
                         (limit,))
    return {"kinds": {name: {"needs_gpu": k.needs_gpu} for name, k in
                      sorted(jobs.REGISTRY.items())},
            "jobs": [{k: r[k] for k in ("job_id", "job_kind", "model", "borrower", "lender",
                                        "status", "receipt")} for r in rows],
            "result_alerts": [{"node_id": n, "reporter": rep, "ts_ms": ts}
                              for n, rep, ts in alerts]}


def wallet(nl: NodeLedger, catalog: Catalog, *, limit: int = 20) -> dict[str, Any]:
    me = nl.ledger.identity.node_id if nl.ledger.identity else ""
    row = store.query(nl.views.state,
                      "SELECT spark, held FROM resonance_wallets WHERE user_id = ?", (me,))
    spark, held = row[0] if row else (0, 0)
    history = store.query(nl.views.state,
                          "SELECT amount, reason, ref FROM resonance_transactions"
                          " WHERE wallet_id = ? ORDER BY id DESC LIMIT ?", (me, limit))
    return {"wallet": {"node_id": me, "spark_msp": spark, "held_msp": held},
            "transactions": [{"amount_msp": a, "reason": r, "ref": ref}
                             for a, r, ref in history]}


def view(which: str, nl: NodeLedger, catalog: Catalog, file_layer: Mapping[str, str], *,
         catch_up: bool) -> dict[str, Any]:
    """The dict of one command: status, policy, jobs, escrow or wallet.

    Raises:
        policy.PolicyError: a policy value of some layer is invalid.
    """
    if catch_up:
        nl.views.catch_up()
    if which == "status":
        return status(nl, catalog, file_layer)
    if which == "policy":
        return {"policy": own_policy(nl, file_layer).to_json()}
    if which == "jobs":
        return job_list(nl)
    if which == "escrow":
        return escrows(nl)
    return wallet(nl, catalog)
