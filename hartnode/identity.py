"""The node's Ed25519 identity.

The node id is the lowercase hex of the 32-byte Ed25519 public key
(DESIGN §1 ``origin``); ``short_id`` is only for display.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing

NODE_ID_HEX_LEN = 64


def short_id(node_id: str) -> str:
    """First 12 hex digits of a node id, for logs and tables."""
    return node_id[:12]


def is_node_id(value: object) -> bool:
    """True when ``value`` is a 64-digit lowercase hex string."""
    if not isinstance(value, str) or len(value) != NODE_ID_HEX_LEN:
        return False
    try:
        return bytes.fromhex(value).hex() == value
    except ValueError:
        return False


def verify_signature(node_id_bytes: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``.

    Uses the libsodium binding directly: it is the hot path of ingest and of
    ``kb verify``, and skips PyNaCl's object construction per call.
    """
    if len(signature) != 64 or len(node_id_bytes) != 32:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, node_id_bytes)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class NodeIdentity:
    """An Ed25519 key pair; ``node_id`` is the hex public key."""

    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> NodeIdentity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeIdentity:
        """Build from a 32-byte seed (the form stored in ``node.key``)."""
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self.signing_key)

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def node_id(self) -> str:
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        """Detached 64-byte Ed25519 signature of ``message``."""
        return nacl.bindings.crypto_sign(message, self.signing_key._signing_key)[:64]
