"""Recipe search: recall@10 of the embedders, and search latency at 100k recipes.

    .venv/bin/python bench/bench_search.py [--quick] [--repeats N] [--n N]

1. **Quality**: recall@10 on ``bench/data/recipes_labelled.json`` (200 recipes
   in 20 topics, 80 paraphrased queries: 60 English, 20 in es/fr/de): the
   share of a query's 10 same-topic recipes among its top 10. Each embedder
   installed is measured (the hashing default always; USE multilingual v3
   with the ``[embed]`` extra). Chance is 10/200 = 5%.
2. **Latency** at ``--n`` recipes (100,000; 10,000 with ``--quick``), hashing
   embedder, 384 dimensions: one query at a time through ``VectorIndex.search``
   (hnswlib plus the exact re-rank of its candidates) beside numpy brute
   force over the same matrix, in the same run, each repeat paired; and the
   physical peer of the brute force: one memcpy of the matrix (``np.copyto``,
   reading and writing every byte once), the memory traffic a full scan is made of.
3. **ANN recall**: how many of brute force's exact top 10 the index returns.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Paired, Row, Table, median
from hartnode.apps.recipes.embedder import Embedder, EmbedderError, HashingEmbedder
from hartnode.apps.recipes.index import VectorIndex, brute_force

DATA = Path(__file__).resolve().parent / "data" / "recipes_labelled.json"
QUERIES = 200  # latency queries per repeat


def _text(r: dict[str, Any]) -> str:
    return "\n".join([str(r["title"]), " ".join(r["tags"]), str(r["prompt"]), *r["steps"]])


def recall_at_10(embedder: Embedder) -> tuple[float, float, float, float]:
    """(recall all, English, other languages, recipes embedded per second)."""
    data = json.loads(DATA.read_text())
    topics = np.array([r["topic"] for r in data["recipes"]])
    embedder.embed(["warm up"])  # a model loads its weights on first use: not timed
    start = time.perf_counter()
    matrix = embedder.embed([_text(r) for r in data["recipes"]])
    per_s = len(topics) / (time.perf_counter() - start)
    got: dict[bool, list[float]] = {True: [], False: []}
    for q in data["queries"]:
        v = embedder.embed([q["query"]])[0]
        top = np.argsort(-(matrix @ v), kind="stable")[:10]
        got[bool(q["english"])].append(float((topics[top] == q["topic"]).sum()) / 10)
    both = got[True] + got[False]
    return (float(np.mean(both)), float(np.mean(got[True])), float(np.mean(got[False])),
            per_s)


def synthetic(n: int, seed: int = 7) -> list[str]:
    """``n`` recipe texts recombined from the labelled set's words (deterministic)."""
    data = json.loads(DATA.read_text())
    rng = random.Random(seed)
    recipes = data["recipes"]
    out = []
    for i in range(n):
        a, b = rng.choice(recipes), rng.choice(recipes)
        steps = rng.sample(a["steps"] + b["steps"], k=3)
        out.append(f"{a['title']} {i}\n{' '.join(b['tags'])}\n{a['prompt']}\n" + "\n".join(steps))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10,000 recipes, 2 repeats")
    p.add_argument("--repeats", type=int, default=0)
    p.add_argument("--n", type=int, default=0, help="recipes in the latency test")
    args = p.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    n = args.n or (10_000 if args.quick else 100_000)
    table = Table("bench_search")

    embedders: list[Embedder] = [HashingEmbedder()]
    try:
        from hartnode.apps.recipes.use_embedder import UseEmbedder

        embedders.append(UseEmbedder())
    except EmbedderError as e:
        table.note(f"USE not measured: {e}")
    for emb in embedders:
        r_all, r_en, r_other, per_s = recall_at_10(emb)
        table.add(Row(f"recall@10, {emb.model_id} (80 queries)", r_all * 100, "%",
                      limit=5.0, limit_name="chance, 10 of 200"))
        table.note(f"{emb.model_id}: recall@10 {r_en:.1%} on the 60 English queries, "
                   f"{r_other:.1%} on the 20 es/fr/de ones; embeds {per_s:,.0f} recipes/s")

    print(f"embedding {n:,} synthetic recipes ...", flush=True)
    emb = HashingEmbedder()
    texts = synthetic(n)
    start = time.perf_counter()
    matrix = np.concatenate([emb.embed(texts[i:i + 5000]) for i in range(0, n, 5000)])
    embed_s = time.perf_counter() - start
    labels = np.arange(1, n + 1, dtype=np.int64)
    start = time.perf_counter()
    index = VectorIndex(emb.dim, capacity=n)
    index.add(list(labels), matrix)
    build_s = time.perf_counter() - start
    table.note(f"{n:,} recipes: hashing embedder {n / embed_s:,.0f} recipes/s; "
               f"hnswlib build (M=16, ef_construction=200, one thread) {build_s:.1f} s "
               f"= {n / build_s:,.0f} items/s")
    qtexts = [q["query"] for q in json.loads(DATA.read_text())["queries"]]
    queries = emb.embed([qtexts[i % len(qtexts)] + f" {i}" for i in range(QUERIES)])

    hnsw_ms, brute_ms, hit = Paired(), Paired(), []
    for _ in range(repeats):
        lat_h, lat_b = [], []
        for q in queries:
            t = time.perf_counter()
            got = index.search(q, 10)
            lat_h.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            exact = brute_force(matrix, labels, q, 10)
            lat_b.append((time.perf_counter() - t) * 1000)
            hit.append(len({g[0] for g in got} & {e[0] for e in exact}) / 10)
        scan, copy = [], np.empty_like(matrix)
        for _ in range(5):
            t = time.perf_counter()
            np.copyto(copy, matrix)
            scan.append((time.perf_counter() - t) * 1000)
        hnsw_ms.add(median(lat_h), median(lat_b))
        brute_ms.add(median(lat_b), median(scan))
        p99 = sorted(lat_h)[int(0.99 * len(lat_h))]
        table.note(f"repeat: hnswlib p50 {median(lat_h):.3f} ms, p99 {p99:.3f} ms; "
                   f"brute force p50 {median(lat_b):.2f} ms; one copy of the "
                   f"{matrix.nbytes / 1e6:.0f} MB matrix {median(scan):.2f} ms")
    table.add(Row.paired(f"search, hnswlib + re-rank, {n:,} recipes (p50)", hnsw_ms, "ms",
                         "numpy brute force p50"))
    table.add(Row.paired(f"search, numpy brute force, {n:,} recipes (p50)", brute_ms, "ms",
                         "one memcpy of the matrix"))
    table.add(Row("ANN recall@10 against brute force", float(np.mean(hit)) * 100, "%",
                  limit=100.0, limit_name="exact"))
    table.print()


if __name__ == "__main__":
    main()
