"""The recipe event kinds (issue #12): share, fork, delete.

A recipe's id is the hash of the event that shared (or forked) it. Its
author is the pair (origin, actor): the node signs for its local user
(``actor: user:<id>``), so the same actor name on another node is someone
else. Only that pair may delete it; a deletion by anyone else is ignored by
the projection (``views``), like Nostr's NIP-09.
"""

from __future__ import annotations

from hartnode.ledger.kinds import Hex, KindSpec, List, Obj, Str

MAX_STEPS = 200  # steps in one recipe
MAX_STEP_CHARS = 4000
MAX_TAGS = 20

_RECIPE_FIELDS = {
    "title": Str(min_len=1, max_len=200),
    # The prompt the recipe came from (what was asked of the agent).
    "prompt": Str(max_len=8000),
    "steps": List(Str(min_len=1, max_len=MAX_STEP_CHARS), max_items=MAX_STEPS),
    "tags": List(Str(min_len=1, max_len=40, pattern=r"[^\s,]+"), max_items=MAX_TAGS),
}

RECIPE_SHARED = KindSpec(
    kind="recipes.recipe.shared",
    payload=Obj(dict(_RECIPE_FIELDS)),
    doc="A recipe: title, the prompt it came from, steps, tags.")

RECIPE_FORKED = KindSpec(
    kind="recipes.recipe.forked",
    payload=Obj({**_RECIPE_FIELDS, "parent": Hex(32)}),
    doc="A new recipe derived from ``parent`` (the hash of the recipe it forks).")

RECIPE_DELETED = KindSpec(
    kind="recipes.recipe.deleted",
    payload=Obj({"recipe": Hex(32)}),
    doc="The author withdraws a recipe (ignored unless origin and actor match).")

KINDS = (RECIPE_SHARED, RECIPE_FORKED, RECIPE_DELETED)
