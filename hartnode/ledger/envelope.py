"""The signed event envelope (DESIGN §1).

    {"v":1, "origin":<node id hex>, "seq":<n>, "prev":<hex BLAKE3 | null>,
     "ts_ms":<int>, "actor":..., "kind":..., "scope":..., "reach":...,
     "payload":{...}, "provenance":{...}}

``hash = BLAKE3(JCS(envelope))`` and ``sig = Ed25519(origin key, hash)``.

The envelope's own members are fixed, ASCII and known, so its canonical text
is assembled by string formatting around the already-canonical payload and
provenance texts instead of re-canonicalising the whole object. That is what
makes ``kb verify`` and ingest fast, and it is exactly RFC 8785: members in
sorted order, strings escaped by ``canonical.json_string``, integers as
decimal. ``tests/ledger/test_envelope.py`` checks it against ``rfc8785`` directly.

On the wire and in evidence an event travels as ``(envelope bytes, sig)``:
the receiver hashes the bytes it got, checks the signature, then parses and
checks that the bytes are canonical, so no event has two encodings.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import blake3

from hartnode.canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonical_text, json_string
from hartnode.identity import NodeIdentity, is_node_id, verify_signature
from hartnode.protocol import ReasonedError

ENVELOPE_VERSION = 1
REACHES = ("local", "hierarchy", "network")
MAX_ENVELOPE_BYTES = 64 * 1024  # a signed event larger than this is refused outright

# "<app>.<noun>.<verb>"; two-part generic kinds such as "note.created" are allowed.
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){1,2}")
_ID_PART = r"[A-Za-z0-9_.:@-]{1,128}"
_ACTOR_RE = re.compile(rf"node|user:{_ID_PART}|agent:{_ID_PART}")
_SCOPE_RE = re.compile(rf"user|system|agent:{_ID_PART}")
_HEX32_RE = re.compile(r"[0-9a-f]{64}")


class EnvelopeError(ReasonedError[str], ValueError):
    """An envelope is malformed or fails verification; ``reason`` names why.

    Reasons: ``malformed``, ``not_canonical``, ``bad_field``, ``bad_hash``,
    ``bad_signature``, ``too_large``.
    """


# The envelope's low-cardinality members (origin, actor, kind, scope, reach)
# repeat from event to event: their JSON forms are memoised (0.26 -> 0.10 µs
# each, five per event, on the append, ingest and verify paths). ``prev`` is
# unique per event and takes the plain path.
_member = functools.lru_cache(maxsize=4096)(json_string)


def envelope_text(
    *,
    origin: str,
    seq: int,
    prev: str | None,
    ts_ms: int,
    actor: str,
    kind: str,
    scope: str,
    reach: str,
    payload_json: str,
    provenance_json: str,
    v: int = ENVELOPE_VERSION,
) -> str:
    """Canonical (RFC 8785) text of an envelope whose payload and provenance
    are already canonical JSON texts. Members are in sorted order."""
    prev_json = "null" if prev is None else json_string(prev)
    return (
        f'{{"actor":{_member(actor)},"kind":{_member(kind)},'
        f'"origin":{_member(origin)},"payload":{payload_json},'
        f'"prev":{prev_json},"provenance":{provenance_json},'
        f'"reach":{_member(reach)},"scope":{_member(scope)},'
        f'"seq":{seq},"ts_ms":{ts_ms},"v":{v}}}'
    )


def hash_envelope(text: str) -> bytes:
    """BLAKE3 of the canonical envelope text: the event's 32-byte hash."""
    return blake3.blake3(text.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Event:
    """A signed event as stored and replicated. Payload texts are canonical."""

    origin: str
    seq: int
    prev: str | None
    ts_ms: int
    actor: str
    kind: str
    scope: str
    reach: str
    payload_json: str
    provenance_json: str
    hash: bytes
    sig: bytes
    v: int = ENVELOPE_VERSION

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)  # type: ignore[no-any-return]

    @property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self.provenance_json)  # type: ignore[no-any-return]

    def text(self) -> str:
        """The canonical envelope text this event's hash covers."""
        return envelope_text(
            origin=self.origin,
            seq=self.seq,
            prev=self.prev,
            ts_ms=self.ts_ms,
            actor=self.actor,
            kind=self.kind,
            scope=self.scope,
            reach=self.reach,
            payload_json=self.payload_json,
            provenance_json=self.provenance_json,
            v=self.v,
        )

    def wire(self) -> tuple[bytes, bytes]:
        """``(envelope bytes, signature)``: the form events travel and are kept as evidence in."""
        return self.text().encode("utf-8"), self.sig

    def as_json(self) -> dict[str, Any]:
        """The stable machine-readable form (``ledger tail --json``)."""
        return {
            "hash": self.hash_hex,
            "origin": self.origin,
            "seq": self.seq,
            "prev": self.prev,
            "ts_ms": self.ts_ms,
            "actor": self.actor,
            "kind": self.kind,
            "scope": self.scope,
            "reach": self.reach,
            "payload": self.payload,
            "provenance": self.provenance,
            "sig": self.sig.hex(),
        }


