"""Text embedders for recipe search: the protocol, the offline hashing default, and the choice.

An ``Embedder`` turns texts into L2-normalised float32 rows; its ``model_id``
tags every stored vector and the index, so vectors of two models never mix
(a change of model rebuilds the index, ``index.IndexTag``).

The default, ``HashingEmbedder``, needs no weights and no network: signed
feature hashing (Weinberger et al. 2009) of word unigrams, word bigrams and
character trigrams of each word, into ``dim`` buckets. It is deterministic
(``zlib.crc32``, no per-process hash seed), so every node and every rebuild
embeds a text to the same bytes. It matches words and their inflections
("tomato"/"tomatoes" share trigrams), not meanings: the optional multilingual
model (``use_embedder``, the ``[embed]`` extra) does that.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # numpy is imported where vectors are made, not here: the daemon imports this
    # module on its way to READY, and numpy is ~0.1 s of that (bench_daemon).
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

HASH_MODEL = "hash"
USE_MODEL = "use"
MODELS = (HASH_MODEL, USE_MODEL)  # the config's ``recipes.embedder`` values

_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to tell recipes apart; dropped from unigrams and bigrams
# (not from trigrams, which are cheap and damped anyway).
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "i", "in", "into",
    "is", "it", "its", "of", "on", "or", "the", "then", "to", "with", "your", "you", "my",
    "me", "until", "about"
))
TRIGRAM_WEIGHT = 0.5  # each word yields several trigrams; damped so words still dominate
BIGRAM_WEIGHT = 1.0


class EmbedderError(RuntimeError):
    """The configured embedder cannot run here (e.g. its extra is not installed)."""


class Embedder(Protocol):
    """Texts → L2-normalised ``float32`` rows of width ``dim``."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, each of unit length (a zero row for a text with no features)."""
        ...


def _features(text: str) -> list[tuple[str, float]]:
    norm = unicodedata.normalize("NFKC", text).casefold()
    words = _WORD.findall(norm)
    content = [w for w in words if w not in _STOP]
    feats: list[tuple[str, float]] = [("w:" + w, 1.0) for w in content]
    feats += [(f"b:{a} {b}", BIGRAM_WEIGHT) for a, b in itertools.pairwise(content)]
    for w in words:
        padded = f"<{w}>"
        feats += [("c:" + padded[i:i + 3], TRIGRAM_WEIGHT) for i in range(len(padded) - 2)]
    return feats


class HashingEmbedder:
    """Signed feature hashing; works offline everywhere (the default)."""

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self._dim = dim

    @property
    def model_id(self) -> str:
        return f"hash-v1-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            vec = out[row]
            for feat, weight in _features(text):
                h = zlib.crc32(feat.encode("utf-8"))
                # The low bits pick the bucket, bit 31 the sign: collisions cancel on average.
                vec[h % self._dim] += -weight if h & 0x8000_0000 else weight
            norm = float(np.linalg.norm(vec))
            if norm > 0:
                vec /= norm
        return out


def make_embedder(name: str) -> Embedder:
    """The embedder the config names (``recipes.embedder``).

    Raises:
        EmbedderError: an unknown name, or a model whose extra is not installed.
    """
    if name == HASH_MODEL:
        return HashingEmbedder()
    if name == USE_MODEL:
        from hartnode.apps.recipes.use_embedder import UseEmbedder

        return UseEmbedder()
    raise EmbedderError(f"unknown embedder {name!r}; known: {', '.join(MODELS)}")
