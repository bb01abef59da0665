"""Fork evidence: the wire message and its limits, and what a ledger makes of it.

The codec table (round trip, byte by byte, trailing bytes, oversize parts,
fuzz that may only raise ``DecodeError``), then ``Ledger.record_evidence`` on
a real SQLite ledger: a true fork is recorded once and holds the forker back;
evidence that proves nothing is refused and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.catalog import build_catalog
from hartnode.gossip import wire
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import MAX_ENVELOPE_BYTES, EnvelopeError, Event, sign_event
from hartnode.ledger.log import Draft, Withheld
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.core import FeedEvent, HeadsRequest, NewEvents
from hartnode.replication.fork_evidence import (
    EVIDENCE_LIMITS,
    ForkEvidence,
    check_evidence,
    decode_evidence,
    fork_evidence,
)

FORKER = NodeIdentity.from_seed(b"forker".ljust(32, b"."))
OTHER = NodeIdentity.from_seed(b"other".ljust(32, b"."))


def note(identity: NodeIdentity, seq: int, prev: Event | None, text: str) -> Event:
    return sign_event(identity, seq=seq, prev=prev.hash_hex if prev else None, ts_ms=1_000 + seq,
                      actor="node", kind="note.created", scope="system", reach="network",
                      payload={"text": text}, provenance={})


E1 = note(FORKER, 1, None, "one")
E2A, E2B = note(FORKER, 2, E1, "two, branch a"), note(FORKER, 2, E1, "two, branch b")
E3A = note(FORKER, 3, E2A, "three, branch a")
VALID = wire.encode(fork_evidence(E2A.wire(), E2B.wire()))


def test_evidence_round_trips_in_one_canonical_order() -> None:
    msg = fork_evidence(E2A.wire(), E2B.wire())
    assert fork_evidence(E2B.wire(), E2A.wire()) == msg  # one payload, one broadcast id
    assert decode_evidence(VALID) == msg
    assert wire.decode(VALID) == msg  # also readable by the generic decoder links use
    assert {msg.a.envelope, msg.b.envelope} == {E2A.wire()[0], E2B.wire()[0]}


def test_every_prefix_and_trailing_bytes_are_decode_errors() -> None:
    for n in range(len(VALID)):
        with pytest.raises(wire.DecodeError):
            decode_evidence(VALID[:n])
    with pytest.raises(wire.DecodeError) as e:
        decode_evidence(VALID + b"\x00")
    assert e.value.reason == "trailing_bytes"


@pytest.mark.parametrize(("msg", "reason"), [
    (ForkEvidence(FeedEvent(b"x" * (MAX_ENVELOPE_BYTES + 1), bytes(64)),
                  FeedEvent(b"y", bytes(64))), "limit_exceeded"),
    (ForkEvidence(FeedEvent(b"x", bytes(63)), FeedEvent(b"y", bytes(64))), "bad_field"),
    (ForkEvidence(FeedEvent(b"x", bytes(64)), FeedEvent(b"y", bytes(65))), "bad_field"),
])
def test_oversize_or_misshapen_parts_are_refused(msg: ForkEvidence, reason: str) -> None:
    with pytest.raises(wire.DecodeError) as e:
        decode_evidence(wire.encode(msg))
    assert e.value.reason == reason
    with pytest.raises(wire.DecodeError) as e:
        check_evidence(msg)  # the same bounds for one that came decoded over a link
    assert e.value.reason == reason


def test_a_frame_larger_than_two_whole_events_is_refused_unread() -> None:
    with pytest.raises(wire.DecodeError) as e:
        decode_evidence(bytes(EVIDENCE_LIMITS.max_frame_bytes + 1))
    assert e.value.reason == "frame_too_large"
    assert EVIDENCE_LIMITS.max_frame_bytes < 2 * MAX_ENVELOPE_BYTES + 1024


def test_another_message_is_not_evidence() -> None:
    with pytest.raises(wire.DecodeError) as e:
        decode_evidence(wire.encode(HeadsRequest((1,))))
    assert e.value.reason == "bad_field"
    with pytest.raises(wire.DecodeError) as e:  # nested deeper than evidence ever is
        decode_evidence(wire.encode(NewEvents((FeedEvent(b"x", bytes(64)),))))
    assert e.value.reason == "too_deep"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_fuzzed_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(wire.DecodeError):
        decode_evidence(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.integers(0, 255))
def test_mutated_evidence_only_raises_decode_error(at: int, byte: int) -> None:
    data = VALID[:at] + bytes([byte]) + VALID[at + 1:]
    try:
        msg = decode_evidence(data)
    except wire.DecodeError:
        return
    assert isinstance(msg, ForkEvidence)


# -- what a ledger makes of it ---------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeLedger]:
    with NodeLedger(tmp_path, NodeIdentity.generate(), build_catalog(), create=True) as nl:
        yield nl


def test_a_true_fork_is_recorded_once_and_holds_the_forker_back(node: NodeLedger) -> None:
    ledger = node.ledger
    assert ledger.record_evidence(E2A.wire(), E2B.wire()) == (E2A, E2B)
    assert ledger.record_evidence(E2A.wire(), E2B.wire()) is None  # idempotent
    assert ledger.record_evidence(E2B.wire(), E2A.wire()) is None  # in either order
    assert ledger.forked() == {FORKER.node_id: 2}
    assert ledger.evidence(16) == [(E2A.wire(), E2B.wire())]
    result = node.ingest([E1.wire(), E2A.wire(), E3A.wire()])
    assert len(result.stored) == 2 and result.rejected == {"forked_origin": 1}


@pytest.mark.parametrize("pair", [
    pytest.param((E2A.wire(), E2A.wire()), id="the same event twice"),
    pytest.param((E2A.wire(), E3A.wire()), id="two seqs"),
    pytest.param((E2A.wire(), (E2B.wire()[0], E2A.sig)), id="a signature of the other event"),
    pytest.param((E2A.wire(), (E2B.wire()[0], OTHER.sign(E2B.hash))), id="signed by another key"),
    pytest.param((E2A.wire(), note(OTHER, 2, E1, "x").wire()), id="another origin"),
    pytest.param((E2A.wire(), (b"{}", bytes(64))), id="not an envelope"),
])
def test_evidence_that_proves_nothing_is_refused_and_leaves_nothing(
        node: NodeLedger, pair: tuple[tuple[bytes, bytes], tuple[bytes, bytes]]) -> None:
    ledger = node.ledger
    with pytest.raises(EnvelopeError):
        ledger.record_evidence(*pair)
    assert ledger.forked() == {} and ledger.evidence(16) == []
    assert len(node.ingest([E1.wire(), E2A.wire(), E3A.wire()]).stored) == 3


def test_evidence_for_new_neighbours_is_one_proof_per_origin_newest_first(
        node: NodeLedger) -> None:
    ledger = node.ledger
    e3b = note(FORKER, 3, E2A, "three, branch b")
    o2a, o2b = note(OTHER, 1, None, "a"), note(OTHER, 1, None, "b")
    for a, b in ((E3A, e3b), (E2A, E2B), (o2a, o2b)):
        assert ledger.record_evidence(a.wire(), b.wire()) is not None
    assert ledger.evidence(16) == [(o2a.wire(), o2b.wire()), (E2A.wire(), E2B.wire())]
    assert ledger.evidence(1) == [(o2a.wire(), o2b.wire())]


def test_cached_heads_carry_the_hash_and_match_a_fresh_read(tmp_path: Path) -> None:
    identity = NodeIdentity.generate()
    with NodeLedger(tmp_path, identity, build_catalog(), create=True) as nl:
        ledger = nl.ledger
        assert ledger.head_map() == {}
        [own] = nl.append([Draft("note.created", {"text": "mine"})])
        nl.ingest([E1.wire()])
        unsigned = Withheld(FORKER.node_id, 2, E2A.hash, E1.hash_hex, "local")
        marker = Withheld(FORKER.node_id, 2, E2A.hash, E1.hash_hex, "local",
                          FORKER.sign(unsigned.statement()))
        assert nl.ingest([marker]).withheld == 1
        cached = ledger.head_map()
        assert cached[identity.node_id].hash == own.hash
        assert cached[FORKER.node_id].seq == 2 and cached[FORKER.node_id].hash == E2A.hash
        assert ledger.heads() == {identity.node_id: 1, FORKER.node_id: 2}
    with NodeLedger(tmp_path, identity, build_catalog()) as reopened:
        assert reopened.ledger.head_map() == cached
