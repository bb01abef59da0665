"""The node's own API routes: ``/api/v1/node``, ``/peers``, ``/peers/join``, ``/revocations``,
``/trust``.

They read the running node's services, so they are bound to a ``Node`` here
rather than registered with the catalog like an app's routes; the server
serves them like any other (``hartnode.routes``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio

from hartnode import __version__
from hartnode.attestation.revocation import RevocationError, parse_revocation_file
from hartnode.gossip.transport import DialError
from hartnode.gossip.trust import RevocationListMessage
from hartnode.identity import is_node_id, short_id
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

if TYPE_CHECKING:  # node.py imports this module to register the routes
    from hartnode.node import Node


MAX_JOIN_URL = 2048  # characters of a URL to join through; real ones are under 100
JOIN_ANSWER_WAIT_S = 5.0  # seconds a join waits for the contact's answer to its Join


def json_form(value: object) -> object:
    """A JSON-safe copy of a stats value: dataclasses become objects, mappings
    (Counters included) objects with string keys (a tuple key joined with
    "/"), tuples and sets lists, bytes hex; anything else its ``str``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_form(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {"/".join(map(str, k)) if isinstance(k, tuple) else str(k): json_form(v)
                for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [json_form(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [json_form(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


async def node_info(node: Node) -> dict[str, object]:
    """``GET /api/v1/node``, ``status --json``. ``tier`` is the standing the
    installed chain proves (what peers grant), ``claimed_tier`` the config's.
    Every stats object goes through ``json_form``: a Counter keyed by
    anything stays valid JSON (issue #8: ``asdict`` made tuple keys)."""
    proven = node.hierarchy.settings if node.hierarchy is not None else None
    gossip = node.gossip
    info = {
        "node_id": node.node_id,
        "short_id": short_id(node.node_id),
        "version": __version__,
        "tier": proven.tier if proven is not None else "flat",
        "region": proven.region if proven is not None else "",
        "claimed_tier": node.cfg.node.tier,
        "claimed_region": node.cfg.node.region,
        "network": node.cfg.network.name,
        "uptime_s": round(time.monotonic() - node.started_monotonic, 3),
        "peers": _active_peers(node),
        "ledger": await node.ledger_head(),
        "overlay": gossip.overview() if gossip is not None else None,
        "replication": node.replication.stats if node.replication is not None else None,
        "hierarchy": (await node.hierarchy.status()
                      if node.hierarchy is not None else None),
        "integrity": node.trust.overview() if node.trust is not None else None,
        "stats": {
            "gossip": gossip.stats if gossip is not None else None,
            "transport": gossip.transport_stats if gossip is not None else None,
            "trust": gossip.trust.counts if gossip is not None else None,
            "peer_records": gossip.peers.counts if gossip is not None else None,
        },
    }
    return json_form(info)  # type: ignore[return-value]


def _active_peers(node: Node) -> int:
    if node.gossip is None:
        return 0
    now_ms = time.time_ns() // 1_000_000
    table = node.gossip.peers
    return sum(1 for n in table.entries if table.status(n, now_ms) == "active")


async def peers(node: Node) -> list[dict[str, object]]:
    """``GET /api/v1/peers``: every known peer with its status, tier, last seen,
    and ``link`` (traffic, round trip, age) while a link to it is open."""
    if node.gossip is None:
        return []
    rows = node.gossip.peers.rows(time.time_ns() // 1_000_000, node.gossip.neighbours())
    links = node.gossip.link_rows()
    for row in rows:
        row["link"] = links.get(str(row["node_id"]))  # None: no link open to it now
    return rows


async def join_peer(node: Node, request: ApiRequest) -> dict[str, object]:
    """``POST /api/v1/peers/join`` with ``{"url": "ws://HOST:PORT/hart"}``: join the
    overlay through that node now (``hartnode join``), and say whether it took
    this node as a neighbour within ``JOIN_ANSWER_WAIT_S``. An unreachable URL
    is an answer, not a bad request: ``{"joined": false, "reason": ...}``."""
    body = request.json()
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str) or len(url) > MAX_JOIN_URL:
        raise ApiRequestError('expected {"url": "ws://HOST:PORT/hart"}')
    if node.gossip is None:
        raise ApiRequestError("the overlay is not running")
    gossip = node.gossip
    try:
        peer = await gossip.join_through(url)
    except ValueError as e:
        raise ApiRequestError(str(e)) from e
    except DialError as e:
        return {"joined": False, "url": url, "reason": str(e)}
    # The answer says whether the contact took us as a neighbour: a full view
    # may refuse (then it sends peers to try), which the operator should see.
    with trio.move_on_after(JOIN_ANSWER_WAIT_S):
        while peer not in gossip.neighbours():
            await gossip.changes().wait()
    return {"joined": True, "url": url, "node_id": peer,
            "neighbour": peer in gossip.neighbours()}


async def publish_revocations(node: Node, data: bytes) -> dict[str, object]:
    """``POST /api/v1/revocations`` with a revocation list file: apply and spread it."""
    trust = node.gossip.trust if node.gossip is not None else None
    if trust is None or trust.master_public_key is None:
        raise ApiRequestError("this node has no pinned master key (trust.master_key)")
    try:
        signed = parse_revocation_file(data, master_public_key=trust.master_public_key)
    except RevocationError as e:
        raise ApiRequestError(f"not a revocation list signed by the pinned master: {e}") from e
    assert node.gossip is not None
    body, sig = signed.to_wire()
    accepted = node.gossip.take_revocations(RevocationListMessage(body, sig))
    held = trust.current.seq if trust.current else 0
    return {"accepted": accepted, "seq": signed.seq, "held_seq": held}


async def trust_view(node: Node) -> object:
    """``GET /api/v1/trust``: code hash, releases, and per judged peer its score,
    outcomes, integrity_status and quarantine end."""
    if node.trust is None:
        return {"code_hash": None, "releases": [], "stats": {}, "peers": []}
    return json_form({**node.trust.overview(), "peers": node.trust.rows()})


async def trust_challenge(node: Node, request: ApiRequest) -> dict[str, object]:
    """``POST /api/v1/trust/challenge`` with ``{"node_id": hex}``: run one now; its verdict."""
    body = request.json()
    if not isinstance(body, dict) or not is_node_id(body.get("node_id")):
        raise ApiRequestError('expected {"node_id": "<64 lowercase hex digits>"}')
    if node.trust is None:
        raise ApiRequestError("integrity challenges are not running")
    node_id = str(body["node_id"])
    verdict = await node.trust.challenge_now(node_id)
    return {"node_id": node_id, "challenge_id": verdict.challenge_id,
            "verdict": verdict.outcome.value, "reason": verdict.reason,
            "integrity_status": node.trust.integrity_status(node_id)}


def register_routes(routes: RouteTable, node: Node) -> None:
    """Add the node's own routes to ``routes``."""

    async def get_node(request: ApiRequest) -> object:
        return await node_info(node)

    async def get_peers(request: ApiRequest) -> object:
        return await peers(node)

    async def post_revocations(request: ApiRequest) -> object:
        return await publish_revocations(node, request.body)

    routes.add("GET", "/api/v1/node", get_node)
    routes.add("GET", "/api/v1/peers", get_peers)
    routes.add("POST", "/api/v1/revocations", post_revocations)

    async def post_join(request: ApiRequest) -> object:
        return await join_peer(node, request)

    routes.add("POST", "/api/v1/peers/join", post_join)

    async def get_trust(request: ApiRequest) -> object:
        return await trust_view(node)

    async def post_trust_challenge(request: ApiRequest) -> object:
        return await trust_challenge(node, request)

    routes.add("GET", "/api/v1/trust", get_trust)
    routes.add("POST", "/api/v1/trust/challenge", post_trust_challenge)
