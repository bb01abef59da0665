"""Mutual authenticated key agreement: a sans-I/O core (DESIGN §3 "Transport and handshake").

The shape is Noise XX (three messages) with the network-key gate of
Scuttlebutt's secret handshake and SIGMA-style signatures, from libsodium
primitives only: X25519 for the ephemeral Diffie-Hellman, Ed25519 for
identities, BLAKE3 (keyed and derive_key modes) for MACs, transcript and key
derivation, XChaCha20-Poly1305 for the encrypted identity payloads.

No I/O, clock or randomness in here: the shell passes the ephemeral private
key in and moves the returned bytes; each handshake message is one binary
WebSocket message.

Notation: ``N`` network key (32 bytes); ``e_i, E_i`` / ``e_r, E_r`` the
initiator's / responder's ephemeral X25519 keys; ``S_i`` / ``S_r`` their
Ed25519 public keys (node ids); ``MAC(k, m)`` = keyed BLAKE3; ``H(m)`` =
BLAKE3 keyed with ``N`` over ``PROTOCOL || m``; ``KDF(ctx, m)`` = BLAKE3
derive_key with context ``ctx``; ``ee`` = X25519(e_i, E_r) = X25519(e_r, E_i);
``AEAD(k, p, ad)`` = XChaCha20-Poly1305 with an all-zero nonce (every key
below seals exactly one message).

    1. I -> R  msg1 = E_i || MAC(N, "msg1" || E_i)                      64 bytes
               R checks the MAC; a wrong one means the dialer lacks N:
               R answers nothing and closes (it learns and gives nothing).
    2. R -> I  msg2 = E_r || MAC(N, "msg2" || E_r || E_i)
                      || AEAD(k2, S_r || sig_r, ad=th2)                176 bytes
               th2   = H(msg1 || E_r || mac2)
               k2    = KDF("responder identity", ee || th2)
               sig_r = Sign(S_r, "responder" || th2 || S_r)
               I checks the MAC (R holds N), opens the box, verifies sig_r,
               and aborts if S_r is not the node id it expected (before it has
               revealed its own identity).
    3. I -> R  msg3 = AEAD(k3, S_i || sig_i, ad=th3)                  112 bytes
               th3   = H(msg1 || msg2)
               k3    = KDF("initiator identity", ee || th3)
               sig_i = Sign(S_i, "initiator" || th3 || S_i)
    Then both: th4 = H(msg1 || msg2 || msg3) (the handshake hash) and one key
               per direction, KDF("initiator to responder" / "responder to
               initiator", ee || th4).

Why it holds: each signature covers the transcript hash, which is keyed with
``N`` and contains both ephemerals, so a man in the middle who swaps
ephemeral keys makes the two transcripts differ and cannot reuse either
signature; he also cannot open the identity boxes without an ephemeral
private key. Identities travel only inside boxes keyed from ``ee``, so a
passive observer learns neither node id; the initiator reveals its own only
after it has authenticated the responder. Session keys come from ``ee``, so
a later theft of an identity key does not open recorded traffic.

Errors: ``HandshakeError`` (the peer misbehaved or is on another network;
``reason`` is one of ``HANDSHAKE_REASONS``) versus ``HandshakeUsageError``
(this side called the API out of order).
"""

from __future__ import annotations

import enum
import hmac
import typing
from dataclasses import dataclass
from typing import Final, Literal

import blake3
import nacl.bindings
import nacl.exceptions

from hartnode.identity import NodeIdentity, verify_signature
from hartnode.protocol import RemoteProtocolError

PROTOCOL: Final = b"hartnode/handshake/1"

NETWORK_KEY_BYTES: Final = 32
EPHEMERAL_BYTES: Final = 32  # X25519 private and public keys
SESSION_KEY_BYTES: Final = 32
_PUB: Final = 32  # Ed25519 public key
_SIG: Final = 64  # Ed25519 signature
_MAC: Final = 32
_TAG: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
_ZERO_NONCE: Final = bytes(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)

