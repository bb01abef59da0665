"""Shared fixtures of the compute tests: a master key, a central with its chain, nodes."""

from __future__ import annotations

from pathlib import Path

from hartnode.attestation.certificate import issue_certificate
from hartnode.catalog import Catalog, build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.node_ledger import NodeLedger

MASTER = NodeIdentity.from_seed(b"\x01" * 32)
CENTRAL = NodeIdentity.from_seed(b"\x02" * 32)
REGIONAL = NodeIdentity.from_seed(b"\x03" * 32)
YEAR_MS = 365 * 24 * 3600 * 1000


def chain_for(subject: NodeIdentity | str, tier: str = "central") -> list[list[str]]:
    """A master-issued chain for ``subject`` (an identity or a daemon's node id) valid
    over 1970-2100, as grant hex pairs."""
    central = tier == "central"
    node_id = subject if isinstance(subject, str) else subject.node_id
    cert = issue_certificate(MASTER, serial=node_id[:32], subject=node_id,
                             tier=tier, region="*" if central else "eu", not_before=0,
                             not_after=130 * YEAR_MS, path_len=2 if central else 0,
                             capabilities=[])
    return [[cert.cert_bytes.hex(), cert.signature.hex()]]


def open_node(path: Path, identity: NodeIdentity) -> tuple[NodeLedger, Catalog]:
    """A node's ledger in ``path`` whose views trust ``MASTER``."""
    catalog = build_catalog(MASTER.public_key)
    path.mkdir(parents=True, exist_ok=True)
    return NodeLedger(path, identity, catalog, create=True), catalog
