"""Three real daemons on loopback: a post, a comment thread and votes made on
different nodes (with ``hartnode social ...``) appear identically on all three,
and a mute word, a ``local`` event, never leaves its node.

B and C join through A. Alice (on A) posts; Bob (on B) comments; Carol (on C)
replies to Bob and changes her vote; Alice votes on Bob's comment and mutes a
word. The thread each daemon serves (``GET /api/v1/social/thread``, no viewer)
must then be the same JSON, and neither B's nor C's ledger holds the mute.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import apsw
from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from .helpers import dump

HTTP_TIMEOUT_S = 30.0
SECRET_WORD = "zeppelinmute"
# a user's own settings: on its node only, by design
LOCAL_TABLES = frozenset({"social_mutes", "social_blocks", "social_seen"})
# No proxies: the environment's http_proxy must not capture loopback requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(node: Node, path: str, **query: str) -> Any:
    url = f"{node.api_url}/api/v1/social{path}?{urllib.parse.urlencode(query)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {node.token()}"})
    with _OPENER.open(req, timeout=HTTP_TIMEOUT_S) as resp:
        return json.loads(resp.read())


def _cli(node: Node, *args: str) -> Any:
    result = node.run("social", *args, "--json")
    assert result.returncode == 0, str(result)
    return json.loads(result.stdout)


def _thread(node: Node, post: str) -> Any:
    try:
        return _get(node, "/thread", post=post)
    except urllib.error.HTTPError:
        return None  # not arrived yet


def test_a_thread_made_on_three_nodes_is_identical_on_each_and_mutes_stay_home(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b, c = (init_node(hartnode, tmp_path / name) for name in "abc")
    ports = {n.path.name: free_port() for n in (a, b, c)}

    def env(n: Node) -> dict[str, str]:
        base = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}",
                "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1"}
        if n is not a:
            base["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
        return base

    for n in (a, b, c):
        start_daemon(n, env=env(n))
    alice = _cli(a, "user", "create", "alice", "--display-name", "Alice")["user"]
    _cli(b, "user", "create", "bob")
    _cli(c, "user", "create", "carol")
    post = _cli(a, "post", "--as", "alice", "--title", "Sourdough",
                "--body", f"starter tips, @bob@{b.node_id[:8]}")["id"]
    wait_until("B and C hold alice's post", lambda: all(
        _thread(n, post) is not None for n in (b, c)))
    comment = _cli(b, "comment", post, "feed it daily", "--as", "bob")["id"]
    wait_until("C holds bob's comment", lambda: _thread(c, post)["post"]["comment_count"] == 1)
    _cli(c, "comment", post, "agreed", "--parent", comment, "--as", "carol")
    _cli(c, "vote", post, "down", "--as", "carol")
    _cli(c, "vote", post, "up", "--as", "carol")  # the later vote wins everywhere
    _cli(b, "vote", post, "up", "--as", "bob")
    _cli(a, "vote", comment, "up", "--as", "alice")
    _cli(a, "mute", SECRET_WORD, "--as", "alice")

    def settled() -> bool:
        threads = [_thread(n, post) for n in (a, b, c)]
        if any(t is None for t in threads):
            return False
        first = threads[0]
        return (first["post"]["score"] == 2 and first["post"]["comment_count"] == 2
                and first["comments"] and first["comments"][0]["score"] == 1
                and threads[1] == first and threads[2] == first)

    wait_until("all three serve the same thread", settled)
    thread = _thread(a, post)
    assert thread["post"]["author"]["id"] == alice["id"]
    (bobs,) = thread["comments"]
    assert bobs["id"] == comment and bobs["body"] == "feed it daily"
    assert [r["body"] for r in bobs["replies"]] == ["agreed"]
    # bob's node tells him of alice's mention and carol's reply, made on other nodes
    notes = _cli(b, "notifications", "--as", "bob")
    assert sorted(n["type"] for n in notes["items"]) == ["mention", "reply"]
    # the mute word: on A, and nowhere else, not even as an event
    assert _cli(a, "feed", "--as", "alice")["items"][0]["id"] == post
    assert _get(a, "/settings", **{"as": "alice"})["muted_words"] == [SECRET_WORD]
    for n in (b, c):
        tail = n.run("ledger", "tail", "--json", "-n", "1000")
        assert tail.returncode == 0, str(tail)
        assert SECRET_WORD not in tail.stdout
        assert "social.mute.set" not in tail.stdout
    own = a.run("ledger", "tail", "--json", "-n", "1000")
    assert SECRET_WORD in own.stdout
    # every replicated view table, row for row (ledger ids aside), on all three
    dumps = []
    for n in (a, b, c):
        conn = apsw.Connection(str(n.path / "state.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
        dumps.append({k: v for k, v in dump(conn).items() if k not in LOCAL_TABLES})
        conn.close()
    assert dumps[0]["posts"] and dumps[0]["votes"]
    assert dumps[1] == dumps[0] and dumps[2] == dumps[0]
    # the text forms, and kb verify with the social views in place
    text = b.run("social", "thread", post, "--as", "bob")
    assert text.returncode == 0 and "feed it daily" in text.stdout, str(text)
    text = c.run("social", "feed")
    assert text.returncode == 0 and "Sourdough" in text.stdout, str(text)
    refused = a.run("social", "post", "--as", "nobody", "--title", "x")
    assert refused.returncode == 2 and "as: no local user 'nobody'" in refused.stderr, str(refused)
    verified = a.run("kb", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], str(verified)
