"""Every typed protocol error derives from one reasoned base and says who is at fault."""

from __future__ import annotations

import pytest

from hartnode.attestation.certificate import CertificateError, ChainError
from hartnode.attestation.revocation import RevocationError
from hartnode.gossip.handshake import HandshakeError
from hartnode.gossip.peer_record import PeerRecordError
from hartnode.gossip.secretbox import FrameError
from hartnode.gossip.transport import LinkClosed
from hartnode.gossip.wire import DecodeError
from hartnode.ledger.envelope import EnvelopeError
from hartnode.protocol import LocalProtocolError, ReasonedError, RemoteProtocolError

PEER_AT_FAULT = [
    (DecodeError, ("truncated", "3 bytes")),
    (HandshakeError, ("bad_signature", "x")),
    (FrameError, ("open_failed",)),
    (CertificateError, ("malformed", "x")),
    (RevocationError, ("malformed", "x")),
    (PeerRecordError, ("too_large", "x")),
]


@pytest.mark.parametrize(("cls", "args"), PEER_AT_FAULT)
def test_peer_errors_are_remote_protocol_errors_with_their_reason(
    cls: type[ReasonedError], args: tuple[str, ...]
) -> None:
    err = cls(*args)
    assert isinstance(err, RemoteProtocolError)
    assert not isinstance(err, LocalProtocolError)
    assert err.reason == args[0]
    assert str(err) == (f"{args[0]}: {args[1]}" if len(args) > 1 else args[0])


@pytest.mark.parametrize("cls", [DecodeError, HandshakeError, CertificateError, RevocationError])
def test_a_family_refuses_a_reason_it_does_not_list(cls: type[ReasonedError]) -> None:
    with pytest.raises(ValueError, match=r"unknown .* reason"):
        cls("no_such_reason")


def test_chain_error_keeps_its_hop_and_message() -> None:
    err = ChainError("path_len", 2, "too long")
    assert isinstance(err, RemoteProtocolError)
    assert (err.reason, err.hop_index, str(err)) == ("path_len", 2, "path_len at link 2: too long")


def test_errors_of_either_side_are_plain_reasoned_errors() -> None:
    # Who is at fault depends on the caller (our own append or a peer's ingest;
    # a link we closed or one the peer closed).
    for err in (EnvelopeError("bad_hash", "x"), LinkClosed("closed_locally")):
        assert isinstance(err, ReasonedError)
        assert not isinstance(err, RemoteProtocolError | LocalProtocolError)
    assert isinstance(EnvelopeError("bad_hash", "x"), ValueError)  # callers still catch it so
