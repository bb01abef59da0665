"""The local HTTP API and the asyncio↔trio bridge, over real loopback sockets (DESIGN §5).

The server runs inside the trio test via ``nursery.start(serve_api, ...)``;
requests are made with ``urllib.request`` in a worker thread
(``trio.to_thread.run_sync``), so the trio loop keeps running the bridged
backend calls while a request is in flight.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import pytest
import trio

from hartnode.apps.web.bridge import BridgeClosedError, TrioBridge, open_bridge
from hartnode.apps.web.server import THREAD_NAME, ApiBindError, serve_api
from hartnode.catalog import build_catalog
from hartnode.metrics import Registry
from hartnode.routes import ApiRequest, ApiRequestError, AppContext, AppRoutes, RouteTable

TOKEN = "s3cret-token-for-tests"
NODE_INFO: dict[str, object] = {"node_id": "ab" * 32, "version": "0.1.0", "peers": 0}
T = TypeVar("T")

# No proxies: the environment's http_proxy must not capture loopback requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        assert self.headers["Content-Type"].startswith("application/json")
        return json.loads(self.body)


def _post_blocking(url: str, headers: Mapping[str, str], body: bytes) -> Reply:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


def _get_blocking(url: str, headers: Mapping[str, str]) -> Reply:
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with _OPENER.open(request, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


async def get(url: str, token: str | None = None, *, scheme: str = "Bearer") -> Reply:
    """GET ``url`` from a worker thread, with ``Authorization`` when a token is given."""
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return await trio.to_thread.run_sync(_get_blocking, url, headers)


async def post(url: str, body: bytes, token: str = "") -> Reply:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return await trio.to_thread.run_sync(_post_blocking, url, headers, body)


class FakeBackend:
    """The daemon's side of the API, recording that it ran in the trio loop."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = trio.Event()
        self.block = False
        self.appended: list[tuple[str, str, object]] = []

    async def append_event(self, kind: str, reach: str, payload: object) -> dict[str, object]:
        trio.lowlevel.current_task()
        if kind != "note.created":
            raise ApiRequestError(f"unknown event kind {kind!r}")
        self.appended.append((kind, reach, payload))
        return {"kind": kind, "reach": reach, "payload": payload, "seq": len(self.appended)}

    async def tail(self, n: int) -> list[dict[str, object]]:
        return [{"seq": i} for i in range(1, len(self.appended) + 1)][-n:] if n else []

    async def node_info(self) -> dict[str, object]:
        trio.lowlevel.current_task()  # raises RuntimeError outside a trio task
        self.calls += 1
        self.entered.set()
        if self.block:
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()
        return NODE_INFO


def routes_for(backend: FakeBackend) -> RouteTable:
    """The routes the daemon registers, served by the fake: the node's status
    route and the catalog's app routes bound to it as their AppContext."""
    table = RouteTable()

    async def get_node(request: ApiRequest) -> object:
        return await backend.node_info()

    table.add("GET", "/api/v1/node", get_node)
    build_catalog().routes.bind(backend, table)
    return table


def api_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


@asynccontextmanager
async def running_api(
    backend: FakeBackend | None = None, registry: Registry | None = None
) -> AsyncIterator[str]:
    """Serve the API on 127.0.0.1, port 0, for the duration; yield its base URL."""
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(
            partial(
                serve_api,
                host="127.0.0.1",
                port=0,
                token=TOKEN,
                routes=routes_for(backend or FakeBackend()),
                metrics=registry or Registry(),
            )
        )
        assert host == "127.0.0.1"
        assert port != 0  # the real, bound port
        yield f"http://{host}:{port}"
        nursery.cancel_scope.cancel()
    assert api_threads() == []


