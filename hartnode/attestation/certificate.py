"""Certificates and the delegation chain from the master key (DESIGN §3 "Hierarchy").

A certificate is one JCS object (``hartnode.canonical``), signed by its issuer:

    {"v": 1,
     "serial": "<32 lowercase hex digits: 128 random bits>",
     "subject": "<node id hex: the public key being certified>",
     "tier": "central" | "regional" | "local",
     "region": "*" | "<region name>",
     "issuer": "<node id hex of the signing key; the master public key for link 0>",
     "not_before": <ms since the Unix epoch, inclusive>,
     "not_after": <ms since the Unix epoch, exclusive>,
     "path_len": <how many certificates may still follow this one in a chain>,
     "capabilities": ["<capability>", ...]}          sorted, no duplicates

It travels as the pair (canonical bytes, 64-byte signature). The signature is
``Ed25519(issuer key, CERT_SIG_CONTEXT + canonical bytes)``: the label keeps a
certificate signature from ever passing as an event or handshake signature of
the same key, and back (a central's node.key signs all three).

Field rules, checked on every decode and on every ``Certificate`` built here:
- **region**: ``"*"`` means every region, and only a ``central`` certificate may
  carry it; any other value is a region name in the config's syntax
  (``[a-z0-9][a-z0-9-]{0,62}``). ``""`` is not allowed: a certificate always
  says where it holds. A child's region is a subset of its issuer's: the same
  name, or any name when the issuer holds ``"*"``. The master holds ``"*"``.
- **tier**: master (implicit) > central > regional > local. Each link is
  strictly below its issuer; a tier may be skipped (the master may certify a
  regional directly) because the rule is "strictly below", not "one below".
- **capabilities**: at most ``MAX_CAPABILITIES`` names ``[a-z0-9][a-z0-9._:-]{0,47}``.
  A child's set is a subset of its issuer's; the master holds every name.
- **path_len**: like X.509 pathLenConstraint. At most 2 for central, 1 for
  regional, 0 for local (a local can never issue). Along a chain path_len
  strictly decreases, and a link may be followed by at most path_len links.
- **validity**: ``not_before <= now < not_after`` for every link, and each
  link's window lies inside its issuer's (the master's is unbounded).

Chain: link 0 is issued by the master, link i+1 by link i's subject, the last
link certifies the presenter; at most ``MAX_CHAIN_LEN`` links. ``verify_chain``
checks every rule above plus the revocation list, and returns a
``VerifiedTier``; a node without a valid chain is ``flat``.

Chain file (``cert.chain.json`` in a data directory, or what ``cert issue``
writes): a JSON array, link 0 first, of ``{"cert": <the certificate object>,
"sig": "<128 lowercase hex digits>"}``. The object is embedded (not base64) so
an operator can read it; the signed bytes are its JCS form, recomputed on load
and then decoded like any untrusted certificate.
"""

from __future__ import annotations

import itertools
import json
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from hartnode.canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonical_bytes
from hartnode.identity import NodeIdentity, is_node_id, verify_signature
from hartnode.protocol import RemoteProtocolError

CERT_VERSION: Final = 1
CERT_SIG_CONTEXT: Final = b"hartnode/certificate/1\x00"
SIGNATURE_LEN: Final = 64

MAX_CERT_BYTES: Final = 4096  # canonical bytes of one certificate
MAX_CAPABILITIES: Final = 32  # names in one certificate
MAX_CHAIN_LEN: Final = 3  # master -> central -> regional -> local
MAX_CHAIN_FILE_BYTES: Final = 64 << 10  # a chain file, pretty-printed

TIERS: Final = ("central", "regional", "local")
# Rank of each tier; the master's implicit rank is above every certificate's.
TIER_RANK: Final = {"local": 1, "regional": 2, "central": 3}
MASTER_RANK: Final = 4
# Largest path_len a certificate of each tier may carry; the master allows 3.
TIER_MAX_PATH_LEN: Final = {"central": 2, "regional": 1, "local": 0}
MASTER_PATH_LEN: Final = 3
ALL_REGIONS: Final = "*"

REGION_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CAPABILITY_RE: Final = re.compile(r"[a-z0-9][a-z0-9._:-]{0,47}")
SERIAL_RE: Final = re.compile(r"[0-9a-f]{32}")
_FIELDS: Final = frozenset({"v", "serial", "subject", "tier", "region", "issuer",
                            "not_before", "not_after", "path_len", "capabilities"})

