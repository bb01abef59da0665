"""The local HTTP API: the aiohttp application and the trio service that runs it.

DESIGN §5: aiohttp serves ``127.0.0.1:6777`` in its own thread and asyncio
loop; handlers reach node state only through :mod:`.bridge`. The daemon
starts it like any other service::

    host, port = await nursery.start(partial(serve_api, host=..., port=...,
                                             token=..., routes=..., metrics=...))

Routes:

- ``GET /healthz``: open, for probes. ``{"status": "ok"}`` once a round trip
  through the trio loop succeeds, so it reports a wedged node as unhealthy.
- ``GET /metrics``: Prometheus text.
- every route the node and its apps registered (``hartnode.routes``):
  ``/api/v1/node``, ``/api/v1/peers``, ``/api/v1/revocations`` (``node_api``),
  ``/api/v1/events`` (``apps/events``), ...
- the browser's: ``/``, ``/login``, ``/static/...``, login links, logout and
  the event stream (``ui``).

Everything but ``/healthz``, ``/login`` and ``/static/`` needs
``Authorization: Bearer <api.token>`` or a browser session's cookie
(``sessions``); a request made with the cookie that changes something (any
method but GET, HEAD, OPTIONS) also needs the session's CSRF token in the
``X-CSRF-Token`` header, else 403. Before any of it, the ``Host`` header
must name this API (403 otherwise: DNS rebinding). The need for credentials
includes ``/metrics``: the API binds to loopback, but on a shared machine
every local user can reach loopback, and the counters describe the node's
activity (peers, ingest, requests). Prometheus sends the token with
``authorization: {credentials_file: /var/lib/hartnode/api.token}``, so the
check costs the operator one line of scrape config. Unknown paths need the
token too, so an unauthenticated caller cannot map the API.

Errors are JSON, ``{"error": "...", "hint": "what to do"}``, and every
response is counted in ``hartnode_api_requests_total{route,status}``, where
``route`` is the matched route template (``unmatched`` for unknown paths and
methods, so arbitrary URLs cannot inflate the label set).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable

import trio
from aiohttp import web

from hartnode.apps.web import ui
from hartnode.apps.web.bridge import BridgeClosedError, TrioBridge, open_bridge
from hartnode.apps.web.live import LiveHub
from hartnode.apps.web.sessions import Session, SessionStore
from hartnode.metrics import CONTENT_TYPE, NodeMetrics, Registry
from hartnode.routes import ApiRequest, ApiRequestError, Route

log = logging.getLogger(__name__)

#: Name of the thread that runs aiohttp's asyncio loop.
THREAD_NAME = "hartnode-api"
#: Seconds aiohttp waits for in-flight requests at shutdown. Bridged calls
#: fail fast once the node stops, so this only covers slow clients, and must
#: stay well inside the unit's TimeoutStopSec=10.
SHUTDOWN_TIMEOUT_S = 3.0
#: Seconds /healthz waits for the trio loop before calling the node unhealthy.
HEALTH_TIMEOUT_S = 5.0
#: Extra seconds the trio side waits for the thread beyond aiohttp's own
#: shutdown timeout before giving up on it (it is a daemon thread).
_JOIN_GRACE_S = 2.0

#: Routes answered without credentials: the probe, the login page, the UI's
#: static files (``/static`` is the static resource's canonical name).
_PUBLIC_ROUTES = frozenset({"/healthz", ui.LOGIN_PATH, "/static"})
#: Methods that change nothing; any other made with the session cookie needs
#: the CSRF header.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Host header names every API answers to: loopback. A DNS-rebinding page
#: (evil.example resolving to 127.0.0.1) sends its own name and is refused.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Largest request body, bytes (aiohttp answers 413 beyond it). The biggest
#: legitimate one is a revocation list file or an event's payload.
MAX_BODY_BYTES = 1 << 20
_TOKEN_HINT = (
    "send the header 'Authorization: Bearer <token>'; the token is in the api.token "
    "file of the node's data directory; in a browser, log in with the link `hartnode ui` "
    "prints"
)
_CSRF_HINT = (
    f"a request that changes something, made with the session cookie, must carry the "
    f"{ui.CSRF_HEADER} header with the value of the hartnode-csrf-PORT cookie "
    "(the UI's pages do this); scripts use the bearer token instead"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiServerError(RuntimeError):
    """The API server could not start or stopped unexpectedly."""


class ApiBindError(ApiServerError):
    """The API could not listen on its address (port in use, address not local...).

    Attributes:
        host: the configured host.
        port: the configured port.
        error: the operating system's error.
    """

    def __init__(self, host: str, port: int, error: OSError) -> None:
        self.host = host
        self.port = port
        self.error = error
        # asyncio rewrites strerror to repeat the address; the errno's own
        # text is shorter and what an operator searches for.
        reason = os.strerror(error.errno) if error.errno else str(error)
        super().__init__(
            f"cannot listen on {host}:{port} for the web API: {reason}; "
            "is another hartnode (or another program) using that port? "
            "Stop it or set another API port in the config"
        )


def _json_error(status: int, error: str, hint: str, **headers: str) -> web.Response:
    return web.json_response({"error": error, "hint": hint}, status=status, headers=headers)


def host_allowed(host_header: str, port: int, allowed: Collection[str]) -> bool:
    """Whether a ``Host`` header names this API: an allowed name, and the port
    the request came in on (absent only for port 80)."""
    if "*" in allowed:
        return True
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([^:\[\]]+)(?::(\d{1,5}))?",
                     host_header.strip())
    if m is None:
        return False
    name = (m.group(1) or m.group(3) or "").lower().rstrip(".")
    given = m.group(2) or m.group(4)
    given_port = int(given) if given else 80
    return name in allowed and given_port == port


def allowed_host_names(listen_host: str, extra: Collection[str] = ()) -> frozenset[str]:
    """The names the API answers to: loopback, the configured address, ``extra``."""
    names = set(LOCAL_HOSTS) | {h.lower().rstrip(".") for h in extra}
    if listen_host not in ("0.0.0.0", "::", ""):
        names.add(listen_host.lower())
    return frozenset(names)


def _bearer_token(request: web.Request) -> bytes | None:
    """The credentials of an ``Authorization: Bearer`` header, or None."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    # surrogateescape: the header may hold bytes that are not UTF-8; they
    # must compare unequal, not raise.
    return credentials.strip().encode("utf-8", "surrogateescape")


