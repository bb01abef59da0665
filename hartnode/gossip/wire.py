"""Wire messages: frozen dataclasses <-> msgpack arrays, decoded with limits (DESIGN §3).

A message on the wire is one msgpack array ``[type_no, field1, field2, ...]``
(fields in dataclass order). A field holds ``int``, ``str``, ``bytes``,
``bool``, ``None``, a ``tuple`` of those, or a nested registered message
(itself encoded as ``[type_no, ...]``). Nothing else: no floats, no maps, no
ext types, so one byte string has one meaning.

Untrusted bytes pass through ``decode`` only. It bounds the frame size, every
str/bin/array/map length (checked by msgpack itself while parsing, before it
allocates) and the nesting depth, then validates every field strictly against
the dataclass annotations (``bool`` is not an ``int``, ``bytes`` is not a
``str``, the field count must match exactly). Any failure raises one
``DecodeError`` whose ``reason`` is one of ``DECODE_REASONS`` — never an
``IndexError``, ``KeyError`` or ``TypeError`` — so the transport can count it
by name and end only that link.

Evolution: type numbers are APPEND-ONLY. A number, once released, never
changes meaning and never changes shape (decoding demands the exact field
count); a changed message gets a new number and the old one is retired here
with a comment, never reused.

Type numbers live in one table, ``hartnode.wire_numbers``; a message class
registers with ``@wire_message(area)``, which looks its number up there.
``register(n)`` with an explicit number is for tests and benchmarks (65000+).

Counting errors for ``/metrics``: the caller owns a ``collections.Counter[str]``
keyed by ``DecodeError.reason``; ``decode_error_counter()`` returns one with
every reason pre-set to zero so each Prometheus series exists from the start.
"""

from __future__ import annotations

import collections
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar, cast

import msgpack

from hartnode.protocol import RemoteProtocolError
from hartnode.wire_numbers import number_of

DecodeReason = Literal[
    "frame_too_large",  # the frame exceeds Limits.max_frame_bytes
    "truncated",  # the msgpack value ends early
    "malformed",  # not msgpack, bad UTF-8, or not a [type_no, ...] array
    "limit_exceeded",  # a str/bin/array/map/ext length above its limit
    "too_deep",  # nesting deeper than Limits.max_depth
    "trailing_bytes",  # bytes left after the first msgpack value
    "unknown_type",  # a type number no message is registered under
    "bad_field",  # wrong field count or a field of the wrong type
]
DECODE_REASONS: Final[frozenset[str]] = frozenset(typing.get_args(DecodeReason))


class DecodeError(RemoteProtocolError[DecodeReason]):
    """Untrusted bytes are not a valid message. The peer is at fault.

    Attributes:
        reason: one of ``DECODE_REASONS``; stable, used as a metrics label.
        detail: free text for logs; never parse it.
    """

    REASONS = DECODE_REASONS
    KIND = "decode"


class EncodeError(TypeError):
    """A local message cannot be encoded (wrong field type, oversize). We are at fault."""


def decode_error_counter() -> collections.Counter[str]:
    """A counter with every ``DECODE_REASONS`` entry at zero, for ``/metrics``."""
    return collections.Counter(dict.fromkeys(sorted(DECODE_REASONS), 0))


@dataclass(frozen=True)
class Limits:
    """Bounds applied while decoding untrusted frames. Sizes are in bytes or items."""

    max_frame_bytes: int = 1 << 20  # bytes of one whole msgpack frame (1 MiB)
    max_str_len: int = 64 << 10  # bytes of one str (UTF-8)
    max_bin_len: int = 1 << 20  # bytes of one bin
    max_array_len: int = 4096  # items of one array
    max_map_len: int = 0  # no message uses maps; raise it when one does
    max_depth: int = 8  # nesting levels; the message array itself is level 1


DEFAULT_LIMITS: Final = Limits()


# --- field codecs -------------------------------------------------------------------------
# Each field annotation compiles once, at registration, into a pair of functions:
# ``check`` (encode side: raise _Bad unless the Python value fits) and ``parse``
# (decode side: turn the msgpack value into the field value or raise _Bad).


class _Bad(Exception):
    """Internal: a value does not fit its field. Becomes DecodeError/EncodeError."""


_Check = Callable[[Any], Any]  # returns the msgpack-ready value
_Parse = Callable[[Any], Any]  # returns the dataclass field value

_INT_MIN: Final = -(2**63)  # msgpack's integer range
_INT_MAX: Final = 2**64 - 1


def _exact(kind: type) -> tuple[_Check, _Parse]:
    def check(v: Any) -> Any:
        if type(v) is not kind:  # exact: bool must not pass as int
            raise _Bad(f"expected {kind.__name__}, got {type(v).__name__}")
        return v

    return check, check


def _int() -> tuple[_Check, _Parse]:
    def check(v: Any) -> Any:
        if type(v) is not int:  # exact: bool must not pass as int
            raise _Bad(f"expected int, got {type(v).__name__}")
        if not _INT_MIN <= v <= _INT_MAX:
            raise _Bad(f"integer {v} outside msgpack range")
        return v

    return check, check