MSG1_BYTES: Final = EPHEMERAL_BYTES + _MAC
MSG2_BYTES: Final = EPHEMERAL_BYTES + _MAC + _PUB + _SIG + _TAG
MSG3_BYTES: Final = _PUB + _SIG + _TAG

# Domain-separation labels: every MAC, signature and key has its own, so no
# value computed for one purpose is ever accepted for another (in particular
# a responder signature can never pass as an initiator one).
_MAC1: Final = PROTOCOL + b" msg1 mac"
_MAC2: Final = PROTOCOL + b" msg2 mac"
_SIG_R: Final = PROTOCOL + b" responder signature"
_SIG_I: Final = PROTOCOL + b" initiator signature"
_KDF_K2: Final = "hartnode handshake v1 responder identity key"
_KDF_K3: Final = "hartnode handshake v1 initiator identity key"
_KDF_I2R: Final = "hartnode handshake v1 session key initiator to responder"
_KDF_R2I: Final = "hartnode handshake v1 session key responder to initiator"

HandshakeReason = Literal[
    "bad_network_key",  # the peer's MAC does not verify under our network key
    "malformed",  # a message of the wrong length
    "weak_key",  # an ephemeral key of low order (the DH output would be zero)
    "decrypt_failed",  # an identity box does not open (tampered, or a relay in the middle)
    "bad_signature",  # the transcript signature does not verify
    "unexpected_node_id",  # the responder is not the node the dialer asked for
    "self_connection",  # the peer holds our own identity (we dialled ourselves)
]
HANDSHAKE_REASONS: Final[frozenset[str]] = frozenset(typing.get_args(HandshakeReason))


class HandshakeError(RemoteProtocolError[HandshakeReason]):
    """The peer failed the handshake. End the connection without replying.

    Attributes:
        reason: one of ``HANDSHAKE_REASONS``; stable, used as a metrics label.
    """

    REASONS = HANDSHAKE_REASONS
    KIND = "handshake"


class HandshakeUsageError(RuntimeError):
    """This side used the handshake object out of order (a local bug)."""


class State(enum.Enum):
    START = "start"  # initiator: start() not yet called
    WAIT_MSG1 = "wait_msg1"  # responder
    WAIT_MSG2 = "wait_msg2"  # initiator
    WAIT_MSG3 = "wait_msg3"  # responder
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class HandshakeResult:
    """What a finished handshake yields.

    Attributes:
        remote_node_id: the peer's node id (hex Ed25519 public key), proven.
        remote_public_key: the same, as 32 raw bytes.
        send_key: seals frames this side sends.
        receive_key: opens frames this side receives.
        handshake_hash: th4, unique to this session (for channel binding).
    """

    remote_node_id: str
    remote_public_key: bytes
    send_key: bytes
    receive_key: bytes
    handshake_hash: bytes

    def __repr__(self) -> str:  # keys stay out of logs
        return f"HandshakeResult(remote_node_id={self.remote_node_id!r})"


def ephemeral_public_key(private: bytes) -> bytes:
    """The X25519 public key of a 32-byte private key (any 32 random bytes)."""
    return nacl.bindings.crypto_scalarmult_base(private)


def _mac(network_key: bytes, label: bytes, *parts: bytes) -> bytes:
    return blake3.blake3(label + b"".join(parts), key=network_key).digest()


def _transcript(network_key: bytes, *messages: bytes) -> bytes:
    return blake3.blake3(PROTOCOL + b"".join(messages), key=network_key).digest()


def _kdf(context: str, *parts: bytes) -> bytes:
    return blake3.blake3(b"".join(parts), derive_key_context=context).digest()


