"""RFC 8785 conformance of the project's canonicalisation entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from hartnode.canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonical_bytes

JCS_DIR = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "jcs"
CASES = sorted(p.name for p in (JCS_DIR / "input").glob("*.json"))


def test_vectors_are_present() -> None:
    assert len(CASES) >= 6, f"expected the RFC 8785 vectors in {JCS_DIR}"


@pytest.mark.parametrize("name", CASES)
def test_rfc8785_vectors_byte_for_byte(name: str) -> None:
    value = json.loads((JCS_DIR / "input" / name).read_text(encoding="utf-8"))
    expected = (JCS_DIR / "output" / name).read_bytes()
    assert canonical_bytes(value) == expected


TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)))
json_scalars = (
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | TEXT
)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children,
                                                                      max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_fast_path_matches_rfc8785(value: object) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


KEY_CHARS = st.characters(min_codepoint=0xD7F0, exclude_categories=("Cs",))


@given(st.dictionaries(st.text(alphabet=KEY_CHARS), st.integers(0, 9), max_size=6))
def test_key_order_is_utf16_for_astral_and_private_use_keys(value: dict[str, int]) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("bad", [2**53, -(2**53), float("nan"), float("inf"), {1: "x"},
                                 b"bytes", {"a": object()}, "\ud800", {"k\udfff": 1}])
def test_unrepresentable_values_raise_one_error(bad: object) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_bytes(bad)
