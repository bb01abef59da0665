"""How the daemon (``node.py``) runs goals: the dispatcher, the start-up recovery, the routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from hartnode.apps.goals import writes
from hartnode.apps.goals.dispatcher import Dispatcher, Requester
from hartnode.apps.goals.routes import register_routes
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger

if TYPE_CHECKING:  # types only: the catalog imports the apps
    from hartnode.catalog import Catalog

log = logging.getLogger(__name__)
__all__ = ["build_dispatcher", "recover", "register_routes"]


def build_dispatcher(node_ledger: NodeLedger, access: StoreAccess, catalog: Catalog,
                     requester: Requester | None,
                     announce: Callable[[list[Event]], None]) -> Dispatcher:
    return Dispatcher(node_ledger, access, requester, writes.wallet_available(catalog),
                      announce)


async def recover(dispatcher: Dispatcher) -> None:
    """Release reservations a previous process left open (it died mid-dispatch)."""
    released = await dispatcher.access.run(writes.release_orphans, dispatcher.nl)
    if released:
        dispatcher.announce(released)
        log.info("goal reservations released after a restart",
                 extra={"fields": {"count": len(released)}})
