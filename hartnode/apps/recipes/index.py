"""The hnswlib vector index: a rebuildable artifact under the data dir, tagged (DESIGN §8).

Two files in ``<data dir>/vectors/``: ``recipes.hnsw`` (hnswlib's own
format) and ``recipes.tag.json``, the ``IndexTag`` saying which model's
vectors it holds, up to which ledger event (``watermark``), for which
generation of the views (a ``kb rebuild`` starts a new one) and how many
live items. Both are written to temporary names and renamed, index first:
a crash leaves the old pair or an index newer than its tag, and a newer
index only re-applies changes it already has (adds replace, deletions are
idempotent), so it is never wrong.

Labels are the recipes' ``source_event`` ids. Inner product over unit
vectors is cosine similarity. hnswlib's answer is approximate and depends
on insertion order, so ``search`` takes a wider candidate set and re-ranks
it exactly, ties broken by label: an index rebuilt from the view and one
grown incrementally give the same list whenever the true top k is among
the candidates (always, for collections smaller than ``ef``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hartnode.files import PRIVATE_MODE, replace_private

if TYPE_CHECKING:  # imported where used: the daemon reaches READY before any index opens
    import numpy as np
    import numpy.typing as npt

    from hartnode.apps.recipes.embedder import Vectors

INDEX_FILE = "recipes.hnsw"
TAG_FILE = "recipes.tag.json"
M = 16  # graph degree: hnswlib's default, a good recall/size balance at 384-512 dims
EF_CONSTRUCTION = 200
# Candidates hnswlib explores per query; the top ones are re-ranked exactly. At 100k
# hashed recipes (bench_search) ef 128 found 86% of the exact top 10, 256 found 94%,
# 512 found 98% at about 3 ms (brute force: about 25 ms).
EF_SEARCH = 512
RERANK_FACTOR = 4  # candidates taken per result asked for
MIN_CANDIDATES = 40
SEED = 100  # hnswlib's level generator: fixed so a rebuild is reproducible
MAX_TAG_BYTES = 4096


class VectorIndexError(RuntimeError):
    """The index files are unusable or a rebuild failed its checks; ``reason`` says which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class IndexTag:
    model: str
    dim: int
    watermark: int  # every view change up to this ledger event id is in the index
    generation: int  # snapshots row of the views it was built from (a rebuild adds one)
    count: int  # live (not deleted) items

    @staticmethod
    def parse(data: bytes) -> IndexTag:
        """Raises VectorIndexError (``bad_tag``) on anything but a well-formed tag."""
        if len(data) > MAX_TAG_BYTES:
            raise VectorIndexError("bad_tag", "tag file too large")
        try:
            raw = json.loads(data)
            tag = IndexTag(model=str(raw["model"]), dim=int(raw["dim"]),
                           watermark=int(raw["watermark"]), generation=int(raw["generation"]),
                           count=int(raw["count"]))
        except (ValueError, KeyError, TypeError) as e:
            raise VectorIndexError("bad_tag", str(e)) from e
        if tag.dim < 1 or tag.count < 0 or tag.watermark < 0:
            raise VectorIndexError("bad_tag", "negative or zero field")
        return tag


