"""Job kinds against a fake OpenAI-compatible backend, and metering with real ledgers."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hartnode.compute import capabilities, jobs, metering
from hartnode.compute.jobs import JobContext, JobError
from hartnode.compute.metering import MeteringError, Price
from hartnode.compute.openai_client import Backend, BackendError
from hartnode.identity import NodeIdentity
from hartnode.ledger import store

from .fake_backend import fake_backend
from .helpers import open_node

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi there"}],
        "max_tokens": 16}


def test_cpu_kind_is_deterministic_and_bounded() -> None:
    a = asyncio.run(jobs.run("cpu.hash_chain", {"seed": "s", "rounds": 3}, JobContext()))
    b = asyncio.run(jobs.run("cpu.hash_chain", {"seed": "s", "rounds": 3}, JobContext()))
    assert a.result_hash == b.result_hash and len(a.output["digest"]) == 64
    with pytest.raises(JobError) as e:
        jobs.validate("cpu.hash_chain", {"seed": "s", "rounds": jobs.MAX_ROUNDS + 1})
    assert e.value.reason == "bad_params"
    with pytest.raises(JobError) as e:
        jobs.validate("shell.exec", {"cmd": "rm -rf /"})
    assert e.value.reason == "unknown_kind"


@pytest.mark.parametrize("with_usage", [True, False])
def test_chat_streams_and_takes_usage_or_counts_it_marked_estimated(with_usage: bool) -> None:
    with fake_backend(with_usage=with_usage) as fake:
        backend = Backend(fake.url)
        assert asyncio.run(backend.models()) == ["tiny"]
        result = asyncio.run(jobs.run("inference.chat", CHAT, JobContext(backend)))
        plain = asyncio.run(backend.chat("tiny", CHAT["messages"], max_tokens=16))  # type: ignore[arg-type]
    assert result.output == {"model": "tiny", "text": "hello from the fake (1)"}
    assert jobs.normalise_text(plain.text) == result.output["text"]
    assert result.estimated is (not with_usage)
    assert (result.tokens_in, result.tokens_out) == ((7, 5) if with_usage else (2, 5))
    chat_bodies = [b for what, b in fake.requests if what == "chat"]
    assert chat_bodies[0]["temperature"] == 0.0 and chat_bodies[0]["stream"] is True


def test_backend_errors_are_typed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nobody listens there
    with pytest.raises(BackendError) as e:
        asyncio.run(Backend(url, timeout_s=5).models())
    assert e.value.reason == "unreachable"
    with fake_backend() as fake, pytest.raises(BackendError) as e:
        asyncio.run(Backend(fake.url, max_bytes=10).models())
    assert e.value.reason == "too_large"


def test_a_metered_call_over_the_daily_limit_is_refused_before_any_byte(tmp_path: Path) -> None:
    me = NodeIdentity.from_seed(b"\x11" * 32)
    nl, _ = open_node(tmp_path / "n", me)
    price = Price(in_uusd_per_mtok=1_000_000, out_uusd_per_mtok=2_000_000)  # $1 / $2 per Mtok
    now = 1_700_000_000_000
    with nl, fake_backend() as fake:
        backend = Backend(fake.url)

        def call(max_tokens: int) -> None:
            call_id = metering.reserve(nl, limit_uusd=10_000, price=price, prompt_tokens=1000,
                                       max_tokens=max_tokens, backend=fake.url, model="tiny",
                                       task_source="hive", now_ms=now)
            result = asyncio.run(backend.chat("tiny", CHAT["messages"], max_tokens=max_tokens))  # type: ignore[arg-type]
            metering.settle(nl, call_id, price=price, tokens_in=result.tokens_in,
                            tokens_out=result.tokens_out, estimated=result.estimated, ok=True)

        call(2000)  # reserves 1000×1 + 2001×2 = 5002 µUSD, settles to 7×1 + 5×2 = 17
        assert metering.spent_today(nl, me.node_id, metering.utc_day(now)) == 17
        sent = len(fake.requests)
        with pytest.raises(MeteringError) as e:
            call(5000)  # would reserve 11,002 µUSD: past the 10,000 limit
        assert e.value.reason == "daily_limit"
        assert len(fake.requests) == sent  # nothing left this node
        rows = store.query(nl.views.state, "SELECT reserved_uusd, actual_usd_cost,"
                                           " settlement_status FROM metered_api_usage")
        assert rows == [(5002, 17, "settled")]
        # A reservation never settled (a crash mid-call) keeps counting in full.
        metering.reserve(nl, limit_uusd=10_000, price=price, prompt_tokens=0, max_tokens=3999,
                         backend=fake.url, model="tiny", task_source="hive", now_ms=now)
        with pytest.raises(MeteringError):
            metering.reserve(nl, limit_uusd=10_000, price=price, prompt_tokens=0,
                             max_tokens=1000, backend=fake.url, model="tiny",
                             task_source="hive", now_ms=now)


def test_find_providers_ranks_by_score_then_price() -> None:
    parse = capabilities.parse_capabilities
    a = parse("a", ["compute.kind:inference.chat", "compute.model:tiny",
                    "compute.price_msp:30"], 0.9)
    b = parse("b", ["compute.kind:inference.chat", "compute.model:tiny",
                    "compute.price_msp:10"], 0.9)
    c = parse("c", ["compute.kind:inference.chat", "compute.model:big"], 1.0)
    d = parse("d", ["compute.kind:cpu.hash_chain", "compute.price_msp:5"], 1.0)
    assert parse("e", ["compute.cpu"], 1.0) is None
    assert a and b and c and d
    found = capabilities.find_providers([a, b, c, d], model="tiny", limit=5)
    assert [p.node_id for p in found] == ["b", "a"]
    # By kind and by the price the requester pays.
    assert [p.node_id for p in capabilities.find_providers(
        [a, b, c, d], model="", kind="inference.chat", max_price_msp=20, limit=5)] == ["c", "b"]
    assert [p.node_id for p in capabilities.find_providers(
        [a, b, c, d], model="", kind="cpu.hash_chain", limit=5)] == ["d"]
