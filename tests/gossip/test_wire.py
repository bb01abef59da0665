"""Wire codec: round trips, strictness, limits, and fuzz that may only raise DecodeError.

Test-only message classes use type numbers from 65000 up so they never collide
with real ones (1-15 transport, 16-63 membership/broadcast, 64+ ledger).
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from dataclasses import dataclass, fields, make_dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hartnode.gossip
from hartnode.gossip import wire
from hartnode.gossip.wire import (
    DECODE_REASONS,
    Close,
    DecodeError,
    EncodeError,
    Limits,
    Ping,
    Pong,
    decode,
    decode_error_counter,
    encode,
    register,
)

# Every gossip module registers its messages at import; import them all so the
# round-trip property covers every type that exists, not only this module's.
for _mod in pkgutil.iter_modules(hartnode.gossip.__path__):
    importlib.import_module(f"hartnode.gossip.{_mod.name}")


@register(65000)
@dataclass(frozen=True, slots=True)
class _Inner:
    key: bytes
    count: int


@register(65001)
@dataclass(frozen=True, slots=True)
class _Everything:
    n: int
    s: str
    b: bytes
    flag: bool
    nothing: None
    maybe: int | None
    many: tuple[str, ...]
    pair: tuple[int, bytes]
    inner: _Inner
    inners: tuple[_Inner, ...]


SAMPLE = _Everything(
    n=-7,
    s="héllo",
    b=b"\x00\xff",
    flag=True,
    nothing=None,
    maybe=2**40,
    many=("a", "", "ç"),
    pair=(1, b"x"),
    inner=_Inner(b"k" * 32, 3),
    inners=(_Inner(b"", 0), _Inner(b"z", 2**64 - 1)),
)


def _strategy(annotation: Any) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for one wire field annotation (mirrors wire._compile)."""
    if annotation is int:
        return st.integers(-(2**63), 2**64 - 1)
    if annotation is str:
        return st.text(max_size=20)
    if annotation is bytes:
        return st.binary(max_size=40)
    if annotation is bool:
        return st.booleans()
    if annotation is None or annotation is type(None):
        return st.none()
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(_strategy(args[0]), max_size=4).map(tuple)
        return st.tuples(*(_strategy(a) for a in args))
    if args:  # X | None
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | _strategy(inner)
    return _message_strategy(annotation)


def _message_strategy(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in fields(cls)})


ALL_MESSAGES = st.sampled_from(sorted(wire.registered_types().items())).flatmap(
    lambda item: _message_strategy(item[1])
)


# --- round trips and golden bytes ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(ALL_MESSAGES)
def test_every_registered_type_round_trips(msg: object) -> None:
    assert decode(encode(msg)) == msg


def test_sample_round_trips() -> None:
    assert decode(encode(SAMPLE)) == SAMPLE


def test_control_messages_have_fixed_bytes() -> None:
    # Pins the wire format itself: [type_no, fields...] as msgpack.
    assert encode(Ping(5)) == b"\x92\x01\x05"
    assert encode(Pong(2**32)) == b"\x92\x02\xcf\x00\x00\x00\x01\x00\x00\x00\x00"
    assert encode(Close("bye")) == b"\x92\x03\xa3bye"
    assert wire.type_number(Ping) == 1
    assert wire.type_number(Pong) == 2
    assert wire.type_number(Close) == 3


# --- hostile input ------------------------------------------------------------------------


def _reason(data: bytes, limits: Limits = wire.DEFAULT_LIMITS) -> str:
    with pytest.raises(DecodeError) as info:
        decode(data, limits)
    assert info.value.reason in DECODE_REASONS
    return info.value.reason


def test_trailing_bytes_are_rejected() -> None:
    good = encode(SAMPLE)
    assert _reason(good + b"\x00") == "trailing_bytes"
    assert _reason(encode(Ping(1)) + encode(Ping(2))) == "trailing_bytes"


def test_every_prefix_raises_decode_error() -> None:
    good = encode(SAMPLE)
    for cut in range(len(good)):
        assert _reason(good[:cut]) == "truncated", cut


@settings(max_examples=2000)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError as e:
        assert e.reason in DECODE_REASONS


@settings(max_examples=1000)
@given(st.data())
def test_mutated_frames_only_raise_decode_error(data: st.DataObject) -> None:
    frame = bytearray(encode(SAMPLE))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(frame))
    except DecodeError as e:
        assert e.reason in DECODE_REASONS


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (5, "malformed"),  # not an array
        ((), "malformed"),  # no type number
        ((True, 1), "malformed"),  # a bool is not a type number
        (("1", 1), "malformed"),
        ((9999, 1), "unknown_type"),
        ((1,), "bad_field"),  # Ping without its nonce
        ((1, 1, 2), "bad_field"),  # one field too many
        ((1, True), "bad_field"),  # bool is not int
        ((1, 1.0), "bad_field"),  # floats never
        ((1, None), "bad_field"),
        ((3, b"bytes"), "bad_field"),  # bytes is not str
        ((65000, "str", 1), "bad_field"),  # str is not bytes
        ((65001, *([0] * 10)), "bad_field"),
    ],
)
def test_strict_field_types(value: Any, reason: str) -> None:
    assert _reason(msgpack.packb(value, use_bin_type=True)) == reason


