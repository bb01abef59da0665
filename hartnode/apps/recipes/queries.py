"""Reads of the recipe views: a page of recipes, one recipe with its forks, a canonical dump.

Pages are newest first, keyed by (ts_ms, recipe hash): the cursor ``next`` of
one page is the ``before`` of the next, so a page never repeats or skips a
row when new recipes arrive between two requests.
"""

from __future__ import annotations

import json
from typing import Any

import apsw

from hartnode.apps import listing
from hartnode.apps.api_args import PAGE_DEFAULT, PAGE_MAX, QueryError
from hartnode.ledger import store

__all__ = ["PAGE_DEFAULT", "PAGE_MAX", "QueryError", "author", "dump", "page",
           "resolve", "show"]

_COLUMNS = ("recipe, origin, user_id, prompt_id, title, prompt, recipe_json, tags, parent, "
            "fork_count, deleted, ts_ms")


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    (recipe, origin, actor, prompt_id, title, prompt, body, _tags, parent, forks, deleted,
     ts_ms) = row
    steps = json.loads(body)
    return {"recipe": recipe, "origin": origin, "actor": actor, "prompt_id": prompt_id,
            "title": title, "prompt": prompt, "steps": steps["steps"], "tags": steps["tags"],
            "parent": parent, "fork_count": forks, "deleted": bool(deleted), "ts_ms": ts_ms}


def page(state: apsw.Connection, *, limit: int = PAGE_DEFAULT, before: str | None = None,
         tag: str | None = None, include_deleted: bool = False) -> dict[str, Any]:
    """``{"items": [...], "next": cursor | None}``, newest first."""
    where: list[str] = []
    params: list[object] = []
    if not include_deleted:
        where.append("deleted = 0")
    if tag:
        where.append("(' ' || tags || ' ') LIKE ?")
        params.append(f"% {tag} %")
    return listing.newest_first(state, table="recipe_shares", key="recipe", columns=_COLUMNS,
                                row=_row, limit=limit, before=before, where=where,
                                params=params)


def resolve(state: apsw.Connection, ref: str) -> str:
    """A recipe's full hash from its hash or a unique prefix of at least 8 hex digits."""
    return listing.resolve_prefix(state, table="recipe_shares", key="recipe", ref=ref,
                                  noun="recipe", expected="a recipe hash")


def show(state: apsw.Connection, ref: str) -> dict[str, Any]:
    """One recipe with its forks (newest first, deleted ones left out)."""
    recipe = resolve(state, ref)
    row = store.query(state, f"SELECT {_COLUMNS} FROM recipe_shares WHERE recipe = ?", (recipe,))
    out = _row(row[0])
    forks = store.query(state, "SELECT recipe FROM recipe_shares WHERE parent = ? AND "
                               "deleted = 0 ORDER BY ts_ms DESC, recipe DESC", (recipe,))
    out["forks"] = [f[0] for f in forks]
    return out


def author(state: apsw.Connection, recipe: str) -> tuple[str, str] | None:
    """(origin, actor) of a recipe, None when it is unknown here."""
    rows = store.query(state, "SELECT origin, user_id FROM recipe_shares WHERE recipe = ?",
                       (recipe,))
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def dump(state: apsw.Connection) -> list[tuple[Any, ...]]:
    """The recipe view's content as every node must agree on it: the ledger-local
    columns (row ids, source and deletion event ids) left out, rows sorted."""
    return store.query(state, f"SELECT {_COLUMNS} FROM recipe_shares ORDER BY recipe")
