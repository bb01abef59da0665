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

from typing import TYPE_CHECKING

from hartnode.apps.actors import require_local_actor
from hartnode.apps.api_args import QueryError, as_400, body_object, int_arg
from hartnode.apps.recipes import actions, queries
from hartnode.apps.recipes.service import SearchService, SearchUnavailable
from hartnode.ledger.log import Draft
from hartnode.routes import ApiRequest, RouteTable

if TYPE_CHECKING:  # node.py imports this module
    from hartnode.node import Node


async def append(node: Node, draft: Draft) -> dict[str, object]:
    await node.access.run(require_local_actor, node.node_ledger.views.state, node.node_id,
                          draft.actor)
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
        routes.add(method, path, as_400(fn, SearchUnavailable), status=status)