# Member values that already passed ``check_header``. A feed repeats a few
# origins and (actor, kind, scope, reach) tuples over and over, and their
# regexes and hex round trip were half of ``check_header``'s cost per event
# (bench_ledger). The checks are pure functions of the text, so a hit gives
# the same verdict; only exact ``str`` values are remembered, and each set is
# emptied when it reaches ``_CHECKED_MAX`` so hostile input cannot grow it.
_CHECKED_MAX = 4096
_checked_origins: set[str] = set()
_checked_members: set[tuple[str, str, str, str]] = set()


def _remember(seen: set[Any], value: Any) -> None:
    if len(seen) >= _CHECKED_MAX:
        seen.clear()
    seen.add(value)


def _bad(field: str, why: str) -> EnvelopeError:
    return EnvelopeError("bad_field", f"{field}: {why}")


def check_header(
    *, origin: Any, seq: Any, prev: Any, ts_ms: Any, actor: Any, kind: Any, scope: Any, reach: Any
) -> None:
    """Check the envelope's own members.

    Raises:
        EnvelopeError: reason ``bad_field``, naming the field.
    """
    if type(origin) is not str or origin not in _checked_origins:
        if not is_node_id(origin):
            raise _bad("origin", "expected 64 lowercase hex digits (an Ed25519 public key)")
        if type(origin) is str:
            _remember(_checked_origins, origin)
    if type(seq) is not int or not 1 <= seq <= MAX_SAFE_INTEGER:
        raise _bad("seq", "expected an integer from 1 to 2^53-1")
    if seq == 1:
        if prev is not None:
            raise _bad("prev", "must be null at seq 1")
    elif not isinstance(prev, str) or not _HEX32_RE.fullmatch(prev):
        raise _bad("prev", "expected the 64-hex-digit BLAKE3 of the previous event")
    if type(ts_ms) is not int or not 0 <= ts_ms <= MAX_SAFE_INTEGER:
        raise _bad("ts_ms", "expected a non-negative integer of milliseconds")
    exact = type(actor) is str and type(kind) is str and type(scope) is str and type(reach) is str
    if exact and (actor, kind, scope, reach) in _checked_members:
        return
    if not isinstance(actor, str) or not _ACTOR_RE.fullmatch(actor):
        raise _bad("actor", 'expected "node", "user:<id>" or "agent:<id>"')
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise _bad("kind", 'expected "<app>.<noun>.<verb>" in lowercase')
    if not isinstance(scope, str) or not _SCOPE_RE.fullmatch(scope):
        raise _bad("scope", 'expected "user", "system" or "agent:<id>"')
    if reach not in REACHES:
        raise _bad("reach", f"expected one of {', '.join(REACHES)}")
    if exact:
        _remember(_checked_members, (actor, kind, scope, reach))


def sign_event(
    identity: NodeIdentity,
    *,
    seq: int,
    prev: str | None,
    ts_ms: int,
    actor: str,
    kind: str,
    scope: str,
    reach: str,
    payload: dict[str, Any],
    provenance: dict[str, Any],
) -> Event:
    """Build, hash and sign a new event of ``identity``'s own feed.

    Raises:
        EnvelopeError: a member is malformed or the payload has no canonical form.
    """
    origin = identity.node_id
    check_header(
        origin=origin, seq=seq, prev=prev, ts_ms=ts_ms, actor=actor, kind=kind, scope=scope,
        reach=reach,
    )
    try:
        payload_json = canonical_text(payload)
        provenance_json = canonical_text(provenance)
    except CanonicalizationError as e:
        raise EnvelopeError("bad_field", f"payload: {e}") from e
    return _seal(identity, origin, seq, prev, ts_ms, actor, kind, scope, reach, payload_json,
                 provenance_json)


