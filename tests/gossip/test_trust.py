"""TrustState: only newer lists signed by the pinned master key are taken."""

from __future__ import annotations

from hartnode.attestation.revocation import RevocationList, sign_revocations
from hartnode.gossip import wire
from hartnode.gossip.trust import RevocationListMessage, TrustState
from hartnode.identity import NodeIdentity

MASTER = NodeIdentity.from_seed(b"\x07" * 32)
OTHER = NodeIdentity.from_seed(b"\x08" * 32)
VICTIM = NodeIdentity.from_seed(b"\x09" * 32).node_id


def message(seq: int, *, by: NodeIdentity = MASTER, subjects: tuple[str, ...] = (VICTIM,),
            ) -> RevocationListMessage:
    signed = sign_revocations(RevocationList.build(seq=seq, issued_ms=seq, subjects=subjects), by)
    body, sig = signed.to_wire()
    return wire.decode(wire.encode(RevocationListMessage(body, sig)))  # type: ignore[no-any-return]


def test_newer_lists_win_older_and_equal_never_do() -> None:
    trust = TrustState(MASTER.public_key)
    assert not trust.is_revoked(VICTIM)
    assert trust.offer(message(2))
    assert trust.is_revoked(VICTIM)
    assert not trust.offer(message(1, subjects=()))
    assert not trust.offer(message(2))
    assert trust.offer(message(3, subjects=()))
    assert not trust.is_revoked(VICTIM)
    assert trust.counts["not_newer"] == 2


def test_forged_and_conflicting_lists_are_refused_and_counted() -> None:
    trust = TrustState(MASTER.public_key)
    assert not trust.offer(message(1, by=OTHER))
    assert trust.counts["refused_bad_signature"] == 1
    assert trust.offer(message(1))
    assert not trust.offer(message(1, subjects=()))
    assert trust.counts["same_seq_conflict"] == 1
    assert trust.message() == message(1)


def test_without_a_pinned_master_key_nothing_is_taken() -> None:
    trust = TrustState(None)
    assert not trust.offer(message(1)) and trust.message() is None
