"""Revocation lists signed by the master key, with a monotonic sequence (DESIGN §3).

A revocation list is one JCS object, signed by the master key:

    {"v": 1,
     "seq": <1, 2, 3, ...: each new list has the previous seq + 1>,
     "issued_ms": <ms since the Unix epoch, when the master signed it>,
     "serials": ["<certificate serial>", ...],      sorted, no duplicates
     "subjects": ["<node id hex>", ...]}            sorted, no duplicates

It travels as (canonical bytes, 64-byte signature), the signature being
``Ed25519(master key, REVOCATION_SIG_CONTEXT + canonical bytes)``.

Lists are cumulative: each one holds everything revoked so far, so a node
needs only the newest. A revoked serial kills that one certificate; a revoked
subject kills every certificate for that key, past and future (use it when a
key leaks). A node keeps the list with the higher seq (``gossip.trust``); a list with a lower
or equal seq never replaces the one held, and a list the pinned master did not
sign is refused. Two different lists with the same seq mean the master key
signed both (misuse or theft): the first one seen is kept, and
``same_seq_conflict`` lets the caller raise the alarm.

Revocation file (``cert revoke`` writes it; spread it to nodes): JSON
``{"revocations": <the list object>, "sig": "<128 lowercase hex digits>"}``.
The signed bytes are the object's JCS form, recomputed on load.
"""

from __future__ import annotations

import itertools
import json
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from hartnode.attestation.certificate import (
    SIGNATURE_LEN,
    CertificateError,
    canonical_object,
    is_serial,
    parse_json,
)
from hartnode.canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonical_bytes
from hartnode.identity import NodeIdentity, is_node_id, verify_signature
from hartnode.protocol import RemoteProtocolError

REVOCATION_VERSION: Final = 1
REVOCATION_SIG_CONTEXT: Final = b"hartnode/revocations/1\x00"
MAX_REVOKED: Final = 16384  # entries in each of "serials" and "subjects"
# Every entry at its longest, plus room for the envelope: 16384 * (35 + 67) + slack.
MAX_REVOCATION_BYTES: Final = 2 << 20
MAX_REVOCATION_FILE_BYTES: Final = 3 << 20  # pretty-printed
_FIELDS: Final = frozenset({"v", "seq", "issued_ms", "serials", "subjects"})

RevocationReason = Literal[
    "too_large",  # more bytes than the limit
    "malformed",  # not UTF-8 JSON, not an object, wrong shape of a revocation file
    "not_canonical",  # valid JSON but not the JCS bytes of itself
    "unsupported_version",  # "v" is not REVOCATION_VERSION
    "bad_field",  # a missing, extra or invalid field
    "bad_signature",  # not signed by the pinned master key
]
REVOCATION_REASONS: Final[frozenset[str]] = frozenset(typing.get_args(RevocationReason))


class RevocationError(RemoteProtocolError[RevocationReason]):
    """Bytes are not a revocation list the pinned master signed. The sender is at fault.

    Attributes:
        reason: one of ``REVOCATION_REASONS``; stable, used as a metrics label.
        detail: free text for logs; never parse it.
    """

    REASONS = REVOCATION_REASONS
    KIND = "revocation"


def _bad(detail: str) -> RevocationError:
    return RevocationError("bad_field", detail)


# The bounded JSON reader is shared with certificates; its reasons exist here too.
_JSON_REASONS: Final[dict[str, RevocationReason]] = {
    "too_large": "too_large", "malformed": "malformed", "not_canonical": "not_canonical"}


def _from_json_error(e: CertificateError) -> RevocationError:
    return RevocationError(_JSON_REASONS.get(e.reason, "malformed"), e.detail)


def _sorted_unique(name: str, items: object, valid: Callable[[object], bool]) -> None:
    if type(items) is not tuple or len(items) > MAX_REVOKED:
        raise _bad(f"{name} must hold at most {MAX_REVOKED} entries")
    if not all(valid(x) for x in items):
        raise _bad(f"{name} holds an invalid entry")
    # Strictly increasing (ASCII only, so code-point order is JCS order): one form.
    if any(a >= b for a, b in itertools.pairwise(items)):
        raise _bad(f"{name} must be sorted and unique")


