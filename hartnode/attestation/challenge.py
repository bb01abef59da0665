"""Integrity challenges: the sans-I/O core (DESIGN §4, §8 "Challenges follow Storj's audits").

A challenger sends a **signed** ``Challenge`` {v, id, challenger, target,
manifest (the release's Merkle root), nonce (32 random bytes), issued_ms,
timeout_ms}. Both sides derive the same byte ranges of the release's files
from the nonce (``derive_ranges``: a file chosen uniformly, then an offset in
it, so a small modified source file is as likely to be read as a large data
file). The target answers with a **signed** ``ChallengeAnswer`` {v, challenge
(BLAKE3 of the challenge's bytes), target, digest}, where

    digest = BLAKE3(nonce ‖ target id ‖ bytes of range 1 ‖ … ‖ range k)

Binding the target id means an altered node cannot forward the challenge to
an honest one and relay its answer; binding the challenge hash means an
answer counts for one challenge only; the signatures make a wrong answer
**evidence** anyone holding the release can re-verify (``verify_evidence``).
The seed's challenges were unsigned and replayable; here a bad signature is
always a rejection (never logged and accepted, Keylime's CVE), a replayed
nonce or answer is rejected, and a challenge names its target.

Outcomes (``Outcome``): ``pass``; ``fail`` — a signed wrong answer, the only
one that is evidence; ``offline`` — no valid answer before the deadline of the
first ask nor of up to ``max_reasks`` re-asks of the same challenge (Storj's
containment: a node cannot dodge a challenge by going quiet, so it stays
pending and no new one is sent to that target meanwhile); ``unknown`` — our
own error (we cannot read our own release bytes, or we restarted with the
challenge in flight), which must never count against the target.

An answer is in time when it arrives strictly before ``sent + timeout``.
The cores take ``now`` (seconds, monotonic) and, for signed timestamps,
``now_ms``; randomness (nonces, neighbour choice) comes from the caller.
Timers follow aioquic: ``get_timer()`` and ``handle_timer(now)``.
"""

from __future__ import annotations

import enum
import json
import math
import random
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import blake3

from hartnode.attestation.manifest import Manifest
from hartnode.canonical import MAX_SAFE_INTEGER, canonical_bytes
from hartnode.identity import NodeIdentity, is_node_id, verify_signature

