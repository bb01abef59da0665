"""Shared helpers of the recipe tests: nodes, recipes from the labelled set, event replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw

from hartnode.apps.recipes import actions
from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

DATA = Path(__file__).parents[3] / "bench" / "data" / "recipes_labelled.json"
ALICE = NodeIdentity.from_seed(b"\x11" * 32)
BOB = NodeIdentity.from_seed(b"\x12" * 32)


def labelled() -> dict[str, Any]:
    out: dict[str, Any] = json.loads(DATA.read_text())
    return out


def open_node(path: Path, identity: NodeIdentity = ALICE) -> NodeLedger:
    path.mkdir(parents=True, exist_ok=True)
    return NodeLedger(path, identity, build_catalog(), create=True)


def share(nl: NodeLedger, recipe: dict[str, Any], actor: str = "node") -> Event:
    body = {k: recipe[k] for k in ("title", "prompt", "steps", "tags")}
    return nl.append([actions.share({**body, "actor": actor})])[0]


def draft_fork(parent: str, title: str, actor: str = "node") -> Draft:
    return Draft("recipes.recipe.forked", {"title": title, "prompt": "", "steps": ["a step"],
                                           "tags": [], "parent": parent}, actor=actor)


def draft_delete(recipe: str, actor: str = "node") -> Draft:
    return Draft("recipes.recipe.deleted", {"recipe": recipe}, actor=actor)


def project(conn: apsw.Connection, events: list[Event]) -> None:
    """Apply ``events`` in this order through the catalog's projections (ids 1..n)."""
    views = build_catalog().views
    with conn:
        for ddl in views.tables.values():
            conn.execute(ddl)
        for i, event in enumerate(events, 1):
            for fn in views.projections.get(event.kind, ()):
                fn(conn, i, event)
