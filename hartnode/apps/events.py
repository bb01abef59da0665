"""``/api/v1/events``: append an event and read the newest ones (the ledger's routes).

Registered with the catalog like any app's routes (``hartnode.routes``): the
handlers see only the ``AppContext``, never the node's services.
"""

from __future__ import annotations

from hartnode.routes import ApiRequest, ApiRequestError, AppContext, AppRoutes

TAIL_DEFAULT = 10  # events answered when ``n`` is not given
TAIL_MAX = 1000  # the most events one GET answers


async def append_event(ctx: AppContext, request: ApiRequest) -> object:
    """``POST /api/v1/events`` with ``{"kind", "reach", "payload"}``: the stored event."""
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise ApiRequestError('expected {"kind": str, "reach": str, "payload": {...}}')
    reach = body.get("reach", "network")
    if not isinstance(reach, str):
        raise ApiRequestError("reach must be a string")
    return await ctx.append_event(body["kind"], reach, body.get("payload"))


async def events(ctx: AppContext, request: ApiRequest) -> object:
    """``GET /api/v1/events?n=N``: the newest N events (default 10, at most 1000)."""
    try:
        n = int(request.query.get("n", str(TAIL_DEFAULT)))
    except ValueError as exc:
        raise ApiRequestError("n must be an integer") from exc
    if not 0 <= n <= TAIL_MAX:
        raise ApiRequestError(f"n must be between 0 and {TAIL_MAX}")
    return await ctx.tail(n)


def register_routes(routes: AppRoutes) -> None:
    routes.add("GET", "/api/v1/events", events)
    routes.add("POST", "/api/v1/events", append_event, status=201)