def _none() -> tuple[_Check, _Parse]:
    def check(v: Any) -> Any:
        if v is not None:
            raise _Bad(f"expected None, got {type(v).__name__}")
        return None

    return check, check


def _optional(inner: tuple[_Check, _Parse]) -> tuple[_Check, _Parse]:
    inner_check, inner_parse = inner
    return (
        lambda v: None if v is None else inner_check(v),
        lambda v: None if v is None else inner_parse(v),
    )


def _var_tuple(inner: tuple[_Check, _Parse]) -> tuple[_Check, _Parse]:
    inner_check, inner_parse = inner

    def check(v: Any) -> Any:
        if type(v) is not tuple:
            raise _Bad(f"expected tuple, got {type(v).__name__}")
        return [inner_check(x) for x in v]

    def parse(v: Any) -> Any:
        if type(v) is not tuple:  # decoded with use_list=False: arrays are tuples
            raise _Bad(f"expected array, got {type(v).__name__}")
        return tuple(inner_parse(x) for x in v)

    return check, parse


def _fixed_tuple(items: list[tuple[_Check, _Parse]]) -> tuple[_Check, _Parse]:
    def check(v: Any) -> Any:
        if type(v) is not tuple or len(v) != len(items):
            raise _Bad(f"expected a tuple of {len(items)}")
        return [c(x) for (c, _), x in zip(items, v, strict=True)]

    def parse(v: Any) -> Any:
        if type(v) is not tuple or len(v) != len(items):
            raise _Bad(f"expected an array of {len(items)}")
        return tuple(p(x) for (_, p), x in zip(items, v, strict=True))

    return check, parse


def _nested(cls: type) -> tuple[_Check, _Parse]:
    schema = _BY_CLASS[cls]
    return schema.to_wire, schema.from_wire


def _compile(annotation: Any, owner: type) -> tuple[_Check, _Parse]:
    """Compile one field annotation. Raises TypeError for an unsupported one."""
    if annotation is int:
        return _int()
    if annotation in (str, bytes, bool):
        return _exact(annotation)
    if annotation is None or annotation is type(None):
        return _none()
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(args) == 2 and len(rest) == 1:
            return _optional(_compile(rest[0], owner))
        raise TypeError(f"{owner.__name__}: only `X | None` unions are supported")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _var_tuple(_compile(args[0], owner))
        if args and Ellipsis not in args:
            return _fixed_tuple([_compile(a, owner) for a in args])
    if isinstance(annotation, type) and annotation in _BY_CLASS:
        return _nested(annotation)
    raise TypeError(f"{owner.__name__}: unsupported wire field type {annotation!r}")


class _Schema:
    """The compiled codec of one registered message class."""

    def __init__(self, cls: type, type_no: int) -> None:
        self.cls = cls
        self.type_no = type_no
        try:
            hints = typing.get_type_hints(cls)
        except NameError as e:  # a string annotation naming something not yet defined
            raise TypeError(f"{cls.__qualname__}: cannot resolve field types ({e})") from None
        fields = dataclasses.fields(cls)
        self.names = tuple(f.name for f in fields)
        codecs = [_compile(hints[f.name], cls) for f in fields]
        self.checks = tuple(c for c, _ in codecs)
        self.parses = tuple(p for _, p in codecs)

    def to_wire(self, msg: Any) -> list[Any]:
        if type(msg) is not self.cls:
            raise _Bad(f"expected {self.cls.__name__}, got {type(msg).__name__}")
        out: list[Any] = [self.type_no]
        for name, check in zip(self.names, self.checks, strict=True):
            try:
                out.append(check(getattr(msg, name)))
            except _Bad as e:
                raise _Bad(f"{self.cls.__name__}.{name}: {e}") from None
        return out

    def from_wire(self, value: Any) -> Any:
        if (
            type(value) is not tuple
            or not value
            or type(value[0]) is not int
            or value[0] != self.type_no
        ):
            raise _Bad(f"expected a {self.cls.__name__} array")
        if len(value) != len(self.parses) + 1:
            raise _Bad(f"{self.cls.__name__}: {len(value) - 1} fields, want {len(self.parses)}")
        args = []
        for name, parse, v in zip(self.names, self.parses, value[1:], strict=True):
            try:
                args.append(parse(v))
            except _Bad as e:
                raise _Bad(f"{self.cls.__name__}.{name}: {e}") from None
        return self.cls(*args)


_REGISTRY: dict[int, _Schema] = {}
_BY_CLASS: dict[type, _Schema] = {}

_T = TypeVar("_T")