def _sample_as_list(**changes: Any) -> list[Any]:
    """SAMPLE's wire array with some fields replaced by raw msgpack values."""
    names = [f.name for f in fields(_Everything)]
    raw = msgpack.unpackb(encode(SAMPLE))
    for name, v in changes.items():
        raw[1 + names.index(name)] = v
    return raw  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "changes",
    [
        {"flag": 1},
        {"nothing": 0},
        {"maybe": "x"},
        {"many": ["a", b"b"]},
        {"many": "abc"},
        {"pair": [1]},
        {"pair": [1, b"x", 2]},
        {"pair": [b"x", 1]},
        {"inner": [65001, b"k", 1]},  # nested message of the wrong type
        {"inner": [65000, b"k"]},
        {"inner": [True, b"k", 1]},
        {"inner": None},
        {"inners": [[65000, b"k", -1], 7]},
    ],
)
def test_strict_nested_fields(changes: dict[str, Any]) -> None:
    assert _reason(msgpack.packb(_sample_as_list(**changes), use_bin_type=True)) == "bad_field"


def test_maps_and_ext_types_are_refused() -> None:
    assert _reason(msgpack.packb((1, {"a": 1}))) == "limit_exceeded"
    assert _reason(msgpack.packb((1, {}))) == "bad_field"
    assert _reason(msgpack.packb((1, msgpack.ExtType(1, b"x")))) == "limit_exceeded"


def test_invalid_utf8_is_malformed() -> None:
    assert _reason(b"\x92\x03\xa2\xff\xfe") == "malformed"


# --- limits -------------------------------------------------------------------------------


def test_frame_size_limit() -> None:
    limits = Limits(max_frame_bytes=16)
    assert _reason(encode(Close("x" * 20)), limits) == "frame_too_large"
    assert decode(encode(Close("x" * 10)), limits) == Close("x" * 10)


def test_length_limits() -> None:
    limits = Limits(max_str_len=4, max_bin_len=4, max_array_len=4)
    assert decode(encode(Close("abcd")), limits) == Close("abcd")
    assert _reason(encode(Close("abcde")), limits) == "limit_exceeded"
    msg = _Inner(b"12345", 0)
    assert _reason(encode(msg), limits) == "limit_exceeded"
    assert _reason(msgpack.packb([1, 2, 3, 4, 5]), limits) == "limit_exceeded"


def test_depth_limit() -> None:
    nested: Any = 1
    for _ in range(9):
        nested = [nested]
    # [65000, b"", nested...]: depth counts the message array as level 1
    assert _reason(msgpack.packb([65000, b"", nested]), Limits(max_depth=8)) == "too_deep"
    assert _reason(msgpack.packb([65000, b"", nested]), Limits(max_depth=10)) == "bad_field"
    # Deeper than msgpack's own parser stack: still the typed error, no recursion error.
    deep = b"\x91" * 5000 + b"\x01"
    assert _reason(deep, Limits(max_array_len=1)) == "too_deep"


def test_sample_depth_is_within_default_limit() -> None:
    # SAMPLE nests 3 levels (message, inners tuple, inner message).
    assert decode(encode(SAMPLE), Limits(max_depth=3)) == SAMPLE
    assert _reason(encode(SAMPLE), Limits(max_depth=2)) == "too_deep"


# --- local misuse -------------------------------------------------------------------------


def test_encode_checks_fields() -> None:
    with pytest.raises(EncodeError):
        encode(Ping(True))
    with pytest.raises(EncodeError):
        encode(Ping(2**64))
    with pytest.raises(EncodeError):
        encode(Close(b"bytes"))  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        encode(object())
    with pytest.raises(EncodeError):
        encode(Close("x" * 100), Limits(max_frame_bytes=50))


def test_register_refuses_reuse_and_bad_classes() -> None:
    with pytest.raises(ValueError, match="append-only"):

        @register(1)
        @dataclass(frozen=True)
        class _Again:
            x: int

    with pytest.raises(ValueError):
        register(65000)(_Inner)
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        register(0)(_Inner)
    with pytest.raises(TypeError, match="frozen"):

        @register(65010)
        @dataclass
        class _Mutable:
            x: int

    for bad in (float, dict[str, int], list[int], int | str, tuple[()], "Undefined"):
        cls = make_dataclass("_Bad", [("x", bad)], frozen=True)
        with pytest.raises(TypeError):
            register(65011)(cls)

    assert 65010 not in wire.registered_types()
    assert 65011 not in wire.registered_types()


def test_decode_error_reasons_are_closed_set() -> None:
    with pytest.raises(ValueError):
        DecodeError("nope")  # type: ignore[arg-type]
    counter = decode_error_counter()
    assert set(counter) == DECODE_REASONS
    assert all(v == 0 for v in counter.values())
