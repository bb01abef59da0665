"""The recipe views: ``recipe_shares``, ``recipe_deletions`` and ``embeddings`` (seed 000, 004).

Order-independent by construction (issue #12): whatever order a node
receives the events in, the rows end the same.
- ``fork_count`` is never incremented; it is recounted from the rows that
  name the recipe as parent, so a fork that arrives before its parent is
  counted once the parent arrives.
- A deletion is remembered in ``recipe_deletions`` and applied whenever the
  recipe and the deletion are both present, only when the deleter's
  (origin, actor) is the author's; a deletion by anyone else changes nothing.
- ``deleted_event`` is the ledger id from which a recipe counts as deleted
  (the later of the recipe and the deletion): the search index marks it
  deleted once its watermark passes that id.

``embeddings`` is filled by the indexer (``indexer``), not by a projection:
a vector is a pure function of (text, model), computed off the store's
thread. It is a view all the same: ``kb rebuild`` empties it and the
indexer refills it, and ``kb verify`` checks its ``source_event``.
"""

from __future__ import annotations

import json

import apsw
import blake3

from hartnode.apps.recipes.kinds import KINDS, RECIPE_DELETED, RECIPE_FORKED, RECIPE_SHARED
from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry

RECIPES_DDL = """
CREATE TABLE IF NOT EXISTS recipe_shares (
  id            INTEGER PRIMARY KEY,
  recipe        TEXT NOT NULL UNIQUE,   -- hash of the sharing event
  origin        TEXT NOT NULL,
  user_id       TEXT NOT NULL,          -- the event's actor (user:<id> or node)
  prompt_id     TEXT NOT NULL,          -- BLAKE3 of the prompt (16 hex): recipes of one prompt
  title         TEXT NOT NULL,
  prompt        TEXT NOT NULL,
  recipe_json   TEXT NOT NULL,          -- {"steps": [...], "tags": [...]}
  tags          TEXT NOT NULL,          -- space-separated, for LIKE filters
  parent        TEXT,                   -- the forked recipe's hash; NULL for an original
  fork_count    INTEGER NOT NULL DEFAULT 0,
  deleted       INTEGER NOT NULL DEFAULT 0,
  deleted_event INTEGER,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_recipe_shares_parent ON recipe_shares(parent);
CREATE INDEX IF NOT EXISTS idx_recipe_shares_ts ON recipe_shares(ts_ms, recipe);
"""

DELETIONS_DDL = """
CREATE TABLE IF NOT EXISTS recipe_deletions (
  recipe        TEXT NOT NULL,
  origin        TEXT NOT NULL,
  actor         TEXT NOT NULL,
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (recipe, origin, actor)
)
"""

EMBEDDINGS_DDL = """
CREATE TABLE IF NOT EXISTS embeddings (
  artifact_id   INTEGER NOT NULL,       -- the recipe's source_event: its label in the index
  model         TEXT NOT NULL,
  dim           INTEGER NOT NULL,
  embedding     BLOB NOT NULL,          -- dim float32, little-endian
  meta          TEXT NOT NULL,          -- {"recipe": hash}
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (artifact_id, model)
)
"""


def prompt_id(prompt: str) -> str:
    """Recipes made from the same prompt share this id (seed 000's ``prompt_id``)."""
    return blake3.blake3(prompt.encode("utf-8")).hexdigest()[:16]


def _recount(state: apsw.Connection, recipe: str | None) -> None:
    if recipe is not None:
        state.execute(
            "UPDATE recipe_shares SET fork_count = (SELECT COUNT(*) FROM recipe_shares c "
            "WHERE c.parent = ?1 AND c.deleted = 0) WHERE recipe = ?1", (recipe,))


def _apply_deletion(state: apsw.Connection, recipe: str) -> None:
    """Mark ``recipe`` deleted if its author has a deletion on record."""
    rows = state.execute(
        "SELECT r.source_event, MIN(d.source_event), r.parent FROM recipe_shares r "
        "JOIN recipe_deletions d ON d.recipe = r.recipe AND d.origin = r.origin "
        "AND d.actor = r.user_id WHERE r.recipe = ? AND r.deleted = 0 GROUP BY r.recipe",
        (recipe,)).fetchall()
    for created, deleted_by, parent in rows:
        state.execute("UPDATE recipe_shares SET deleted = 1, deleted_event = ? WHERE recipe = ?",
                      (max(int(str(created)), int(str(deleted_by))), recipe))
        _recount(state, None if parent is None else str(parent))


def _project_recipe(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    recipe = event.hash_hex
    parent = p.get("parent")
    body = json.dumps({"steps": p["steps"], "tags": p["tags"]}, sort_keys=True,
                      ensure_ascii=False)
    state.execute(
        "INSERT OR IGNORE INTO recipe_shares (recipe, origin, user_id, prompt_id, title, prompt,"
        " recipe_json, tags, parent, ts_ms, source_event) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (recipe, event.origin, event.actor, prompt_id(p["prompt"]), p["title"], p["prompt"], body,
         " ".join(p["tags"]), parent, event.ts_ms, event_id))
    _recount(state, recipe)  # its forks may have arrived first
    _recount(state, parent)
    _apply_deletion(state, recipe)


def _project_deletion(state: apsw.Connection, event_id: int, event: Event) -> None:
    recipe = event.payload["recipe"]
    state.execute("INSERT OR IGNORE INTO recipe_deletions (recipe, origin, actor, source_event)"
                  " VALUES (?,?,?,?)", (recipe, event.origin, event.actor, event_id))
    _apply_deletion(state, recipe)


def register(kinds: KindRegistry, views: ViewRegistry) -> None:
    for spec in KINDS:
        kinds.register(spec)
    views.add_table("recipe_shares", RECIPES_DDL)
    views.add_table("recipe_deletions", DELETIONS_DDL)
    views.add_table("embeddings", EMBEDDINGS_DDL)
    views.project(RECIPE_SHARED.kind, _project_recipe)
    views.project(RECIPE_FORKED.kind, _project_recipe)
    views.project(RECIPE_DELETED.kind, _project_deletion)