def register(type_no: int) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: register a frozen dataclass as wire message ``type_no``.

    Apply it above ``@dataclass(frozen=True)``. Field annotations are compiled
    here, so nested message classes must be registered first.

    Args:
        type_no: the message's permanent number (see the table in this module's
            docstring); a positive integer below 2**16.

    Raises:
        ValueError: the number is out of range or already taken, or the class
            is already registered.
        TypeError: the class is not a frozen dataclass or has a field type the
            wire cannot carry.
    """

    def decorate(cls: type[_T]) -> type[_T]:
        if type(type_no) is not int or not 0 < type_no < 2**16:
            raise ValueError(f"type number must be an int in 1..65535, got {type_no!r}")
        if type_no in _REGISTRY:
            other = _REGISTRY[type_no].cls.__qualname__
            raise ValueError(f"type number {type_no} is already {other} (numbers are append-only)")
        if cls in _BY_CLASS:
            raise ValueError(f"{cls.__qualname__} is already type {_BY_CLASS[cls].type_no}")
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen:
            raise TypeError(f"{cls.__qualname__} must be a frozen dataclass")
        schema = _Schema(cls, type_no)
        _REGISTRY[type_no] = schema
        _BY_CLASS[cls] = schema
        return cls

    return decorate


def wire_message(area: str) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: register a message under its number in ``hartnode.wire_numbers``.

    The number is the table's entry for ``f"{area}.{cls.__name__}"``; every
    message a node sends registers this way, so the one table is the whole map.

    Raises:
        KeyError: the class has no entry in the table.
        ValueError, TypeError: as ``register``.
    """

    def decorate(cls: type[_T]) -> type[_T]:
        return register(number_of(f"{area}.{cls.__name__}"))(cls)

    return decorate


def type_number(cls: type) -> int:
    """The registered type number of a message class. Raises KeyError if unregistered."""
    return _BY_CLASS[cls].type_no


def registered_types() -> dict[int, type]:
    """A copy of the registry: type number -> message class."""
    return {n: s.cls for n, s in sorted(_REGISTRY.items())}


def encode(msg: object, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Encode a registered message to one msgpack frame.

    Args:
        msg: an instance of a registered message class.
        limits: the frame must fit ``limits.max_frame_bytes`` (the peer would
            reject a larger one).

    Raises:
        EncodeError: the class is not registered, a field has the wrong type,
            or the frame is too large.
    """
    schema = _BY_CLASS.get(type(msg))
    if schema is None:
        raise EncodeError(f"{type(msg).__qualname__} is not a registered wire message")
    try:
        value = schema.to_wire(msg)
    except _Bad as e:
        raise EncodeError(str(e)) from None
    data = cast(bytes, msgpack.packb(value, use_bin_type=True))
    if len(data) > limits.max_frame_bytes:
        raise EncodeError(f"frame of {len(data)} bytes exceeds {limits.max_frame_bytes}")
    return data


def _depth_ok(value: Any, max_depth: int) -> bool:
    """True when containers nest at most ``max_depth`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if type(v) is tuple:
            if depth > max_depth:
                return False
            stack.extend((x, depth + 1) for x in v if type(x) in (tuple, dict))
        elif type(v) is dict:
            if depth > max_depth:
                return False
            stack.extend((x, depth + 1) for x in v.values() if type(x) in (tuple, dict))
    return True


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode one untrusted frame into a registered message.

    Args:
        data: exactly one msgpack value, as one WebSocket message carried it.
        limits: the bounds to enforce.

    Returns:
        An instance of the registered class named by the frame's type number.

    Raises:
        DecodeError: with a reason from ``DECODE_REASONS``; nothing else.
    """
    if len(data) > limits.max_frame_bytes:
        raise DecodeError("frame_too_large", f"{len(data)} bytes")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,  # str must be valid UTF-8
            use_list=False,  # arrays as tuples: what message fields hold
            strict_map_key=True,
            max_str_len=limits.max_str_len,
            max_bin_len=limits.max_bin_len,
            max_array_len=limits.max_array_len,
            max_map_len=limits.max_map_len,
            max_ext_len=0,
        )
    except msgpack.ExtraData:
        raise DecodeError("trailing_bytes") from None
    except msgpack.StackError:
        # msgpack's own hard nesting cap (~1024), far above ours
        raise DecodeError("too_deep") from None
    except (ValueError, TypeError, OverflowError) as e:
        # msgpack signals every other failure as ValueError (UnicodeDecodeError and
        # FormatError included); its message is the only way to tell them apart.
        text = str(e)
        if "incomplete input" in text:
            raise DecodeError("truncated") from None
        if "exceeds max_" in text:
            raise DecodeError("limit_exceeded", text) from None
        raise DecodeError("malformed", text[:100]) from None
    if not _depth_ok(value, limits.max_depth):
        raise DecodeError("too_deep")
    if type(value) is not tuple or not value or type(value[0]) is not int:
        raise DecodeError("malformed", "not a [type_no, ...] array")
    schema = _REGISTRY.get(value[0])
    if schema is None:
        raise DecodeError("unknown_type", str(value[0]))
    try:
        return schema.from_wire(value)
    except _Bad as e:
        raise DecodeError("bad_field", str(e)) from None


# --- transport control messages (type numbers 1-15) ---------------------------------------


@wire_message("transport")
@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness probe; the transport answers it with ``Pong(nonce)`` itself."""

    nonce: int


@wire_message("transport")
@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to ``Ping``; the nonce lets the prober match it and time the round trip."""

    nonce: int


@wire_message("transport")
@dataclass(frozen=True, slots=True)
class Close:
    """Orderly end of a link. Sent sealed, so an attacker cannot forge it, and its
    presence tells a clean close apart from a truncated stream."""

    reason: str