@dataclass(frozen=True)
class RevocationList:
    """The fields of one revocation list. Built only valid.

    ``serials`` and ``subjects`` are sorted tuples; lookups use frozensets.

    Raises (on construction):
        RevocationError: ``bad_field`` or ``unsupported_version``.
    """

    seq: int
    issued_ms: int
    serials: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    v: int = REVOCATION_VERSION
    _serial_set: frozenset[str] = field(init=False, repr=False, compare=False)
    _subject_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.v) is not int or self.v != REVOCATION_VERSION:
            raise RevocationError("unsupported_version", f"v={self.v!r}")
        for name, low in (("seq", 1), ("issued_ms", 0)):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= MAX_SAFE_INTEGER:
                raise _bad(f"{name} must be an integer in [{low}, 2^53-1]")
        _sorted_unique("serials", self.serials, is_serial)
        _sorted_unique("subjects", self.subjects, is_node_id)
        object.__setattr__(self, "_serial_set", frozenset(self.serials))
        object.__setattr__(self, "_subject_set", frozenset(self.subjects))

    @classmethod
    def build(cls, *, seq: int, issued_ms: int, serials: Iterable[str] = (),
              subjects: Iterable[str] = ()) -> RevocationList:
        """Build from unsorted, possibly repeated entries.

        Raises:
            RevocationError: ``bad_field``.
        """
        return cls(seq=seq, issued_ms=issued_ms, serials=tuple(sorted(set(serials))),
                   subjects=tuple(sorted(set(subjects))))

    def is_serial_revoked(self, serial: str) -> bool:
        """True when the certificate with this serial is revoked."""
        return serial in self._serial_set

    def is_subject_revoked(self, node_id: str) -> bool:
        """True when every certificate for this key is revoked."""
        return node_id in self._subject_set

    def newer(self, other: RevocationList | None) -> bool:
        """True when this list should replace ``other`` (strictly higher seq)."""
        return other is None or self.seq > other.seq

    def extended(self, *, issued_ms: int, serials: Iterable[str] = (),
                 subjects: Iterable[str] = ()) -> RevocationList:
        """The next list: everything here plus the new entries, seq + 1.

        Raises:
            RevocationError: ``bad_field`` (an invalid entry, or too many).
        """
        return RevocationList.build(seq=self.seq + 1, issued_ms=issued_ms,
                                    serials=[*self.serials, *serials],
                                    subjects=[*self.subjects, *subjects])

    def to_json(self) -> dict[str, Any]:
        """The JSON object that is canonicalised and signed."""
        return {"v": self.v, "seq": self.seq, "issued_ms": self.issued_ms,
                "serials": list(self.serials), "subjects": list(self.subjects)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RevocationList:
        """Build from a parsed object with exactly the list's keys.

        Raises:
            RevocationError: ``unsupported_version`` or ``bad_field``.
        """
        if "v" in obj and (type(obj["v"]) is not int or obj["v"] != REVOCATION_VERSION):
            raise RevocationError("unsupported_version", f"v={obj['v']!r}")
        if obj.keys() != _FIELDS:
            raise _bad(f"fields must be exactly {sorted(_FIELDS)}")
        if type(obj["serials"]) is not list or type(obj["subjects"]) is not list:
            raise _bad("serials and subjects must be lists")
        return cls(seq=obj["seq"], issued_ms=obj["issued_ms"], serials=tuple(obj["serials"]),
                   subjects=tuple(obj["subjects"]), v=obj["v"])


@dataclass(frozen=True)
class SignedRevocationList:
    """A revocation list with its canonical bytes and the master's signature.

    Obtain one only from ``sign_revocations`` or ``decode_revocations`` (which
    checks the signature); a node takes lists from the wire only through
    ``decode_revocations``, so a hand-built one cannot take over.
    """

    revocations: RevocationList
    body: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def seq(self) -> int:
        return self.revocations.seq

    def to_wire(self) -> tuple[bytes, bytes]:
        """The (list bytes, signature) pair to send."""
        return self.body, self.signature


def sign_revocations(revocations: RevocationList, master: NodeIdentity) -> SignedRevocationList:
    """Sign a list with the master key (``cert revoke`` does this offline)."""
    body = canonical_bytes(revocations.to_json())
    return SignedRevocationList(revocations, body,
                                master.sign(REVOCATION_SIG_CONTEXT + body))


def decode_revocations(body: bytes, signature: bytes, *,
                       master_public_key: bytes) -> SignedRevocationList:
    """Decode an untrusted (bytes, signature) pair and check the master's signature.

    The signature is checked first, so an unsigned list costs no JSON parsing.

    Raises:
        RevocationError: any reason in ``REVOCATION_REASONS``.
    """
    if type(body) is not bytes or type(signature) is not bytes:
        raise RevocationError("malformed", "list and signature must be bytes")
    if len(body) > MAX_REVOCATION_BYTES:
        raise RevocationError("too_large", f"{len(body)} bytes > {MAX_REVOCATION_BYTES}")
    if len(signature) != SIGNATURE_LEN or not verify_signature(
            master_public_key, REVOCATION_SIG_CONTEXT + body, signature):
        raise RevocationError("bad_signature", "not signed by the pinned master key")
    try:
        # One object and two lists: three containers in a valid list.
        obj = canonical_object(body, max_bytes=MAX_REVOCATION_BYTES, max_containers=3)
    except CertificateError as e:
        raise _from_json_error(e) from None
    return SignedRevocationList(RevocationList.from_json(obj), body, signature)


def same_seq_conflict(a: SignedRevocationList, b: SignedRevocationList) -> bool:
    """True when two master-signed lists share a seq but differ: master-key misuse."""
    return a.seq == b.seq and a.body != b.body


# --- revocation file -----------------------------------------------------------------------


def revocation_file_bytes(signed: SignedRevocationList) -> bytes:
    """Render the revocation file (see the module doc)."""
    doc = {"revocations": signed.revocations.to_json(), "sig": signed.signature.hex()}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()


def parse_revocation_file(data: bytes, *, master_public_key: bytes) -> SignedRevocationList:
    """Parse a revocation file and check the master's signature.

    Raises:
        RevocationError: a bad file, a bad list, or a foreign signature.
    """
    try:
        # Top object, list object, two lists.
        doc = parse_json(data, max_bytes=MAX_REVOCATION_FILE_BYTES, max_containers=4)
    except CertificateError as e:
        raise _from_json_error(e) from None
    if type(doc) is not dict or doc.keys() != {"revocations", "sig"}:
        raise RevocationError("malformed", 'expected {"revocations": {...}, "sig": "..."}')
    obj, sig_hex = doc["revocations"], doc["sig"]
    if type(obj) is not dict or type(sig_hex) is not str:
        raise RevocationError("malformed", "revocations must be an object, sig hex")
    try:
        signature = bytes.fromhex(sig_hex)
        body = canonical_bytes(obj)
    except (ValueError, CanonicalizationError) as e:
        raise RevocationError("malformed", str(e)[:200]) from None
    return decode_revocations(body, signature, master_public_key=master_public_key)
