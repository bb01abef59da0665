"""The signed envelope: round trips and tamper detection (property tests)."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import EnvelopeError, Event, decode_event, sign_event

IDENTITY = NodeIdentity.from_seed(bytes(range(32)))
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
PAYLOADS = st.dictionaries(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=8),
    st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | TEXT,
                 lambda c: st.lists(c, max_size=4) | st.dictionaries(TEXT, c, max_size=4),
                 max_leaves=12),
    max_size=6,
)


def make(payload: dict[str, object], seq: int = 1, **kw: object) -> Event:
    args: dict[str, object] = dict(
        seq=seq, prev=None if seq == 1 else "ab" * 32, ts_ms=1_700_000_000_000, actor="node",
        kind="note.created", scope="system", reach="network", payload=payload, provenance={})
    args.update(kw)
    return sign_event(IDENTITY, **args)  # type: ignore[arg-type]


@given(PAYLOADS, st.integers(1, 2**53 - 1))
def test_round_trip(payload: dict[str, object], seq: int) -> None:
    event = make(payload, seq)
    assert decode_event(*event.wire()) == event
    assert event.payload == payload


@given(PAYLOADS)
def test_envelope_text_is_rfc8785_of_the_whole_envelope(payload: dict[str, object]) -> None:
    event = make(payload)
    whole = {"v": 1, "origin": event.origin, "seq": event.seq, "prev": event.prev,
             "ts_ms": event.ts_ms, "actor": event.actor, "kind": event.kind,
             "scope": event.scope, "reach": event.reach, "payload": payload, "provenance": {}}
    assert event.text().encode() == rfc8785.dumps(whole)


@settings(max_examples=200)
@given(PAYLOADS, st.data())
def test_any_flipped_bit_is_detected(payload: dict[str, object], data: st.DataObject) -> None:
    envelope, sig = make(payload).wire()
    target = data.draw(st.sampled_from(["envelope", "sig"]))
    blob = bytearray(envelope if target == "envelope" else sig)
    i = data.draw(st.integers(0, len(blob) - 1))
    blob[i] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(EnvelopeError):
        if target == "envelope":
            decode_event(bytes(blob), sig)
        else:
            decode_event(envelope, bytes(blob))


@given(st.binary(max_size=300), st.binary(max_size=80))
def test_garbage_only_raises_envelope_error(envelope: bytes, sig: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode_event(envelope, sig)


def test_non_canonical_bytes_are_refused_even_with_a_valid_signature() -> None:
    event = make({"text": "x"})
    spaced = json.dumps(json.loads(event.text()), indent=1).encode()
    # Sign the non-canonical form honestly: it must still be refused.
    import blake3

    sig = IDENTITY.sign(blake3.blake3(spaced).digest())
    with pytest.raises(EnvelopeError) as err:
        decode_event(spaced, sig)
    assert err.value.reason == "not_canonical"


def test_another_key_cannot_sign_for_an_origin() -> None:
    event = make({"text": "x"})
    mallory = NodeIdentity.from_seed(b"\x01" * 32)
    envelope, _ = event.wire()
    with pytest.raises(EnvelopeError) as err:
        decode_event(envelope, mallory.sign(event.hash))
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize("field,value", [
    ("actor", "root"), ("kind", "Note"), ("scope", "world"), ("reach", "everywhere"),
    ("ts_ms", -1), ("seq", 0),
])
def test_malformed_members_name_the_field(field: str, value: object) -> None:
    with pytest.raises(EnvelopeError) as err:
        make({"text": "x"}, **{field: value})
    assert field in str(err.value)


def test_integers_beyond_2_53_are_refused() -> None:
    with pytest.raises(EnvelopeError):
        make({"n": 2**53})


@pytest.mark.parametrize("field", ["actor", "kind", "scope"])
def test_a_trailing_newline_is_not_a_valid_member(field: str) -> None:
    good = {"actor": "node", "kind": "note.created", "scope": "system"}[field]
    with pytest.raises(EnvelopeError) as err:
        make({"text": "x"}, **{field: good + "\n"})
    assert field in str(err.value)


def test_size_limit_counts_bytes_not_characters() -> None:
    # 40,000 two-byte characters: under the limit in characters, over it in bytes.
    with pytest.raises(EnvelopeError) as err:
        make({"text": "x"}, provenance={"p": "é" * 40_000})
    assert err.value.reason == "too_large"
