"""Handshake core and sealed frames, sans-I/O: no sockets, fixed keys, byte-level attacks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.gossip import handshake as hs
from hartnode.gossip.handshake import (
    HANDSHAKE_REASONS,
    HandshakeError,
    HandshakeResult,
    HandshakeUsageError,
    Initiator,
    Responder,
    State,
)
from hartnode.gossip.secretbox import FrameError, FrameOpener, FrameSealer
from hartnode.identity import NodeIdentity

NET = bytes(range(32))
OTHER_NET = bytes(range(1, 33))
ALICE = NodeIdentity.from_seed(b"a" * 32)
BOB = NodeIdentity.from_seed(b"b" * 32)
MALLORY = NodeIdentity.from_seed(b"m" * 32)
E_A = b"\x11" * 32
E_B = b"\x22" * 32
E_M1 = b"\x33" * 32
E_M2 = b"\x44" * 32


def _run(init: Initiator, resp: Responder) -> tuple[bytes, bytes, bytes]:
    """Drive a handshake to the end; return the three messages as sent."""
    msg1 = init.start()
    (msg2,) = resp.receive(msg1)
    (msg3,) = init.receive(msg2)
    assert resp.receive(msg3) == []
    return msg1, msg2, msg3


def _pair(
    *, init_net: bytes = NET, resp_net: bytes = NET, expected: str | None = None
) -> tuple[Initiator, Responder]:
    return (
        Initiator(ALICE, init_net, E_A, expected_node_id=expected),
        Responder(BOB, resp_net, E_B),
    )


def _fails(reason: str, fn: object, data: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        fn(data)  # type: ignore[operator]
    assert info.value.reason == reason


# --- success ------------------------------------------------------------------------------


def test_handshake_succeeds_and_keys_pair_up() -> None:
    init, resp = _pair(expected=BOB.node_id)
    msgs = _run(init, resp)
    assert [len(m) for m in msgs] == [hs.MSG1_BYTES, hs.MSG2_BYTES, hs.MSG3_BYTES]
    a, b = init.result, resp.result
    assert isinstance(a, HandshakeResult) and isinstance(b, HandshakeResult)
    assert init.state is State.DONE and resp.state is State.DONE
    assert a.remote_node_id == BOB.node_id and b.remote_node_id == ALICE.node_id
    assert a.remote_public_key == BOB.public_key
    assert a.send_key == b.receive_key and a.receive_key == b.send_key
    assert a.send_key != a.receive_key
    assert a.handshake_hash == b.handshake_hash
    assert "key" not in repr(a).replace("remote_node_id", "")


def test_handshake_succeeds_the_other_way_round() -> None:
    init = Initiator(BOB, NET, E_B)
    resp = Responder(ALICE, NET, E_A)
    _run(init, resp)
    assert init.result is not None and resp.result is not None
    assert init.result.remote_node_id == ALICE.node_id
    assert resp.result.remote_node_id == BOB.node_id


def test_fresh_ephemerals_give_fresh_keys() -> None:
    first, second = _pair(), (Initiator(ALICE, NET, b"\x55" * 32), Responder(BOB, NET, E_B))
    _run(*first)
    _run(*second)
    assert first[0].result is not None and second[0].result is not None
    assert first[0].result.send_key != second[0].result.send_key


def test_known_answer_pins_the_protocol() -> None:
    # Fixed identities and ephemerals give fixed bytes (Ed25519 is deterministic).
    # A change here is a wire-protocol change: bump PROTOCOL, do not edit the vector.
    init, resp = _pair()
    _run(init, resp)
    assert init.result is not None
    assert init.result.handshake_hash.hex() == (
        "32f880a084622b02ec3a648e888c4ab92df4bf5700b5977cc6272a879105efaf"
    )
    assert init.result.send_key.hex() == (
        "adbe21fcf76e960ff058639c6a0ce747f26cc28afbbe58c84d628131ae5da58c"
    )


def test_identities_are_not_visible_on_the_wire() -> None:
    msgs = _run(*_pair())
    for msg in msgs:
        for ident in (ALICE, BOB):
            assert ident.public_key not in msg
            assert ident.node_id.encode() not in msg


# --- network key --------------------------------------------------------------------------


def test_wrong_network_key_is_refused_by_the_responder() -> None:
    init, resp = _pair(init_net=OTHER_NET)
    _fails("bad_network_key", resp.receive, init.start())
    assert resp.state is State.FAILED
    with pytest.raises(HandshakeUsageError):
        resp.receive(b"")


def test_wrong_network_key_is_refused_by_the_initiator() -> None:
    # A responder on another network answering a well-formed msg1 of its own network.
    init = Initiator(ALICE, NET, E_A)
    outsider_view = Initiator(ALICE, OTHER_NET, E_A)  # same ephemeral, other network
    resp = Responder(BOB, OTHER_NET, E_B)
    init.start()
    (msg2,) = resp.receive(outsider_view.start())
    _fails("bad_network_key", init.receive, msg2)
    assert init.state is State.FAILED and init.result is None


# --- man in the middle --------------------------------------------------------------------


def test_mitm_swapping_ephemerals_fails() -> None:
    # Mallory holds the network key and relays, replacing Alice's ephemeral with
    # his own towards Bob and recomputing every MAC. Bob's identity box is then
    # keyed from DH(e_b, E_m), which Alice cannot reproduce.
    init, resp = _pair()
    msg1 = init.start()
    e_m = hs.ephemeral_public_key(E_M1)
    forged1 = e_m + hs._mac(NET, hs._MAC1, e_m)
    (msg2,) = resp.receive(forged1)
    e_b = msg2[:32]
    e_a = msg1[:32]
    forged2 = e_b + hs._mac(NET, hs._MAC2, e_b, e_a) + msg2[64:]
    _fails("decrypt_failed", init.receive, forged2)
    # Relaying Bob's msg2 untouched fails even earlier: its MAC binds E_m, not E_a.
    init2, _ = _pair()
    init2.start()
    _fails("bad_network_key", init2.receive, msg2)


def test_mitm_reencrypting_bobs_signature_fails() -> None:
    # Mallory runs one handshake with each side (he holds the network key) and
    # re-seals Bob's signed identity for Alice. Bob signed the transcript with
    # Mallory's ephemeral in it, so Alice rejects the signature.
    alice = Initiator(ALICE, NET, E_A, expected_node_id=BOB.node_id)
    bob = Responder(BOB, NET, E_B)
    to_bob = Initiator(MALLORY, NET, E_M1)
    msg1 = alice.start()
    (msg2_bob,) = bob.receive(to_bob.start())
    # Mallory opens Bob's box (he knows e_m1) ...
    ee_mb = hs._dh(E_M1, msg2_bob[:32])
    th2_mb = hs._transcript(NET, to_bob._msg1, msg2_bob[:64])
    bob_identity = hs._open(hs._kdf(hs._KDF_K2, ee_mb, th2_mb), msg2_bob[64:], th2_mb)
    # ... and re-seals it for Alice under his second ephemeral.
    e_m2 = hs.ephemeral_public_key(E_M2)
    mac2 = hs._mac(NET, hs._MAC2, e_m2, msg1[:32])
    th2_am = hs._transcript(NET, msg1, e_m2, mac2)
    ee_am = hs._dh(E_M2, msg1[:32])
    box = hs._seal(hs._kdf(hs._KDF_K2, ee_am, th2_am), bob_identity, th2_am)
    _fails("bad_signature", alice.receive, e_m2 + mac2 + box)


def test_mitm_relaying_alices_msg3_to_another_session_fails() -> None:
    # msg3 from one session offered to a responder in another session.
    a1, b1 = _pair()
    _, _, msg3 = _run(a1, b1)
    a2 = Initiator(ALICE, NET, E_M1)
    b2 = Responder(BOB, NET, E_B)
    b2.receive(a2.start())
    _fails("decrypt_failed", b2.receive, msg3)


# --- identity checks ----------------------------------------------------------------------


def test_unexpected_node_id_aborts_before_revealing_ourselves() -> None:
    init, resp = _pair(expected=MALLORY.node_id)
    (msg2,) = resp.receive(init.start())
    with pytest.raises(HandshakeError) as info:
        init.receive(msg2)
    assert info.value.reason == "unexpected_node_id"
    assert BOB.node_id in str(info.value)
    assert init.state is State.FAILED and init.result is None


def test_dialling_ourselves_is_detected() -> None:
    init = Initiator(ALICE, NET, E_A)
    resp = Responder(ALICE, NET, E_B)
    (msg2,) = resp.receive(init.start())
    _fails("self_connection", init.receive, msg2)


def test_low_order_ephemeral_is_refused() -> None:
    resp = Responder(BOB, NET, E_B)
    zero = bytes(32)
    _fails("weak_key", resp.receive, zero + hs._mac(NET, hs._MAC1, zero))


# --- tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", [0, 1, 2])
def test_every_flipped_bit_fails(which: int) -> None:
    good = _run(*_pair())
    for i in range(len(good[which])):
        for bit in (0x01, 0x80):
            msg = bytearray(good[which])
            msg[i] ^= bit
            init, resp = _pair()
            msgs = [init.start()]
            with pytest.raises(HandshakeError) as info:
                if which == 0:
                    resp.receive(bytes(msg))
                else:
                    msgs += resp.receive(msgs[0])
                    if which == 1:
                        init.receive(bytes(msg))
                    else:
                        init.receive(msgs[1])
                        resp.receive(bytes(msg))
            assert info.value.reason in HANDSHAKE_REASONS


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_lengths_are_malformed(delta: int) -> None:
    init, resp = _pair()
    msg1 = init.start()
    bad = msg1[:delta] if delta < 0 else msg1 + b"\x00"
    _fails("malformed", resp.receive, bad)
    init, resp = _pair()
    (msg2,) = resp.receive(init.start())
    _fails("malformed", init.receive, msg2[:delta] if delta < 0 else msg2 + b"\x00")
    init, resp = _pair()
    (msg2,) = resp.receive(init.start())
    (msg3,) = init.receive(msg2)
    _fails("malformed", resp.receive, msg3[:delta] if delta < 0 else msg3 + b"\x00")


@settings(max_examples=300)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_random_bytes_only_raise_handshake_error(first: bytes, second: bytes) -> None:
    resp = Responder(BOB, NET, E_B)
    try:
        resp.receive(first)
        resp.receive(second)
    except HandshakeError as e:
        assert e.reason in HANDSHAKE_REASONS
    init = Initiator(ALICE, NET, E_A)
    init.start()
    try:
        init.receive(first)
    except HandshakeError as e:
        assert e.reason in HANDSHAKE_REASONS


# --- local misuse -------------------------------------------------------------------------


def test_out_of_order_calls_are_usage_errors() -> None:
    init, resp = _pair()
    with pytest.raises(HandshakeUsageError):
        init.receive(b"x" * hs.MSG2_BYTES)
    _run(init, resp)
    with pytest.raises(HandshakeUsageError):
        init.start()
    with pytest.raises(HandshakeUsageError):
        resp.receive(b"")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Initiator(ALICE, b"short", E_A)
    with pytest.raises(ValueError):
        Responder(BOB, NET, b"short")
    with pytest.raises(ValueError):
        HandshakeError("nope")  # type: ignore[arg-type]


# --- sealed frames ------------------------------------------------------------------------


def _boxes() -> tuple[FrameSealer, FrameOpener]:
    init, resp = _pair()
    _run(init, resp)
    assert init.result is not None and resp.result is not None
    return FrameSealer(init.result.send_key), FrameOpener(resp.result.receive_key)


def _open_fails(opener: FrameOpener, frame: bytes, reason: str = "open_failed") -> None:
    with pytest.raises(FrameError) as info:
        opener.open(frame)
    assert info.value.reason == reason


def test_frames_open_in_order() -> None:
    sealer, opener = _boxes()
    frames = [sealer.seal(f"m{i}".encode()) for i in range(5)]
    assert [opener.open(f) for f in frames] == [f"m{i}".encode() for i in range(5)]
    assert sealer.counter == opener.counter == 5
    assert sealer.seal(b"") != sealer.seal(b"")  # implicit nonce: equal texts differ


def test_replayed_frame_fails_and_poisons_the_opener() -> None:
    sealer, opener = _boxes()
    first = sealer.seal(b"one")
    second = sealer.seal(b"two")
    assert opener.open(first) == b"one"
    _open_fails(opener, first)
    _open_fails(opener, second, "after_failure")  # the link is over


def test_reordered_frames_fail() -> None:
    sealer, opener = _boxes()
    first, second = sealer.seal(b"one"), sealer.seal(b"two")
    _open_fails(opener, second)
    _open_fails(opener, first, "after_failure")


def test_dropped_frame_fails_the_next_one() -> None:
    sealer, opener = _boxes()
    frames = [sealer.seal(b"x") for _ in range(3)]
    assert opener.open(frames[0]) == b"x"
    _open_fails(opener, frames[2])


def test_tampered_and_cut_frames_fail() -> None:
    sealer, _ = _boxes()
    frame = sealer.seal(b"hello world")
    for i in range(len(frame)):
        bad = bytearray(frame)
        bad[i] ^= 0x01
        _, opener = _boxes()
        _open_fails(opener, bytes(bad))
    for cut in range(len(frame)):
        _, opener = _boxes()
        _open_fails(opener, frame[:cut])
    _, opener = _boxes()
    _open_fails(opener, frame + b"\x00")


def test_directions_do_not_cross() -> None:
    init, resp = _pair()
    _run(init, resp)
    assert init.result is not None
    # A frame reflected back at its sender does not open.
    own_frame = FrameSealer(init.result.send_key).seal(b"ping")
    _open_fails(FrameOpener(init.result.receive_key), own_frame)


def test_frame_keys_are_checked() -> None:
    with pytest.raises(ValueError):
        FrameSealer(b"short")
    with pytest.raises(ValueError):
        FrameOpener(b"x" * 33)
