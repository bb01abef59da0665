"""The drafts a user's request becomes: share, fork, delete (checked against the kinds).

Shared by the API routes and the offline CLI, so both sign the same events.
A fork copies whatever its request leaves out from the parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hartnode.apps.recipes.kinds import RECIPE_DELETED, RECIPE_FORKED, RECIPE_SHARED
from hartnode.apps.recipes.queries import QueryError
from hartnode.ledger.log import Draft

DEFAULT_ACTOR = "node"
FIELDS = ("title", "prompt", "steps", "tags")


def _actor(body: Mapping[str, Any]) -> str:
    actor = body.get("actor", DEFAULT_ACTOR)
    if not isinstance(actor, str):
        raise QueryError("actor", "expected a string such as user:alice or node")
    return actor


def share(body: Mapping[str, Any], reach: str = "network") -> Draft:
    """A ``recipes.recipe.shared`` draft; the kind's schema names any bad field."""
    unknown = set(body) - {*FIELDS, "actor"}
    if unknown:
        raise QueryError(sorted(unknown)[0], "unexpected field")
    payload = {"title": body.get("title"), "prompt": body.get("prompt", ""),
               "steps": body.get("steps"), "tags": body.get("tags", [])}
    return Draft(RECIPE_SHARED.kind, payload, reach=reach, actor=_actor(body))


def fork(body: Mapping[str, Any], parent: Mapping[str, Any], reach: str = "network") -> Draft:
    """A ``recipes.recipe.forked`` draft of ``parent`` (a ``queries.show`` row)."""
    unknown = set(body) - {*FIELDS, "actor", "parent"}
    if unknown:
        raise QueryError(sorted(unknown)[0], "unexpected field")
    payload = {name: body.get(name, parent[name]) for name in FIELDS}
    payload["parent"] = parent["recipe"]
    return Draft(RECIPE_FORKED.kind, payload, reach=reach, actor=_actor(body))


def delete(recipe: str, author: tuple[str, str] | None, me: str,
           body: Mapping[str, Any]) -> Draft:
    """A ``recipes.recipe.deleted`` draft, refused unless this node's ``actor`` wrote it
    (other nodes would ignore it anyway: ``views``)."""
    actor = _actor(body)
    if author is None:
        raise QueryError("id", f"no recipe {recipe}")
    if author != (me, actor):
        raise QueryError("actor", f"{actor} on this node did not write recipe {recipe[:16]}")
    return Draft(RECIPE_DELETED.kind, {"recipe": recipe}, actor=actor)
