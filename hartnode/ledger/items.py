"""What a feed holds and ingest reports: drafts, markers, heads, results (DESIGN §1, §8).

Split from ``log`` so that ``held`` (events waiting beyond gaps) and the
simulator's ``MemLedger`` and the replication core share them without
importing the SQLite ledger (apsw).
``log`` re-exports every name here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import blake3

from hartnode.canonical import MAX_SAFE_INTEGER
from hartnode.identity import NodeIdentity, is_node_id, verify_signature
from hartnode.ledger.envelope import Event

# Domain separation of the statement a marker's signature covers: it can never
# be taken for an event signature (those sign a 32-byte BLAKE3 of a JSON text)
# or any other statement of the node's key.
WITHHELD_DOMAIN = b"hartnode/withheld-marker/v1\x00"
SIGNATURE_BYTES = 64


def withheld_statement(origin: str, seq: int, digest: bytes, prev: str | None,
                       reach: str) -> bytes:
    """What the origin signs for the marker of its event at ``seq``: BLAKE3 of the
    domain, origin, seq, hash, prev (32 zero bytes at seq 1) and reach."""
    return blake3.blake3(
        WITHHELD_DOMAIN + bytes.fromhex(origin) + seq.to_bytes(8, "big") + digest
        + (bytes.fromhex(prev) if prev is not None else bytes(32)) + reach.encode("ascii")
    ).digest()


@dataclass(frozen=True, slots=True)
class Withheld:
    """An event of a feed this node may not see: its place in the chain only.

    A forwarder sends one instead of an event whose reach the link does not
    carry (``local``, or ``hierarchy`` off the hierarchy), so the receiver can
    still link the next event. Only an origin speaks for its feed (DESIGN §8):
    ``sig`` is the origin's signature of ``withheld_statement`` over the
    marker's members, made when it appended the event; a marker without a
    valid one is refused and never moves a head.
    """

    origin: str
    seq: int
    hash: bytes
    prev: str | None
    reach: str
    sig: bytes = b""

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()

    def statement(self) -> bytes:
        return withheld_statement(self.origin, self.seq, self.hash, self.prev, self.reach)


def sign_withheld(identity: NodeIdentity, event: Event) -> Withheld:
    """The signed marker of ``identity``'s own ``event``."""
    if event.origin != identity.node_id:
        raise ValueError("only an event's origin can sign its marker")
    marker = Withheld(event.origin, event.seq, event.hash, event.prev, event.reach)
    return Withheld(event.origin, event.seq, event.hash, event.prev, event.reach,
                    identity.sign(marker.statement()))


FeedItem = Event | Withheld
WITHHELD_REACHES = frozenset({"local", "hierarchy"})


def check_withheld(item: Withheld) -> str | None:
    """Why a received marker is refused (malformed, unsigned, badly signed), or None.

    Shared by ``Ledger`` and the simulator's ``MemLedger``: one verdict.
    """
    if not is_node_id(item.origin):
        return "bad_field"
    if type(item.seq) is not int or not 1 <= item.seq <= MAX_SAFE_INTEGER:
        return "bad_field"
    if type(item.hash) is not bytes or len(item.hash) != 32 or item.reach not in WITHHELD_REACHES:
        return "bad_field"
    if (item.seq == 1) != (item.prev is None):
        return "bad_field"
    if item.prev is not None and (len(item.prev) != 64 or not is_node_id(item.prev)):
        return "bad_field"
    if type(item.sig) is not bytes or not item.sig:
        return "unsigned"
    if not verify_signature(bytes.fromhex(item.origin), item.statement(), item.sig):
        return "bad_signature"
    return None


def refuse_own(identity: NodeIdentity | None, own_feed_closed: bool, item: FeedItem) -> bool:
    """Whether ``item``, received from another node, speaks for this node's own feed
    once that is closed to others (DESIGN §8): shared by ``Ledger`` and ``MemLedger``.

    Until a neighbour has confirmed the feed's head (a node restored from an
    old backup pulls its own later events first) items signed by this node's
    own key are taken like any other; after that, none.
    """
    return own_feed_closed and identity is not None and item.origin == identity.node_id


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: bytes


@dataclass
class IngestResult:
    """What one ``ingest`` call did. ``rejected`` counts by reason."""

    stored: list[tuple[int, Event]] = field(default_factory=list)
    duplicates: int = 0
    held: int = 0
    opaque: int = 0
    withheld: int = 0  # markers stored for events this node may not see
    filled: int = 0  # events stored where only their marker was held (in ``stored`` too)
    rejected: Counter[str] = field(default_factory=Counter)
    equivocations: list[tuple[Event, Event]] = field(default_factory=list)
    # Origins whose head this call moved, and their new heads (events and markers).
    heads: dict[str, Head] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Draft:
    """An event this node is about to sign. ``ts_ms`` defaults to now."""

    kind: str
    payload: dict[str, Any]
    reach: str = "network"
    actor: str = "node"
    scope: str = "system"
    provenance: dict[str, Any] = field(default_factory=dict)
    ts_ms: int | None = None
