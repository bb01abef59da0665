"""Read routes the web UI shows that no other module answered (issue #13).

Bound to the running node like ``node_api``'s (they read its services and
views); served like any route (``hartnode.routes``):

- ``GET /api/v1/ledger?n=&before=&kind=&origin=``: the explorer's pages,
  newest first (``ledger.explorer.page``); ``kind`` may end in ``.*``.
- ``GET /api/v1/ledger/verify?hash=H``: one event, its signature and its
  chain links checked server-side (``ledger.explorer.check_event``).
- ``GET /api/v1/trust/alerts?n=``: fraud alerts with their evidence.
- ``GET /api/v1/trust/attestations?n=``: attestation verdicts.
- ``GET /api/v1/compute/metering``: today's metered spend against the daily limit.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from hartnode.compute import commands as compute_commands
from hartnode.compute import metering
from hartnode.compute.policy import PolicyError, file_layer
from hartnode.identity import is_node_id
from hartnode.ledger import store
from hartnode.ledger.explorer import PAGE_MAX, PageQuery, check_event, page
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

if TYPE_CHECKING:  # node.py imports this module to register the routes
    from hartnode.node import Node

#: What a kind filter may look like: dotted lowercase names, optionally ``prefix.*``.
_KIND_FILTER = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?")
ROWS_MAX = 500  # alerts and attestations answered at most


def _int(request: ApiRequest, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise ApiRequestError(f"{name} must be an integer") from e
    if not lo <= value <= hi:
        raise ApiRequestError(f"{name} must be between {lo} and {hi}")
    return value


def page_query(request: ApiRequest) -> PageQuery:
    """The explorer's filter from a query string. Raises ApiRequestError."""
    kind = request.query.get("kind", "").strip()
    origin = request.query.get("origin", "").strip().lower()
    if kind and (len(kind) > 100 or not _KIND_FILTER.fullmatch(kind)):
        raise ApiRequestError("kind must be an event kind (app.noun.verb) or a prefix "
                              "ending in .*")
    if origin and not is_node_id(origin):
        raise ApiRequestError("origin must be a node id (64 lowercase hex digits)")
    return PageQuery(n=_int(request, "n", 50, 1, PAGE_MAX),
                     before=_int(request, "before", 0, 0, 2**62), kind=kind, origin=origin)


async def ledger_page(node: Node, request: ApiRequest) -> object:
    q = page_query(request)
    return await node.access.run(page, node.node_ledger.ledger, q)


async def verify_event(node: Node, request: ApiRequest) -> object:
    raw = request.query.get("hash", "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", raw):
        raise ApiRequestError("hash must be an event hash (64 lowercase hex digits)")
    found = await node.access.run(check_event, node.node_ledger.ledger, bytes.fromhex(raw))
    if found is None:
        raise ApiRequestError(f"this node holds no event with hash {raw}")
    return found


def _alerts(node: Node, n: int) -> list[dict[str, Any]]:
    rows = store.query(node.node_ledger.views.state,
                       "SELECT id, node_id, alert_type, severity, evidence_json, reporter, ts_ms,"
                       " source_event FROM fraud_alerts ORDER BY id DESC LIMIT ?", (n,))
    return [{"id": i, "node_id": subject, "alert_type": kind, "severity": severity,
             "evidence": json.loads(evidence), "reporter": reporter, "ts_ms": ts,
             "source_event": source}
            for i, subject, kind, severity, evidence, reporter, ts, source in rows]


def _attestations(node: Node, n: int) -> list[dict[str, Any]]:
    rows = store.query(node.node_ledger.views.state,
                       "SELECT attester_node_id, subject_node_id, code_hash, verdict, challenge_id,"
                       " reason, ts_ms FROM node_attestations ORDER BY id DESC LIMIT ?", (n,))
    names = ("attester", "subject", "code_hash", "verdict", "challenge_id", "reason", "ts_ms")
    return [dict(zip(names, row, strict=True)) for row in rows]


async def alerts(node: Node, request: ApiRequest) -> object:
    n = _int(request, "n", 100, 1, ROWS_MAX)
    return {"alerts": await node.access.run(_alerts, node, n)}


async def attestations(node: Node, request: ApiRequest) -> object:
    n = _int(request, "n", 100, 1, ROWS_MAX)
    return {"attestations": await node.access.run(_attestations, node, n)}


def _metering(node: Node) -> dict[str, Any]:
    layer = file_layer(node.cfg.compute, only_changed=True)
    policy = compute_commands.own_policy(node.node_ledger, layer)
    day = metering.utc_day(time.time_ns() // 1_000_000)
    calls = store.query(node.node_ledger.views.state,
                        "SELECT call_id, operator_id, model_id, task_source, reserved_uusd,"
                        " tokens_in, tokens_out, actual_usd_cost, settlement_status"
                        " FROM metered_api_usage WHERE node_id = ? AND day = ?"
                        " ORDER BY id DESC LIMIT 50", (node.node_id, day))
    names = ("call_id", "backend", "model", "task_source", "reserved_uusd", "tokens_in",
             "tokens_out", "actual_uusd", "status")
    return {"day": day, "spent_uusd": metering.spent_today(node.node_ledger, node.node_id, day),
            "limit_uusd": policy.metered_daily_limit_uusd,
            "allow_metered_for_hive": policy.allow_metered_for_hive,
            "calls": [dict(zip(names, row, strict=True)) for row in calls]}


async def metered_spend(node: Node, request: ApiRequest) -> object:
    try:
        return await node.access.run(_metering, node)
    except PolicyError as e:
        raise ApiRequestError(f"the compute policy is invalid: {e}") from e


def register_routes(routes: RouteTable, node: Node) -> None:
    """Add the UI's read routes to ``routes``, bound to ``node``."""
    for path, fn in (("/api/v1/ledger", ledger_page), ("/api/v1/ledger/verify", verify_event),
                     ("/api/v1/trust/alerts", alerts),
                     ("/api/v1/trust/attestations", attestations),
                     ("/api/v1/compute/metering", metered_spend)):
        routes.add("GET", path, _bound(fn, node))


def _bound(fn: Any, node: Node) -> Any:
    async def handler(request: ApiRequest) -> object:
        return await fn(node, request)
    return handler