async def test_healthz_needs_no_token() -> None:
    async with running_api() as url:
        reply = await get(f"{url}/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}
    assert reply.headers["Cache-Control"] == "no-store"


async def test_node_requires_the_token() -> None:
    backend = FakeBackend()
    async with running_api(backend) as url:
        missing = await get(f"{url}/api/v1/node")
        wrong = await get(f"{url}/api/v1/node", "not-the-token")
        prefix = await get(f"{url}/api/v1/node", TOKEN[:-1])
        basic = await get(f"{url}/api/v1/node", TOKEN, scheme="Basic")
        non_ascii = await get(f"{url}/api/v1/node", "tökén")
    for reply in (missing, wrong, prefix, basic, non_ascii):
        assert reply.status == 401
        body = reply.json()
        assert isinstance(body, dict)
        assert set(body) == {"error", "hint"}
        assert "Authorization: Bearer" in body["hint"]
        assert reply.headers["WWW-Authenticate"].startswith('Bearer realm="hartnode"')
    assert isinstance(body := missing.json(), dict)
    assert body["error"] == "missing API token"
    assert isinstance(body := wrong.json(), dict)
    assert body["error"] == "invalid API token"
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="hartnode", error="invalid_token"'
    assert backend.calls == 0  # refused before reaching the node


async def test_node_with_the_token_returns_the_backend_answer() -> None:
    backend = FakeBackend()
    async with running_api(backend) as url:
        reply = await get(f"{url}/api/v1/node", TOKEN)
        lowercase_scheme = await get(f"{url}/api/v1/node", TOKEN, scheme="bearer")
    assert reply.status == 200
    assert reply.json() == NODE_INFO
    assert reply.headers["Cache-Control"] == "no-store"
    assert lowercase_scheme.status == 200
    assert backend.calls == 2


async def test_metrics_require_the_token_and_count_requests() -> None:
    registry = Registry()
    async with running_api(registry=registry) as url:
        await get(f"{url}/healthz")
        await get(f"{url}/api/v1/node")
        await get(f"{url}/api/v1/node", TOKEN)
        refused = await get(f"{url}/metrics")
        reply = await get(f"{url}/metrics", TOKEN)
    assert refused.status == 401
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = reply.body.decode().splitlines()
    assert "# TYPE hartnode_api_requests_total counter" in lines
    assert 'hartnode_api_requests_total{route="/healthz",status="200"} 1' in lines
    assert 'hartnode_api_requests_total{route="/api/v1/node",status="401"} 1' in lines
    assert 'hartnode_api_requests_total{route="/api/v1/node",status="200"} 1' in lines
    assert 'hartnode_api_requests_total{route="/metrics",status="401"} 1' in lines
    # The scrape itself is counted after its body was rendered.
    assert (
        registry.counter("hartnode_api_requests_total", "", ("route", "status")).value(
            route="/metrics", status="200"
        )
        == 1
    )


async def test_unknown_routes_are_json_errors_with_a_bounded_label() -> None:
    registry = Registry()
    async with running_api(registry=registry) as url:
        anonymous = await get(f"{url}/no/such/thing")
        known = await get(f"{url}/no/such/thing", TOKEN)
        other = await get(f"{url}/another/path?x=1", TOKEN)
    assert anonymous.status == 401  # the API is not mapped for strangers
    assert known.status == 404
    body = known.json()
    assert isinstance(body, dict)
    assert set(body) == {"error", "hint"}
    assert "/no/such/thing" in body["error"]
    assert other.status == 404
    counter = registry.counter("hartnode_api_requests_total", "", ("route", "status"))
    assert counter.value(route="unmatched", status="404") == 2
    assert counter.value(route="unmatched", status="401") == 1


async def test_backend_failure_is_a_500_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenBackend(FakeBackend):
        async def node_info(self) -> dict[str, object]:
            raise LookupError("ledger says no")

    async with running_api(BrokenBackend()) as url:
        failed = await get(f"{url}/api/v1/node", TOKEN)
        health = await get(f"{url}/healthz")
    assert failed.status == 500
    body = failed.json()
    assert isinstance(body, dict)
    assert body["error"] == "internal error"
    assert "journalctl" in body["hint"]
    assert "ledger says no" not in failed.body.decode()  # no internals leak to clients
    assert "ledger says no" in caplog.text
    assert health.status == 200


async def test_port_in_use_raises_api_bind_error() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ApiBindError) as caught:
            await serve_api(
                host="127.0.0.1", port=port, token=TOKEN, routes=routes_for(FakeBackend()),
                metrics=Registry(),
            )
        # Through nursery.start, as the daemon calls it, the same typed error.
        async with trio.open_nursery() as nursery:
            with pytest.raises(ApiBindError):
                await nursery.start(
                    partial(
                        serve_api,
                        host="127.0.0.1",
                        port=port,
                        token=TOKEN,
                        routes=routes_for(FakeBackend()),
                        metrics=Registry(),
                    )
                )
    error = caught.value
    assert (error.host, error.port) == ("127.0.0.1", port)
    assert error.error.errno == errno.EADDRINUSE
    assert f"127.0.0.1:{port}" in str(error)
    assert "Address already in use" in str(error)
    assert api_threads() == []


