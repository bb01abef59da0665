"""Revocation lists: master signature, monotonic seq, bounded decoding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.attestation.revocation import (
    MAX_REVOCATION_BYTES,
    MAX_REVOKED,
    REVOCATION_REASONS,
    REVOCATION_SIG_CONTEXT,
    RevocationError,
    RevocationList,
    SignedRevocationList,
    decode_revocations,
    parse_revocation_file,
    revocation_file_bytes,
    same_seq_conflict,
    sign_revocations,
)
from hartnode.canonical import canonical_bytes
from hartnode.gossip.trust import RevocationListMessage, TrustState
from hartnode.identity import NodeIdentity

NOW = 1_750_000_000_000
MASTER = NodeIdentity.from_seed(b"\x01" * 32)
FORGER = NodeIdentity.from_seed(b"\x02" * 32)
NODE_A, NODE_B = "a" * 64, "b" * 64
SERIAL_1, SERIAL_2 = "1" * 32, "2" * 32


def signed(seq: int, *, serials: tuple[str, ...] = (SERIAL_1,), subjects: tuple[str, ...] = (),
           by: NodeIdentity = MASTER) -> SignedRevocationList:
    return sign_revocations(RevocationList.build(seq=seq, issued_ms=NOW + seq, serials=serials,
                                                 subjects=subjects), by)


def decode(body: bytes, sig: bytes) -> SignedRevocationList:
    return decode_revocations(body, sig, master_public_key=MASTER.public_key)


def held_after(*lists: SignedRevocationList) -> SignedRevocationList | None:
    """The list a node holds after these arrive over the wire, in order."""
    state = TrustState(MASTER.public_key)
    for s in lists:
        state.offer(RevocationListMessage(*s.to_wire()))
    return state.current


def error_reason(body: bytes, sig: bytes) -> str:
    with pytest.raises(RevocationError) as info:
        decode(body, sig)
    return info.value.reason


def test_round_trip_and_lookups() -> None:
    s = signed(3, serials=(SERIAL_2, SERIAL_1), subjects=(NODE_B, NODE_A, NODE_A))
    got = decode(*s.to_wire())
    assert got == s
    rl = got.revocations
    assert (rl.seq, rl.serials, rl.subjects) == (3, (SERIAL_1, SERIAL_2), (NODE_A, NODE_B))
    assert rl.is_serial_revoked(SERIAL_2) and not rl.is_serial_revoked("3" * 32)
    assert rl.is_subject_revoked(NODE_A) and not rl.is_subject_revoked("c" * 64)
    assert json.loads(s.body) == {"v": 1, "seq": 3, "issued_ms": NOW + 3,
                                  "serials": [SERIAL_1, SERIAL_2], "subjects": [NODE_A, NODE_B]}


def test_a_list_not_signed_by_the_pinned_master_is_refused() -> None:
    forged = signed(99, by=FORGER)
    assert error_reason(*forged.to_wire()) == "bad_signature"
    assert held_after(signed(1), forged) == signed(1)
    # Hand-built with the master's old signature on new bytes: still refused.
    spliced = SignedRevocationList(forged.revocations, forged.body, signed(1).signature)
    assert held_after(spliced) is None


def test_signature_without_the_context_label_is_refused() -> None:
    s = signed(1)
    assert error_reason(s.body, MASTER.sign(s.body)) == "bad_signature"


@pytest.mark.parametrize("current_seq", [5, 6])
def test_lower_or_equal_seq_never_replaces_the_held_list(current_seq: int) -> None:
    current = signed(current_seq, serials=(SERIAL_2,))
    older = signed(5, serials=(SERIAL_1,))
    assert held_after(current, older) == current
    assert not older.revocations.newer(current.revocations)


def test_higher_seq_replaces_and_none_accepts_any_signed_list() -> None:
    current, newer = signed(5), signed(6, serials=(SERIAL_1, SERIAL_2))
    assert held_after(current, newer) == newer
    assert held_after(current) == current
    assert newer.revocations.newer(None) and newer.revocations.newer(current.revocations)


def test_same_seq_different_content_is_a_conflict() -> None:
    a, b = signed(4, serials=(SERIAL_1,)), signed(4, serials=(SERIAL_2,))
    assert same_seq_conflict(a, b) and not same_seq_conflict(a, a)
    assert held_after(a, b) == a  # first seen is kept


def test_extended_is_cumulative_with_the_next_seq() -> None:
    rl = RevocationList.build(seq=1, issued_ms=NOW, serials=[SERIAL_1])
    nxt = rl.extended(issued_ms=NOW + 1, serials=[SERIAL_2, SERIAL_1], subjects=[NODE_A])
    assert (nxt.seq, nxt.serials, nxt.subjects) == (2, (SERIAL_1, SERIAL_2), (NODE_A,))


def test_every_tampered_byte_is_refused() -> None:
    body, sig = signed(2, subjects=(NODE_A,)).to_wire()
    for pos in range(len(body)):
        bad = bytearray(body)
        bad[pos] ^= 0x01
        assert error_reason(bytes(bad), sig) == "bad_signature", pos
    for pos in range(len(sig)):
        bad = bytearray(sig)
        bad[pos] ^= 0x01
        assert error_reason(body, bytes(bad)) == "bad_signature", pos


def master_signed(body: bytes) -> tuple[bytes, bytes]:
    """A body the master really signed: only the decoder's own checks remain."""
    return body, MASTER.sign(REVOCATION_SIG_CONTEXT + body)