CertificateReason = Literal[
    "too_large",  # more bytes than the limit (certificate or chain file)
    "malformed",  # not UTF-8 JSON, not an object, wrong shape of a chain file
    "not_canonical",  # valid JSON but not the JCS bytes of itself
    "unsupported_version",  # "v" is not CERT_VERSION
    "bad_field",  # a missing, extra or invalid field (see the module doc)
]
CERTIFICATE_REASONS: Final[frozenset[str]] = frozenset(typing.get_args(CertificateReason))

ChainReason = Literal[
    "empty",  # no links at all
    "too_long",  # more than MAX_CHAIN_LEN links
    "malformed",  # a link does not decode (CertificateError is the cause)
    "wrong_issuer",  # issuer field is not the master key / previous link's subject
    "bad_signature",  # the issuer's signature does not verify
    "not_yet_valid",  # now < not_before
    "expired",  # now >= not_after
    "window_not_nested",  # the window reaches outside the issuer's
    "tier_not_below",  # the tier is not strictly below the issuer's
    "region_widened",  # the region is not within the issuer's
    "capabilities_widened",  # a capability the issuer does not hold
    "path_len",  # path_len not decreasing, or more links than the issuer allows
    "revoked_serial",  # the serial is on the revocation list
    "revoked_subject",  # the subject key is on the revocation list
    "presenter_mismatch",  # the last subject is not the presenting node
]
CHAIN_REASONS: Final[frozenset[str]] = frozenset(typing.get_args(ChainReason))


class CertificateError(RemoteProtocolError[CertificateReason]):
    """Bytes or fields are not a valid certificate. Whoever sent them is at fault.

    Attributes:
        reason: one of ``CERTIFICATE_REASONS``; stable, used as a metrics label.
        detail: free text for logs; never parse it.
    """

    REASONS = CERTIFICATE_REASONS
    KIND = "certificate"


class ChainError(RemoteProtocolError[ChainReason]):
    """A chain does not grant a tier. ``hop_index`` is the 0-based link at fault.

    Attributes:
        reason: one of ``CHAIN_REASONS``; stable, used as a metrics label.
        hop_index: the link that failed (0 = the master-issued one).
        detail: free text for logs; never parse it.
    """

    REASONS = CHAIN_REASONS
    KIND = "chain"

    def __init__(self, reason: ChainReason, hop_index: int, detail: str = "") -> None:
        super().__init__(reason, detail, headline=f"{reason} at link {hop_index}")
        self.hop_index = hop_index


# --- bounded JSON --------------------------------------------------------------------------


