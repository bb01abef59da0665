"""End to end against a real OpenAI-compatible server: llama-cpp-python's, on a tiny model.

Opt-in (``-m llama``): llama-cpp-python is built from source (about 34 minutes
on this 2-core machine), so it is not in every CI run; the fake-backend tests
cover every path. The model is generated here (``hartnode.testing.tiny_gguf``)
and nothing is downloaded. Run it with:

    .venv/bin/pip install 'llama-cpp-python[server]' gguf
    .venv/bin/pytest -m llama tests/compute/test_llama_server.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LineReader, free_port

from hartnode.compute import jobs, metering
from hartnode.compute.jobs import JobContext
from hartnode.compute.metering import Price
from hartnode.compute.openai_client import Backend
from hartnode.identity import NodeIdentity

from .helpers import open_node

pytestmark = pytest.mark.llama
STARTUP_S = 120.0


@pytest.fixture
def llama_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("llama_cpp.server")
    from hartnode.testing import tiny_gguf

    model = tiny_gguf.write(tmp_path / "tiny.gguf")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias",
         "tiny", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512", "--seed", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    reader = LineReader(proc.stderr)
    seen: list[str] = []
    while not any("Uvicorn running on" in line for line in seen):
        seen += reader.read(1, STARTUP_S)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()


def test_real_server_streams_greedy_identical_results_with_usage(llama_server: str,
                                                                 tmp_path: Path) -> None:
    backend = Backend(llama_server)
    assert asyncio.run(backend.models()) == ["tiny"]
    params = {"model": "tiny", "max_tokens": 16,
              "messages": [{"role": "user", "content": "hello world, lend me a token"}]}
    first = asyncio.run(jobs.run("inference.chat", params, JobContext(backend)))
    second = asyncio.run(jobs.run("inference.chat", params, JobContext(backend)))
    assert first.output["text"] and first.output["model"] == "tiny"
    # Greedy decoding of one model file: a replica computes the same result hash.
    assert first.result_hash == second.result_hash
    plain = asyncio.run(backend.chat("tiny", params["messages"], max_tokens=16))  # type: ignore[arg-type]
    assert jobs.normalise_text(plain.text) == first.output["text"]
    assert not plain.estimated and plain.finish_reason == "length" and plain.tokens_in > 0
    # llama-cpp-python counts 17 completion tokens for max_tokens=16: metering's margin.
    assert 16 <= plain.tokens_out <= 17
    # Metered: reserved before the call, settled from the server's real usage.
    me = NodeIdentity.from_seed(b"\x44" * 32)
    nl, _ = open_node(tmp_path / "n", me)
    price = Price(1_000_000, 1_000_000)
    with nl:
        call = metering.reserve(nl, limit_uusd=1_000, price=price, prompt_tokens=plain.tokens_in,
                                max_tokens=16, backend=llama_server, model="tiny",
                                task_source="local", now_ms=1_700_000_000_000)
        metering.settle(nl, call, price=price, tokens_in=plain.tokens_in,
                        tokens_out=plain.tokens_out, estimated=False, ok=True)
        assert metering.spent_today(nl, me.node_id, "2023-11-14") == (plain.tokens_in
                                                                      + plain.tokens_out)