async def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        await serve_api(
            host="127.0.0.1", port=0, token="", routes=routes_for(FakeBackend()), metrics=Registry()
        )


async def test_cancellation_shuts_down_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(
            partial(
                serve_api,
                host="127.0.0.1",
                port=0,
                token=TOKEN,
                routes=routes_for(FakeBackend()),
                metrics=Registry(),
            )
        )
        assert len(api_threads()) == 1
        assert (await get(f"http://{host}:{port}/healthz")).status == 200
        nursery.cancel_scope.cancel()
    assert api_threads() == []
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect((host, port))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_pending_call_fails_clearly_when_the_node_stops() -> None:
    backend = FakeBackend()
    backend.block = True
    replies: list[Reply] = []
    async with trio.open_nursery() as clients, trio.open_nursery() as server:
        host, port = await server.start(
            partial(
                serve_api,
                host="127.0.0.1",
                port=0,
                token=TOKEN,
                routes=routes_for(backend),
                metrics=Registry(),
            )
        )

        async def request() -> None:
            replies.append(await get(f"http://{host}:{port}/api/v1/node", TOKEN))

        clients.start_soon(request)
        await backend.entered.wait()  # the call is now pending in the trio loop
        server.cancel_scope.cancel()
    assert api_threads() == []
    [reply] = replies
    assert reply.status == 503
    assert reply.json() == {
        "error": "the node is shutting down",
        "hint": "retry once the node is running again",
    }


# --- the bridge on its own ------------------------------------------------------


async def in_asyncio_thread(main: Callable[[], Coroutine[object, object, T]]) -> T:
    """Run ``asyncio.run(main())`` in a worker thread while the trio loop keeps going."""
    return await trio.to_thread.run_sync(asyncio.run, main())


async def test_bridge_returns_results_and_raises_errors_on_the_asyncio_side() -> None:
    async def add(a: int, b: int) -> int:
        await trio.sleep(0)
        return a + b

    async def fail() -> None:
        await trio.lowlevel.checkpoint()
        raise KeyError("missing")

    async with open_bridge() as bridge:

        async def client() -> tuple[list[int], str]:
            results = await asyncio.gather(*(bridge.call(add, i, 1) for i in range(20)))
            try:
                await bridge.call(fail)
            except KeyError as exc:
                return list(results), str(exc)
            raise AssertionError("the trio exception did not cross the bridge")

        results, error = await in_asyncio_thread(client)
    assert results == [i + 1 for i in range(20)]
    assert error == "'missing'"


async def test_bridge_refuses_calls_after_close() -> None:
    async with open_bridge() as bridge:
        pass

    async def client() -> str:
        try:
            await bridge.call(trio.lowlevel.checkpoint)
        except BridgeClosedError as exc:
            return str(exc)
        raise AssertionError("a closed bridge ran a call")

    assert "shutting down" in await in_asyncio_thread(client)


def test_bridge_refuses_calls_after_the_trio_run_ended() -> None:
    bridges: list[TrioBridge] = []

    async def trio_main() -> None:
        async with open_bridge() as bridge:
            bridges.append(bridge)

    trio.run(trio_main)

    async def client() -> str:
        try:
            await bridges[0].call(trio.lowlevel.checkpoint)
        except BridgeClosedError as exc:
            return str(exc)
        raise AssertionError("a finished trio run accepted a call")

    assert "exited" in asyncio.run(client())