def _reject_number(text: str) -> Any:
    raise ValueError(f"{text} is not an integer")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(data: bytes, *, max_bytes: int, max_containers: int) -> Any:
    """Parse untrusted UTF-8 JSON with hartnode's limits (shared with ``revocation``).

    Floats, NaN/Infinity and duplicate keys are refused. ``max_containers``
    bounds the number of ``[`` and ``{`` bytes *before* parsing: none of our
    string fields may hold a bracket, so this caps nesting depth without
    letting the recursive parser run deep first.

    Raises:
        CertificateError: ``too_large`` or ``malformed``.
    """
    if len(data) > max_bytes:
        raise CertificateError("too_large", f"{len(data)} bytes > {max_bytes}")
    if data.count(b"[") + data.count(b"{") > max_containers:
        raise CertificateError("malformed", "too many arrays or objects")
    try:
        return json.loads(data.decode("utf-8"), parse_float=_reject_number,
                          parse_constant=_reject_number,
                          object_pairs_hook=_object_without_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CertificateError("malformed", str(e)[:200]) from None


def canonical_object(data: bytes, *, max_bytes: int, max_containers: int) -> dict[str, Any]:
    """Parse ``data`` as one JSON object and insist it is its own JCS form.

    Exactly one byte string stands for each signed object, so a signature can
    never be moved onto a re-encoded copy with a different meaning.

    Raises:
        CertificateError: ``too_large``, ``malformed`` or ``not_canonical``.
    """
    value = parse_json(data, max_bytes=max_bytes, max_containers=max_containers)
    if type(value) is not dict:
        raise CertificateError("malformed", "not a JSON object")
    try:
        again = canonical_bytes(value)
    except CanonicalizationError as e:
        raise CertificateError("not_canonical", str(e)[:200]) from None
    if again != data:
        raise CertificateError("not_canonical", "bytes differ from the JCS form")
    return value


# --- field checks --------------------------------------------------------------------------


def is_serial(value: object) -> bool:
    """True when ``value`` is 32 lowercase hex digits (a certificate serial, 128
    random bits chosen by the issuing shell: ``secrets.token_hex(16)``)."""
    return isinstance(value, str) and SERIAL_RE.fullmatch(value) is not None


def is_region(value: object) -> bool:
    """True for a region name or ``"*"`` (any tier check is separate)."""
    return isinstance(value, str) and (
        value == ALL_REGIONS or REGION_RE.fullmatch(value) is not None)


def is_capability(value: object) -> bool:
    """True for one capability name (``[a-z0-9][a-z0-9._:-]{0,47}``)."""
    return isinstance(value, str) and CAPABILITY_RE.fullmatch(value) is not None


def _bad(detail: str) -> CertificateError:
    return CertificateError("bad_field", detail)


def _int_field(name: str, value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:  # bool is not an int here
        raise _bad(f"{name} must be an integer in [{low}, {high}]")
    return value


@dataclass(frozen=True)
class Certificate:
    """One certificate's fields (see the module doc). Built only valid.

    Raises (on construction):
        CertificateError: ``bad_field`` or ``unsupported_version``.
    """

    serial: str
    subject: str
    tier: str
    region: str
    issuer: str
    not_before: int
    not_after: int
    path_len: int
    capabilities: tuple[str, ...]
    v: int = CERT_VERSION

    def __post_init__(self) -> None:
        if self.v != CERT_VERSION or type(self.v) is not int:
            raise CertificateError("unsupported_version", f"v={self.v!r}")
        if not is_serial(self.serial):
            raise _bad("serial must be 32 lowercase hex digits")
        for name in ("subject", "issuer"):
            if not is_node_id(getattr(self, name)):
                raise _bad(f"{name} must be a 64-digit lowercase hex node id")
        if self.tier not in TIERS:
            raise _bad(f"tier must be one of {', '.join(TIERS)}")
        if not is_region(self.region):
            raise _bad('region must be "*" or a region name')
        if self.region == ALL_REGIONS and self.tier != "central":
            raise _bad('only a central certificate may hold region "*"')
        _int_field("not_before", self.not_before, 0, MAX_SAFE_INTEGER)
        _int_field("not_after", self.not_after, 0, MAX_SAFE_INTEGER)
        if self.not_before >= self.not_after:
            raise _bad("not_before must be earlier than not_after")
        _int_field("path_len", self.path_len, 0, TIER_MAX_PATH_LEN.get(self.tier, 0))
        caps = self.capabilities
        if type(caps) is not tuple or len(caps) > MAX_CAPABILITIES:
            raise _bad(f"capabilities must be a tuple of at most {MAX_CAPABILITIES}")
        if not all(is_capability(c) for c in caps):
            raise _bad("a capability name is invalid")
        # Strictly increasing: sorted and unique, so the JCS list has one form.
        if any(a >= b for a, b in itertools.pairwise(caps)):
            raise _bad("capabilities must be sorted and unique")

    def to_json(self) -> dict[str, Any]:
        """The JSON object that is canonicalised and signed."""
        return {"v": self.v, "serial": self.serial, "subject": self.subject,
                "tier": self.tier, "region": self.region, "issuer": self.issuer,
                "not_before": self.not_before, "not_after": self.not_after,
                "path_len": self.path_len, "capabilities": list(self.capabilities)}

    def canonical(self) -> bytes:
        """The JCS bytes the issuer signs (without the context label)."""
        return canonical_bytes(self.to_json())

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Certificate:
        """Build from a parsed object with exactly the certificate's keys.

        Raises:
            CertificateError: ``unsupported_version`` or ``bad_field``.
        """
        if "v" in obj and (type(obj["v"]) is not int or obj["v"] != CERT_VERSION):
            raise CertificateError("unsupported_version", f"v={obj['v']!r}")
        if obj.keys() != _FIELDS:
            raise _bad(f"fields missing {sorted(_FIELDS - obj.keys())}, "
                       f"unexpected {sorted(obj.keys() - _FIELDS)[:5]}")
        caps = obj["capabilities"]
        if type(caps) is not list:
            raise _bad("capabilities must be a list")
        for name in ("serial", "subject", "tier", "region", "issuer"):
            if type(obj[name]) is not str:
                raise _bad(f"{name} must be a string")
        return cls(serial=obj["serial"], subject=obj["subject"], tier=obj["tier"],
                   region=obj["region"], issuer=obj["issuer"], not_before=obj["not_before"],
                   not_after=obj["not_after"], path_len=obj["path_len"],
                   capabilities=tuple(caps), v=obj["v"])


def decode_certificate(data: bytes) -> Certificate:
    """Decode untrusted certificate bytes (signature not checked here).

    Raises:
        CertificateError: any reason in ``CERTIFICATE_REASONS``.
    """
    # One object and one capabilities list: two containers in a valid certificate.
    obj = canonical_object(data, max_bytes=MAX_CERT_BYTES, max_containers=2)
    return Certificate.from_json(obj)


@dataclass(frozen=True)
class SignedCertificate:
    """A certificate as it travels: its canonical bytes and the issuer's signature.

    Build one with ``decode`` (untrusted input) or ``issue_certificate``; the
    signature is checked only by ``verify_chain``, which knows the issuer key.
    """

    cert: Certificate
    cert_bytes: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @classmethod
    def decode(cls, cert_bytes: bytes, signature: bytes) -> SignedCertificate:
        """Decode one (bytes, signature) pair from the wire or a file.

        Raises:
            CertificateError: bad bytes, or a signature that is not 64 bytes.
        """
        if type(cert_bytes) is not bytes or type(signature) is not bytes:
            raise CertificateError("malformed", "certificate and signature must be bytes")
        if len(signature) != SIGNATURE_LEN:
            raise _bad(f"signature must be {SIGNATURE_LEN} bytes")
        return cls(decode_certificate(cert_bytes), cert_bytes, signature)

    def to_wire(self) -> tuple[bytes, bytes]:
        """The (certificate bytes, signature) pair to send."""
        return self.cert_bytes, self.signature

    def signature_valid(self, issuer_public_key: bytes) -> bool:
        """True when ``issuer_public_key`` signed these exact bytes."""
        return verify_signature(issuer_public_key, CERT_SIG_CONTEXT + self.cert_bytes,
                                self.signature)


def issue_certificate(issuer: NodeIdentity, *, serial: str, subject: str, tier: str,
                      region: str, not_before: int, not_after: int, path_len: int,
                      capabilities: Sequence[str]) -> SignedCertificate:
    """Sign a certificate with ``issuer``'s key; the issuer field is its node id.

    Only the fields are checked here; whether the issuer may grant them is a
    chain question (``verify_chain``). ``capabilities`` is sorted and
    de-duplicated for the caller.

    Raises:
        CertificateError: ``bad_field`` for an invalid field.
    """
    cert = Certificate(serial=serial, subject=subject, tier=tier, region=region,
                       issuer=issuer.node_id, not_before=not_before, not_after=not_after,
                       path_len=path_len, capabilities=tuple(sorted(set(capabilities))))
    data = cert.canonical()
    return SignedCertificate(cert, data, issuer.sign(CERT_SIG_CONTEXT + data))


# --- chain verification --------------------------------------------------------------------


class RevocationCheck(Protocol):
    """What ``verify_chain`` asks of a revocation list (``revocation.RevocationList``)."""

    def is_serial_revoked(self, serial: str) -> bool: ...

    def is_subject_revoked(self, node_id: str) -> bool: ...


@dataclass(frozen=True)
class VerifiedTier:
    """What a chain grants its presenter, or ``flat`` without one.

    Attributes:
        node_id: the presenter.
        tier: ``flat``, ``local``, ``regional`` or ``central``.
        region: ``"*"``, a region name, or ``""`` when flat.
        capabilities: sorted capability names (empty when flat).
        not_after_ms: when the grant ends (the last link's not_after, the
            earliest of a nested chain); None when flat.
        serials: the chain's serials, link 0 first.
    """

    node_id: str
    tier: str
    region: str = ""
    capabilities: tuple[str, ...] = ()
    not_after_ms: int | None = None
    serials: tuple[str, ...] = ()

    @classmethod
    def flat(cls, node_id: str) -> VerifiedTier:
        """The standing of a node without a valid chain."""
        return cls(node_id=node_id, tier="flat")

    @property
    def is_flat(self) -> bool:
        return self.tier == "flat"


def region_within(child: str, issuer: str) -> bool:
    """True when region ``child`` is a subset of region ``issuer``."""
    return issuer == ALL_REGIONS or child == issuer


def decode_chain(pairs: Sequence[tuple[bytes, bytes]]) -> tuple[SignedCertificate, ...]:
    """Decode (bytes, signature) pairs, e.g. from a handshake or peer record.

    Raises:
        ChainError: ``too_long``, or ``malformed`` with the link's CertificateError as cause.
    """
    if len(pairs) > MAX_CHAIN_LEN:
        raise ChainError("too_long", MAX_CHAIN_LEN, f"{len(pairs)} links")
    links = []
    for i, pair in enumerate(pairs):
        try:
            cert_bytes, signature = pair
            links.append(SignedCertificate.decode(cert_bytes, signature))
        except CertificateError as e:
            raise ChainError("malformed", i, str(e)) from e
        except (TypeError, ValueError) as e:
            raise ChainError("malformed", i, "not a (bytes, signature) pair") from e
    return tuple(links)


def verify_chain(chain: Sequence[SignedCertificate | tuple[bytes, bytes]], *,
                 master_public_key: bytes, now_ms: int,
                 revocations: RevocationCheck | None, presenter_node_id: str) -> VerifiedTier:
    """Check a delegation chain from the pinned master key to the presenter.

    Args:
        chain: link 0 (master-issued) first; decoded links or raw wire pairs.
        master_public_key: the pinned 32-byte master public key.
        now_ms: the current time, ms since the epoch (passed in: sans-I/O).
        revocations: a revocation list whose master signature was already
            checked (``revocation.decode_revocations``), or None for none.
        presenter_node_id: the node the handshake proved holds its key.

    Returns:
        The tier, region and capabilities the last link grants the presenter.

    Raises:
        ChainError: the first failed check, with the link at fault.
    """
    if len(master_public_key) != 32:
        raise ValueError("master_public_key must be 32 bytes")  # our caller's bug
    if not chain:
        raise ChainError("empty", 0)
    # Re-decode from the bytes: hand-built fields that disagree with the signed bytes can't pass.
    links = decode_chain([c.to_wire() if isinstance(c, SignedCertificate) else c
                          for c in chain])
    issuer_id = master_public_key.hex()
    issuer_rank, issuer_region, issuer_caps = MASTER_RANK, ALL_REGIONS, None
    issuer_window = (0, MAX_SAFE_INTEGER + 1)
    issuer_path_len = MASTER_PATH_LEN
    for i, link in enumerate(links):
        c = link.cert
        if c.issuer != issuer_id:
            raise ChainError("wrong_issuer", i, f"issuer {c.issuer[:12]}, expected "
                             f"{issuer_id[:12]}")
        # The issuer field equals the key we check with, so a signature that
        # verifies proves that key signed these exact canonical bytes.
        if not link.signature_valid(bytes.fromhex(issuer_id)):
            raise ChainError("bad_signature", i)
        if revocations is not None:
            if revocations.is_serial_revoked(c.serial):
                raise ChainError("revoked_serial", i, c.serial)
            if revocations.is_subject_revoked(c.subject):
                raise ChainError("revoked_subject", i, c.subject[:12])
        if now_ms < c.not_before:
            raise ChainError("not_yet_valid", i, f"now {now_ms} < not_before {c.not_before}")
        if now_ms >= c.not_after:
            raise ChainError("expired", i, f"now {now_ms} >= not_after {c.not_after}")
        if c.not_before < issuer_window[0] or c.not_after > issuer_window[1]:
            raise ChainError("window_not_nested", i)
        if TIER_RANK[c.tier] >= issuer_rank:
            raise ChainError("tier_not_below", i, f"{c.tier} issued by rank {issuer_rank}")
        if not region_within(c.region, issuer_region):
            raise ChainError("region_widened", i, f"{c.region!r} not in {issuer_region!r}")
        if issuer_caps is not None and not set(c.capabilities) <= issuer_caps:
            extra = sorted(set(c.capabilities) - issuer_caps)
            raise ChainError("capabilities_widened", i, ", ".join(extra)[:200])
        # Strictly decreasing down to >= 0 also bounds the depth: at most
        # path_len links can follow a link.
        if c.path_len >= issuer_path_len:
            raise ChainError("path_len", i, f"{c.path_len} not below {issuer_path_len}")
        issuer_id, issuer_rank, issuer_region = c.subject, TIER_RANK[c.tier], c.region
        issuer_caps = set(c.capabilities)
        issuer_window = (c.not_before, c.not_after)
        issuer_path_len = c.path_len
    last = links[-1].cert
    if last.subject != presenter_node_id:
        raise ChainError("presenter_mismatch", len(links) - 1,
                         f"certifies {last.subject[:12]}, presented by "
                         f"{presenter_node_id[:12]}")
    return VerifiedTier(node_id=last.subject, tier=last.tier, region=last.region,
                        capabilities=last.capabilities, not_after_ms=last.not_after,
                        serials=tuple(link.cert.serial for link in links))


def effective_tier(chain: Sequence[SignedCertificate | tuple[bytes, bytes]] | None, *,
                   master_public_key: bytes, now_ms: int, revocations: RevocationCheck | None,
                   presenter_node_id: str) -> tuple[VerifiedTier, ChainError | None]:
    """Like ``verify_chain`` but never raises: a missing or bad chain means ``flat``.

    Returns:
        (standing, error): error is None when the chain verified or there was
        none; otherwise log or count ``error.reason``.
    """
    if not chain:
        return VerifiedTier.flat(presenter_node_id), None
    try:
        return verify_chain(chain, master_public_key=master_public_key, now_ms=now_ms,
                            revocations=revocations,
                            presenter_node_id=presenter_node_id), None
    except ChainError as e:
        return VerifiedTier.flat(presenter_node_id), e


# --- chain file ----------------------------------------------------------------------------


def chain_file_bytes(chain: Sequence[SignedCertificate]) -> bytes:
    """Render a chain as the chain file (see the module doc), link 0 first."""
    entries = [{"cert": link.cert.to_json(), "sig": link.signature.hex()} for link in chain]
    return (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode()


def parse_chain_file(data: bytes) -> tuple[SignedCertificate, ...]:
    """Parse a chain file's bytes; links are decoded, not verified.

    Raises:
        CertificateError: a bad file (``too_large``, ``malformed``) or a bad
            link; the detail names the link.
    """
    entries = parse_json(data, max_bytes=MAX_CHAIN_FILE_BYTES,
                         max_containers=1 + 3 * MAX_CHAIN_LEN)
    if type(entries) is not list or not 1 <= len(entries) <= MAX_CHAIN_LEN:
        raise CertificateError("malformed", f"a chain file is a JSON array of 1 to "
                               f"{MAX_CHAIN_LEN} links")
    return tuple(_parse_entry(entry, i) for i, entry in enumerate(entries))


def _parse_entry(entry: object, index: int) -> SignedCertificate:
    if type(entry) is not dict or entry.keys() != {"cert", "sig"}:
        raise CertificateError("malformed", f"link {index}: expected {{\"cert\", \"sig\"}}")
    obj, sig_hex = entry["cert"], entry["sig"]
    if type(obj) is not dict or type(sig_hex) is not str:
        raise CertificateError("malformed", f"link {index}: cert must be an object, sig hex")
    signature = _hex_or_none(sig_hex)
    if signature is None:
        raise CertificateError("malformed", f"link {index}: sig is not lowercase hex")
    try:
        cert_bytes = canonical_bytes(obj)
    except CanonicalizationError as e:
        raise CertificateError("malformed", f"link {index}: {e}") from None
    try:
        return SignedCertificate.decode(cert_bytes, signature)
    except CertificateError as e:
        raise CertificateError(e.reason, f"link {index}: {e.detail}") from None


def _hex_or_none(text: str) -> bytes | None:
    try:
        return raw if (raw := bytes.fromhex(text)).hex() == text else None
    except ValueError:
        return None

