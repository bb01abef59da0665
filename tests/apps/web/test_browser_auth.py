"""The browser's way in (issue #13): one-time login links, session cookies, CSRF, Host, the UI.

The server runs in the test's trio loop (``nursery.start(serve_api, ...)``);
requests go through ``http.client`` in a worker thread, so every header (and
every Set-Cookie) is seen as sent, with no redirect followed.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from http.cookies import SimpleCookie

import pytest
import trio

from hartnode.apps.web.live import LiveHub
from hartnode.apps.web.server import serve_api
from hartnode.apps.web.sessions import SessionStore
from hartnode.metrics import Registry
from hartnode.routes import ApiRequest, RouteTable

TOKEN = "browser-auth-token"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def cookies(self) -> dict[str, tuple[str, str]]:
        """name -> (value, the whole Set-Cookie line)."""
        out = {}
        for line in self.headers.get_all("Set-Cookie") or []:
            c = SimpleCookie()
            c.load(line)
            for name, morsel in c.items():
                out[name] = (morsel.value, line)
        return out


def _request(port: int, method: str, path: str, headers: Mapping[str, str],
             body: bytes | None) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


@dataclass
class Api:
    port: int
    sessions: SessionStore
    live: LiveHub
    posted: list[object]

    async def call(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                   body: bytes | None = None) -> Reply:
        return await trio.to_thread.run_sync(
            _request, self.port, method, path, headers or {}, body)

    async def login(self) -> tuple[str, str]:
        """Mint a link with the bearer token, follow it; (session cookie, csrf)."""
        minted = await self.call("POST", "/api/v1/ui/login-token",
                                 {"Authorization": f"Bearer {TOKEN}"}, b"{}")
        assert minted.status == 200, minted.body
        url = str(minted.json()["url"])  # type: ignore[index]
        path = url[url.index("/login"):]
        reply = await self.call("GET", path)
        assert reply.status == 303 and reply.headers["Location"] == "/"
        cookies = reply.cookies()
        return (cookies[f"hartnode-session-{self.port}"][0],
                cookies[f"hartnode-csrf-{self.port}"][0])

    def cookie(self, session: str, csrf: str = "") -> dict[str, str]:
        value = f"hartnode-session-{self.port}={session}"
        if csrf:
            value += f"; hartnode-csrf-{self.port}={csrf}"
        return {"Cookie": value}


def _routes(posted: list[object]) -> RouteTable:
    table = RouteTable()

    async def get_node(request: ApiRequest) -> object:
        return {"node_id": "ab" * 32}

    async def post_thing(request: ApiRequest) -> object:
        posted.append(request.json())
        return {"ok": True}

    table.add("GET", "/api/v1/node", get_node)
    table.add("POST", "/api/v1/things", post_thing, status=201)
    return table


@asynccontextmanager
async def running() -> AsyncIterator[Api]:
    posted: list[object] = []
    sessions, hub = SessionStore(time.monotonic), LiveHub()
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(partial(
            serve_api, host="127.0.0.1", port=0, token=TOKEN, routes=_routes(posted),
            metrics=Registry(), live=hub, sessions=sessions))
        yield Api(port, sessions, hub, posted)
        nursery.cancel_scope.cancel()


async def test_a_login_link_sets_httponly_samesite_strict_cookies_and_works_once() -> None:
    async with running() as api:
        minted = await api.call("POST", "/api/v1/ui/login-token",
                                {"Authorization": f"Bearer {TOKEN}"}, b"{}")
        url = str(minted.json()["url"])  # type: ignore[index]
        assert re.fullmatch(rf"http://127\.0\.0\.1:{api.port}/login\?token=[\w-]{{40,}}", url)
        path = url[url.index("/login"):]
        first = await api.call("GET", path)
        again = await api.call("GET", path)
        session = first.cookies()[f"hartnode-session-{api.port}"]
        csrf = first.cookies()[f"hartnode-csrf-{api.port}"]
        page = await api.call("GET", "/", api.cookie(session[0]))
        node = await api.call("GET", "/api/v1/node", api.cookie(session[0]))
    assert first.status == 303 and first.headers["Location"] == "/"
    assert "HttpOnly" in session[1] and "SameSite=Strict" in session[1]
    assert "HttpOnly" not in csrf[1] and "SameSite=Strict" in csrf[1]  # the page reads it
    assert again.status == 403 and b"not valid" in again.body
    assert page.status == 200 and b'<script type="module" src="/static/app.js">' in page.body
    assert node.status == 200 and node.json() == {"node_id": "ab" * 32}


async def test_without_credentials_a_browser_goes_to_login_and_the_api_answers_401() -> None:
    async with running() as api:
        page = await api.call("GET", "/")
        login = await api.call("GET", "/login")
        node = await api.call("GET", "/api/v1/node")
        unknown = await api.call("GET", "/api/v1/nothing-here")
        forged = await api.call("GET", "/api/v1/node", api.cookie("forged-session-id"))
        stream = await api.call("GET", "/api/v1/events/stream")
        style = await api.call("GET", "/static/style.css")
    assert page.status == 303 and page.headers["Location"] == "/login"
    assert login.status == 200 and b"hartnode ui" in login.body
    for reply in (node, unknown, forged, stream):
        assert reply.status == 401, reply.body
        assert reply.headers["Content-Type"].startswith("application/json")
        assert "hartnode ui" in reply.json()["hint"]  # type: ignore[index]
    assert style.status == 200  # the UI's files hold no node state


async def test_a_write_with_the_session_cookie_needs_the_csrf_header() -> None:
    async with running() as api:
        session, csrf = await api.login()
        body = b'{"x": 1}'
        missing = await api.call("POST", "/api/v1/things", api.cookie(session, csrf), body)
        wrong = await api.call("POST", "/api/v1/things",
                               {**api.cookie(session, csrf), "X-CSRF-Token": csrf[:-2] + "xx"},
                               body)
        # Another session's CSRF token is no good either.
        _, other_csrf = await api.login()
        crossed = await api.call("POST", "/api/v1/things",
                                 {**api.cookie(session), "X-CSRF-Token": other_csrf}, body)
        right = await api.call("POST", "/api/v1/things",
                               {**api.cookie(session, csrf), "X-CSRF-Token": csrf}, body)
        bearer = await api.call("POST", "/api/v1/things",
                                {"Authorization": f"Bearer {TOKEN}"}, body)
        read = await api.call("GET", "/api/v1/node", api.cookie(session))
    for reply in (missing, wrong, crossed):
        assert reply.status == 403, reply.body
        assert "CSRF" in reply.json()["error"]  # type: ignore[index]
    assert api.posted == [{"x": 1}, {"x": 1}]  # only the right one and the bearer's
    assert right.status == 201 and bearer.status == 201 and read.status == 200


async def test_a_session_cannot_mint_logins_and_logout_ends_it() -> None:
    async with running() as api:
        session, csrf = await api.login()
        mint = await api.call("POST", "/api/v1/ui/login-token",
                              {**api.cookie(session, csrf), "X-CSRF-Token": csrf}, b"{}")
        out = await api.call("POST", "/api/v1/ui/logout",
                             {**api.cookie(session, csrf), "X-CSRF-Token": csrf}, b"{}")
        after = await api.call("GET", "/api/v1/node", api.cookie(session))
    assert mint.status == 403
    assert out.status == 200
    assert after.status == 401


async def test_a_forged_host_is_refused_even_with_a_session() -> None:
    async with running() as api:
        session, _ = await api.login()
        rebound = await api.call("GET", "/", {**api.cookie(session),
                                              "Host": f"evil.example:{api.port}"})
        login = await api.call("GET", "/login?token=x", {"Host": "evil.example"})
        ok = await api.call("GET", "/", {**api.cookie(session), "Host": f"localhost:{api.port}"})
    assert rebound.status == 403 and login.status == 403
    assert "Host" in rebound.json()["error"]  # type: ignore[index]
    assert ok.status == 200


async def test_answers_carry_the_security_headers() -> None:
    async with running() as api:
        session, _ = await api.login()
        page = await api.call("GET", "/", api.cookie(session))
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"  # the login token never leaks


def _read_stream(port: int, headers: Mapping[str, str], want: int,
                 opened: trio.Event) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/v1/events/stream", headers=dict(headers))
        resp = conn.getresponse()
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        # The hub counts the client before the headers go out: publishing now is seen.
        trio.from_thread.run_sync(opened.set)
        data: list[str] = []
        while len(data) < want:
            line = resp.fp.readline().decode()
            if line.startswith("data: "):
                data.append(line[6:].strip())
        return data
    finally:
        conn.close()


async def test_the_event_stream_delivers_published_messages_to_a_session() -> None:
    async with running() as api:
        session, _ = await api.login()
        got: list[str] = []
        opened = trio.Event()

        async def reader() -> None:
            got.extend(await trio.to_thread.run_sync(
                _read_stream, api.port, api.cookie(session), 2, opened))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await opened.wait()
            api.live.publish("ledger", {"count": 1})
            api.live.publish("op", {"id": 7})
    assert [json.loads(m)["type"] for m in got] == ["ledger", "op"]


async def test_logout_ends_that_sessions_open_event_streams_only() -> None:
    async with running() as api:
        session, csrf = await api.login()
        other, _ = await api.login()
        ended = trio.Event()
        opened = [trio.Event(), trio.Event()]

        def read_until_closed(headers: Mapping[str, str], was_opened: trio.Event) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
            try:
                conn.request("GET", "/api/v1/events/stream", headers=dict(headers))
                resp = conn.getresponse()
                assert resp.status == 200
                trio.from_thread.run_sync(was_opened.set)
                while resp.readline():  # b"" once the server ends the (chunked) stream
                    pass
            finally:
                conn.close()

        async def mine() -> None:
            await trio.to_thread.run_sync(read_until_closed, api.cookie(session), opened[0],
                                          abandon_on_cancel=True)
            ended.set()

        async def theirs() -> None:  # left reading; the server's shutdown ends it
            await trio.to_thread.run_sync(read_until_closed, api.cookie(other), opened[1],
                                          abandon_on_cancel=True)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(mine)
            nursery.start_soon(theirs)
            for event in opened:
                await event.wait()
            assert api.live.client_count == 2
            out = await api.call("POST", "/api/v1/ui/logout",
                                 {**api.cookie(session, csrf), "X-CSRF-Token": csrf}, b"{}")
            assert out.status == 200
            with trio.fail_after(30):  # not a timing: without the fix it would wait 10 min
                await ended.wait()  # this session's stream was ended by the server
            assert api.live.client_count == 1  # the other session's stream lives on
            nursery.cancel_scope.cancel()


async def test_the_daemon_logs_a_one_time_login_url_at_start(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hartnode.apps.web.server"):
        async with running() as api:
            line = next(r.getMessage() for r in caplog.records if "/login?token=" in r.getMessage())
            path = line[line.index("/login?token="):].split()[0]
            first = await api.call("GET", path)
            second = await api.call("GET", path)
    assert first.status == 303 and second.status == 403
