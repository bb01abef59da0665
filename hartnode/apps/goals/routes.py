"""``/api/v1/goals/...``: bound to the running node (they read the views, write guarded
events and dispatch compute jobs). Bad input is a 400 naming the field.

    GET  /api/v1/goals?limit=&before=&status=        a page, newest first
    GET  /api/v1/goals/show?id=ID                    one goal and its reservations
    POST /api/v1/goals            {title, goal_type, job_kind, params, budget_msp, [actor]}  (201)
    POST /api/v1/goals/status     {id, status: active|paused|done|failed, [reason]}
    POST /api/v1/goals/dispatch   {id, central, amount_msp, [peer, regional, timeout_s]}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hartnode.apps.api_args import as_400, body_object, int_arg
from hartnode.apps.goals import queries, writes
from hartnode.apps.goals.dispatcher import Dispatcher, parse_request
from hartnode.apps.goals.gate import GateRefused
from hartnode.apps.goals.kinds import STATUSES
from hartnode.apps.goals.lifecycle import LifecycleError
from hartnode.ledger.envelope import Event
from hartnode.routes import ApiRequest, RouteTable

if TYPE_CHECKING:  # node.py imports this module
    from hartnode.node import Node


def register_routes(routes: RouteTable, node: Node, dispatcher: Dispatcher) -> None:
    state = node.node_ledger.views.state
    nl = node.node_ledger

    async def write(fn: Callable[..., Event], *args: Any) -> dict[str, object]:
        event = await node.access.run(fn, nl, *args)
        dispatcher.announce([event])
        return event.as_json()

    async def list_page(request: ApiRequest) -> object:
        limit = int_arg(request, "limit", queries.PAGE_DEFAULT)
        return await node.access.run(lambda: queries.page(
            state, limit=limit, before=request.query.get("before"),
            status=request.query.get("status") or None))

    async def show(request: ApiRequest) -> object:
        return await node.access.run(queries.show, state, request.query.get("id", ""))

    async def create(request: ApiRequest) -> object:
        return await write(writes.create, body_object(request))

    async def status(request: ApiRequest) -> object:
        body = body_object(request)
        goal = await node.access.run(queries.resolve, state, str(body.get("id", "")))
        to = body.get("status")
        if to not in STATUSES or to == "draft":
            raise queries.QueryError("status", "expected active, paused, done or failed")
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise queries.QueryError("reason", "expected a string")
        return await write(writes.set_status, goal, to, reason[:200])

    async def dispatch(request: ApiRequest) -> object:
        body = body_object(request)
        goal = await node.access.run(queries.resolve, state, str(body.get("id", "")))
        return await dispatcher.dispatch(parse_request(body, goal))

    for method, path, fn, code in (
            ("GET", "/api/v1/goals", list_page, 200),
            ("GET", "/api/v1/goals/show", show, 200),
            ("POST", "/api/v1/goals", create, 201),
            ("POST", "/api/v1/goals/status", status, 200),
            ("POST", "/api/v1/goals/dispatch", dispatch, 200)):
        routes.add(method, path, as_400(fn, GateRefused, LifecycleError), status=code)
