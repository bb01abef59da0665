"""Three real daemons on loopback (B and C seeded to A): a recipe shared on A, forked
on B through the CLI, appears identically on all three (fork_count 1 everywhere), a
deletion of A's recipe signed on C is ignored everywhere, and B's index finds both."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

HTTP_TIMEOUT_S = 30.0


def _call(node: Node, path: str, body: object | None = None) -> Any:
    return node.api(path, body, timeout=HTTP_TIMEOUT_S)


def _show(node: Node, recipe: str) -> Any:
    try:
        return _call(node, "/api/v1/recipes/show?" + urllib.parse.urlencode({"id": recipe}))
    except urllib.error.HTTPError as e:
        e.close()
        return None


def _holds(node: Node, event: str) -> bool:
    return any(e["hash"] == event for e in _call(node, "/api/v1/events?n=50"))


@pytest.mark.slow
def test_a_recipe_fork_replicates_between_three_daemons(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b, c = (init_node(hartnode, tmp_path / name) for name in "abc")
    ports = {n.path.name: free_port() for n in (a, b, c)}

    def env(n: Node) -> dict[str, str]:
        base = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}",
                "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1"}
        if n is not a:
            base["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
        return base

    start_daemon(a, env=env(a))
    start_daemon(b, env=env(b))
    start_daemon(c, env=env(c))
    _call(a, "/api/v1/social/users", {"handle": "alice"})
    shared = _call(a, "/api/v1/recipes", {
        "title": "Rustic sourdough loaf", "prompt": "bread with a starter",
        "steps": ["feed the starter", "knead", "bake with steam"], "tags": ["bread"],
        "actor": "user:alice"})
    recipe = shared["hash"]
    wait_until("B holds A's recipe", lambda: _show(b, recipe) is not None)
    # Forked on B through the CLI, which goes through B's running daemon.
    out = b.run("recipes", "fork", recipe[:12], "--title", "Seeded sourdough", "--json",
                env=env(b))
    assert out.returncode == 0, str(out)
    fork = json.loads(out.stdout)["hash"]
    # C has the recipe and signs a deletion of it: C is not its author, so it is ignored.
    wait_until("C holds A's recipe", lambda: _show(c, recipe) is not None)
    forged = _call(c, "/api/v1/events", {"kind": "recipes.recipe.deleted", "reach": "network",
                                         "payload": {"recipe": recipe}})
    wait_until("every node counts B's fork and holds C's deletion", lambda: all(
        (_show(n, recipe) or {}).get("fork_count") == 1 and _holds(n, forged["hash"])
        for n in (a, b, c)))
    on_a = _show(a, recipe)
    assert on_a == _show(b, recipe) == _show(c, recipe)
    assert on_a["forks"] == [fork] and on_a["actor"] == "user:alice" and not on_a["deleted"]
    assert _show(a, fork) == _show(b, fork) == _show(c, fork)
    # B's index holds A's recipe (indexed as it arrived by replication).
    wait_until("B's index holds both", lambda: _call(b, "/api/v1/recipes/index")["items"] == 2)
    found = _call(b, "/api/v1/recipes/search?q=sourdough+bread&k=2")["items"]
    assert {h["recipe"] for h in found} == {recipe, fork}
