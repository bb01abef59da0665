"""The recipes and goals routes in-process: a real ledger, committer and search service,
the handlers called through the route table (the HTTP server is tested in web/)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from hartnode.apps.goals import daemon as goals_daemon
from hartnode.apps.recipes import daemon as recipes_daemon
from hartnode.apps.recipes.embedder import HashingEmbedder
from hartnode.apps.recipes.service import SearchService, SearchUnavailable
from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

from .recipes.helpers import labelled


@dataclass
class MiniNode:
    """What the routes use of ``node.Node``."""

    node_ledger: NodeLedger
    access: StoreAccess
    committer: Committer
    node_id: str


class Api:
    def __init__(self, table: RouteTable, search: SearchService) -> None:
        self.routes = {(r.method, r.path): r for r in table}
        self.search = search

    async def get(self, path: str, **query: Any) -> Any:
        route = self.routes[("GET", path)]
        return await route.handler(ApiRequest(query={k: str(v) for k, v in query.items()}))

    async def post(self, path: str, body: Any) -> Any:
        route = self.routes[("POST", path)]
        return await route.handler(ApiRequest(body=json.dumps(body).encode()))

    async def bad(self, method: str, path: str, body: Any = None, **query: Any) -> str:
        with pytest.raises(ApiRequestError) as e:
            if method == "GET":
                await self.get(path, **query)
            else:
                await self.post(path, body)
        return str(e.value)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    identity = NodeIdentity.from_seed(b"\x31" * 32)
    nl = NodeLedger(tmp_path, identity, build_catalog(), create=True)
    access = StoreAccess()
    search = SearchService(tmp_path, nl, access, HashingEmbedder)
    committer = Committer(nl, access, max_batch=64, on_committed=search.wake)
    node = MiniNode(nl, access, committer, identity.node_id)
    table = RouteTable()
    recipes_daemon.register_routes(table, node, search)  # type: ignore[arg-type]
    dispatcher = goals_daemon.build_dispatcher(nl, access, build_catalog(), None,
                                               announce=search.wake)
    goals_daemon.register_routes(table, node, dispatcher)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(committer.run)
        await nursery.start(search.run)
        yield Api(table, search)
        nursery.cancel_scope.cancel()
    nl.close()


async def test_share_fork_show_list_and_search(api: Api) -> None:
    recipes = labelled()["recipes"][:30]
    hashes = []
    for r in recipes:
        event = await api.post("/api/v1/recipes", {k: r[k] for k in ("title", "prompt",
                                                                      "steps", "tags")})
        hashes.append(event["hash"])
    fork = await api.post("/api/v1/recipes/fork", {"parent": hashes[0][:10],
                                                   "title": "Sourdough, my way"})
    assert fork["payload"]["parent"] == hashes[0]
    assert fork["payload"]["steps"] == recipes[0]["steps"]  # copied from the parent
    shown = await api.get("/api/v1/recipes/show", id=hashes[0])
    assert shown["fork_count"] == 1 and shown["forks"] == [fork["hash"]]
    first = await api.get("/api/v1/recipes", limit=20)
    second = await api.get("/api/v1/recipes", limit=20, before=first["next"])
    assert second["next"] is None
    listed = [r["recipe"] for r in first["items"] + second["items"]]
    assert sorted(listed) == sorted([*hashes, fork["hash"]]) and len(set(listed)) == 31
    await api.post("/api/v1/recipes/reindex", {})  # on demand; also waits for the index
    found = await api.get("/api/v1/recipes/search", q="sourdough loaf with a starter", k=5)
    assert found["items"][0]["recipe"] in (hashes[0], fork["hash"])
    status = await api.get("/api/v1/recipes/index")
    assert status["available"] and status["items"] == 31 and status["model"] == "hash-v1-384"
    await api.post("/api/v1/recipes/delete", {"id": fork["hash"]})
    assert (await api.get("/api/v1/recipes/show", id=hashes[0]))["fork_count"] == 0


async def test_bad_input_is_a_400_naming_the_field(api: Api) -> None:
    assert "payload.title" in await api.bad("POST", "/api/v1/recipes", {"steps": ["x"]})
    assert "payload.steps" in await api.bad("POST", "/api/v1/recipes",
                                            {"title": "t", "steps": "one"})
    assert "colour" in await api.bad("POST", "/api/v1/recipes", {"title": "t", "colour": 1})
    assert "body" in await api.bad("POST", "/api/v1/recipes", [1])
    assert "limit" in await api.bad("GET", "/api/v1/recipes", limit=0)
    assert "limit" in await api.bad("GET", "/api/v1/recipes", limit="many")
    assert "before" in await api.bad("GET", "/api/v1/recipes", before="yesterday")
    assert "id" in await api.bad("GET", "/api/v1/recipes/show", id="zz")
    assert "parent" in await api.bad("POST", "/api/v1/recipes/fork", {"title": "t"})
    assert "q" in await api.bad("GET", "/api/v1/recipes/search", q="")
    assert "k" in await api.bad("GET", "/api/v1/recipes/search", q="soup", k=1000)
    made = await api.post("/api/v1/recipes", {"title": "t", "steps": ["s"]})
    assert "actor" in await api.bad("POST", "/api/v1/recipes/delete",
                                    {"id": made["hash"], "actor": "user:mallory"})
    assert "budget_msp" in await api.bad("POST", "/api/v1/goals", {
        "title": "g", "job_kind": "cpu.hash_chain", "params": {"seed": "s", "rounds": 1}})
    assert "job_kind" in await api.bad("POST", "/api/v1/goals", {
        "title": "g", "job_kind": "rm", "budget_msp": 1})
    # The node signs for itself or for its own users only (apps/actors.py).
    for path, body in (("/api/v1/recipes", {"title": "t", "steps": ["s"]}),
                       ("/api/v1/goals", {"title": "g", "job_kind": "cpu.hash_chain",
                                          "params": {"seed": "s", "rounds": 1},
                                          "budget_msp": 1})):
        for actor in ("user:ghost", "admin"):
            assert "actor" in await api.bad("POST", path, {**body, "actor": actor})


async def test_goal_routes(api: Api) -> None:
    made = await api.post("/api/v1/goals", {"title": "g", "job_kind": "cpu.hash_chain",
                                            "params": {"seed": "s", "rounds": 1},
                                            "budget_msp": 100})
    goal = made["hash"]
    assert "cannot become paused" in await api.bad("POST", "/api/v1/goals/status",
                                                   {"id": goal, "status": "paused"})
    assert "status" in await api.bad("POST", "/api/v1/goals/status",
                                     {"id": goal, "status": "draft"})
    await api.post("/api/v1/goals/status", {"id": goal, "status": "active"})
    page = await api.get("/api/v1/goals", status="active")
    assert [g["goal"] for g in page["items"]] == [goal]
    # No Spark on this node: the gate refuses before any job is sent.
    refused = await api.bad("POST", "/api/v1/goals/dispatch", {
        "id": goal, "peer": "ab" * 32, "central": "cd" * 32, "amount_msp": 10})
    assert "insufficient_spark" in refused
    assert "amount_msp" in await api.bad("POST", "/api/v1/goals/dispatch", {
        "id": goal, "peer": "ab" * 32, "central": "cd" * 32, "amount_msp": -1})
    shown = await api.get("/api/v1/goals/show", id=goal[:12])
    assert shown["status"] == "active" and shown["reservations"] == []


async def test_search_without_its_embedder_says_why_and_the_rest_runs(tmp_path: Path) -> None:
    from hartnode.apps.recipes.embedder import make_embedder

    nl = NodeLedger(tmp_path, NodeIdentity.from_seed(b"\x32" * 32), build_catalog(), create=True)
    search = SearchService(tmp_path, nl, StoreAccess(), lambda: make_embedder("nope"))
    async with trio.open_nursery() as nursery:
        await nursery.start(search.run)
        with pytest.raises(SearchUnavailable, match="unknown embedder 'nope'"):
            await search.search("soup", 3)
        assert search.status()["available"] is False
        nursery.cancel_scope.cancel()
    nl.close()


async def test_an_index_that_cannot_be_written_turns_search_off_not_the_node(
        tmp_path: Path) -> None:
    nl = NodeLedger(tmp_path, NodeIdentity.from_seed(b"\x33" * 32), build_catalog(), create=True)
    (tmp_path / "vectors").write_text("not a directory")
    search = SearchService(tmp_path, nl, StoreAccess(), HashingEmbedder)
    async with trio.open_nursery() as nursery:
        await nursery.start(search.run)
        with pytest.raises(SearchUnavailable, match="could not be opened or rebuilt"):
            await search.search("soup", 3)
        nursery.cancel_scope.cancel()
    nl.close()


async def test_the_index_is_saved_at_most_once_per_interval(
        tmp_path: Path, mock_clock: trio.testing.MockClock) -> None:
    from hartnode.apps.recipes import actions
    from hartnode.apps.recipes.index import TAG_FILE
    from hartnode.apps.recipes.service import SAVE_INTERVAL_S

    nl = NodeLedger(tmp_path, NodeIdentity.from_seed(b"\x34" * 32), build_catalog(), create=True)
    access = StoreAccess()
    search = SearchService(tmp_path, nl, access, HashingEmbedder)

    def saved_watermark() -> int:
        return int(json.loads((tmp_path / "vectors" / TAG_FILE).read_text())["watermark"])

    async def share(title: str) -> None:
        await access.run(nl.append, [actions.share({"title": title, "steps": ["x"]})])

    async with trio.open_nursery() as nursery:
        await nursery.start(search.run)
        await search.search("warm up", 1)  # waits until the index is open (built: saved)
        assert saved_watermark() == 0
        await share("Tomato soup")
        search.wake()
        await search.wait_synced()
        assert search.status()["watermark"] == 1 and saved_watermark() == 0  # not yet
        await share("Lentil soup")
        mock_clock.jump(SAVE_INTERVAL_S + 1)  # the save timer: the next round saves
        await search.wait_synced()
        assert search.status()["watermark"] == saved_watermark() == 2
        nursery.cancel_scope.cancel()
    nl.close()


async def test_a_search_during_a_long_rebuild_is_refused_with_what_is_happening(
        tmp_path: Path, mock_clock: trio.testing.MockClock) -> None:
    started, release = trio.Event(), trio.Event()
    token = trio.lowlevel.current_trio_token()

    class SlowEmbedder(HashingEmbedder):
        def embed(self, texts: Sequence[str]) -> Any:
            if texts and texts[0].startswith("slow"):  # the backlog's recipe: held back
                trio.from_thread.run_sync(started.set, trio_token=token)
                trio.from_thread.run(release.wait, trio_token=token)
            return super().embed(texts)

    nl = NodeLedger(tmp_path, NodeIdentity.from_seed(b"\x35" * 32), build_catalog(), create=True)
    nl.append([Draft("recipes.recipe.shared", {"title": "slow", "prompt": "", "steps": [],
                                               "tags": []})])
    search = SearchService(tmp_path, nl, StoreAccess(), SlowEmbedder)
    async with trio.open_nursery() as nursery:
        await nursery.start(search.run)
        await started.wait()  # the rebuild is embedding its backlog
        mock_clock.autojump_threshold = 0  # the search's wait for the index runs out
        with pytest.raises(SearchUnavailable, match=r"not ready: the index is being rebuilt "
                                                    r"\(missing\)"):
            await search.search("soup", 3)
        mock_clock.autojump_threshold = math.inf  # now it waits for the index
        release.set()
        assert [h["title"] for h in await search.search("slow", 1)] == ["slow"]
        nursery.cancel_scope.cancel()
    nl.close()


async def test_a_node_without_recipes_opens_no_index_until_one_arrives_or_a_search_asks(
        tmp_path: Path) -> None:
    from hartnode.apps.recipes import actions

    access = StoreAccess()
    made: list[str] = []

    def embedder() -> HashingEmbedder:
        made.append("embedder")
        return HashingEmbedder()

    for ask in ("recipe", "search"):
        (tmp_path / ask).mkdir()
        nl = NodeLedger(tmp_path / ask, NodeIdentity.from_seed(b"\x36" * 32), build_catalog(),
                        create=True)
        search = SearchService(tmp_path / ask, nl, access, embedder)
        made.clear()
        async with trio.open_nursery() as nursery:
            await nursery.start(search.run)
            assert made == [] and search.indexer is None  # dormant: nothing loaded
            assert search.status()["available"] is True
            if ask == "recipe":
                event = await access.run(nl.append, [actions.share(
                    {"title": "Tomato soup", "steps": ["simmer"]})])
                search.wake(event)
                await search.wait_synced()
                assert made == ["embedder"] and search.status()["items"] == 1
            else:
                assert await search.search("soup", 3) == []
                assert made == ["embedder"]
            nursery.cancel_scope.cancel()
        nl.close()
