"""The browser's side of the local server: the UI's files, login, logout, the event stream.

Paths (the API's own live under ``/api/v1/``, see ``server``):

- ``GET /``: the single-page UI (``static/index.html``); without a session
  a browser is sent (303) to ``/login``, which says how to log in.
- ``GET /login?token=T``: redeems a one-time login token (``sessions``),
  sets the session and CSRF cookies, and sends the browser to ``/``.
- ``GET /static/...``: the UI's modules and style sheet, from the package
  (no build step, nothing fetched from the network). Public: they hold no
  node state, and the login page needs the style sheet.
- ``POST /api/v1/ui/login-token``: a fresh login URL; bearer token only, so
  only a holder of ``api.token`` (``hartnode ui``) can mint one.
- ``POST /api/v1/ui/logout``: ends the session (CSRF-checked like any write).
- ``GET /api/v1/events/stream``: server-sent events (``live``).

Cookies are named after the port (``hartnode-session-6777``): browsers do
not separate cookies by port, so two nodes on one machine would otherwise
overwrite each other's sessions.
"""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from hartnode.apps.web.live import LiveHub, TooManyClientsError, stream_messages
from hartnode.apps.web.sessions import LOGIN_TTL_S, SessionStore, session_digest

STATIC_DIR = Path(__file__).parent / "static"
LOGIN_PATH = "/login"
LOGIN_TOKEN_PATH = "/api/v1/ui/login-token"
LOGOUT_PATH = "/api/v1/ui/logout"
STREAM_PATH = "/api/v1/events/stream"
#: Paths this module answers under /api/; no app may register them.
API_PATHS = frozenset({LOGIN_TOKEN_PATH, LOGOUT_PATH, STREAM_PATH})
CSRF_HEADER = "X-CSRF-Token"
#: Sent with every answer: the UI loads only its own files, no page may frame
#: it (clickjacking), and no URL (a login token) leaks in a Referer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def local_port(request: web.Request) -> int:
    """The port the request came in on (the API's bound port)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


def session_cookie(port: int) -> str:
    return f"hartnode-session-{port}"


def csrf_cookie(port: int) -> str:
    return f"hartnode-csrf-{port}"


def session_owner(cookie: str) -> str:
    """The name a session's event streams go by in the hub (a digest: the hub
    keeps no session secret)."""
    return session_digest(cookie).hex()


def login_url(host: str, port: int, token: str) -> str:
    """The URL a browser logs in with. A wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{LOGIN_PATH}?token={token}"


def see_other(location: str) -> web.Response:
    """A 303 to ``location`` (a plain Response: the middleware turns raised
    HTTP exceptions into JSON errors)."""
    return web.Response(status=303, headers={"Location": location})


def _login_page(message: str, status: int) -> web.Response:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hartnode: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/style.css"></head>
<body class="login"><main class="card" id="login-help">
<h1>hartnode</h1>
<p class="notice">{html.escape(message)}</p>
<p>This page belongs to the hartnode daemon on this machine. To open it, run</p>
<pre>hartnode ui</pre>
<p>on the machine the node runs on, as the user that runs it (it reads the
<code>api.token</code> file of the node's data directory), and open the one-time
link it prints; <code>hartnode ui --open</code> opens it in your browser.
<code>hartnode run</code> also logs such a link when it starts.</p>
<p>A link works once, within {int(LOGIN_TTL_S // 60)} minutes. Scripts use the
<code>Authorization: Bearer</code> header with the token instead.</p>
</main></body></html>
"""
    return web.Response(text=body, status=status, content_type="text/html")


class BrowserUi:
    """Handlers for the browser's paths, sharing the session store and the live hub."""

    def __init__(self, sessions: SessionStore, live: LiveHub, listen_host: str) -> None:
        self.sessions = sessions
        self.live = live
        self._listen_host = listen_host

    async def index(self, request: web.Request) -> web.StreamResponse:
        """``GET /``: the UI (the middleware sent anyone without a session to /login)."""
        return web.FileResponse(STATIC_DIR / "index.html",
                                headers={"Content-Type": "text/html; charset=utf-8"})

    async def login(self, request: web.Request) -> web.Response:
        """``GET /login[?token=T]``: redeem a login token, or say how to get one."""
        token = request.query.get("token")
        if token is None:
            return _login_page("You are not logged in.", 200)
        opened = self.sessions.redeem(token)
        if opened is None:
            return _login_page("This login link is not valid: it was used already, it "
                               "expired, or the node restarted since it was made.", 403)
        session_id, csrf = opened
        port = local_port(request)
        response = see_other("/")
        # Browser-session cookies (no Max-Age): the server ends the session
        # after SESSION_TTL_S unused, at logout, or when the daemon restarts.
        response.set_cookie(session_cookie(port), session_id, httponly=True,
                            samesite="Strict", path="/")
        # Readable by the page's JavaScript, which echoes it in X-CSRF-Token.
        response.set_cookie(csrf_cookie(port), csrf, httponly=False,
                            samesite="Strict", path="/")
        return response

    async def mint(self, request: web.Request) -> web.Response:
        """``POST /api/v1/ui/login-token``: a fresh one-time login URL."""
        token = self.sessions.mint_login()
        return web.json_response({
            "url": login_url(self._listen_host, local_port(request), token),
            "expires_in_s": int(LOGIN_TTL_S)})

    async def logout(self, request: web.Request) -> web.Response:
        """``POST /api/v1/ui/logout``: end this browser's session."""
        port = local_port(request)
        cookie = request.cookies.get(session_cookie(port))
        self.sessions.end(cookie)
        if cookie:  # its open event streams must not outlive it
            self.live.close_owner(session_owner(cookie))
        response = web.json_response({"logged_out": True})
        response.del_cookie(session_cookie(port), path="/")
        response.del_cookie(csrf_cookie(port), path="/")
        return response

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/events/stream``: server-sent events until the client
        leaves, the hub closes, or the stream's lifetime ends."""
        # A bearer request carries no session; a cookie one is the session that the
        # auth middleware just let in.
        cookie = (None if "Authorization" in request.headers
                  else request.cookies.get(session_cookie(local_port(request))))
        try:
            queue = self.live.open_client(session_owner(cookie) if cookie else None)
        except TooManyClientsError as e:
            return web.json_response(
                {"error": str(e), "hint": "close other UI tabs; the stream reconnects by itself"},
                status=503, headers={"Retry-After": "10"})
        try:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff", **SECURITY_HEADERS})
            await response.prepare(request)
            try:
                async for chunk in stream_messages(queue):
                    await response.write(chunk)
            except ConnectionError:
                pass  # the browser left (a reload, a closed tab): the usual end
            return response
        finally:
            self.live.release(queue)