class VectorIndex:
    """An hnswlib index over unit vectors, safe to call from several threads."""

    def __init__(self, dim: int, capacity: int = 1024, *, _index: Any = None) -> None:
        import hnswlib

        self.dim = dim
        self._lock = threading.Lock()
        if _index is None:
            _index = hnswlib.Index(space="ip", dim=dim)
            _index.init_index(max_elements=max(capacity, 16), M=M,
                              ef_construction=EF_CONSTRUCTION, random_seed=SEED)
        self._index = _index
        self._index.set_num_threads(1)  # the node's threads are few; one query is small
        self._deleted: set[int] = set()
        self._labels: set[int] = set(int(x) for x in self._index.get_ids_list())

    @property
    def live(self) -> int:
        return len(self._labels) - len(self._deleted)

    def labels(self) -> set[int]:
        with self._lock:
            return self._labels - self._deleted

    def add(self, labels: Sequence[int], vectors: Vectors) -> None:
        """Add (or replace) items; a deleted label added again is live again."""
        import numpy as np

        if not labels:
            return
        with self._lock:
            need = len(self._labels | set(labels))
            cap = self._index.get_max_elements()
            if need > cap:
                self._index.resize_index(max(need, 2 * cap))
            self._index.add_items(np.asarray(vectors, dtype=np.float32),
                                  np.asarray(labels, dtype=np.int64))
            self._labels.update(labels)
            self._deleted.difference_update(labels)

    def mark_deleted(self, labels: Sequence[int]) -> int:
        """Mark items deleted (hnswlib keeps them as graph nodes); returns how many were live."""
        n = 0
        with self._lock:
            for label in labels:
                if label in self._labels and label not in self._deleted:
                    self._index.mark_deleted(label)
                    self._deleted.add(label)
                    n += 1
        return n

    def search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest live items to one unit ``query``: (label, cosine), best first,
        ties by label (exact re-rank of ``RERANK_FACTOR * k`` approximate candidates)."""
        import numpy as np

        with self._lock:
            live = len(self._labels) - len(self._deleted)
            if k <= 0 or live == 0:
                return []
            want = min(live, max(k * RERANK_FACTOR, MIN_CANDIDATES))
            self._index.set_ef(max(EF_SEARCH, want))
            found, _ = self._index.knn_query(np.asarray(query, dtype=np.float32).reshape(1, -1),
                                             k=want)
            cands = [int(x) for x in found[0]]
            stored = np.asarray(self._index.get_items(cands), dtype=np.float32)
        scores = stored @ np.asarray(query, dtype=np.float32).reshape(-1)
        ranked = sorted(zip(cands, scores.tolist(), strict=True), key=lambda t: (-t[1], t[0]))
        return [(label, float(score)) for label, score in ranked[:k]]

    def save(self, directory: Path, tag: IndexTag) -> None:
        """Write the index, then its tag, each atomically."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = directory / (INDEX_FILE + ".tmp")
        tmp.unlink(missing_ok=True)  # hnswlib opens the path itself: no planted leftovers
        with self._lock:
            self._index.save_index(str(tmp))
        os.chmod(tmp, PRIVATE_MODE)  # like every file of the data dir
        os.replace(tmp, directory / INDEX_FILE)
        replace_private(directory / TAG_FILE, json.dumps(asdict(tag), sort_keys=True).encode())

    @classmethod
    def load(cls, directory: Path) -> tuple[VectorIndex, IndexTag]:
        """Raises VectorIndexError (``missing``, ``bad_tag``, ``bad_index``)."""
        import hnswlib

        tag_path, index_path = directory / TAG_FILE, directory / INDEX_FILE
        if not tag_path.exists() or not index_path.exists():
            raise VectorIndexError("missing", str(directory))
        tag = IndexTag.parse(tag_path.read_bytes())
        index = hnswlib.Index(space="ip", dim=tag.dim)
        try:
            index.load_index(str(index_path), max_elements=0)
        except (RuntimeError, ValueError, OSError) as e:
            raise VectorIndexError("bad_index", str(e)) from e
        loaded = cls(tag.dim, _index=index)
        # hnswlib keeps deletion marks in the file; learn them by asking for each label.
        deleted = _deleted_labels(index, sorted(loaded._labels))
        loaded._deleted = deleted
        return loaded, tag


def _deleted_labels(index: Any, labels: list[int]) -> set[int]:
    """Labels marked deleted in a loaded index (``get_items`` refuses a deleted label)."""
    deleted = set()
    for label in labels:
        try:
            index.get_items([label])
        except RuntimeError:
            deleted.add(label)
    return deleted


def clear(directory: Path) -> None:
    """Remove the index files (seed 004 §3, step 1)."""
    for name in (TAG_FILE, INDEX_FILE, TAG_FILE + ".tmp", INDEX_FILE + ".tmp"):
        (directory / name).unlink(missing_ok=True)


def brute_force(matrix: Vectors, labels: npt.NDArray[np.int64], query: Vectors,
                k: int) -> list[tuple[int, float]]:
    """Exact top ``k`` by a full scan (the benchmark's and the tests' reference)."""
    import numpy as np

    scores = matrix @ np.asarray(query, dtype=np.float32).reshape(-1)
    k = min(k, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    ranked = sorted(((int(labels[i]), float(scores[i])) for i in top),
                    key=lambda t: (-t[1], t[0]))
    return ranked