def sign_canonical(
    identity: NodeIdentity,
    *,
    seq: int,
    prev: str | None,
    ts_ms: int,
    actor: str,
    kind: str,
    scope: str,
    reach: str,
    payload_json: str,
    provenance_json: str,
    members_checked: bool = False,
) -> Event:
    """``sign_event`` for a payload and provenance already canonicalised.

    For callers that have just run ``canonical_text`` on them anyway (group
    commit checks every draft before its batch), so nothing is encoded
    twice. The texts MUST be what ``canonical_text`` returned: anything else
    would be signed as given and then refused by every peer as
    ``not_canonical``.

    ``members_checked``: the caller has already run ``check_header`` on every
    member it chose (``log.check_draft``) and computed the rest itself (seq,
    prev, origin); the second check is then skipped (1.1 µs of ~31 per event).

    Raises:
        EnvelopeError: a member is malformed, or the envelope is too large.
    """
    origin = identity.node_id
    if not members_checked:
        check_header(
            origin=origin, seq=seq, prev=prev, ts_ms=ts_ms, actor=actor, kind=kind, scope=scope,
            reach=reach,
        )
    return _seal(identity, origin, seq, prev, ts_ms, actor, kind, scope, reach, payload_json,
                 provenance_json)


def _seal(identity: NodeIdentity, origin: str, seq: int, prev: str | None, ts_ms: int,
          actor: str, kind: str, scope: str, reach: str, payload_json: str,
          provenance_json: str) -> Event:
    """Hash and sign checked members: the part both signing entry points share."""
    text = envelope_text(
        origin=origin, seq=seq, prev=prev, ts_ms=ts_ms, actor=actor, kind=kind, scope=scope,
        reach=reach, payload_json=payload_json, provenance_json=provenance_json,
    )
    data = text.encode("utf-8")
    if len(data) > MAX_ENVELOPE_BYTES:  # bytes, as decode_event counts them
        raise EnvelopeError("too_large", f"{len(data)} bytes, limit {MAX_ENVELOPE_BYTES}")
    digest = blake3.blake3(data).digest()
    return Event(
        origin=origin, seq=seq, prev=prev, ts_ms=ts_ms, actor=actor, kind=kind, scope=scope,
        reach=reach, payload_json=payload_json, provenance_json=provenance_json,
        hash=digest, sig=identity.sign(digest),
    )


# The envelope's own members take at most this many bytes around payload and
# provenance (ids, hashes, kind, actor, scope, integers, member names).
ENVELOPE_OVERHEAD_MAX = 1024

_ENVELOPE_KEYS = frozenset((
    "v", "origin", "seq", "prev", "ts_ms", "actor", "kind", "scope", "reach", "payload",
    "provenance",
))


def decode_event(envelope: bytes, sig: bytes) -> Event:
    """Verify and decode an event received from elsewhere.

    Checks, cheapest first: size, JSON shape, every member, that the bytes
    are canonical (so an event has exactly one encoding), then the hash and
    signature over the received bytes. Payload schemas are checked by the caller
    (``kinds``), because they depend on which kinds this node knows.

    Raises:
        EnvelopeError: with a named ``reason``; never another exception type.
    """
    if not isinstance(envelope, bytes) or not isinstance(sig, bytes):
        raise EnvelopeError("malformed", "envelope and signature must be bytes")
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError("too_large", f"{len(envelope)} bytes, limit {MAX_ENVELOPE_BYTES}")
    try:
        text = envelope.decode("utf-8")
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EnvelopeError("malformed", f"not UTF-8 JSON: {e}") from e
    if type(obj) is not dict or obj.keys() != _ENVELOPE_KEYS:
        raise EnvelopeError("malformed", "expected an object with exactly the envelope members")
    origin = obj["origin"]
    check_header(
        origin=origin, seq=obj["seq"], prev=obj["prev"], ts_ms=obj["ts_ms"], actor=obj["actor"],
        kind=obj["kind"], scope=obj["scope"], reach=obj["reach"],
    )
    if obj["v"] != ENVELOPE_VERSION or type(obj["v"]) is not int:
        raise EnvelopeError("bad_field", f"v: unsupported envelope version {obj['v']!r}")
    payload, provenance = obj["payload"], obj["provenance"]
    if type(payload) is not dict or type(provenance) is not dict:
        raise EnvelopeError("bad_field", "payload and provenance must be objects")
    try:
        payload_json = canonical_text(payload)
        provenance_json = canonical_text(provenance)
    except CanonicalizationError as e:
        raise EnvelopeError("bad_field", f"payload: {e}") from e
    digest = hash_envelope(text)
    event = Event(
        origin=origin, seq=obj["seq"], prev=obj["prev"], ts_ms=obj["ts_ms"], actor=obj["actor"],
        kind=obj["kind"], scope=obj["scope"], reach=obj["reach"], payload_json=payload_json,
        provenance_json=provenance_json, hash=digest, sig=sig,
    )
    # Canonical form before the signature: it is the cheaper refusal.
    if event.text() != text:
        raise EnvelopeError("not_canonical", "envelope bytes are not RFC 8785 canonical")
    if not verify_signature(bytes.fromhex(origin), digest, sig):
        raise EnvelopeError("bad_signature", f"signature does not match origin {origin[:12]}")
    return event
