"""A fake OpenAI-compatible backend on 127.0.0.1 (aiohttp, in its own thread and loop).

It answers ``/v1/models``, ``/v1/chat/completions`` (plain and streamed) and
``/tokenize`` deterministically, and records every request it got, so a
test can prove that a refused call sent nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeBackend:
    url: str = ""
    requests: list[tuple[str, Any]] = field(default_factory=list)
    with_usage: bool = True
    reply: str = "hello  from\nthe fake"


def _answer(messages: list[dict[str, str]], reply: str) -> str:
    return f"{reply} ({len(messages)})"


@contextmanager
def fake_backend(**kw: Any) -> Iterator[FakeBackend]:
    state = FakeBackend(**kw)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: list[web.AppRunner] = []

    async def models(request: web.Request) -> web.Response:
        state.requests.append(("models", None))
        return web.json_response({"object": "list", "data": [{"id": "tiny"}]})

    async def tokenize(request: web.Request) -> web.Response:
        body = await request.json()
        state.requests.append(("tokenize", body))
        return web.json_response({"tokens": list(range(len(body["content"].split())))})

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.requests.append(("chat", body))
        text = _answer(body["messages"], state.reply)
        usage = {"prompt_tokens": 7, "completion_tokens": len(text.split()),
                 "total_tokens": 7 + len(text.split())}
        if not body.get("stream"):
            out: dict[str, Any] = {"model": "tiny", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text},
                 "finish_reason": "stop"}]}
            if state.with_usage:
                out["usage"] = usage
            return web.json_response(out)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for word in text.split(" "):
            chunk = {"model": "tiny", "choices": [{"index": 0, "delta": {"content": word + " "},
                                                   "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last: dict[str, Any] = {"model": "tiny", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]}
        if state.with_usage:
            last["usage"] = usage
        await resp.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        return resp

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/v1/models", models)
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/tokenize", tokenize)
        r = web.AppRunner(app)
        await r.setup()
        site = web.TCPSite(r, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state.url = f"http://127.0.0.1:{port}"
        runner.append(r)
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
