"""Sealed frames after the handshake: a sans-I/O core (DESIGN §3).

Every frame is XChaCha20-Poly1305 (libsodium's IETF AEAD) under the session
key of its direction, with an implicit nonce: a 64-bit counter that both
sides advance in step and that never travels on the wire. Frame ``n`` opens
only as frame ``n``, so

- a replayed frame (an old counter) fails to open,
- a reordered frame fails to open,
- a dropped frame makes the next one fail to open (truncation in the middle;
  truncation at the end shows as a stream that stops without a sealed
  ``wire.Close``),
- a tampered frame fails its Poly1305 tag.

Each failure raises ``FrameError``; the opener then refuses everything after
it, because once a frame is lost the counters can never agree again. The
transport ends the link.

Nonce layout: the counter as 8 little-endian bytes followed by 16 zero bytes.
Each direction has its own key (``HandshakeResult.send_key`` /
``receive_key``), so the two directions never share a (key, nonce) pair.
"""

from __future__ import annotations

import typing
from typing import Final, Literal

import nacl.bindings
import nacl.exceptions

from hartnode.protocol import RemoteProtocolError

KEY_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
TAG_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
_NONCE_PAD: Final = bytes(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES - 8)
_MAX_COUNTER: Final = 2**64 - 1

FrameReason = Literal[
    "open_failed",  # tag mismatch: tampered, replayed, reordered, after a drop, or too short
    "after_failure",  # a frame offered to an opener that already failed
    "counter_exhausted",  # 2**64 frames in one direction; never in practice
]
FRAME_REASONS: Final[frozenset[str]] = frozenset(typing.get_args(FrameReason))


class FrameError(RemoteProtocolError[FrameReason]):
    """A sealed frame cannot be opened (or sealed); end the connection.

    Attributes:
        reason: one of ``FRAME_REASONS``; stable, used as a metrics label.
    """

    REASONS = FRAME_REASONS
    KIND = "frame"


def _nonce(counter: int) -> bytes:
    return counter.to_bytes(8, "little") + _NONCE_PAD


def _check_key(key: bytes) -> None:
    if type(key) is not bytes or len(key) != KEY_BYTES:
        raise ValueError(f"a frame key is {KEY_BYTES} bytes")


class FrameSealer:
    """Seals the frames of one direction, in order.

    Args:
        key: that direction's 32-byte session key.

    Raises:
        ValueError: a key of the wrong size.
    """

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._key = key
        self._counter = 0

    @property
    def counter(self) -> int:
        """How many frames have been sealed."""
        return self._counter

    def seal(self, plaintext: bytes) -> bytes:
        """Seal the next frame: ``len(plaintext) + TAG_BYTES`` bytes.

        The frames must be sent in the order they were sealed.

        Raises:
            FrameError: ``counter_exhausted`` after 2**64 frames.
        """
        if self._counter > _MAX_COUNTER:
            raise FrameError("counter_exhausted")
        frame = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            plaintext, None, _nonce(self._counter), self._key
        )
        self._counter += 1
        return frame


class FrameOpener:
    """Opens the frames of one direction, in order; the first failure is final.

    Args:
        key: that direction's 32-byte session key.

    Raises:
        ValueError: a key of the wrong size.
    """

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._key = key
        self._counter = 0
        self._failed = False

    @property
    def counter(self) -> int:
        """How many frames have been opened."""
        return self._counter

    def open(self, frame: bytes) -> bytes:
        """Open the next frame and return its plaintext.

        Raises:
            FrameError: ``open_failed`` when the frame is not the next one sealed
                with this key (tampered, replayed, reordered, a frame was
                dropped before it, or it is cut short); ``after_failure`` for
                any frame once one has failed; ``counter_exhausted`` after 2**64.
        """
        if self._failed:
            raise FrameError("after_failure")
        if self._counter > _MAX_COUNTER:
            self._failed = True
            raise FrameError("counter_exhausted")
        try:
            plaintext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                frame, None, _nonce(self._counter), self._key
            )
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            # CryptoError: bad tag; ValueError: shorter than a tag
            self._failed = True
            raise FrameError("open_failed") from None
        self._counter += 1
        return plaintext
