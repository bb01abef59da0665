"""HTTP API routes as data: apps and the node register ``(method, path, handler)`` (DESIGN §5).

The web server (``apps/web/server``) serves whatever is registered and knows
no route of its own beyond ``/healthz`` and ``/metrics``; nobody grows a
method on ``Node`` per route. A handler is a trio-side coroutine: the server
calls it through the bridge with an ``ApiRequest`` and answers its
JSON-serialisable result (status ``Route.status``); ``ApiRequestError`` is a 400.

Two ways in, one table:
- an **app** registers with the catalog (``catalog.build_catalog``) through
  ``AppRoutes``: its handler takes the ``AppContext`` (what an app may do to
  the node: append an event, read the ledger) and the request;
- the **node's own** routes (status, peers, revocations; ``node_api``) are
  bound to the running node's services directly.
``node.run`` binds the apps' routes to the node and hands the table to the server.

Imports neither aiohttp nor trio: apps and the catalog import it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

#: Deepest nesting of arrays and objects a JSON body may have: json.loads
#: recurses, so a 100,000-deep body would otherwise end in RecursionError.
MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(rb'[\[\]{}"\\]')
#: Paths the server itself answers; no app may take them (the web UI's:
#: ``apps/web/ui``).
SERVER_PATHS = frozenset({"/healthz", "/metrics", "/api/v1/ui/login-token", "/api/v1/ui/logout",
                          "/api/v1/events/stream"})
METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})


class ApiRequestError(ValueError):
    """The client's request is invalid (HTTP 400); the message says what is wrong."""


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, without parsing it
    (brackets inside strings do not count). Linear and non-recursive."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1  # the position of the character a backslash escapes
    for m in _JSON_TOKENS.finditer(data):
        c = m.group()
        if m.start() == escaped_at:
            continue
        if in_string:
            if c == b"\\":
                escaped_at = m.start() + 1
            elif c == b'"':
                in_string = False
        elif c == b'"':
            in_string = True
        elif c in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (b"]", b"}"):
            depth -= 1
    return deepest


def parse_json_body(data: bytes) -> object:
    """Parse a request body; raises ApiRequestError (400) naming what is wrong."""
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ApiRequestError(f"the body nests {depth} levels deep; at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ApiRequestError(f"the body is not JSON: {exc}") from exc


@dataclass(frozen=True)
class ApiRequest:
    """What a handler sees of an HTTP request: the query and the (bounded) body."""

    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> object:
        """The body as JSON, depth-bounded. Raises ApiRequestError."""
        return parse_json_body(self.body)


Handler = Callable[[ApiRequest], Awaitable[object]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    status: int = 200  # the status of a successful answer


def _check(method: str, path: str, taken: set[tuple[str, str]]) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    if not path.startswith("/api/") or path in SERVER_PATHS:
        raise ValueError(f"{path!r}: routes live under /api/")
    if (method, path) in taken:
        raise ValueError(f"{method} {path} is registered already")


@dataclass
class RouteTable:
    """The routes the server serves, in registration order; one handler per (method, path)."""

    _routes: dict[tuple[str, str], Route] = field(default_factory=dict)

    def add(self, method: str, path: str, handler: Handler, *, status: int = 200) -> None:
        """Register a route. Raises ValueError on a duplicate or a path outside /api/."""
        _check(method, path, set(self._routes))
        self._routes[(method, path)] = Route(method, path, handler, status)

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes.values())


T = TypeVar("T")


class AppContext(Protocol):
    """What an app's route may do to the node (the running ``Node`` provides it)."""

    @property
    def node_id(self) -> str:
        """This node's id (64 hex digits): the origin of what it appends."""
        ...

    async def append_event(self, kind: str, reach: str, payload: object, *,
                           actor: str = "node") -> dict[str, object]:
        """Sign and durably append one event; its ``as_json`` form. ``actor`` is
        who it is on behalf of (``node`` or ``user:<id>``: the node signs for its
        local users, DESIGN §1).

        Raises:
            ApiRequestError: the kind, reach, actor or payload is not acceptable.
        """
        ...

    async def read_views(self, fn: Callable[[Any], T]) -> T:
        """``fn(state_connection)`` on the store's thread, once the views have
        caught up with every committed event (an app reads its own writes).
        ``fn`` only reads: the views are the projections' to write."""
        ...

    async def tail(self, n: int) -> list[dict[str, object]]:
        """The newest ``n`` events of the ledger, oldest first."""
        ...


AppHandler = Callable[[AppContext, ApiRequest], Awaitable[object]]


@dataclass
class AppRoutes:
    """Routes apps register with the catalog, before any node runs; ``bind`` gives them one."""

    _routes: dict[tuple[str, str], tuple[AppHandler, int]] = field(default_factory=dict)

    def add(self, method: str, path: str, handler: AppHandler, *, status: int = 200) -> None:
        """Register an app's route. Raises ValueError on a duplicate or a path outside /api/."""
        _check(method, path, set(self._routes))
        self._routes[(method, path)] = (handler, status)

    def bind(self, ctx: AppContext, table: RouteTable) -> None:
        """Add every app route to ``table``, its handler given ``ctx``."""
        for (method, path), (handler, status) in self._routes.items():
            table.add(method, path, partial(handler, ctx), status=status)
