"""The local API as an attacker on the operator's machine meets it (issue #8, points 3, 12).

- ``status`` after any rejected event: every stats object of a real node,
  with non-empty Counters, round-trips through ``GET /api/v1/node``.
- DNS rebinding: a valid token under a foreign ``Host`` is refused.
- Bodies: 100,000-deep JSON is a 400 that names the depth; size is bounded.
- ``api.listen`` on a non-loopback address needs ``api.allow_remote``.

Real loopback sockets; the server runs in the test's trio loop
(``nursery.start(serve_api, ...)``) and requests go through urllib in a thread.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import trio

from hartnode import config as config_mod
from hartnode import node_api, routes
from hartnode.apps.web import server
from hartnode.apps.web.server import serve_api
from hartnode.catalog import build_catalog
from hartnode.config import Config, ConfigError
from hartnode.datadir import DataDir
from hartnode.hierarchy.service import HierarchyService
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.metrics import NodeMetrics, Registry
from hartnode.node import Node, build_gossip, hierarchy_settings, open_node
from hartnode.replication.service import ReplicationService
from hartnode.routes import ApiRequest, RouteTable

TOKEN = "api-hardening-token"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(url: str, headers: dict[str, str], body: bytes | None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers,
                                 method="GET" if body is None else "POST")
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


async def call(url: str, *, host: str | None = None, body: bytes | None = None
               ) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if host is not None:
        headers["Host"] = host
    status, raw = await trio.to_thread.run_sync(_request, url, headers, body)
    return status, json.loads(raw)


class Backend:
    """Enough of the daemon's side for the request checks."""

    def __init__(self) -> None:
        self.appended: list[object] = []

    async def node_info(self) -> dict[str, object]:
        return {"node_id": "ab" * 32}

    async def append_event(self, kind: str, reach: str, payload: object) -> dict[str, object]:
        self.appended.append(payload)
        return {"kind": kind}

    async def tail(self, n: int) -> list[dict[str, object]]:
        return []

    async def peers(self) -> list[dict[str, object]]:
        return []

    async def publish_revocations(self, data: bytes) -> dict[str, object]:
        return {}


def routes_for(backend: Backend | Node) -> RouteTable:
    """The daemon's routes: the node's own (the real ones for a real Node) and
    the catalog's app routes bound to ``backend`` as their AppContext."""
    table = RouteTable()
    if isinstance(backend, Node):
        node_api.register_routes(table, backend)
    else:
        async def get_node(request: ApiRequest) -> object:
            return await backend.node_info()

        table.add("GET", "/api/v1/node", get_node)
    build_catalog().routes.bind(backend, table)
    return table


@asynccontextmanager
async def api(backend: Backend | Node, *, host: str = "127.0.0.1",
              allowed_hosts: Collection[str] = ()) -> AsyncIterator[int]:
    extra = {"allowed_hosts": allowed_hosts} if allowed_hosts else {}
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(partial(
            serve_api, host=host, port=0, token=TOKEN, routes=routes_for(backend),
            metrics=Registry(), **extra))
        yield port
        nursery.cancel_scope.cancel()


# -- point 3: every stats object, non-empty, through the real API ----------------------


async def test_node_info_with_every_stats_counter_populated_is_json_through_the_api(
        tmp_path: Path) -> None:
    dd = DataDir(tmp_path / "node")
    cfg = Config()
    dd.init(cfg)
    node_ledger = open_node(dd, cfg, build_catalog())
    access = StoreAccess()
    metrics = NodeMetrics.register(Registry())
    node = Node(cfg, dd, node_ledger, access, Committer(node_ledger, access, max_batch=10),
                metrics, time.monotonic())
    try:
        node.gossip = gossip = build_gossip(dd, cfg, node_ledger)
        node.replication = ReplicationService(gossip, node_ledger, access)
        node.hierarchy = HierarchyService(gossip, node.replication, node_ledger, access,
                                          hierarchy_settings(cfg, gossip))
        # What a node that met a forger, a noisy peer and a bad record counts.
        node.replication.stats.rejected.update({"bad_signature": 2, "bad_prev": 1})
        for counts in (gossip.stats.received, gossip.stats.sent, gossip.stats.dropped,
                       gossip.stats.protocol_errors, gossip.transport_stats.handshake_failures,
                       gossip.transport_stats.frame_errors, gossip.transport_stats.refused,
                       gossip.transport_stats.links_closed, gossip.transport_stats.link_bytes,
                       gossip.transport_stats.decode_errors, gossip.trust.counts,
                       gossip.peers.counts, node.hierarchy.stats.refused,
                       node.hierarchy.stats.joins_refused):
            counts["some_reason"] += 3
        # Whatever else a stats object may grow: keys that are not strings.
        gossip.stats.dropped[("want", 7)] += 1  # type: ignore[index]

        async with api(node) as port:
            status, info = await call(f"http://127.0.0.1:{port}/api/v1/node")
    finally:
        node_ledger.close()
    assert status == 200, info
    assert isinstance(info, dict)
    assert info["replication"]["rejected"] == {"bad_signature": 2, "bad_prev": 1}
    stats = info["stats"]
    assert stats["gossip"]["dropped"] == {"some_reason": 3, "want/7": 1}
    assert stats["transport"]["refused"] == {"some_reason": 3}
    assert stats["trust"] == {"some_reason": 3}
    assert stats["peer_records"] == {"some_reason": 3}
    assert info["hierarchy"]["stats"]["joins_refused"] == {"some_reason": 3}
    assert info["overlay"]["protocol_errors"] == {"some_reason": 3}
    assert info["tier"] == "flat" and info["claimed_tier"] == "flat"