def _dh(private: bytes, public: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_scalarmult(private, public)
    except nacl.exceptions.RuntimeError:
        # libsodium refuses an all-zero result: the peer sent a low-order point
        raise HandshakeError("weak_key") from None


def _seal(key: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, _ZERO_NONCE, key)


def _open(key: bytes, box: bytes, ad: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(box, ad, _ZERO_NONCE, key)
    except (nacl.exceptions.CryptoError, ValueError):
        raise HandshakeError("decrypt_failed") from None


def _check_args(network_key: bytes, ephemeral_private: bytes) -> None:
    if type(network_key) is not bytes or len(network_key) != NETWORK_KEY_BYTES:
        raise ValueError(f"network key must be {NETWORK_KEY_BYTES} bytes")
    if type(ephemeral_private) is not bytes or len(ephemeral_private) != EPHEMERAL_BYTES:
        raise ValueError(f"ephemeral private key must be {EPHEMERAL_BYTES} bytes")


class _Side:
    """State shared by both roles."""

    def __init__(
        self, identity: NodeIdentity, network_key: bytes, ephemeral_private: bytes
    ) -> None:
        _check_args(network_key, ephemeral_private)
        self._identity = identity
        self._n = network_key
        self._e = ephemeral_private
        self._e_pub = ephemeral_public_key(ephemeral_private)
        self.state = State.START
        self.result: HandshakeResult | None = None

    def _expect(self, state: State) -> None:
        if self.state is not state:
            raise HandshakeUsageError(f"called in state {self.state.value}, need {state.value}")

    def _fail(self, err: HandshakeError) -> HandshakeError:
        self.state = State.FAILED
        self._e = b""  # forget the secret; this object is finished
        return err

    def _finish(self, ee: bytes, th4: bytes, remote: bytes, *, initiator: bool) -> None:
        i2r = _kdf(_KDF_I2R, ee, th4)
        r2i = _kdf(_KDF_R2I, ee, th4)
        self.result = HandshakeResult(
            remote_node_id=remote.hex(),
            remote_public_key=remote,
            send_key=i2r if initiator else r2i,
            receive_key=r2i if initiator else i2r,
            handshake_hash=th4,
        )
        self.state = State.DONE
        self._e = b""


def _open_identity(key: bytes, box: bytes, th: bytes, label: bytes, own: bytes) -> bytes:
    """Open an identity box and verify its signature. Returns the peer's public key."""
    plain = _open(key, box, th)
    remote, sig = plain[:_PUB], plain[_PUB:]
    if not verify_signature(remote, label + th + remote, sig):
        raise HandshakeError("bad_signature")
    if hmac.compare_digest(remote, own):
        raise HandshakeError("self_connection")
    return remote


class Initiator(_Side):
    """The dialing side: ``start()``, then ``receive(msg2)`` returns ``[msg3]``.

    Args:
        identity: our Ed25519 identity.
        network_key: the 32-byte network key.
        ephemeral_private: 32 fresh random bytes, used for this handshake only.
        expected_node_id: when set, abort unless the responder proves this id.

    Raises:
        ValueError: a key of the wrong size.
    """

    def __init__(
        self,
        identity: NodeIdentity,
        network_key: bytes,
        ephemeral_private: bytes,
        expected_node_id: str | None = None,
    ) -> None:
        super().__init__(identity, network_key, ephemeral_private)
        self._expected = expected_node_id
        self._msg1 = b""

    def start(self) -> bytes:
        """Return msg1, the first bytes to send.

        Raises:
            HandshakeUsageError: called twice.
        """
        self._expect(State.START)
        self._msg1 = self._e_pub + _mac(self._n, _MAC1, self._e_pub)
        self.state = State.WAIT_MSG2
        return self._msg1

    def receive(self, data: bytes) -> list[bytes]:
        """Process msg2; return ``[msg3]`` to send. ``result`` is then set.

        Raises:
            HandshakeError: the responder failed (see ``HANDSHAKE_REASONS``);
                the object is then FAILED.
            HandshakeUsageError: not waiting for msg2.
        """
        self._expect(State.WAIT_MSG2)
        try:
            return [self._receive_msg2(data)]
        except HandshakeError as e:
            raise self._fail(e) from None

    def _receive_msg2(self, msg2: bytes) -> bytes:
        if len(msg2) != MSG2_BYTES:
            raise HandshakeError("malformed", f"msg2 of {len(msg2)} bytes")
        e_r, mac2, box = msg2[:32], msg2[32:64], msg2[64:]
        if not hmac.compare_digest(mac2, _mac(self._n, _MAC2, e_r, self._e_pub)):
            raise HandshakeError("bad_network_key")
        ee = _dh(self._e, e_r)
        th2 = _transcript(self._n, self._msg1, e_r, mac2)
        own = self._identity.public_key
        remote = _open_identity(_kdf(_KDF_K2, ee, th2), box, th2, _SIG_R, own)
        if self._expected is not None and remote.hex() != self._expected:
            # abort before msg3: the wrong peer never learns who we are
            raise HandshakeError("unexpected_node_id", remote.hex())
        th3 = _transcript(self._n, self._msg1, msg2)
        sig_i = self._identity.sign(_SIG_I + th3 + own)
        msg3 = _seal(_kdf(_KDF_K3, ee, th3), own + sig_i, th3)
        self._finish(ee, _transcript(self._n, self._msg1, msg2, msg3), remote, initiator=True)
        return msg3


class Responder(_Side):
    """The accepting side: ``receive(msg1)`` returns ``[msg2]``, ``receive(msg3)`` returns ``[]``.

    Args:
        identity: our Ed25519 identity.
        network_key: the 32-byte network key.
        ephemeral_private: 32 fresh random bytes, used for this handshake only.

    Raises:
        ValueError: a key of the wrong size.
    """

    def __init__(
        self, identity: NodeIdentity, network_key: bytes, ephemeral_private: bytes
    ) -> None:
        super().__init__(identity, network_key, ephemeral_private)
        self.state = State.WAIT_MSG1
        self._msg1 = b""
        self._msg2 = b""
        self._ee = b""

    def receive(self, data: bytes) -> list[bytes]:
        """Process the next handshake message; return the messages to send.

        After msg3, ``result`` is set and the list is empty.

        Raises:
            HandshakeError: the initiator failed (see ``HANDSHAKE_REASONS``); on
                ``bad_network_key`` send nothing back. The object is then FAILED.
            HandshakeUsageError: the handshake is already finished or failed.
        """
        if self.state not in (State.WAIT_MSG1, State.WAIT_MSG3):
            raise HandshakeUsageError(f"called in state {self.state.value}")
        try:
            if self.state is State.WAIT_MSG1:
                return [self._receive_msg1(data)]
            self._receive_msg3(data)
            return []
        except HandshakeError as e:
            self._ee = b""
            raise self._fail(e) from None

    def _receive_msg1(self, msg1: bytes) -> bytes:
        if len(msg1) != MSG1_BYTES:
            raise HandshakeError("malformed", f"msg1 of {len(msg1)} bytes")
        e_i, mac1 = msg1[:32], msg1[32:]
        if not hmac.compare_digest(mac1, _mac(self._n, _MAC1, e_i)):
            raise HandshakeError("bad_network_key")
        self._ee = _dh(self._e, e_i)
        self._e = b""  # ee is all we need from here on
        mac2 = _mac(self._n, _MAC2, self._e_pub, e_i)
        th2 = _transcript(self._n, msg1, self._e_pub, mac2)
        own = self._identity.public_key
        sig_r = self._identity.sign(_SIG_R + th2 + own)
        box = _seal(_kdf(_KDF_K2, self._ee, th2), own + sig_r, th2)
        self._msg1 = msg1
        self._msg2 = self._e_pub + mac2 + box
        self.state = State.WAIT_MSG3
        return self._msg2

    def _receive_msg3(self, msg3: bytes) -> None:
        if len(msg3) != MSG3_BYTES:
            raise HandshakeError("malformed", f"msg3 of {len(msg3)} bytes")
        th3 = _transcript(self._n, self._msg1, self._msg2)
        own = self._identity.public_key
        remote = _open_identity(_kdf(_KDF_K3, self._ee, th3), msg3, th3, _SIG_I, own)
        th4 = _transcript(self._n, self._msg1, self._msg2, msg3)
        self._finish(self._ee, th4, remote, initiator=False)
        self._ee = b""
