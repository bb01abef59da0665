"""Keeps the ``embeddings`` view and the vector index in step with ``recipe_shares``.

The steps, each a plain function so the daemon's shell (``service``) can run
the reads and writes on the store's thread and the embedding and the index
work on worker threads, and the CLI and tests can run them in one thread
(``sync`` and ``rebuild_now``):

1. ``pending`` / ``store_vectors``: embed live recipes the current model has
   no vector for, in batches, and store the vectors in ``embeddings``.
2. ``changes`` / ``apply``: add to the index what was shared since its
   watermark, mark deleted what was deleted since; advance the watermark
   to the view's (never past a recipe still waiting for its vector).
3. ``check``: on start, whether the saved index may be used: the model,
   dimension and view generation must match and its watermark must not be
   ahead of the views; otherwise ``snapshot`` + ``build`` rebuild it (seed
   004 §3): clear the files, stream the stored vectors, validate the count
   and run probe queries (each probe must find itself first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import apsw

from hartnode.apps.recipes import index as vindex
from hartnode.apps.recipes.embedder import Embedder
from hartnode.apps.recipes.index import IndexTag, VectorIndex, VectorIndexError
from hartnode.ledger import store

if TYPE_CHECKING:
    from hartnode.apps.recipes.embedder import Vectors

EMBED_BATCH = 256  # recipes embedded per step: bounds the store thread's and the model's turn
PROBES = 5  # probe queries after a rebuild
PROBE_MIN_SCORE = 0.999  # an item's own vector scores 1 (up to float32 rounding)
VECTORS_DIR = "vectors"


def recipe_text(title: str, prompt: str, recipe_json: str) -> str:
    """What is embedded for a recipe: title, tags, prompt and steps."""
    body = json.loads(recipe_json)
    return "\n".join([title, " ".join(body.get("tags", [])), prompt, *body.get("steps", [])])


@dataclass(frozen=True)
class Changes:
    """What the index must take from the views: adds, deletions, and the new watermark."""

    add_labels: list[int]
    add_vectors: Vectors
    deleted: list[int]
    watermark: int
    generation: int


@dataclass(frozen=True)
class Snapshot:
    """Every stored vector of live recipes up to ``watermark``, read in one transaction."""

    labels: list[int]
    vectors: Vectors
    watermark: int
    generation: int


def holds_recipes(state: apsw.Connection) -> bool:
    """Whether any recipe (deleted ones too) was ever projected: else no index is needed."""
    return state.execute("SELECT 1 FROM recipe_shares LIMIT 1").fetchone() is not None


def view_position(state: apsw.Connection) -> tuple[int, int]:
    """(views watermark, generation): the generation is the snapshots row in use."""
    row = store.query(state, "SELECT events_high_watermark, id FROM snapshots "
                             "ORDER BY id DESC LIMIT 1")
    return (int(row[0][0]), int(row[0][1])) if row else (0, 0)


class Indexer:
    def __init__(self, data_dir: Path, embedder: Embedder) -> None:
        self.directory = data_dir / VECTORS_DIR
        self.embedder = embedder
        self.index: VectorIndex | None = None
        self.tag: IndexTag | None = None
        self.dirty = False  # changed since the last save

    @property
    def model(self) -> str:
        return self.embedder.model_id

    # -- step 1: vectors for new recipes (store thread / any thread) ------------------

    def pending(self, state: apsw.Connection,
                limit: int = EMBED_BATCH) -> list[tuple[int, str, str]]:
        """Live recipes without a vector of this model: (label, recipe, text), oldest first."""
        rows = store.query(
            state, "SELECT r.source_event, r.recipe, r.title, r.prompt, r.recipe_json "
            "FROM recipe_shares r LEFT JOIN embeddings e ON e.artifact_id = r.source_event "
            "AND e.model = ? WHERE r.deleted = 0 AND e.artifact_id IS NULL "
            "ORDER BY r.source_event LIMIT ?", (self.model, limit))
        return [(int(s), str(h), recipe_text(t, p, j)) for s, h, t, p, j in rows]

    def store_vectors(self, state: apsw.Connection, rows: list[tuple[int, str, str]],
                      vectors: Vectors) -> None:
        import numpy as np

        dim = self.embedder.dim
        with state:
            for (label, recipe, _text), vec in zip(rows, vectors, strict=True):
                state.execute(
                    "INSERT OR REPLACE INTO embeddings (artifact_id, model, dim, embedding, meta,"
                    " source_event) VALUES (?,?,?,?,?,?)",
                    (label, self.model, dim, np.asarray(vec, dtype="<f4").tobytes(),
                     json.dumps({"recipe": recipe}), label))

    def embed_all(self, state: apsw.Connection) -> int:
        """Step 1 to the end, in this thread; returns how many were embedded."""
        n = 0
        while rows := self.pending(state):
            self.store_vectors(state, rows, self.embedder.embed([r[2] for r in rows]))
            n += len(rows)
        return n

    # -- step 2: incremental changes ---------------------------------------------------

    def _watermark(self, state: apsw.Connection, views_mark: int) -> int:
        """The view's watermark, held below the first live recipe still without a vector."""
        first = store.scalar(
            state, "SELECT MIN(r.source_event) FROM recipe_shares r LEFT JOIN embeddings e "
            "ON e.artifact_id = r.source_event AND e.model = ? WHERE r.deleted = 0 "
            "AND e.artifact_id IS NULL", (self.model,))
        return views_mark if first is None else min(views_mark, int(first) - 1)

    def changes(self, state: apsw.Connection) -> Changes:
        """What happened in the views since the index's watermark (one read transaction)."""
        assert self.tag is not None
        since = self.tag.watermark
        with state:  # one snapshot for the marks and the rows
            views_mark, generation = view_position(state)
            mark = self._watermark(state, views_mark)
            rows = store.query(
                state, "SELECT e.artifact_id, e.embedding FROM embeddings e JOIN recipe_shares r"
                " ON r.source_event = e.artifact_id WHERE e.model = ? AND r.deleted = 0 "
                "AND e.artifact_id > ? AND e.artifact_id <= ? ORDER BY e.artifact_id",
                (self.model, since, mark))
            deleted = store.query(
                state, "SELECT source_event FROM recipe_shares WHERE deleted = 1 "
                "AND deleted_event > ? AND deleted_event <= ?", (since, max(mark, since)))
            # The view holds vectors of live recipes only, as a rebuild would.
            state.executemany("DELETE FROM embeddings WHERE artifact_id = ?", deleted)
        return Changes([int(r[0]) for r in rows], _matrix([r[1] for r in rows], self.tag.dim),
                       [int(r[0]) for r in deleted], max(mark, since), generation)

    def apply(self, changes: Changes) -> bool:
        """Carry ``changes`` into the index; True when anything changed."""
        assert self.index is not None and self.tag is not None
        self.index.add(changes.add_labels, changes.add_vectors)
        self.index.mark_deleted(changes.deleted)
        moved = bool(changes.add_labels or changes.deleted
                     or changes.watermark != self.tag.watermark)
        self.tag = IndexTag(self.model, self.tag.dim, changes.watermark, changes.generation,
                            self.index.live)
        self.dirty = self.dirty or moved
        return moved

    # -- step 3: open or rebuild -------------------------------------------------------

    def load(self) -> str:
        """Load the saved index; returns "" or why it cannot be used as it is."""
        try:
            self.index, self.tag = VectorIndex.load(self.directory)
        except VectorIndexError as e:
            self.index, self.tag = None, None
            return e.reason
        if self.tag.model != self.model or self.tag.dim != self.embedder.dim:
            return "model_changed"
        if self.index.live != self.tag.count:
            return "count_mismatch"
        return ""

    def check(self, state: apsw.Connection) -> str:
        """Why the loaded index must be rebuilt against ``state`` ("" when it need not)."""
        if self.tag is None:
            return "missing"
        views_mark, generation = view_position(state)
        if self.tag.generation != generation:
            return "views_rebuilt"
        if self.tag.watermark > views_mark:
            return "views_behind"
        return ""

    def snapshot(self, state: apsw.Connection) -> Snapshot:
        """Every stored vector a rebuild needs (seed 004 §3 step 2), in one transaction."""
        with state:
            # Vectors of another model or of deleted recipes are dropped: the view is
            # this model's vectors of the live recipes, what a ``kb rebuild`` refills.
            state.execute("DELETE FROM embeddings WHERE model != ? OR artifact_id IN (SELECT "
                          "source_event FROM recipe_shares WHERE deleted = 1)", (self.model,))
            views_mark, generation = view_position(state)
            mark = self._watermark(state, views_mark)
            rows = store.query(
                state, "SELECT e.artifact_id, e.embedding FROM embeddings e JOIN recipe_shares r"
                " ON r.source_event = e.artifact_id WHERE e.model = ? AND r.deleted = 0 "
                "AND e.artifact_id <= ? ORDER BY e.artifact_id", (self.model, mark))
        return Snapshot([int(r[0]) for r in rows],
                        _matrix([r[1] for r in rows], self.embedder.dim), mark, generation)

    def build(self, snap: Snapshot) -> IndexTag:
        """Clear the files, build from ``snap``, validate and probe, save.

        Raises:
            VectorIndexError: ``count_mismatch`` or ``probe_failed``; nothing is saved then.
        """
        vindex.clear(self.directory)
        index = VectorIndex(self.embedder.dim, capacity=len(snap.labels))
        index.add(snap.labels, snap.vectors)
        if index.live != len(snap.labels):
            raise VectorIndexError("count_mismatch",
                                   f"{index.live} items indexed, {len(snap.labels)} streamed")
        step = max(1, len(snap.labels) // PROBES)
        for i in range(0, len(snap.labels), step)[:PROBES]:
            hits = index.search(snap.vectors[i], 1)
            if not hits or hits[0][1] < PROBE_MIN_SCORE:
                raise VectorIndexError("probe_failed", f"item {snap.labels[i]} did not find "
                                       f"itself: {hits}")
        tag = IndexTag(self.model, self.embedder.dim, snap.watermark, snap.generation,
                       index.live)
        index.save(self.directory, tag)
        self.index, self.tag, self.dirty = index, tag, False
        return tag

    def save(self) -> None:
        if self.index is not None and self.tag is not None and self.dirty:
            self.index.save(self.directory, self.tag)
            self.dirty = False

    # -- in one thread (CLI, tests) ----------------------------------------------------

    def open(self, state: apsw.Connection) -> str:
        """Load, or rebuild when it must; returns the rebuild reason ("" if loaded)."""
        reason = self.load() or self.check(state)
        self.embed_all(state)
        if reason:
            self.build(self.snapshot(state))
        return reason

    def sync(self, state: apsw.Connection) -> bool:
        self.embed_all(state)
        return self.apply(self.changes(state))

    def rebuild_now(self, state: apsw.Connection) -> IndexTag:
        self.embed_all(state)
        return self.build(self.snapshot(state))

    # -- queries -------------------------------------------------------------------------

    def nearest(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        return [] if self.index is None else self.index.search(query, k)


def _matrix(blobs: list[bytes], dim: int) -> Vectors:
    import numpy as np

    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    out = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim)
    return out.astype(np.float32)


Hit = dict[str, object]


def describe(state: apsw.Connection, hits: list[tuple[int, float]]) -> list[Hit]:
    """The recipes behind index hits, in the hits' order (deleted ones dropped)."""
    out: list[Hit] = []
    for label, score in hits:
        rows = store.query(state, "SELECT recipe, title, user_id, origin, tags, parent, "
                                  "fork_count FROM recipe_shares WHERE source_event = ? "
                                  "AND deleted = 0", (label,))
        if rows:
            recipe, title, actor, origin, tags, parent, forks = rows[0]
            out.append({"recipe": recipe, "title": title, "actor": actor, "origin": origin,
                        "tags": tags.split() if tags else [], "parent": parent,
                        "fork_count": forks, "score": round(score, 6)})
    return out

