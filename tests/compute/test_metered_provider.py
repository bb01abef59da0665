"""Metering on the provider's inference path: admission, reservation before the call, settlement.

A provider whose backend is metered (``compute.metered``, a price per 1k
tokens) runs another node's chat job only when ``allow_metered_for_hive``;
it reserves ``max_tokens`` × price (and the prompt's bound) against
``metered_daily_limit_usd`` before the backend hears a byte, and settles to
the backend's usage after. The fake backend counts every request it got.
"""

from __future__ import annotations

from pathlib import Path

import trio
from gossip.test_service import Node, until

from hartnode.compute import jobs, metering, wallet
from hartnode.compute.service import ComputeService
from hartnode.ledger import store
from hartnode.testing.memory_transport import MemoryNetwork

from .fake_backend import fake_backend
from .helpers import CENTRAL, chain_for, open_node
from .test_replication_service import CHAT, _service

PRICE = metering.Price(2_000_000, 2_000_000)  # 2 USD per million tokens: 0.002 per 1k


async def _pair(nursery: trio.Nursery, tmp_path: Path, url: str,
                db: dict[str, str]) -> tuple[ComputeService, ComputeService, str]:
    net = MemoryNetwork()
    a, b = Node("a", net=net), Node("b", net=net)
    requester = _service(a, tmp_path / "a")
    provider = _service(b, tmp_path / "b", backend=url, db=db, metered_price=PRICE)
    central, _ = open_node(tmp_path / "central", CENTRAL)
    with central:
        wallet.grant(central, a.id, 10_000, chain_for(CENTRAL))
        requester.nl.ingest([e.wire() for e in central.ledger.tail(5)])
    for node in (a, b):
        await node.start(nursery)
    for svc in (requester, provider):
        await nursery.start(svc.run)
    await b.svc.connect(a.url, expected=a.id)
    await until("a linked to b", lambda: b.id in a.links(), [a, b])
    return requester, provider, b.id


async def test_a_metered_backend_serves_the_hive_only_when_allowed(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    with fake_backend() as fake:
        requester, provider, b = await _pair(nursery, tmp_path, fake.url,
                                             {"metered_daily_limit_usd": "5"})
        out = await requester.request(b, "inference.chat", CHAT, amount_msp=500,
                                      central=CENTRAL.node_id, timeout_s=20)
        assert (out.admitted, out.reason) == (False, "metered_not_for_hive")
        # A CPU job never touches the backend: not metered, admitted.
        cpu = await requester.request(b, "cpu.hash_chain", {"seed": "s", "rounds": 1},
                                      amount_msp=500, central=CENTRAL.node_id, timeout_s=20)
        assert cpu.reason == "done"
        assert fake.requests == []
        assert store.scalar(provider.nl.views.state,
                            "SELECT count(*) FROM metered_api_usage") == 0
        requester.nl.close()
        provider.nl.close()


async def test_a_call_past_the_daily_limit_is_refused_before_any_byte_leaves(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    # max_tokens 16 (+1 margin) and the prompt's bound (14 bytes + 8) = 39 tokens
    # at 2 USD per million: 78 micro-USD reserved per call; the limit holds one.
    with fake_backend() as fake:
        requester, provider, b = await _pair(nursery, tmp_path, fake.url, {
            "allow_metered_for_hive": "true", "metered_daily_limit_usd": "0.0001"})
        first = await requester.request(b, "inference.chat", CHAT, amount_msp=500,
                                        central=CENTRAL.node_id, timeout_s=20)
        assert first.reason == "done"
        assert [kind for kind, _ in fake.requests] == ["chat"]
        rows = store.query(provider.nl.views.state,
                           "SELECT task_source, reserved_uusd, tokens_in, tokens_out,"
                           " actual_usd_cost, settlement_status FROM metered_api_usage")
        # Settled to the backend's usage: 7 prompt + 5 completion tokens → 24 micro-USD.
        assert rows == [("hive", 78, 7, 5, 24, "settled")]
        # 24 spent + 78 reserved > 100: refused, and the backend heard nothing more.
        second = await requester.request(b, "inference.chat", CHAT, amount_msp=500,
                                         central=CENTRAL.node_id, timeout_s=20)
        assert (second.admitted, second.reason) == (True, "daily_limit")
        assert [kind for kind, _ in fake.requests] == ["chat"]
        assert provider.stats["refused_daily_limit"] == 1
        assert store.scalar(provider.nl.views.state,
                            "SELECT count(*) FROM metered_api_usage") == 1
        assert jobs.prompt_bytes(CHAT) == 22
        requester.nl.close()
        provider.nl.close()