def test_json_form_keeps_any_stats_value_valid_json() -> None:
    from hartnode.node_api import json_form

    value = {"c": Counter({("a", 1): 2}), "s": {3, 1}, "b": b"\x01", "f": float("inf"),
             "t": (1, "x"), "o": object}
    out = json_form(value)
    assert json.loads(json.dumps(out, allow_nan=False)) == {
        "c": {"a/1": 2}, "s": [1, 3], "b": "01", "f": None, "t": [1, "x"], "o": str(object)}


# -- point 12: Host, bodies, remote listen ------------------------------------------------


async def test_a_foreign_host_is_refused_even_with_the_token() -> None:
    backend = Backend()
    async with api(backend) as port:
        url = f"http://127.0.0.1:{port}/api/v1/node"
        rebound = await call(url, host=f"evil.example:{port}")
        other_port = await call(url, host=f"127.0.0.1:{port + 1}")
        health = await call(f"http://127.0.0.1:{port}/healthz", host="evil.example")
        answered = [await call(url, host=f"{name}:{port}")
                    for name in ("localhost", "127.0.0.1", "[::1]", "LOCALHOST")]
    for status, body in (rebound, other_port, health):
        assert status == 403, body
        assert isinstance(body, dict) and "api.allowed_hosts" in body["hint"]
    assert [status for status, _ in answered] == [200, 200, 200, 200]


async def test_allowed_hosts_adds_names() -> None:
    async with api(Backend(), allowed_hosts=["node.example.lan"]) as port:
        url = f"http://127.0.0.1:{port}/api/v1/node"
        named = await call(url, host=f"node.example.lan:{port}")
        other = await call(url, host=f"other.example.lan:{port}")
    assert named[0] == 200
    assert other[0] == 403


def test_host_rules() -> None:
    allowed_host_names, host_allowed = server.allowed_host_names, server.host_allowed
    names = allowed_host_names("192.0.2.7", ["Node.Example."])
    assert host_allowed("192.0.2.7:6777", 6777, names)
    assert host_allowed("node.example:6777", 6777, names)
    assert not host_allowed("192.0.2.7:6778", 6777, names)
    assert not host_allowed("", 6777, names)
    assert not host_allowed("[::1", 6777, names)
    assert host_allowed("localhost", 80, names)
    assert "0.0.0.0" not in allowed_host_names("0.0.0.0")
    assert host_allowed("anything:1", 2, allowed_host_names("127.0.0.1", ["*"]))


async def test_deep_and_large_bodies_are_400_and_413_naming_the_problem() -> None:
    backend = Backend()
    max_body = 1 << 20  # server.MAX_BODY_BYTES
    async with api(backend) as port:
        url = f"http://127.0.0.1:{port}/api/v1/events"
        deep = b'{"kind": "note.created", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        deep_status, deep_body = await call(url, body=deep)
        big_status, big_body = await call(url, body=b'{"kind": "' + b"x" * max_body
                                          + b'"}')
        ok_status, _ = await call(url, body=json.dumps(
            {"kind": "note.created", "payload": {"text": "[[[[ { \\\" ]]"}}).encode())
    assert deep_status == 400, deep_body
    assert isinstance(deep_body, dict) and "100001 levels deep" in deep_body["error"]
    assert big_status == 413, big_body
    assert isinstance(big_body, dict) and str(max_body) in big_body["hint"]
    assert ok_status == 201
    assert backend.appended == [{"text": "[[[[ { \\\" ]]"}]


def test_json_depth_ignores_brackets_in_strings() -> None:
    json_depth, MAX_JSON_DEPTH = routes.json_depth, routes.MAX_JSON_DEPTH
    assert json_depth(b'{"a": [1, {"b": "[[[\\"[["}]}') == 3
    assert json_depth(b'"\\\\"[]') == 1
    assert json_depth(b"[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1


@pytest.mark.parametrize("listen", ["0.0.0.0:6777", "192.0.2.7:6777", "[::]:6777",
                                    "node.example:6777"])
def test_a_remote_api_listen_needs_allow_remote(listen: str) -> None:
    cfg = replace(Config(), api=replace(Config().api, listen=listen))
    with pytest.raises(ConfigError, match=r"api\.allow_remote = true"):
        config_mod.validate(cfg)
    config_mod.validate(replace(cfg, api=replace(cfg.api, allow_remote=True)))
    for local in ("127.0.0.1:6777", "127.0.0.2:1", "[::1]:6777", "localhost:6777"):
        config_mod.validate(replace(cfg, api=replace(cfg.api, listen=local)))
