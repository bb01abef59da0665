"""The registry of safe job kinds: no arbitrary code ever runs (DESIGN §4).

A job is ``(kind, params)``; each kind validates its params before anything
runs and returns a result whose ``result_hash`` (BLAKE3 of the canonical
result) is what a receipt signs and what replicas compare.

- ``cpu.hash_chain``: ``rounds`` BLAKE3 iterations over ``seed``;
  deterministic, for tests and benchmarks.
- ``inference.chat``: a chat completion against the node's OpenAI-compatible
  backend, greedy (temperature 0, fixed seed). What replicas compare is the
  completion text after Unicode NFC and whitespace folding, together with the
  model id: two honest llama.cpp/vLLM runs of one model file at temperature 0
  give the same greedy tokens on the same build and hardware class; token
  counts and timings are not compared (they legitimately differ, and a
  backend without ``usage`` only estimates them).

``params_hash`` is what a receipt signs of the job's inputs, so replicas'
receipts can be shown to be of one job (``attestation.fraud``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import blake3

from hartnode.canonical import canonical_text
from hartnode.compute.openai_client import Backend

MAX_ROUNDS = 1_000_000
MAX_MESSAGES = 64
MAX_PROMPT_CHARS = 32_000
MAX_TOKENS = 4096


class JobError(ValueError):
    """A job may not run; reasons: ``unknown_kind``, ``bad_params``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class JobResult:
    output: dict[str, Any]  # what is compared between replicas
    tokens_in: int = 0
    tokens_out: int = 0
    estimated: bool = False

    @property
    def result_hash(self) -> str:
        return blake3.blake3(canonical_text(self.output).encode()).hexdigest()


Runner = Callable[[Mapping[str, Any], "JobContext"], Awaitable[JobResult]]


@dataclass(frozen=True)
class JobContext:
    backend: Backend | None = None


@dataclass(frozen=True)
class JobKind:
    name: str
    needs_gpu: bool
    validate: Callable[[Mapping[str, Any]], None]
    run: Runner
    uses_backend: bool = False  # calls the inference backend: metered when it is


def prompt_bytes(params: Mapping[str, Any]) -> int:
    """An upper bound of a chat job's prompt tokens, known before any call:
    its UTF-8 bytes plus a few per message for the chat template (a
    byte-level BPE token covers at least one byte). Metering reserves on it."""
    return sum(len(m["content"].encode()) + 8 for m in params.get("messages", ()))


def _check(ok: bool, detail: str) -> None:
    if not ok:
        raise JobError("bad_params", detail)


def _validate_hash_chain(p: Mapping[str, Any]) -> None:
    _check(set(p) == {"seed", "rounds"}, "expected exactly seed and rounds")
    _check(type(p["seed"]) is str and len(p["seed"]) <= 256, "seed: a string of ≤ 256 chars")
    _check(type(p["rounds"]) is int and 1 <= p["rounds"] <= MAX_ROUNDS,
           f"rounds: 1 to {MAX_ROUNDS}")


def hash_chain(seed: str, rounds: int) -> str:
    digest = seed.encode()
    for _ in range(rounds):
        digest = blake3.blake3(digest).digest()
    return digest.hex()


async def _run_hash_chain(p: Mapping[str, Any], ctx: JobContext) -> JobResult:
    return JobResult({"digest": hash_chain(p["seed"], p["rounds"])})


def _validate_chat(p: Mapping[str, Any]) -> None:
    _check(set(p) <= {"model", "messages", "max_tokens"} and "messages" in p,
           "expected model, messages, max_tokens")
    _check(type(p.get("model", "")) is str, "model: a string")
    msgs = p["messages"]
    _check(type(msgs) is list and 1 <= len(msgs) <= MAX_MESSAGES, "messages: 1 to 64")
    total = 0
    for m in msgs:
        _check(type(m) is dict and set(m) == {"role", "content"}, "message: role and content")
        _check(m["role"] in ("system", "user", "assistant"), "role: system|user|assistant")
        _check(type(m["content"]) is str, "content: a string")
        total += len(m["content"])
    _check(total <= MAX_PROMPT_CHARS, f"prompt over {MAX_PROMPT_CHARS} characters")
    _check(type(p.get("max_tokens", 256)) is int and 1 <= p.get("max_tokens", 256) <= MAX_TOKENS,
           f"max_tokens: 1 to {MAX_TOKENS}")


def normalise_text(text: str) -> str:
    """What replicas compare: NFC, runs of whitespace folded, ends stripped."""
    return " ".join(unicodedata.normalize("NFC", text).split())


async def _run_chat(p: Mapping[str, Any], ctx: JobContext) -> JobResult:
    if ctx.backend is None:
        raise JobError("bad_params", "this node has no inference backend")
    result = await ctx.backend.chat(p.get("model", ""), list(p["messages"]),
                                    max_tokens=p.get("max_tokens", 256), stream=True)
    return JobResult({"model": result.model, "text": normalise_text(result.text)},
                     result.tokens_in, result.tokens_out, result.estimated)


REGISTRY: dict[str, JobKind] = {
    "cpu.hash_chain": JobKind("cpu.hash_chain", False, _validate_hash_chain, _run_hash_chain),
    "inference.chat": JobKind("inference.chat", True, _validate_chat, _run_chat,
                              uses_backend=True),
}


def validate(kind: str, params: Mapping[str, Any]) -> JobKind:
    """The kind's entry, once ``params`` passed its checks. Raises JobError."""
    entry = REGISTRY.get(kind)
    if entry is None:
        raise JobError("unknown_kind", f"{kind!r}; known: {', '.join(sorted(REGISTRY))}")
    entry.validate(params)
    return entry


def params_hash(params: Mapping[str, Any]) -> str:
    """BLAKE3 of the canonical params: the job's identity in a receipt."""
    return blake3.blake3(canonical_text(dict(params)).encode()).hexdigest()


async def run(kind: str, params: Mapping[str, Any], ctx: JobContext) -> JobResult:
    return await validate(kind, params).run(params, ctx)
