"""Revocation lists on the overlay (DESIGN §3 "Revocations").

The master key signs revocation lists with a monotonic ``seq`` offline
(``hartnode cert revoke``); any node may publish one (``hartnode cert
publish``). Lists travel as ``RevocationListMessage``: broadcast over
Plumtree when new, and sent directly to every new neighbour, so a node that
was away pulls the current list on connect.

``TrustState`` is sans-I/O: it holds the newest list signed by the pinned
master key and answers what an offered list changes. A list with a lower or
equal seq never replaces the held one; one not signed by the master is
refused and counted; two different lists with one seq are master-key misuse
and are counted too (the first stays).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hartnode.attestation.revocation import (
    RevocationError,
    SignedRevocationList,
    decode_revocations,
    same_seq_conflict,
)
from hartnode.gossip.wire import wire_message


@wire_message("trust")
@dataclass(frozen=True)
class RevocationListMessage:
    body: bytes
    sig: bytes


@dataclass
class TrustState:
    """The pinned master key and the newest revocation list signed by it."""

    master_public_key: bytes | None
    current: SignedRevocationList | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def offer(self, msg: RevocationListMessage) -> bool:
        """Take ``msg`` if it is a newer list signed by the master; True if it did."""
        if self.master_public_key is None:
            self.counts["no_master_key"] += 1
            return False
        try:
            incoming = decode_revocations(msg.body, msg.sig,
                                          master_public_key=self.master_public_key)
        except RevocationError as e:
            self.counts[f"refused_{e.reason}"] += 1
            return False
        if self.current is not None and same_seq_conflict(self.current, incoming):
            self.counts["same_seq_conflict"] += 1
            return False
        if self.current is not None and incoming.seq <= self.current.seq:
            self.counts["not_newer"] += 1
            return False
        self.current = incoming
        self.counts["accepted"] += 1
        return True

    def message(self) -> RevocationListMessage | None:
        if self.current is None:
            return None
        body, sig = self.current.to_wire()
        return RevocationListMessage(body, sig)

    def is_revoked(self, node_id: str) -> bool:
        return self.current is not None and self.current.revocations.is_subject_revoked(node_id)
