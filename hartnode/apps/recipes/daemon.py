"""How the daemon (``node.py``) runs recipe search: the service, its wake-ups, its routes.

Kept here so ``node.py`` stays the lifecycle read top to bottom.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from hartnode.apps.recipes.embedder import make_embedder
from hartnode.apps.recipes.routes import register_routes
from hartnode.apps.recipes.service import SearchService
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.items import IngestResult
from hartnode.ledger.node_ledger import NodeLedger

if TYPE_CHECKING:  # types only
    from hartnode.config import Config
    from hartnode.datadir import DataDir

__all__ = ["build_search", "on_ingested", "register_routes"]


def build_search(cfg: Config, data_dir: DataDir, node_ledger: NodeLedger,
                 access: StoreAccess) -> SearchService:
    """The search service with the configured embedder (loaded when it runs)."""
    return SearchService(data_dir.path, node_ledger, access,
                         partial(make_embedder, cfg.recipes.embedder))


def on_ingested(search: SearchService, result: IngestResult) -> None:
    """Recipes from peers: index them too."""
    if result.stored:
        search.wake([event for _, event in result.stored])
