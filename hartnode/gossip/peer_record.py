"""Signed peer records and the table they build (DESIGN §3 "Peer records").

Each node signs ``{node_id, addrs, tier, region, seq, ts_ms, capabilities}``
(RFC 8785, with a domain label so the signature cannot be replayed as an
event or certificate signature) and re-announces it over Plumtree. A record
carries the node's certificate chain, so any node can check a tier claim
against the pinned master key: a claim without a valid chain is recorded as
``flat`` and counted.

``PeerTable`` is sans-I/O: it is handed records and ``now_ms`` and answers
which record wins (a lower or equal seq never does; a bad signature is never
stored) and how old each peer's news is: ``active`` within the TTL, then
``stale``, then ``dead`` after three TTLs. An empty ``addrs`` means the node
is behind NAT: it is never dialled but still takes part through its own
outbound links.

Every node takes in every other node's refreshes, so a fixed interval costs
each node ``N x record size / interval``: 5 KB/s at N = 1,000 and 60 s.
``announce_interval`` stretches the interval with the peers a node knows, so
that cost stays within the profile's ``record_budget``; the TTLs stretch with
it (the caller sets ``PeerTable.ttl_ms``), so a far peer's status is judged by
the interval it announces at, while neighbours stay fresh through their links.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from hartnode.attestation.certificate import (
    ChainError,
    RevocationCheck,
    VerifiedTier,
    effective_tier,
)
from hartnode.canonical import MAX_SAFE_INTEGER, CanonicalizationError, canonical_bytes
from hartnode.gossip.wire import wire_message
from hartnode.identity import NodeIdentity, is_node_id, verify_signature
from hartnode.protocol import RemoteProtocolError

SIGNATURE_LABEL = b"hartnode/peer-record/1\x00"
MAX_BODY_BYTES = 4096
MAX_ADDRS = 8
MAX_CAPABILITIES = 32
MAX_CHAIN = 3
MAX_CERT_BYTES = 4096  # one certificate of the chain, as ``certificate.MAX_CERT_BYTES``
SIGNATURE_BYTES = 64  # Ed25519
# The largest record a node stores, relays or persists: body, chain, signatures.
MAX_RECORD_BYTES = MAX_BODY_BYTES + MAX_CHAIN * (MAX_CERT_BYTES + SIGNATURE_BYTES) + SIGNATURE_BYTES
DEFAULT_TABLE_SIZE = 10_000  # peers a table holds unless ``limit_to`` says otherwise
TIERS = ("flat", "local", "regional", "central")
_ADDR_RE = re.compile(r"wss?://[^\s/]{1,253}(/[^\s]{0,200})?")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}|\*|")


class PeerRecordError(RemoteProtocolError[str], ValueError):
    """A peer record is malformed or its signature fails; ``reason`` names why."""


@wire_message("records")
@dataclass(frozen=True)
class PeerRecordMessage:
    """The wire form: canonical body, signature, and the certificate chain."""

    body: bytes
    sig: bytes
    chain_certs: tuple[bytes, ...]
    chain_sigs: tuple[bytes, ...]


@dataclass(frozen=True)
class PeerRecord:
    node_id: str
    addrs: tuple[str, ...]
    tier: str
    region: str
    seq: int
    ts_ms: int
    capabilities: tuple[str, ...]
    message: PeerRecordMessage

    @property
    def reachable(self) -> bool:
        return bool(self.addrs)

    @property
    def chain(self) -> list[tuple[bytes, bytes]]:
        return list(zip(self.message.chain_certs, self.message.chain_sigs, strict=True))


def sign_peer_record(identity: NodeIdentity, *, addrs: tuple[str, ...], tier: str, region: str,
                     seq: int, ts_ms: int, capabilities: tuple[str, ...] = (),
                     chain: tuple[tuple[bytes, bytes], ...] = ()) -> PeerRecord:
    """Sign this node's record. Raises PeerRecordError if a field is invalid.

    A ``flat`` record carries no chain (there is no claim for one to prove),
    so ``chain`` is left out of it.
    """
    if tier == "flat":
        chain = ()
    body = {"node_id": identity.node_id, "addrs": list(addrs), "tier": tier, "region": region,
            "seq": seq, "ts_ms": ts_ms, "capabilities": sorted(capabilities)}
    try:
        body_bytes = canonical_bytes(body)
    except CanonicalizationError as e:
        raise PeerRecordError("bad_field", str(e)) from e
    message = PeerRecordMessage(
        body=body_bytes, sig=identity.sign(SIGNATURE_LABEL + body_bytes),
        chain_certs=tuple(c for c, _ in chain), chain_sigs=tuple(s for _, s in chain))
    return decode_peer_record(message)  # one validation path for ours and theirs


def decode_peer_record(message: PeerRecordMessage) -> PeerRecord:
    """Validate a received record: limits, fields, canonical form, signature.

    Every part is bounded before anything is parsed (``MAX_RECORD_BYTES`` in
    all): a record is stored, relayed and persisted as it came, so a junk
    "chain" must not ride along, least of all on a ``flat`` record, which
    has no claim to prove and so must carry none.

    Raises:
        PeerRecordError: reasons ``too_large``, ``malformed``, ``bad_field``,
            ``not_canonical``, ``bad_signature``.
    """
    if len(message.body) > MAX_BODY_BYTES:
        raise PeerRecordError("too_large", f"{len(message.body)} bytes")
    if len(message.chain_certs) != len(message.chain_sigs) or len(message.chain_certs) > MAX_CHAIN:
        raise PeerRecordError("bad_field", "chain")
    if any(len(c) > MAX_CERT_BYTES for c in message.chain_certs):
        raise PeerRecordError("too_large", "chain certificate")
    if any(len(sig) != SIGNATURE_BYTES for sig in (message.sig, *message.chain_sigs)):
        raise PeerRecordError("bad_signature", "length")
    try:
        obj = json.loads(message.body)
    except (ValueError, RecursionError) as e:
        raise PeerRecordError("malformed", str(e)) from e
    keys = {"node_id", "addrs", "tier", "region", "seq", "ts_ms", "capabilities"}
    if type(obj) is not dict or obj.keys() != keys:
        raise PeerRecordError("malformed", "expected exactly the record's fields")
    node_id, addrs, caps = obj["node_id"], obj["addrs"], obj["capabilities"]
    if not is_node_id(node_id):
        raise PeerRecordError("bad_field", "node_id")
    if (type(addrs) is not list or len(addrs) > MAX_ADDRS
            or not all(isinstance(a, str) and _ADDR_RE.fullmatch(a) for a in addrs)):
        raise PeerRecordError("bad_field", "addrs")
    if obj["tier"] not in TIERS:
        raise PeerRecordError("bad_field", "tier")
    if obj["tier"] == "flat" and message.chain_certs:
        raise PeerRecordError("bad_field", "chain on a flat record")
    if not isinstance(obj["region"], str) or not _NAME_RE.fullmatch(obj["region"]):
        raise PeerRecordError("bad_field", "region")
    for name in ("seq", "ts_ms"):
        if type(obj[name]) is not int or not 0 <= obj[name] <= MAX_SAFE_INTEGER:
            raise PeerRecordError("bad_field", name)
    if (type(caps) is not list or len(caps) > MAX_CAPABILITIES or caps != sorted(caps)
            or not all(isinstance(c, str) and c and _NAME_RE.fullmatch(c) for c in caps)):
        raise PeerRecordError("bad_field", "capabilities")
    if canonical_bytes(obj) != message.body:
        raise PeerRecordError("not_canonical")
    if not verify_signature(bytes.fromhex(node_id), SIGNATURE_LABEL + message.body, message.sig):
        raise PeerRecordError("bad_signature")
    return PeerRecord(node_id=node_id, addrs=tuple(addrs), tier=obj["tier"],
                      region=obj["region"], seq=obj["seq"], ts_ms=obj["ts_ms"],
                      capabilities=tuple(caps), message=message)


BROADCAST_OVERHEAD_BYTES = 160  # per node per broadcast: framing and IHAVE digests (simulated)


def announce_interval(base_s: float, known_peers: int, record_bytes: int,
                      budget_bytes_s: float) -> float:
    """Seconds between this node's record refreshes, for a network of ``known_peers + 1``.

    At least ``base_s`` (the configured interval); beyond the size where the
    network's refreshes would exceed ``budget_bytes_s`` at every node, the
    interval grows linearly with the network (all nodes compute about the
    same figure, since each knows about the same peers).
    """
    per_refresh = record_bytes + BROADCAST_OVERHEAD_BYTES
    return max(base_s, (known_peers + 1) * per_refresh / budget_bytes_s)


@dataclass
class PeerEntry:
    record: PeerRecord
    verified: VerifiedTier | None  # None: flat (no or bad chain)
    last_seen_ms: int

    def keep_rank(self, direct: bool) -> tuple[bool, bool, int]:
        """Entries with the lowest rank are evicted first: unverified, never linked, oldest."""
        return self.verified is not None, direct, self.last_seen_ms


@dataclass
class PeerTable:
    """What this node knows of every other node, from their signed records.

    Bounded (issue #8.7): at most ``max_entries`` peers; a newcomer into a
    full table evicts the entry of the lowest ``PeerEntry.keep_rank``
    (unverified before certified, never linked before linked, then the
    oldest news), or is refused when it would rank lowest itself, so sybil
    records can displace only other unverified records, never certified
    peers. ``direct`` remembers which peers this node heard over a link of
    its own (at most ``max_entries`` ids). ``announce_peers`` counts the
    unverified entries up to ``unverified_cap``.
    """

    self_id: str
    ttl_ms: int
    master_public_key: bytes | None = None
    revocations: RevocationCheck | None = None
    entries: dict[str, PeerEntry] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    max_entries: int = DEFAULT_TABLE_SIZE
    unverified_cap: int = DEFAULT_TABLE_SIZE // 2  # unverified peers counted by ``announce_peers``
    direct: dict[str, int] = field(default_factory=dict)  # node id -> last link message ms
    _victims: list[tuple[tuple[bool, bool, int], str]] = field(default_factory=list, repr=False)

    def limit_to(self, max_entries: int) -> None:
        """Apply the profile's bound (``OverlayConfig.peer_table_size``); half of it
        is the most unverified peers ``announce_peers`` counts."""
        self.max_entries, self.unverified_cap = max_entries, max(1, max_entries // 2)
        while len(self.entries) > max_entries:
            self._evict_one()

    def observe(self, record: PeerRecord, now_ms: int) -> bool:
        """Take ``record`` if it is newer than what we hold; True if it changed the table."""
        if record.node_id == self.self_id:
            return False
        held = self.entries.get(record.node_id)
        if held is not None and record.seq <= held.record.seq:
            self.counts["stale_seq"] += 1
            return False
        verified = self._verify_tier(record, now_ms)
        entry = PeerEntry(record, verified, now_ms)
        full = held is None and len(self.entries) >= self.max_entries
        if full and not self._evict_one(entry.keep_rank(record.node_id in self.direct)):
            self.counts["table_full"] += 1
            return False
        self.entries[record.node_id] = entry
        self.counts["accepted"] += 1
        return True

    def _evict_one(self, newcomer: tuple[bool, bool, int] | None = None) -> bool:
        """Drop the lowest-ranked entry, unless ``newcomer`` ranks lower still.

        The lowest 1/64 of the table is ranked in one sort and used up over
        the next evictions (skipping entries refreshed since), so a stream of
        new records costs O(log n) each, not a scan of the table each.
        """
        while True:
            if not self._victims:
                ranked = sorted((e.keep_rank(n in self.direct), n)
                                for n, e in self.entries.items())
                self._victims = ranked[:max(1, len(ranked) // 64)][::-1]
                if not self._victims:
                    return False
            rank, node_id = self._victims[-1]
            entry = self.entries.get(node_id)
            if entry is None or entry.keep_rank(node_id in self.direct) != rank:
                self._victims.pop()  # gone or refreshed since it was ranked
                continue
            if newcomer is not None and newcomer <= rank:
                return False
            self._victims.pop()
            del self.entries[node_id]
            self.counts["evicted"] += 1
            return True

    def seen(self, node_id: str, now_ms: int) -> None:
        """Direct contact (a live link) also proves a peer alive."""
        self.direct.pop(node_id, None)
        self.direct[node_id] = now_ms  # most recent last, so the oldest go first
        if len(self.direct) > self.max_entries:
            del self.direct[next(iter(self.direct))]
        entry = self.entries.get(node_id)
        if entry is not None:
            entry.last_seen_ms = max(entry.last_seen_ms, now_ms)

    def announce_peers(self) -> int:
        """Peers that may stretch the announce interval (``announce_interval``).

        Certified peers, plus the unverified ones up to ``unverified_cap``
        (half the table). Anyone can sign records for made-up node ids, so
        the unverified part is what sybils can grow; they grow it only as
        fast as the record intake lets newcomers in (``record_intake``), and
        past the cap not at all. A flat honest network still stretches the
        interval with its size, up to the cap (README "Limits: connections
        and the overlay" has the worst case).
        """
        verified = sum(1 for e in self.entries.values() if e.verified is not None)
        return verified + min(len(self.entries) - verified, self.unverified_cap)

    def verify_tier(self, record: PeerRecord, now_ms: int) -> VerifiedTier | None:
        """The tier ``record``'s chain proves, or None: flat, or a claim it does not prove."""
        if record.tier == "flat" or self.master_public_key is None:
            return None
        verified, error = effective_tier(
            record.chain, master_public_key=self.master_public_key, now_ms=now_ms,
            revocations=self.revocations, presenter_node_id=record.node_id)
        return None if error is not None or verified.tier != record.tier else verified

    def _verify_tier(self, record: PeerRecord, now_ms: int) -> VerifiedTier | None:
        verified = self.verify_tier(record, now_ms)
        if verified is None and record.tier != "flat":
            self.counts["tier_unverified"] += 1
        return verified

    def reverify(self, now_ms: int) -> None:
        """Check every held tier claim again (a new revocation list arrived)."""
        for entry in self.entries.values():
            entry.verified = self._verify_tier(entry.record, now_ms)

    def tier_of(self, node_id: str) -> str:
        entry = self.entries.get(node_id)
        return "flat" if entry is None or entry.verified is None else entry.verified.tier

    def status(self, node_id: str, now_ms: int) -> str:
        age = now_ms - self.entries[node_id].last_seen_ms
        return "active" if age <= self.ttl_ms else "stale" if age <= 3 * self.ttl_ms else "dead"

    def rows(self, now_ms: int,
             neighbours: frozenset[str] = frozenset()) -> list[dict[str, object]]:
        """The ``peer_nodes`` view: one row per known peer (``hartnode peers --json``)."""
        out: list[dict[str, object]] = []
        for node_id, entry in sorted(self.entries.items()):
            r = entry.record
            out.append({
                "node_id": node_id, "status": self.status(node_id, now_ms),
                "tier": self.tier_of(node_id), "claimed_tier": r.tier, "region": r.region,
                "addrs": list(r.addrs), "reachable": r.reachable,
                "capabilities": list(r.capabilities), "seq": r.seq,
                "last_seen_ms": entry.last_seen_ms, "neighbour": node_id in neighbours,
            })
        return out

    def forget_dead(self, now_ms: int, after_ms: int) -> list[str]:
        """Drop peers silent for ``after_ms``; returns their ids."""
        gone = [n for n, e in self.entries.items() if now_ms - e.last_seen_ms > after_ms]
        for n in gone:
            del self.entries[n]
            self.direct.pop(n, None)
        return gone


__all__ = [
    "ChainError",
    "PeerRecord",
    "PeerRecordError",
    "PeerRecordMessage",
    "PeerTable",
    "announce_interval",
    "decode_peer_record",
    "sign_peer_record",
]
