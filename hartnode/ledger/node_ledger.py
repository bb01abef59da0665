"""A node's two databases opened together: the ledger and its views.

The one object the daemon, the CLI and the tests hold; ``append`` and
``ingest`` store events durably, then bring the views up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path

from hartnode.identity import NodeIdentity
from hartnode.ledger import store
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft, IngestResult, Ledger, Withheld
from hartnode.ledger.registries import Registries
from hartnode.ledger.views import ViewUpdater


class NodeLedger:
    def __init__(self, data_dir: Path, identity: NodeIdentity, catalog: Registries, *,
                 create: bool = False) -> None:
        self.data_dir = data_dir
        ledger_conn = store.open_database(data_dir, store.LEDGER, create=create)
        try:
            state_conn = store.open_database(data_dir, store.STATE, create=create)
        except BaseException:
            ledger_conn.close()
            raise
        self.ledger = Ledger(ledger_conn, identity, catalog.kinds)
        self.views = ViewUpdater(state_conn, self.ledger, catalog.views)
        self._conns = (ledger_conn, state_conn)

    def append(self, drafts: Sequence[Draft], *, update_views: bool = True) -> list[Event]:
        """Durably append own events, then project them."""
        stored = self.ledger.append(drafts)
        if update_views:
            self.views.catch_up()
        return [event for _, event in stored]

    def ingest(self, items: Sequence[tuple[bytes, bytes] | Withheld], *,
               executor: Executor | None = None, peer: str = "",
               accept: Callable[[Event], bool] | None = None) -> IngestResult:
        result = self.ledger.ingest(items, executor=executor, peer=peer, accept=accept)
        if result.stored:
            self.views.catch_up()
        return result

    def close(self) -> None:
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> NodeLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
