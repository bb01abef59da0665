"""A client of OpenAI-compatible HTTP backends (llama.cpp server, Ollama, vLLM).

aiohttp's *client* runs on the asyncio loop the caller gives it (the daemon
reaches it through the web bridge's loop; tests call ``asyncio.run``). Only
``/v1/models`` and ``/v1/chat/completions`` (plain and ``stream: true``
server-sent events) are used, plus the llama.cpp ``/tokenize`` endpoint to
count tokens when a backend returns no ``usage`` (the usage is then marked
estimated; llama-cpp-python's server, for one, sends none in a stream).

Every response is bounded: ``max_bytes`` for a whole body or stream and a
total timeout, since a backend is as untrusted as a peer (DESIGN §8). Any
failure is one ``BackendError`` with a named reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_RESPONSE_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT_S = 120.0


class BackendError(Exception):
    """Reasons: ``unreachable``, ``http_status``, ``malformed``, ``too_large``, ``timeout``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    finish_reason: str
    tokens_in: int
    tokens_out: int
    estimated: bool  # token counts did not come from the backend's usage field


class Backend:
    def __init__(self, base_url: str, *, api_key: str = "", timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_bytes = max_bytes

    async def _json(self, session: aiohttp.ClientSession, method: str, path: str,
                    body: dict[str, Any] | None = None) -> Any:
        try:
            async with session.request(method, self.base_url + path, json=body,
                                       headers=self.headers) as resp:
                data = await resp.content.read(self.max_bytes + 1)
                if len(data) > self.max_bytes:
                    raise BackendError("too_large", f"{path} answered over {self.max_bytes} B")
                if resp.status != 200:
                    raise BackendError("http_status", f"{path}: {resp.status} {data[:200]!r}")
        except TimeoutError as e:
            raise BackendError("timeout", path) from e
        except aiohttp.ClientError as e:
            raise BackendError("unreachable", f"{path}: {e}") from e
        try:
            return json.loads(data)
        except ValueError as e:
            raise BackendError("malformed", f"{path}: not JSON") from e

    async def models(self) -> list[str]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            body = await self._json(session, "GET", "/v1/models")
        try:
            return [str(m["id"]) for m in body["data"]]
        except (KeyError, TypeError) as e:
            raise BackendError("malformed", "/v1/models: no data[].id") from e

    async def count_tokens(self, session: aiohttp.ClientSession, text: str) -> int:
        """Tokens of ``text`` by the backend's own tokenizer: llama.cpp's server
        answers ``/tokenize``, llama-cpp-python's ``/extras/tokenize``."""
        for path, body in (("/tokenize", {"content": text}), ("/extras/tokenize",
                                                              {"input": text})):
            try:
                answer = await self._json(session, "POST", path, body)
            except BackendError as e:
                if e.reason == "http_status" and path == "/tokenize":
                    continue  # not this kind of server: try the next
                raise
            try:
                return len(answer["tokens"])
            except (KeyError, TypeError) as e:
                raise BackendError("malformed", f"{path}: no tokens") from e
        raise BackendError("http_status", "no tokenizer endpoint")  # pragma: no cover

    async def chat(self, model: str, messages: list[dict[str, str]], *, max_tokens: int,
                   temperature: float = 0.0, seed: int = 0, stream: bool = False) -> ChatResult:
        """One chat completion; greedy (temperature 0, fixed seed) by default, so
        two honest providers on the same model agree (see ``replication``)."""
        request = {"model": model, "messages": messages, "max_tokens": max_tokens,
                   "temperature": temperature, "seed": seed, "stream": stream}
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            if stream:
                request["stream_options"] = {"include_usage": True}
                text, finish, usage, got_model = await self._stream(session, request)
            else:
                body = await self._json(session, "POST", "/v1/chat/completions", request)
                try:
                    choice = body["choices"][0]
                    text = str(choice["message"]["content"] or "")
                    finish = str(choice.get("finish_reason") or "")
                    got_model = str(body.get("model", model))
                except (KeyError, TypeError, IndexError) as e:
                    raise BackendError("malformed", "chat: no choices[0].message") from e
                usage = body.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int) \
                    and isinstance(usage.get("completion_tokens"), int):
                return ChatResult(text, got_model, finish, usage["prompt_tokens"],
                                  usage["completion_tokens"], False)
            prompt = "\n".join(m.get("content", "") for m in messages)
            return ChatResult(text, got_model, finish, await self.count_tokens(session, prompt),
                              await self.count_tokens(session, text), True)

    async def _stream(self, session: aiohttp.ClientSession,
                      request: dict[str, Any]) -> tuple[str, str, Any, str]:
        parts: list[str] = []
        finish, usage, model, seen = "", None, str(request["model"]), 0
        try:
            async with session.post(self.base_url + "/v1/chat/completions", json=request,
                                    headers=self.headers) as resp:
                if resp.status != 200:
                    raise BackendError("http_status", f"stream: {resp.status}")
                async for raw in resp.content:
                    seen += len(raw)
                    if seen > self.max_bytes:
                        raise BackendError("too_large", f"stream over {self.max_bytes} B")
                    line = raw.decode(errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as e:
                        raise BackendError("malformed", "stream: a chunk is not JSON") from e
                    model = str(chunk.get("model", model))
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        parts.append(str(delta.get("content") or ""))
                        finish = str(choice.get("finish_reason") or finish)
        except TimeoutError as e:
            raise BackendError("timeout", "stream") from e
        except aiohttp.ClientError as e:
            raise BackendError("unreachable", f"stream: {e}") from e
        return "".join(parts), finish, usage, model