CHALLENGE_LABEL = b"hartnode/integrity-challenge/1\x00"
ANSWER_LABEL = b"hartnode/integrity-answer/1\x00"
RANGES_LABEL = b"hartnode/challenge-ranges/1\x00"
NONCE_BYTES = 32
ID_BYTES = 16
MAX_BODY_BYTES = 1024  # a challenge or answer body; both are a few hundred bytes
_HEX = re.compile(r"[0-9a-f]+")


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class ChallengeError(Exception):
    """A challenge or answer from a peer is refused; ``reason`` names why.

    Reasons: ``too_large``, ``malformed``, ``not_canonical``, ``bad_field``,
    ``bad_signature``, ``wrong_sender``, ``wrong_target``, ``unknown_release``,
    ``replayed_nonce``, ``unknown_challenge`` (an answer to nothing we have in
    flight, including a replay of one already judged), ``late``,
    ``too_many`` (a challenger asks more than its share).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class LocalChallengeError(Exception):
    """We misused the core (``pending``, ``nonce_reused``, ``full``, ``bad_nonce``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ChallengeParams:
    """Tunables of challenges. Units in each comment; ``paced`` derives them from a pace."""

    ranges: int = 8  # byte ranges read per answer
    range_bytes: int = 4096  # bytes per range (the last bytes of a short file: fewer)
    timeout: float = 30.0  # seconds a target has to answer one ask
    # seconds from a missed deadline to each re-ask (their number is max_reasks)
    reask_delays: tuple[float, ...] = (60.0, 300.0, 900.0)
    round_interval: float = 600.0  # seconds between two challenge rounds of one node
    per_round: int = 1  # neighbours challenged per round
    max_pending: int = 32  # challenges in flight at once (a bound on our state)
    answer_memory: float = 7200.0  # seconds a target remembers a nonce it answered (replay)
    max_answers_per_challenger: int = 32  # distinct challenges answered per challenger per memory

    @property
    def max_reasks(self) -> int:
        return len(self.reask_delays)

    def __post_init__(self) -> None:
        for name in ("ranges", "range_bytes", "per_round", "max_pending",
                     "max_answers_per_challenger"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1")
        for name in ("timeout", "round_interval", "answer_memory"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds")
        if any(not d > 0 for d in self.reask_delays):
            raise ValueError("reask_delays must be > 0 seconds")
        containment = sum(self.reask_delays) + (1 + self.max_reasks) * self.timeout
        if self.answer_memory < containment:
            raise ValueError("answer_memory must outlast containment (re-asks are answered "
                             "from memory)")


REASK_FRACTIONS = (0.1, 0.5, 1.5)  # of the round interval: 60, 300, 900 s on ``full``


def paced(round_interval: float, timeout: float, per_round: int = 1) -> ChallengeParams:
    """Params for a challenge pace: re-asks at 0.1, 0.5 and 1.5 round intervals, and a
    per-challenger answer budget of twice what that pace sends in ``answer_memory``."""
    base = ChallengeParams()
    return ChallengeParams(
        round_interval=round_interval, timeout=timeout, per_round=per_round,
        reask_delays=tuple(f * round_interval for f in REASK_FRACTIONS),
        max_answers_per_challenger=max(base.max_answers_per_challenger,
                                       math.ceil(2 * base.answer_memory / round_interval)))





class RangeReader(Protocol):
    """The bytes of one release: ``manifest`` and ``read(file index, offset, length)``."""

    @property
    def manifest(self) -> Manifest: ...

    def read(self, index: int, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ByteRange:
    index: int  # file index in the manifest
    offset: int
    length: int


def derive_ranges(nonce: bytes, manifest: Manifest, count: int, length: int) -> list[ByteRange]:
    """The ``count`` ranges a nonce selects: a file uniformly, then an offset in it."""
    stream = blake3.blake3(RANGES_LABEL + nonce).digest(length=16 * count)
    out = []
    for i in range(count):
        a = int.from_bytes(stream[16 * i:16 * i + 8], "big")
        b = int.from_bytes(stream[16 * i + 8:16 * i + 16], "big")
        index = a % len(manifest.files)
        size = manifest.files[index].size
        n = min(length, size)
        out.append(ByteRange(index, b % (size - n + 1), n))
    return out


def answer_digest(nonce: bytes, target: str, reader: RangeReader, count: int,
                  length: int) -> bytes:
    """BLAKE3(nonce ‖ target id ‖ range bytes…) over ``reader``'s bytes.

    Raises:
        OSError: the reader cannot read a file (an error of whoever reads).
    """
    h = blake3.blake3(nonce)
    h.update(bytes.fromhex(target))
    for r in derive_ranges(nonce, reader.manifest, count, length):
        h.update(reader.read(r.index, r.offset, r.length))
    return h.digest()


# --- signed messages ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """Wire form: canonical JSON body and the challenger's signature."""

    body: bytes
    sig: bytes


@dataclass(frozen=True, slots=True)
class ChallengeAnswer:
    """Wire form: canonical JSON body and the target's signature."""

    body: bytes
    sig: bytes


@dataclass(frozen=True, slots=True)
class ChallengeInfo:
    id: str
    challenger: str
    target: str
    manifest: str
    nonce: bytes
    issued_ms: int
    timeout_ms: int
    hash: bytes  # BLAKE3 of the body: what an answer names


@dataclass(frozen=True, slots=True)
class AnswerInfo:
    challenge: bytes
    target: str
    digest: bytes


def _hex_field(obj: dict[str, Any], name: str, nbytes: int) -> bytes:
    value = obj[name]
    if not isinstance(value, str) or len(value) != 2 * nbytes or not _HEX.fullmatch(value):
        raise ChallengeError("bad_field", name)
    return bytes.fromhex(value)


def _load(body: bytes, keys: set[str]) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise ChallengeError("too_large", f"{len(body)} bytes")
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ChallengeError("malformed", str(e)[:80]) from e
    if type(obj) is not dict or obj.keys() != keys:
        raise ChallengeError("malformed", "expected exactly " + ", ".join(sorted(keys)))
    if obj["v"] != 1:
        raise ChallengeError("bad_field", "v")
    if canonical_bytes(obj) != body:
        raise ChallengeError("not_canonical")
    return obj


_CHALLENGE_KEYS = {"v", "id", "challenger", "target", "manifest", "nonce", "issued_ms",
                   "timeout_ms"}


def decode_challenge(msg: Challenge) -> ChallengeInfo:
    """Check a challenge's fields and its challenger's signature.

    Raises:
        ChallengeError: ``too_large``, ``malformed``, ``not_canonical``,
            ``bad_field``, ``bad_signature``.
    """
    obj = _load(msg.body, _CHALLENGE_KEYS)
    _hex_field(obj, "id", ID_BYTES)
    for name in ("challenger", "target"):
        if not is_node_id(obj[name]):
            raise ChallengeError("bad_field", name)
    _hex_field(obj, "manifest", 32)
    nonce = _hex_field(obj, "nonce", NONCE_BYTES)
    for name in ("issued_ms", "timeout_ms"):
        if type(obj[name]) is not int or not 0 <= obj[name] <= MAX_SAFE_INTEGER:
            raise ChallengeError("bad_field", name)
    if not verify_signature(bytes.fromhex(obj["challenger"]), CHALLENGE_LABEL + msg.body, msg.sig):
        raise ChallengeError("bad_signature", "challenge")
    return ChallengeInfo(obj["id"], obj["challenger"], obj["target"], obj["manifest"], nonce,
                         obj["issued_ms"], obj["timeout_ms"], blake3.blake3(msg.body).digest())


def decode_answer(msg: ChallengeAnswer) -> AnswerInfo:
    """Check an answer's fields and its target's signature.

    Raises:
        ChallengeError: as ``decode_challenge``.
    """
    obj = _load(msg.body, {"v", "challenge", "target", "digest"})
    challenge = _hex_field(obj, "challenge", 32)
    digest = _hex_field(obj, "digest", 32)
    if not is_node_id(obj["target"]):
        raise ChallengeError("bad_field", "target")
    if not verify_signature(bytes.fromhex(obj["target"]), ANSWER_LABEL + msg.body, msg.sig):
        raise ChallengeError("bad_signature", "answer")
    return AnswerInfo(challenge, obj["target"], digest)


def sign_challenge(identity: NodeIdentity, *, challenge_id: str, target: str, manifest: str,
                   nonce: bytes, issued_ms: int, timeout_ms: int) -> Challenge:
    body = canonical_bytes({
        "v": 1, "id": challenge_id, "challenger": identity.node_id, "target": target,
        "manifest": manifest, "nonce": nonce.hex(), "issued_ms": issued_ms,
        "timeout_ms": timeout_ms})
    return Challenge(body, identity.sign(CHALLENGE_LABEL + body))


def sign_answer(identity: NodeIdentity, challenge_hash: bytes, digest: bytes) -> ChallengeAnswer:
    body = canonical_bytes({"v": 1, "challenge": challenge_hash.hex(),
                            "target": identity.node_id, "digest": digest.hex()})
    return ChallengeAnswer(body, identity.sign(ANSWER_LABEL + body))


# --- evidence ----------------------------------------------------------------


class EvidenceError(Exception):
    """Evidence of a wrong answer does not hold; ``reason`` names why.

    ``bad_signature``/``malformed``/``mismatch``: the evidence is forged or
    broken (its sender is penalised); ``answer_correct``: the answer was right;
    ``unknown_release``: we cannot judge it (no penalty).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def verify_evidence(challenge: Challenge, answer: ChallengeAnswer,
                    releases: dict[str, RangeReader], params: ChallengeParams
                    ) -> tuple[ChallengeInfo, AnswerInfo]:
    """Re-verify that ``answer`` is the target's signed wrong answer to ``challenge``.

    Raises:
        EvidenceError: see its reasons.
    """
    try:
        info = decode_challenge(challenge)
        ans = decode_answer(answer)
    except ChallengeError as e:
        reason = "bad_signature" if e.reason == "bad_signature" else "malformed"
        raise EvidenceError(reason, str(e)) from e
    if ans.challenge != info.hash or ans.target != info.target:
        raise EvidenceError("mismatch", "the answer is not to this challenge from its target")
    reader = releases.get(info.manifest)
    if reader is None:
        raise EvidenceError("unknown_release", info.manifest)
    expected = answer_digest(info.nonce, info.target, reader, params.ranges, params.range_bytes)
    if expected == ans.digest:
        raise EvidenceError("answer_correct")
    return info, ans


# --- target side -------------------------------------------------------------


@dataclass
class _Answered:
    challenger: str
    challenge_hash: bytes
    answer: ChallengeAnswer
    expires: float


class ChallengeResponder:
    """The target side: answers challenges from its own installed bytes.

    Remembers each answered nonce for ``answer_memory`` seconds: a re-ask of
    the same challenge gets the same signed answer, any other challenge with
    that nonce is a replay and refused. Each challenger gets at most
    ``max_answers_per_challenger`` distinct challenges per memory window, so
    a peer cannot make us read disk without bound.
    """

    def __init__(self, identity: NodeIdentity, params: ChallengeParams) -> None:
        self.identity = identity
        self.params = params
        self._answered: OrderedDict[bytes, _Answered] = OrderedDict()
        self._per_challenger: dict[str, int] = {}

    def _expire(self, now: float) -> None:
        while self._answered:
            nonce, entry = next(iter(self._answered.items()))
            if entry.expires > now:
                break
            del self._answered[nonce]
            left = self._per_challenger[entry.challenger] - 1
            if left:
                self._per_challenger[entry.challenger] = left
            else:
                del self._per_challenger[entry.challenger]

    def answer(self, msg: Challenge, *, sender: str, releases: dict[str, RangeReader],
               now: float) -> ChallengeAnswer:
        """Our signed answer to ``msg``, received over an authenticated link from ``sender``.

        Raises:
            ChallengeError: the challenge is refused (the reasons of
                ``decode_challenge`` plus ``wrong_sender``, ``wrong_target``,
                ``replayed_nonce``, ``too_many``, ``unknown_release``).
            OSError: our own install cannot be read (our error; answer nothing).
        """
        self._expire(now)
        info = decode_challenge(msg)
        if info.challenger != sender:
            raise ChallengeError("wrong_sender", "a challenge is sent by its own challenger")
        if info.target != self.identity.node_id:
            raise ChallengeError("wrong_target")
        held = self._answered.get(info.nonce)
        if held is not None:
            if held.challenge_hash == info.hash:
                return held.answer  # a re-ask (containment): the same answer again
            raise ChallengeError("replayed_nonce")
        if self._per_challenger.get(sender, 0) >= self.params.max_answers_per_challenger:
            raise ChallengeError("too_many", sender[:12])
        reader = releases.get(info.manifest)
        if reader is None:
            raise ChallengeError("unknown_release", info.manifest[:16])
        digest = answer_digest(info.nonce, info.target, reader, self.params.ranges,
                               self.params.range_bytes)
        answer = sign_answer(self.identity, info.hash, digest)
        self._answered[info.nonce] = _Answered(sender, info.hash, answer,
                                               now + self.params.answer_memory)
        self._per_challenger[sender] = self._per_challenger.get(sender, 0) + 1
        return answer


# --- challenger side ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judged challenge. ``answer`` is set for pass and for a fail that is evidence."""

    challenge_id: str
    target: str
    outcome: Outcome
    reason: str
    challenge: Challenge | None = None
    answer: ChallengeAnswer | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    """Send ``challenge`` to ``target`` now (the first ask or a re-ask)."""

    target: str
    challenge: Challenge
    attempt: int  # 0 = first ask


@dataclass
class _Pending:
    info: ChallengeInfo
    challenge: Challenge
    expected: bytes
    attempt: int
    deadline: float | None  # None: waiting for a re-ask
    next_ask: float | None


@dataclass
class ChallengeIssuer:
    """The challenger side: issues challenges, judges answers, re-asks, times out."""

    identity: NodeIdentity
    params: ChallengeParams
    _pending: dict[str, _Pending] = field(default_factory=dict)  # by challenge id
    _by_target: dict[str, str] = field(default_factory=dict)  # target -> challenge id
    _used_nonces: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    _next_round: float | None = None

    def pending_targets(self) -> frozenset[str]:
        return frozenset(self._by_target)

    def pending(self) -> list[tuple[str, str]]:
        """(challenge id, target) of every challenge in flight (persisted by the shell)."""
        return [(cid, p.info.target) for cid, p in self._pending.items()]

    def issue(self, target: str, reader: RangeReader, *, nonce: bytes, challenge_id: bytes,
              now: float, now_ms: int) -> Ask:
        """Start a challenge of ``target`` over ``reader``'s release; the caller sends the Ask.

        ``nonce`` (32 bytes) and ``challenge_id`` (16 bytes) come from the
        shell's CSPRNG. Raises LocalChallengeError (``pending``: the target is
        in containment; ``full``; ``nonce_reused``; ``bad_nonce``) and
        OSError when our own release bytes cannot be read (an ``unknown``).
        """
        if len(nonce) != NONCE_BYTES or len(challenge_id) != ID_BYTES:
            raise LocalChallengeError("bad_nonce")
        if target in self._by_target:
            raise LocalChallengeError("pending", target[:12])
        if len(self._pending) >= self.params.max_pending:
            raise LocalChallengeError("full")
        if nonce in self._used_nonces:
            raise LocalChallengeError("nonce_reused")
        expected = answer_digest(nonce, target, reader, self.params.ranges,
                                 self.params.range_bytes)
        msg = sign_challenge(self.identity, challenge_id=challenge_id.hex(), target=target,
                             manifest=reader.manifest.root_hex, nonce=nonce, issued_ms=now_ms,
                             timeout_ms=round(self.params.timeout * 1000))
        info = decode_challenge(msg)
        self._used_nonces[nonce] = None
        while len(self._used_nonces) > 4 * self.params.max_pending:
            self._used_nonces.popitem(last=False)  # judged long ago: answers to them are refused
        self._pending[info.id] = _Pending(info, msg, expected, 0, now + self.params.timeout, None)
        self._by_target[target] = info.id
        return Ask(target, msg, 0)

    def receive(self, msg: ChallengeAnswer, *, sender: str, now: float) -> Verdict:
        """Judge an answer from ``sender`` (the authenticated link's peer).

        Returns the pass or fail verdict. A fail with ``answer`` set (a
        signed wrong digest) is evidence; a badly signed answer on the
        target's own link is a fail without evidence.

        Raises:
            ChallengeError: ``unknown_challenge`` (none in flight to that
                target, or a replay of one judged), ``wrong_sender``,
                ``late`` and the decode reasons. A refused answer leaves the
                challenge pending: it ends on a valid answer or as offline.
        """
        challenge_id = self._by_target.get(sender)
        if challenge_id is None:
            raise ChallengeError("unknown_challenge", "no challenge of this peer is in flight")
        pending = self._pending[challenge_id]
        if pending.deadline is None or now >= pending.deadline:
            raise ChallengeError("late")
        try:
            info = decode_answer(msg)
        except ChallengeError as e:
            if e.reason != "bad_signature":
                raise
            # The link proves the sender; a badly signed answer is its fault, and
            # a fail (never a pass, never a log line) - but no evidence: anyone
            # can make a bad signature, so no alert can be raised on it.
            self._finish(challenge_id)
            return Verdict(challenge_id, sender, Outcome.FAIL, "bad_signature",
                           pending.challenge)
        if info.target != sender:
            raise ChallengeError("wrong_sender")
        if info.challenge != pending.info.hash:
            raise ChallengeError("unknown_challenge", "the answer names another challenge")
        self._finish(challenge_id)
        if info.digest == pending.expected:
            return Verdict(challenge_id, sender, Outcome.PASS, "answer_correct",
                           pending.challenge, msg)
        return Verdict(challenge_id, sender, Outcome.FAIL, "wrong_digest", pending.challenge, msg)

    def _finish(self, challenge_id: str) -> _Pending:
        pending = self._pending.pop(challenge_id)
        del self._by_target[pending.info.target]
        return pending

    def abandon(self, target: str, reason: str) -> Verdict | None:
        """Judge the target's pending challenge ``unknown`` (our error, e.g. shutting down)."""
        challenge_id = self._by_target.get(target)
        if challenge_id is None:
            return None
        pending = self._finish(challenge_id)
        return Verdict(challenge_id, target, Outcome.UNKNOWN, reason, pending.challenge)

    def get_timer(self) -> float | None:
        times = [t for p in self._pending.values() for t in (p.deadline, p.next_ask)
                 if t is not None]
        if self._next_round is not None:
            times.append(self._next_round)
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[Ask | Verdict]:
        """Deadlines passed become re-asks, or ``offline`` once the re-asks are spent."""
        out: list[Ask | Verdict] = []
        for challenge_id, p in list(self._pending.items()):
            if p.deadline is not None and now >= p.deadline:
                p.deadline = None
                if p.attempt >= self.params.max_reasks:
                    self._finish(challenge_id)
                    out.append(Verdict(challenge_id, p.info.target, Outcome.OFFLINE,
                                       f"no answer to {p.attempt + 1} asks", p.challenge))
                    continue
                p.next_ask = now + self.params.reask_delays[p.attempt]
            if p.next_ask is not None and now >= p.next_ask:
                p.attempt += 1
                p.next_ask = None
                p.deadline = now + self.params.timeout
                out.append(Ask(p.info.target, p.challenge, p.attempt))
        return out

    # --- scheduling ---

    def start_rounds(self, now: float, rng: random.Random) -> None:
        """Begin the periodic rounds; the first comes after a random part of one interval."""
        self._next_round = now + rng.uniform(0, self.params.round_interval)

    def round_due(self, now: float) -> bool:
        return self._next_round is not None and now >= self._next_round

    def pick_targets(self, neighbours: Iterable[str], now: float, rng: random.Random
                     ) -> list[str]:
        """This round's targets: ``per_round`` random neighbours not in containment.

        Call when ``round_due``; schedules the next round (jittered ±10 %).
        """
        interval = self.params.round_interval
        self._next_round = now + interval * rng.uniform(0.9, 1.1)
        free = sorted(n for n in neighbours if n not in self._by_target)
        return rng.sample(free, min(self.params.per_round, len(free)))


def restart_verdicts(pending: Sequence[tuple[str, str]]) -> list[Verdict]:
    """Challenges found in flight at start: ``unknown`` (our restart lost them), never fail."""
    return [Verdict(cid, target, Outcome.UNKNOWN, "restarted") for cid, target in pending]


def next_deadline(*timers: float | None) -> float | None:
    """The earliest of several cores' timers (None where none is set)."""
    return min((t for t in timers if t is not None), default=None)


__all__ = [
    "Ask", "Challenge", "ChallengeAnswer", "ChallengeError", "ChallengeInfo", "ChallengeIssuer",
    "ChallengeParams", "ChallengeResponder", "EvidenceError", "LocalChallengeError", "Outcome",
    "Verdict", "answer_digest", "decode_answer", "decode_challenge", "derive_ranges",
    "paced", "restart_verdicts", "verify_evidence",
]
