"""``/api/v1/recipes/...``: bound to the running node, like compute's (they read the views
and search the index). Bad input is a 400 naming the field.

    GET  /api/v1/recipes?limit=&before=&tag=&include_deleted=   a page, newest first
    GET  /api/v1/recipes/show?id=HASH                          one recipe and its forks
    GET  /api/v1/recipes/search?q=TEXT&k=10                    semantic search
    GET  /api/v1/recipes/index                                 the index's model, size, watermark
    POST /api/v1/recipes          {title, prompt, steps, tags, actor}   share (201)
    POST /api/v1/recipes/fork     {parent, [title, prompt, steps, tags], actor}  fork (201)
    POST /api/v1/recipes/delete   {id, actor}                  delete (only the author)
    POST /api/v1/recipes/reindex                               rebuild the index now
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hartnode.apps.recipes import actions, queries
from hartnode.apps.recipes.queries import QueryError
from hartnode.apps.recipes.service import SearchService, SearchUnavailable
from hartnode.ledger.envelope import EnvelopeError
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.log import Draft
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

if TYPE_CHECKING:  # node.py imports this module
    from hartnode.node import Node

Handler = Callable[[ApiRequest], Awaitable[object]]


def int_arg(request: ApiRequest, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ApiRequestError(f"{name}: expected an integer") from e


def body_object(request: ApiRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiRequestError("body: expected a JSON object")
    return body


def as_400(fn: Handler) -> Handler:
    """QueryError and a payload the kind refuses become 400s naming the field."""
    async def handler(request: ApiRequest) -> object:
        try:
            return await fn(request)
        except QueryError as e:
            raise ApiRequestError(str(e)) from e
        except (UnknownKindError, PayloadError, EnvelopeError) as e:
            raise ApiRequestError(str(e)) from e
        except SearchUnavailable as e:
            raise ApiRequestError(str(e)) from e
    return handler


async def append(node: Node, draft: Draft) -> dict[str, object]:
    event = await node.committer.append(draft)
    # Read-your-writes: the committer answers once the event is durable, and
    # may project it a moment later; a fork of this recipe must find it.
    await node.access.run(node.node_ledger.views.catch_up)
    return event.as_json()


def register_routes(routes: RouteTable, node: Node, search: SearchService) -> None:
    state = node.node_ledger.views.state

    async def list_page(request: ApiRequest) -> object:
        return await node.access.run(lambda: queries.page(
            state, limit=int_arg(request, "limit", queries.PAGE_DEFAULT),
            before=request.query.get("before"), tag=request.query.get("tag") or None,
            include_deleted=request.query.get("include_deleted", "") in ("1", "true")))

    async def show(request: ApiRequest) -> object:
        return await node.access.run(queries.show, state, request.query.get("id", ""))

    async def find(request: ApiRequest) -> object:
        hits = await search.search(request.query.get("q", ""), int_arg(request, "k", 10))
        return {"query": request.query.get("q", ""), "items": hits}

    async def index_status(request: ApiRequest) -> object:
        return search.status()

    async def share(request: ApiRequest) -> object:
        return await append(node, actions.share(body_object(request)))

    async def fork(request: ApiRequest) -> object:
        body = body_object(request)
        ref = body.get("parent")
        if not isinstance(ref, str):
            raise QueryError("parent", "expected the parent recipe's hash")
        parent = await node.access.run(queries.show, state, ref)
        return await append(node, actions.fork(body, parent))

    async def delete(request: ApiRequest) -> object:
        body = body_object(request)
        ref = body.get("id")
        if not isinstance(ref, str):
            raise QueryError("id", "expected the recipe's hash")
        recipe = await node.access.run(queries.resolve, state, ref)
        author = await node.access.run(queries.author, state, recipe)
        return await append(node, actions.delete(recipe, author, node.node_id, body))

    async def reindex(request: ApiRequest) -> object:
        return await search.reindex()

    for method, path, fn, status in (
            ("GET", "/api/v1/recipes", list_page, 200),
            ("GET", "/api/v1/recipes/show", show, 200),
            ("GET", "/api/v1/recipes/search", find, 200),
            ("GET", "/api/v1/recipes/index", index_status, 200),
            ("POST", "/api/v1/recipes", share, 201),
            ("POST", "/api/v1/recipes/fork", fork, 201),
            ("POST", "/api/v1/recipes/delete", delete, 201),
            ("POST", "/api/v1/recipes/reindex", reindex, 200)):
        routes.add(method, path, as_400(fn), status=status)