async def test_asyncio_cancellation_cancels_the_trio_task() -> None:
    entered = threading.Event()
    trio_side_cancelled = trio.Event()

    async def slow() -> None:
        entered.set()
        try:
            await trio.sleep_forever()
        finally:
            trio_side_cancelled.set()

    async with open_bridge() as bridge:

        async def client() -> bool:
            task = asyncio.ensure_future(bridge.call(slow))
            await asyncio.get_running_loop().run_in_executor(None, entered.wait)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return True
            return False

        assert await in_asyncio_thread(client)
        with trio.fail_after(10):
            await trio_side_cancelled.wait()


async def test_events_append_and_tail_through_the_backend() -> None:
    backend = FakeBackend()
    async with running_api(backend) as base:
        body = json.dumps({"kind": "note.created", "reach": "local", "payload": {"text": "hi"}})
        created = await post(f"{base}/api/v1/events", body.encode(), TOKEN)
        assert created.status == 201
        assert json.loads(created.body)["seq"] == 1
        assert backend.appended == [("note.created", "local", {"text": "hi"})]
        tail = await get(f"{base}/api/v1/events?n=5", TOKEN)
        assert tail.status == 200 and json.loads(tail.body) == [{"seq": 1}]


@pytest.mark.parametrize("body,needle", [
    (b"not json", "not JSON"),
    (b'["a list"]', "expected"),
    (b'{"kind": "nosuch.kind", "payload": {}}', "unknown event kind"),
])
async def test_bad_event_requests_are_400_with_the_reason(body: bytes, needle: str) -> None:
    async with running_api() as base:
        reply = await post(f"{base}/api/v1/events", body, TOKEN)
        assert reply.status == 400
        assert needle in json.loads(reply.body)["error"]


async def test_events_need_the_token() -> None:
    async with running_api() as base:
        reply = await post(f"{base}/api/v1/events", b"{}", "wrong")
        assert reply.status == 401
        assert (await get(f"{base}/api/v1/events?n=abc", TOKEN)).status == 400


# -- routes are data: what the node and its apps register is what is served ---------------


def test_the_catalog_registers_the_event_routes_and_the_server_reserves_its_own() -> None:
    table = RouteTable()
    build_catalog().routes.bind(FakeBackend(), table)
    served = {(r.method, r.path, r.status) for r in table}
    # the apps' own routes (social, ...) are served beside the ledger's
    assert {("GET", "/api/v1/events", 200), ("POST", "/api/v1/events", 201)} <= served
    assert ("GET", "/api/v1/social/feed", 200) in served
    with pytest.raises(ValueError, match="registered already"):
        build_catalog().routes.bind(FakeBackend(), table)
    for path in ("/healthz", "/metrics", "/elsewhere"):
        with pytest.raises(ValueError, match="under /api/"):
            table.add("GET", path, FakeBackend().node_info)  # type: ignore[arg-type]


async def test_a_route_an_app_registers_is_served_with_its_query_and_body() -> None:
    seen: list[ApiRequest] = []

    async def echo(ctx: AppContext, request: ApiRequest) -> object:
        seen.append(request)
        trio.lowlevel.current_task()  # the handler runs in the trio loop
        return {"n": request.query.get("n"), "tail": await ctx.tail(5), "body": request.json()}

    app_routes = AppRoutes()
    app_routes.add("POST", "/api/v1/echo", echo, status=202)
    table = RouteTable()
    app_routes.bind(FakeBackend(), table)
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(partial(
            serve_api, host="127.0.0.1", port=0, token=TOKEN, routes=table, metrics=Registry()))
        reply = await post(f"http://127.0.0.1:{port}/api/v1/echo?n=3", b'{"a": 1}', TOKEN)
        assert (reply.status, reply.json()) == (202, {"n": "3", "tail": [], "body": {"a": 1}})
        # Not registered, so not served (the node's own routes are not built in).
        assert (await get(f"http://127.0.0.1:{port}/api/v1/node", TOKEN)).status == 404
        nursery.cancel_scope.cancel()
    assert [r.body for r in seen] == [b'{"a": 1}']
