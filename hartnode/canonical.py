"""RFC 8785 (JCS) canonical JSON: the one entry point every signer uses.

Why not call ``rfc8785.dumps`` everywhere: it is pure Python and costs as much
as an Ed25519 signature, which would halve the ledger's append rate. For the
values hartnode signs (no floats, integers within ±(2^53−1), strings whose
characters sort the same in UTF-16 and in code points) the standard library's
C encoder produces byte-identical output, so we use it there and fall back to
``rfc8785`` for everything else. ``tests/test_canonical.py`` checks both paths
against the RFC's vectors and against each other by property testing.

Where the two could differ, and why the fast path avoids each case:
- floats: JCS uses ECMAScript number formatting; Python's ``repr`` differs
  (``1e+30`` vs ``1e30``) -> any float takes the slow path.
- member order: JCS sorts keys by UTF-16 code units, Python by code points;
  they disagree only when a key holds a character at or above U+E000
  -> any such character in the output takes the slow path.
- string escapes: both escape only ``"``, ``\\`` and control characters, with
  the same short forms and lowercase ``\\u00xx``; identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """The value cannot be canonicalised (a float NaN, an integer out of range, a bad type)."""


_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)
_encode_fast = _encoder.encode


def _make_encode_value() -> Callable[[Any], str]:
    """``_encode_fast`` for values ``_fast_path_safe`` accepted, minus its per-call setup.

    ``JSONEncoder.encode`` builds a new C encoder on every call, which is
    most of its cost for a small payload (bench_ledger: 1.1 -> 0.4 µs per
    payload, twice per event). The same C encoder is built once here, with
    the same settings. No circular-reference markers: ``_fast_path_safe``
    has already refused any nesting deeper than 64 levels, so a cycle never
    gets here. Where ``_json`` is missing or its constructor differs, and as
    a self-check, this falls back to ``_encode_fast``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _encode_fast
    try:
        iterencode = make(None, _encoder.default, json.encoder.encode_basestring, None, ":", ",",
                          True, False, False)
    except TypeError:
        return _encode_fast

    def encode_value(value: Any) -> str:
        return "".join(iterencode(value, 0))

    probe = {"b": [1, True, None, "\u00e9\n"], "a": {"c": -(2**53 - 1)}, "": ()}
    try:
        same = encode_value(probe) == _encode_fast(probe)
    except Exception:
        same = False
    return encode_value if same else _encode_fast


_encode_value = _make_encode_value()


def _fast_path_safe(value: Any, depth: int = 0) -> bool:
    """True when ``value`` holds only dict/list/str/bool/None and safe ints.

    Raises CanonicalizationError for values JCS cannot represent at all.
    """
    if depth > 64:
        raise CanonicalizationError("nesting deeper than 64 levels")
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return True
        raise CanonicalizationError(f"integer {value} is outside ±(2^53−1)")
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise CanonicalizationError(f"object key {k!r} is not a string")
            if not _fast_path_safe(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        return all(_fast_path_safe(v, depth + 1) for v in value)
    if t is float:
        return False
    raise CanonicalizationError(f"type {t.__name__} has no JSON form")


def canonical_text(value: Any) -> str:
    """Return the RFC 8785 canonical JSON text of ``value``.

    Raises:
        CanonicalizationError: for NaN/Infinity, integers beyond ±(2^53−1),
            non-string keys or non-JSON types.
    """
    if type(value) is dict and not value:
        return "{}"  # most provenance objects; skips the walk and the encoder
    if _fast_path_safe(value):
        text = _encode_value(value)
        if text.isascii():
            return text
        try:
            # A lone surrogate (JSON allows the escape "\ud800") has no UTF-8 form.
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise CanonicalizationError(f"string holds a lone surrogate: {e}") from e
        if max(text) < "\ue000":
            return text
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as e:
        raise CanonicalizationError(str(e)) from e


def canonical_bytes(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value`` (see ``canonical_text``)."""
    return canonical_text(value).encode("utf-8")


_encode_basestring = json.encoder.encode_basestring


def json_string(s: str) -> str:
    """Canonical JSON form of one string (same escapes as JCS)."""
    # What JSONEncoder.encode does for a str, without its Python frame: this
    # runs six times per envelope.
    if isinstance(s, str):
        return _encode_basestring(s)
    return _encode_fast(s)
