"""The ``/api/v1/social`` handlers over a real ledger and state database: what they
write and read, their pagination, and a 400 naming the field for bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hartnode.apps.social import api
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.routes import ApiRequest, ApiRequestError, AppContext, AppRoutes

from .helpers import MASTER, NODE_A, NODE_B, LedgerContext, catalog, chain_json


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[LedgerContext]:
    ledger = NodeLedger(tmp_path, NODE_A, catalog(), create=True)
    yield LedgerContext(ledger)
    ledger.close()


def _handlers() -> dict[tuple[str, str], Any]:
    routes = AppRoutes()
    api.register_routes(routes)
    return {key: handler for key, (handler, _) in routes._routes.items()}


HANDLERS = _handlers()


async def call(ctx: AppContext, method: str, path: str, body: Any = None,
               **query: str) -> Any:
    import json

    handler = HANDLERS[(method, f"/api/v1/social{path}")]
    data = b"" if body is None else json.dumps(body).encode()
    return await handler(ctx, ApiRequest(query=query, body=data))


async def bad(ctx: AppContext, field: str, method: str, path: str, body: Any = None,
              **query: str) -> None:
    with pytest.raises(ApiRequestError) as info:
        await call(ctx, method, path, body, **query)
    assert str(info.value).startswith(f"{field}:"), str(info.value)


async def test_users_handles_unique_per_node_and_global_names(ctx: LedgerContext) -> None:
    made = await call(ctx, "POST", "/users", {"handle": "alice", "display_name": "Alice"})
    assert made["user"]["name"] == f"alice@{NODE_A.node_id[:8]}"
    assert made["user"]["id"] == f"alice@{NODE_A.node_id}"
    await bad(ctx, "handle", "POST", "/users", {"handle": "alice"})
    await bad(ctx, "handle", "POST", "/users", {"handle": "A!"})
    await call(ctx, "POST", "/users", {"handle": "bob"})
    page = await call(ctx, "GET", "/users", limit="1")
    assert [u["handle"] for u in page["items"]] == ["alice"] and page["next"]
    page = await call(ctx, "GET", "/users", limit="1", after=page["next"])
    assert [u["handle"] for u in page["items"]] == ["bob"]
    tail = await ctx.tail(1)
    assert tail[0]["actor"] == "user:bob" and tail[0]["origin"] == NODE_A.node_id


async def test_post_comment_vote_thread_and_feed_pagination(ctx: LedgerContext) -> None:
    for h in ("alice", "bob"):
        await call(ctx, "POST", "/users", {"handle": h})
    ids = [(await call(ctx, "POST", "/posts", {"as": "alice", "title": f"t{i}", "body": "b"}))[
        "id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        q = {"limit": "2"} | ({"before": cursor} if cursor else {})
        page = await call(ctx, "GET", "/feed", **q)
        seen += [p["id"] for p in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    c1 = (await call(ctx, "POST", "/comments", {"as": "bob", "post": ids[0], "body": "hi"}))["id"]
    await bad(ctx, "parent", "POST", "/comments", {"as": "bob", "post": ids[1], "parent": c1,
                                                   "body": "wrong thread"})
    await call(ctx, "POST", "/comments", {"as": "alice", "post": ids[0], "parent": c1,
                                          "body": "@bob thanks"})
    await call(ctx, "POST", "/votes", {"as": "bob", "target": ids[0], "value": 1})
    thread = await call(ctx, "GET", "/thread", post=ids[0], **{"as": "bob"})
    assert thread["post"]["score"] == 1 and thread["post"]["my_vote"] == 1
    assert thread["post"]["comment_count"] == 2
    assert thread["comments"][0]["replies"][0]["body"] == "@bob thanks"
    notes = await call(ctx, "GET", "/notifications", **{"as": "bob"})
    assert sorted(n["type"] for n in notes["items"]) == ["mention", "reply"]
    assert notes["unread"] == 2
    await call(ctx, "POST", "/notifications/seen", {"as": "bob"})
    notes = await call(ctx, "GET", "/notifications", **{"as": "bob"})
    assert notes["unread"] == 0
    # bob may neither edit nor delete alice's post
    await bad(ctx, "post", "POST", "/posts/delete", {"as": "bob", "post": ids[0]})
    await call(ctx, "POST", "/posts/edit", {"as": "alice", "post": ids[0], "title": "new"})
    thread = await call(ctx, "GET", "/thread", post=ids[0])
    assert thread["post"]["title"] == "new" and thread["post"]["edited_ts"] is not None


async def test_mute_words_and_blocks_hide_from_the_viewer_only(ctx: LedgerContext) -> None:
    for h in ("alice", "bob", "carol"):
        await call(ctx, "POST", "/users", {"handle": h})
    p1 = (await call(ctx, "POST", "/posts", {"as": "alice", "title": "Crypto news"}))["id"]
    p2 = (await call(ctx, "POST", "/posts", {"as": "carol", "title": "Recipes"}))["id"]
    await call(ctx, "POST", "/mutes", {"as": "bob", "word": "CRYPTO"})
    await call(ctx, "POST", "/blocks", {"as": "bob", "post": p2})  # block from the post
    mine = await call(ctx, "GET", "/feed", **{"as": "bob"})
    assert mine["items"] == []
    others = await call(ctx, "GET", "/feed", **{"as": "alice"})
    assert {p["id"] for p in others["items"]} == {p1, p2}
    settings = await call(ctx, "GET", "/settings", **{"as": "bob"})
    assert settings["muted_words"] == ["crypto"]
    assert [b["id"] for b in settings["blocked"]] == [f"carol@{NODE_A.node_id}"]
    await call(ctx, "POST", "/mutes", {"as": "bob", "word": "crypto", "on": False})
    mine = await call(ctx, "GET", "/feed", **{"as": "bob"})
    assert [p["id"] for p in mine["items"]] == [p1]
    local = [e for e in await ctx.tail(20) if e["kind"] in ("social.mute.set",
                                                             "social.block.set")]
    assert local and all(e["reach"] == "local" for e in local)


async def test_communities_roles_moderation_and_private_visibility(ctx: LedgerContext) -> None:
    for h in ("alice", "bob", "carol"):
        await call(ctx, "POST", "/users", {"handle": h})
    cid = (await call(ctx, "POST", "/communities", {"as": "alice", "name": "secret",
                                                    "visibility": "private"}))["id"]
    await bad(ctx, "community", "POST", "/posts", {"as": "bob", "title": "x", "community": cid})
    await call(ctx, "POST", "/communities/join", {"as": "bob", "community": cid})
    assert (await call(ctx, "GET", "/community", community=cid, **{"as": "bob"}))[
        "my_role"] == "pending"
    await bad(ctx, "community", "POST", "/communities/role",
              {"as": "bob", "community": cid, "user": f"bob@{NODE_A.node_id}",
               "role": "moderator"})
    await call(ctx, "POST", "/communities/role", {"as": "alice", "community": cid,
                                                  "user": f"bob@{NODE_A.node_id}",
                                                  "role": "moderator"})
    pid = (await call(ctx, "POST", "/posts", {"as": "alice", "title": "hidden",
                                              "community": cid}))["id"]
    assert (await call(ctx, "GET", "/feed", **{"as": "carol"}))["items"] == []
    await bad(ctx, "post", "GET", "/thread", post=pid, **{"as": "carol"})
    await bad(ctx, "post", "GET", "/thread", post=pid)
    assert [p["id"] for p in (await call(ctx, "GET", "/feed", **{"as": "bob"}))["items"]] == [
        pid]
    await bad(ctx, "as", "POST", "/moderate", {"as": "carol", "post": pid, "action": "lock"})
    await call(ctx, "POST", "/moderate", {"as": "bob", "post": pid, "action": "lock"})
    await call(ctx, "POST", "/moderate", {"as": "bob", "post": pid, "action": "pin"})
    page = await call(ctx, "GET", "/feed", community=cid, **{"as": "bob"})
    assert [p["id"] for p in page["pinned"]] == [pid] and page["pinned"][0]["locked"]
    assert (await call(ctx, "GET", "/feed", **{"as": "bob"}))["pinned"] == []
    await bad(ctx, "post", "POST", "/comments", {"as": "bob", "post": pid, "body": "late"})
    members = await call(ctx, "GET", "/communities/members", community=cid)
    assert {(m["user"]["id"].split("@")[0], m["role"]) for m in members["items"]} == {
        ("alice", "owner"), ("bob", "moderator")}
    await call(ctx, "POST", "/reports", {"as": "carol", "target": pid, "reason": "spam"})
    reports = await call(ctx, "GET", "/reports", community=cid)
    assert [(r["content_type"], r["reason"]) for r in reports["items"]] == [("post", "spam")]


async def test_labels_count_from_regional_or_central_origins_only(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "f").mkdir()
    regional = NodeLedger(tmp_path / "r", NODE_B, catalog(), create=True)
    flat = NodeLedger(tmp_path / "f", NODE_A, catalog(), create=True)
    try:
        r, f = LedgerContext(regional), LedgerContext(flat)
        target = "ab" * 32
        await call(r, "POST", "/labels", {"target": target, "label": "spam",
                                          "chain": chain_json(NODE_B, "regional")})
        await call(r, "POST", "/labels", {"target": target, "label": "nsfw", "exp_ms": 5,
                                          "chain": chain_json(NODE_B, "regional")})
        await call(f, "POST", "/labels", {"target": target, "label": "spam"})
        got = await call(r, "GET", "/labels", target=target)
        assert [(x["label"], x["tier"]) for x in got["labels"]] == [("spam", "regional")]
        assert (await call(f, "GET", "/labels", target=target))["labels"] == []
        await call(r, "POST", "/labels", {"target": target, "label": "spam", "neg": True,
                                          "chain": chain_json(NODE_B, "regional")})
        assert (await call(r, "GET", "/labels", target=target))["labels"] == []
        assert MASTER.node_id != NODE_B.node_id
    finally:
        regional.close()
        flat.close()


@pytest.mark.parametrize(("field", "method", "path", "body", "query"), [
    ("limit", "GET", "/feed", None, {"limit": "0"}),
    ("limit", "GET", "/feed", None, {"limit": "x"}),
    ("before", "GET", "/feed", None, {"before": "nope"}),
    ("community", "GET", "/feed", None, {"community": "zz"}),
    ("author", "GET", "/feed", None, {"author": "bob"}),
    ("following", "GET", "/feed", None, {"following": "true"}),
    ("as", "GET", "/feed", None, {"as": "nobody"}),
    ("as", "POST", "/posts", {"title": "t"}, {}),
    ("title", "POST", "/posts", {"as": "alice"}, {}),
    ("body", "POST", "/posts", [1], {}),
    ("post", "GET", "/thread", None, {}),
    ("value", "POST", "/votes", {"as": "alice", "target": "ab" * 32, "value": 2}, {}),
    ("post", "POST", "/comments", {"as": "alice", "post": "ab" * 32, "body": "b"}, {}),
    ("target", "POST", "/votes", {"as": "alice", "target": "ab" * 32, "value": 1}, {}),
    ("user", "POST", "/follows", {"as": "alice", "user": "x"}, {}),
    ("word", "POST", "/mutes", {"as": "alice", "word": ""}, {}),
    ("visibility", "POST", "/communities", {"as": "alice", "name": "n", "visibility": "x"}, {}),
    ("reason", "POST", "/reports", {"as": "alice", "target": f"ab@{'0' * 64}", "reason": "x"},
     {}),
    ("label", "POST", "/labels", {"target": "ab" * 32, "label": "NO"}, {}),
    ("direction", "GET", "/follows", None, {"user": f"ab@{'0' * 64}", "direction": "up"}),
    ("scope", "GET", "/users", None, {"scope": "mine"}),
])
async def test_bad_input_is_a_400_naming_the_field(
        ctx: LedgerContext, field: str, method: str, path: str, body: Any,
        query: dict[str, str]) -> None:
    await call(ctx, "POST", "/users", {"handle": "alice"})
    await bad(ctx, field, method, path, body, **query)


async def test_every_route_is_under_the_social_prefix() -> None:
    assert all(path.startswith("/api/v1/social/") for _, path in HANDLERS)
    assert len(HANDLERS) == len(api.ROUTES)
    assert NODE_A.node_id != NODE_B.node_id
