"""What the cores share (``hartnode.protocol``): one reasoned-error base that says who is
at fault, and one timer shape the shell drives."""

from __future__ import annotations

import dataclasses
import random

import pytest

from hartnode import config
from hartnode.attestation.certificate import CertificateError, ChainError
from hartnode.attestation.revocation import RevocationError
from hartnode.gossip import overlay_config
from hartnode.gossip.handshake import HandshakeError
from hartnode.gossip.hyparview import HyParView, PeerInfo
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.peer_record import PeerRecordError
from hartnode.gossip.plumtree import Plumtree
from hartnode.gossip.secretbox import FrameError
from hartnode.gossip.transport import LinkClosed
from hartnode.gossip.wire import DecodeError
from hartnode.ledger.envelope import EnvelopeError
from hartnode.protocol import (
    LocalProtocolError,
    ReasonedError,
    RemoteProtocolError,
    TimerCore,
    is_due,
    next_timer,
)
from hartnode.testing.flood import FloodGossip

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


class _Core:
    def __init__(self, at: float | None) -> None:
        self.at = at
        self.fired: list[float] = []

    def get_timer(self) -> float | None:
        return self.at

    def handle_timer(self, now: float) -> list[object]:
        self.fired.append(now)
        return []


def test_the_shell_sleeps_until_the_earliest_armed_timer_and_fires_only_due_cores() -> None:
    early, late, idle = _Core(1.5), _Core(4.0), _Core(None)
    assert next_timer([late, idle, early]) == 1.5
    assert next_timer([idle]) is None
    assert next_timer([_Core(0.0), late]) == 0.0  # a timer at 0.0 is armed, not "none"
    assert [is_due(c, 1.5) for c in (early, late, idle)] == [True, False, False]


def test_every_gossip_core_has_the_one_timer_shape() -> None:
    hv = HyParView(PeerInfo("a" * 64, "ws://a"), OverlayConfig(), random.Random(1))
    pt = Plumtree("a" * 64, OverlayConfig(), random.Random(1))
    for core in (hv, pt, FloodGossip("a" * 64, 3, random.Random(1))):
        assert isinstance(core, TimerCore)
    assert isinstance(hv.get_timer(), float)
    assert pt.get_timer() is None  # nothing broadcast, nothing to graft or flush


def test_one_table_of_bandwidth_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config takes the profile names from the overlay's table, not a copy: a
    profile added there is one config accepts, and one taken out is refused."""
    assert config.PROFILES is overlay_config.PROFILES
    monkeypatch.setitem(overlay_config.PROFILES, "tiny", overlay_config.minimal)

    def with_profile(name: str) -> config.Config:
        base = config.Config()
        return dataclasses.replace(base, network=dataclasses.replace(base.network, profile=name))

    tiny = with_profile("tiny")
    assert config.validate(tiny) is tiny
    monkeypatch.delitem(overlay_config.PROFILES, "constrained")
    with pytest.raises(config.ConfigError, match=r"network\.profile"):
        config.validate(with_profile("constrained"))
