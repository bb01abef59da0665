"""Shared pieces of the social tests: signed events from real ledgers, fresh state
databases that projections are applied to in any order, and view dumps."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import apsw

from hartnode.apps.social.names import user_ref
from hartnode.apps.social.tables import TABLES
from hartnode.attestation.certificate import issue_certificate
from hartnode.catalog import Catalog, build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger import store
from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.routes import ApiRequestError

T = TypeVar("T")
MASTER = NodeIdentity.from_seed(b"\x31" * 32)
NODE_A = NodeIdentity.from_seed(b"\x32" * 32)
NODE_B = NodeIdentity.from_seed(b"\x33" * 32)
NODE_C = NodeIdentity.from_seed(b"\x34" * 32)
YEAR_MS = 365 * 24 * 3600 * 1000


def catalog() -> Catalog:
    return build_catalog(MASTER.public_key)


def chain_json(subject: NodeIdentity, tier: str) -> list[dict[str, str]]:
    """A master-issued chain for ``subject`` (valid 1970-2100) as a label carries it."""
    cert = issue_certificate(MASTER, serial=subject.node_id[:32], subject=subject.node_id,
                             tier=tier, region="*" if tier == "central" else "eu",
                             not_before=0, not_after=130 * YEAR_MS,
                             path_len=2 if tier == "central" else 0, capabilities=[])
    return [{"cert": cert.cert_bytes.hex(), "sig": cert.signature.hex()}]


def ref(handle: str, node: NodeIdentity) -> str:
    return user_ref(handle, node.node_id)


class Author:
    """Signs social events for the users of one node, with the times a test chooses."""

    def __init__(self, path: Path, identity: NodeIdentity) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.ledger = NodeLedger(path, identity, catalog(), create=True)
        self.node_id = identity.node_id

    def say(self, handle: str, kind: str, payload: dict[str, Any], ts_ms: int,
            reach: str = "network") -> Event:
        actor = "node" if handle == "" else f"user:{handle}"
        return self.ledger.append([Draft(kind=kind, payload=payload, reach=reach, actor=actor,
                                         scope="user", ts_ms=ts_ms)], update_views=False)[0]

    def close(self) -> None:
        self.ledger.close()


def fresh_state(path: Path) -> apsw.Connection:
    """An empty state.sqlite with the social tables."""
    path.mkdir(parents=True, exist_ok=True)
    conn = store.open_database(path, store.STATE, create=True)
    with conn:
        for name in TABLES:
            conn.execute(catalog().views.tables[name])
    return conn


def apply(conn: apsw.Connection, events: Iterable[Event], cat: Catalog | None = None) -> None:
    """Run each event's projections, in the order given (duplicates included)."""
    cat = cat or catalog()
    with conn:
        for i, event in enumerate(events, start=1):
            for fn in cat.views.projections.get(event.kind, ()):
                fn(conn, i, event)


def dump(conn: apsw.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every social table's rows without ``source_event`` (ledger ids differ by node)."""
    out = {}
    for name in TABLES:
        cols = [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')
                if row[1] != "source_event"]
        out[name] = sorted(tuple(r) for r in conn.execute(
            f'SELECT {", ".join(cols)} FROM "{name}"'))
    return out


class LedgerContext:
    """The ``AppContext`` the routes see, over a NodeLedger (what ``Node`` does, minus
    the committer and the threads), so handlers are tested on real SQLite files."""

    def __init__(self, ledger: NodeLedger) -> None:
        self.ledger = ledger
        self.clock = 1_700_000_000_000

    @property
    def node_id(self) -> str:
        identity = self.ledger.ledger.identity
        assert identity is not None
        return identity.node_id

    async def append_event(self, kind: str, reach: str, payload: object, *,
                           actor: str = "node") -> dict[str, object]:
        assert isinstance(payload, dict)
        self.clock += 1
        try:
            event = self.ledger.append([Draft(kind=kind, payload=payload, reach=reach,
                                              actor=actor, ts_ms=self.clock)])[0]
        except (UnknownKindError, PayloadError) as e:
            raise ApiRequestError(str(e)) from e
        return event.as_json()

    async def tail(self, n: int) -> list[dict[str, object]]:
        return [e.as_json() for e in self.ledger.ledger.tail(n)]

    async def read_views(self, fn: Callable[[Any], T]) -> T:
        self.ledger.views.catch_up()
        return fn(self.ledger.views.state)


def kinds_of(events: Sequence[Event]) -> list[str]:
    return [e.kind for e in events]