class _Api:
    """Request handlers and middleware, bound to one node's state."""

    def __init__(
        self, *, bridge: TrioBridge, token: str, metrics: Registry,
        allowed_hosts: Collection[str], sessions: SessionStore,
    ) -> None:
        self._sessions = sessions
        self._allowed_hosts = frozenset(allowed_hosts)
        self._bridge = bridge
        self._token = token.encode()
        self._requests = NodeMetrics.register(metrics).api_requests
        self._registry = metrics

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate, turn every failure into a JSON error, count the request."""
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        try:
            # `is None`, not `or`: a Response is a (possibly empty) mapping.
            refusal = self._refuse_host(request)
            if refusal is None:
                refusal = self._refuse_unauthorized(request, route)
            response = refusal if refusal is not None else await handler(request)
        except web.HTTPException as exc:
            response = self._http_error(request, exc)
        except ApiRequestError as exc:
            response = _json_error(400, str(exc), "see the API section of the README")
        except BridgeClosedError:
            response = _json_error(
                503, "the node is shutting down", "retry once the node is running again"
            )
        except Exception:
            log.exception("api: %s %s failed", request.method, request.path)
            response = _json_error(
                500, "internal error", "see the node's log (journalctl -u hartnode)"
            )
        if not response.prepared:  # a finished event stream set its own headers
            # Answers may carry node state or errors about the token: never cache.
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers.update(ui.SECURITY_HEADERS)
        self._requests.inc(route=route, status=str(response.status))
        log.debug("api: %s %s -> %d", request.method, request.path, response.status)
        return response

    def _refuse_host(self, request: web.Request) -> web.Response | None:
        """DNS rebinding: a page at evil.example, resolved to 127.0.0.1, reaches
        this API from the operator's browser with its own Host name. Only the
        names this API is known by are answered, before the token is looked at."""
        host = request.headers.get("Host", "")
        if host_allowed(host, ui.local_port(request), self._allowed_hosts):
            return None
        return _json_error(
            403, f"this API does not answer to Host {host[:100]!r}",
            "use http://127.0.0.1:PORT/ (or localhost); to reach it under another name, "
            "add that name to api.allowed_hosts")

    def _refuse_unauthorized(self, request: web.Request, route: str) -> web.Response | None:
        """Bearer token (scripts) or session cookie (browsers); a session's
        writes need the CSRF header. A browser without a session asking for
        the UI is sent to the login page; everything else gets a JSON 401."""
        if route in _PUBLIC_ROUTES:
            return None
        given = _bearer_token(request)
        # compare_digest: the comparison time must not reveal how much of a
        # guessed token was right.
        if given is not None and hmac.compare_digest(given, self._token):
            return None
        if given is None:
            cookie = request.cookies.get(ui.session_cookie(ui.local_port(request)))
            session = self._sessions.session(cookie)
            if session is not None:
                return self._refuse_session(request, route, session)
            if route == "/" and request.method in ("GET", "HEAD"):
                return ui.see_other(ui.LOGIN_PATH)
        challenge = 'Bearer realm="hartnode"'
        if given is not None:
            challenge += ', error="invalid_token"'
        error = "missing API token" if given is None else "invalid API token"
        return _json_error(401, error, _TOKEN_HINT, **{"WWW-Authenticate": challenge})

    def _refuse_session(self, request: web.Request, route: str,
                        session: Session) -> web.Response | None:
        if route == ui.LOGIN_TOKEN_PATH:
            # A session must not extend itself: new logins come from api.token.
            return _json_error(403, "a login link can only be made with the API token",
                               "run `hartnode ui` on the node's machine")
        if request.method in _SAFE_METHODS:
            return None
        if SessionStore.csrf_ok(session, request.headers.get(ui.CSRF_HEADER)):
            return None
        error = ("missing CSRF token" if ui.CSRF_HEADER not in request.headers
                 else "invalid CSRF token")
        return _json_error(403, error, _CSRF_HINT)

    @staticmethod
    def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status == 404:
            hint = "check the URL; the API lives under /api/v1/"
        elif exc.status == 413:
            hint = f"request bodies are limited to {MAX_BODY_BYTES} bytes"
        elif exc.status == 405:
            hint = f"use one of: {exc.headers.get('Allow', 'GET')}"
        else:
            hint = "check the request"
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        return _json_error(
            exc.status, f"{exc.reason}: {request.method} {request.path}", hint, **headers
        )

    async def healthz(self, request: web.Request) -> web.Response:
        """``GET /healthz``: ok if the trio loop answers within HEALTH_TIMEOUT_S."""
        try:
            await asyncio.wait_for(self._bridge.call(trio.lowlevel.checkpoint), HEALTH_TIMEOUT_S)
        except TimeoutError:
            return _json_error(
                503,
                "the node's event loop is not responding",
                "see the node's log; systemd's watchdog restarts a wedged node",
            )
        return web.json_response({"status": "ok"})

    def serve(self, route: Route) -> Handler:
        """The aiohttp handler for a registered route: read the bounded body, run
        the route's handler in the trio loop, answer its result as JSON."""

        async def handle(request: web.Request) -> web.Response:
            req = ApiRequest(query=dict(request.query), body=await request.read())
            result = await self._bridge.call(route.handler, req)
            return web.json_response(result, status=route.status)

        return handle

    async def metrics(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the registry in Prometheus text format."""
        # Rendered here, in the aiohttp thread: the registry is thread-safe,
        # and scraping must not depend on the trio loop being responsive.
        return web.Response(
            body=self._registry.render().encode(), headers={"Content-Type": CONTENT_TYPE}
        )


def create_app(
    *, bridge: TrioBridge, token: str, routes: Iterable[Route], metrics: Registry,
    allowed_hosts: Collection[str] = LOCAL_HOSTS, sessions: SessionStore | None = None,
    live: LiveHub | None = None, listen_host: str = "127.0.0.1",
) -> web.Application:
    """Build the aiohttp application (routes and middleware).

    Args:
        bridge: how handlers reach the trio loop.
        token: the bearer token every route but /healthz requires.
        routes: what the node and its apps registered (``hartnode.routes``).
        metrics: where requests are counted and what /metrics renders.
        allowed_hosts: the ``Host`` names answered (403 for any other);
            ``"*"`` answers any.
        sessions: browser logins (a new store if not given).
        live: what the event stream carries (a new, silent hub if not given).
        listen_host: the configured address, for the login URLs it mints.

    Raises:
        ValueError: ``token`` is empty (it would let anyone in).
    """
    if not token:
        raise ValueError("the API token must not be empty")
    sessions = sessions if sessions is not None else SessionStore(time.monotonic)
    hub = live if live is not None else LiveHub()
    api = _Api(bridge=bridge, token=token, metrics=metrics, allowed_hosts=allowed_hosts,
               sessions=sessions)
    browser = ui.BrowserUi(sessions, hub, listen_host)
    app = web.Application(middlewares=[api.middleware], client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/", browser.index)
    app.router.add_get(ui.LOGIN_PATH, browser.login)
    app.router.add_static("/static", ui.STATIC_DIR, follow_symlinks=False)
    app.router.add_post(ui.LOGIN_TOKEN_PATH, browser.mint)
    app.router.add_post(ui.LOGOUT_PATH, browser.logout)
    app.router.add_get(ui.STREAM_PATH, browser.stream)
    for route in routes:
        app.router.add_route(route.method, route.path, api.serve(route))
    app.router.add_get("/metrics", api.metrics)

    async def attach(app: web.Application) -> None:
        hub.attach(asyncio.get_running_loop())

    async def detach(app: web.Application) -> None:
        hub.close()  # ends open streams, so shutdown need not wait them out

    app.on_startup.append(attach)
    app.on_shutdown.append(detach)
    return app


class _ServerThread:
    """aiohttp's thread: an asyncio loop serving ``app`` until asked to stop.

    Reports to the trio side through two trio Events set with
    ``TrioToken.run_sync_soon``: ``started`` (bound, or failed to start) and
    ``finished`` (the loop is closed and the thread about to exit).
    """

    def __init__(
        self, app: web.Application, host: str, port: int, token: trio.lowlevel.TrioToken
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._trio_token = token
        self.started = trio.Event()
        self.finished = trio.Event()
        self.address: tuple[str, int] | None = None
        self.error: BaseException | None = None
        # Guards the hand-over of the asyncio loop and stop event, which
        # request_stop (trio thread) may race with _serve (this thread).
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        # daemon=True only matters if shutdown ever overruns its bound (see
        # serve_api): the process may then exit without this thread.
        self.thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)

    def request_stop(self) -> None:
        """Ask the asyncio loop to shut aiohttp down. Any thread; idempotent."""
        with self._lock:
            self._stop_requested = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            # RuntimeError: the loop already closed, so nothing is left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def _signal(self, event: trio.Event) -> None:
        # RunFinishedError: trio is gone, so nobody waits for this.
        with contextlib.suppress(trio.RunFinishedError):
            self._trio_token.run_sync_soon(event.set)

    def _main(self) -> None:
        try:
            # asyncio.run also cancels leftover tasks, shuts down async
            # generators and the default executor, and closes the loop.
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = self.error or exc
            log.exception("api: server thread crashed")
        finally:
            self._signal(self.started)
            self._signal(self.finished)

    async def _serve(self) -> None:
        stop = asyncio.Event()
        with self._lock:
            self._loop, self._stop = asyncio.get_running_loop(), stop
            if self._stop_requested:
                stop.set()
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            try:
                await site.start()
            except OSError as exc:
                self.error = ApiBindError(self._host, self._port, exc)
                return
            sockname = runner.addresses[0]
            self.address = (self._host, int(sockname[1]))
            self._signal(self.started)
            await stop.wait()
        finally:
            await runner.cleanup()


async def serve_api(
    *,
    host: str,
    port: int,
    token: str,
    routes: Iterable[Route],
    metrics: Registry,
    allowed_hosts: Collection[str] = (),
    live: LiveHub | None = None,
    sessions: SessionStore | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the HTTP API until cancelled. A trio service (DESIGN §2).

    Starts aiohttp in a dedicated thread with its own asyncio loop, and calls
    ``task_status.started((host, port))`` once the socket is bound, with the
    real port (so ``port=0`` works). When cancelled, it shuts aiohttp down
    (in-flight bridged calls fail with 503, ``runner.cleanup()`` runs, the
    loop closes) and joins the thread before returning.

    Args:
        host: address to bind, exactly as configured (127.0.0.1 by default).
        port: TCP port, 0 for any free one.
        token: the bearer token (contents of ``api.token``).
        routes: the routes to serve besides /healthz and /metrics.
        metrics: the daemon's registry; requests are counted in it.
        allowed_hosts: ``Host`` names answered besides loopback and ``host``
            (``api.allowed_hosts``).
        live: the hub the daemon publishes live updates to (``live``).
        sessions: browser logins; once bound, one login URL is minted and
            logged, like Jupyter's (a new store if not given).
        task_status: receives ``(host, bound_port)``.

    Raises:
        ApiBindError: the address could not be bound (e.g. port in use).
        ApiServerError: the server failed to start or its thread died.
        ValueError: ``token`` is empty.
    """
    if not token:
        # Checked here, before the bridge's nursery opens, to raise it unwrapped.
        raise ValueError("the API token must not be empty")
    failure: BaseException | None = None
    # The failure is raised only after the bridge's nursery has exited, so
    # callers see ApiBindError itself, not an ExceptionGroup around it.
    async with open_bridge() as bridge:
        sessions = sessions if sessions is not None else SessionStore(time.monotonic)
        app = create_app(bridge=bridge, token=token, routes=routes, metrics=metrics,
                         allowed_hosts=allowed_host_names(host, allowed_hosts),
                         sessions=sessions, live=live, listen_host=host)
        server = _ServerThread(app, host, port, trio.lowlevel.current_trio_token())
        server.thread.start()
        try:
            await server.started.wait()
            if server.address is None:
                failure = server.error or ApiServerError("the API server failed to start")
            else:
                log.info("api: listening on http://%s:%d", *server.address)
                # Jupyter's habit: the operator who started the node finds a
                # way into the UI in its log. Single use, short-lived.
                log.info("web UI: open %s (one-time link; `hartnode ui` makes another)",
                         ui.login_url(host, server.address[1], sessions.mint_login()))
                task_status.started(server.address)
                await server.finished.wait()
                failure = ApiServerError("the API server thread stopped unexpectedly")
                failure.__cause__ = server.error
        finally:
            # Shielded: this runs while the service is being cancelled, and
            # must still wait for aiohttp to finish (bounded, see below).
            with trio.CancelScope(shield=True):
                server.request_stop()
                with trio.move_on_after(SHUTDOWN_TIMEOUT_S + _JOIN_GRACE_S) as waited:
                    await server.finished.wait()
                if waited.cancelled_caught:
                    log.error("api: server thread did not stop in time; abandoning it")
                else:
                    server.thread.join()  # it is past its last statement
    if failure is not None:
        raise failure
