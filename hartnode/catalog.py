"""Every event kind, view and API route this build understands, registered explicitly.

Import-time side effects would make the set depend on what happened to be
imported; one function that calls each app's ``register`` makes it visible.
An app registers kinds and views with ``register(kinds, views)`` and its
routes with ``register_routes(routes)`` (``hartnode.routes``).

The ledger never imports this module: it receives the registries it needs
(``ledger.registries.Registries``, satisfied by ``Catalog``), so apps may
import the ledger without a package cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hartnode.apps import events, notes, social
from hartnode.apps.goals import views as goals
from hartnode.apps.recipes import views as recipes
from hartnode.attestation import fraud, trust_events
from hartnode.compute import views as compute_views
from hartnode.hierarchy import policy
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry
from hartnode.routes import AppRoutes


@dataclass(frozen=True)
class Catalog:
    kinds: KindRegistry
    views: ViewRegistry
    routes: AppRoutes = field(default_factory=AppRoutes)
    # The escrow book behind the compute views (balances for the same-write check).
    compute: compute_views.BookCache = field(
        default_factory=lambda: compute_views.BookCache(None))


def build_catalog(master_key: bytes | None = None) -> Catalog:
    """Every kind, view and app route. ``master_key``: the pinned master public
    key, which decides whose Spark grants count (DESIGN §4); None mints nothing."""
    kinds, views = KindRegistry(), ViewRegistry()
    for app in (notes, fraud, policy, trust_events, recipes, goals):
        app.register(kinds, views)
    compute = compute_views.register(kinds, views, master_key=master_key)
    social.register(kinds, views, master_key=master_key)
    catalog = Catalog(kinds, views, compute=compute)
    for routes_app in (events, social):
        routes_app.register_routes(catalog.routes)
    return catalog