GOOD = signed(1).revocations.to_json()


@pytest.mark.parametrize(("body", "expected"), [
    (b"[]", "malformed"),
    (b"\xff", "malformed"),
    (b"{" * 10, "malformed"),
    (b'{"seq":1.0}', "malformed"),
    (json.dumps(GOOD).encode(), "not_canonical"),  # spaces after separators
    (canonical_bytes({**GOOD, "v": 2}), "unsupported_version"),
    (canonical_bytes({**GOOD, "seq": 0}), "bad_field"),
    (canonical_bytes({**GOOD, "seq": True}), "bad_field"),
    (canonical_bytes({**GOOD, "extra": 1}), "bad_field"),
    (canonical_bytes({k: v for k, v in GOOD.items() if k != "subjects"}), "bad_field"),
    (canonical_bytes({**GOOD, "serials": [SERIAL_2, SERIAL_1]}), "bad_field"),
    (canonical_bytes({**GOOD, "serials": [SERIAL_1, SERIAL_1]}), "bad_field"),
    (canonical_bytes({**GOOD, "serials": ["x"]}), "bad_field"),
    (canonical_bytes({**GOOD, "subjects": [NODE_A.upper()]}), "bad_field"),
    (canonical_bytes({**GOOD, "subjects": "a"}), "bad_field"),
])
def test_signed_but_invalid_bodies(body: bytes, expected: str) -> None:
    assert error_reason(*master_signed(body)) == expected


def test_size_and_entry_limits() -> None:
    assert error_reason(b" " * (MAX_REVOCATION_BYTES + 1), b"\0" * 64) == "too_large"
    with pytest.raises(RevocationError, match="bad_field"):
        RevocationList.build(seq=1, issued_ms=NOW,
                             serials=[f"{i:032x}" for i in range(MAX_REVOKED + 1)])
    full = RevocationList.build(seq=1, issued_ms=NOW,
                                serials=[f"{i:032x}" for i in range(MAX_REVOKED)],
                                subjects=[f"{i:064x}" for i in range(MAX_REVOKED)])
    s = sign_revocations(full, MASTER)
    assert len(s.body) <= MAX_REVOCATION_BYTES  # the limit fits the largest valid list
    assert decode(*s.to_wire()).revocations == full


def test_non_bytes_are_malformed() -> None:
    body, sig = signed(1).to_wire()
    assert error_reason(body.decode(), sig) == "malformed"  # type: ignore[arg-type]


@settings(max_examples=1000)
@given(st.binary(max_size=300), st.binary(min_size=0, max_size=70))
def test_random_bytes_only_raise_revocation_error(body: bytes, sig: bytes) -> None:
    try:
        decode(body, sig)
    except RevocationError as e:
        assert e.reason in REVOCATION_REASONS


@settings(max_examples=800)
@given(st.data())
def test_master_signed_garbage_only_raises_revocation_error(data: st.DataObject) -> None:
    buf = bytearray(signed(1, subjects=(NODE_A,)).body)
    for _ in range(data.draw(st.integers(1, 4))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode(*master_signed(bytes(buf)))
    except RevocationError as e:
        assert e.reason in REVOCATION_REASONS


# --- the revocation file -------------------------------------------------------------------


def parse(data: bytes) -> SignedRevocationList:
    return parse_revocation_file(data, master_public_key=MASTER.public_key)


def test_file_round_trip_and_format() -> None:
    s = signed(7, subjects=(NODE_A,))
    data = revocation_file_bytes(s)
    assert parse(data) == s
    doc = json.loads(data)
    assert set(doc) == {"revocations", "sig"} and doc["revocations"]["seq"] == 7


@pytest.mark.parametrize("doc", [
    [], {"revocations": {}}, {"revocations": [], "sig": "00"}, {"revocations": {}, "sig": 1},
    {"revocations": GOOD, "sig": "zz"}, {"revocations": GOOD, "sig": "00", "x": 1},
])
def test_bad_file_shapes(doc: Any) -> None:
    with pytest.raises(RevocationError):
        parse(json.dumps(doc).encode())


def test_file_from_another_master_is_refused() -> None:
    with pytest.raises(RevocationError, match="bad_signature"):
        parse(revocation_file_bytes(signed(1, by=FORGER)))


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_random_files_only_raise_revocation_error(data: bytes) -> None:
    try:
        parse(data)
    except RevocationError as e:
        assert e.reason in REVOCATION_REASONS
