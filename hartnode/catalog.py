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

from hartnode.apps import events, notes
from hartnode.attestation import fraud, trust_events
from hartnode.hierarchy import policy
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry
from hartnode.routes import AppRoutes


@dataclass(frozen=True)
class Catalog:
    kinds: KindRegistry
    views: ViewRegistry
    routes: AppRoutes = field(default_factory=AppRoutes)


def build_catalog() -> Catalog:
    catalog = Catalog(KindRegistry(), ViewRegistry())
    for app in (notes, fraud, policy, trust_events):
        app.register(catalog.kinds, catalog.views)
    for routes_app in (events,):
        routes_app.register_routes(catalog.routes)
    return catalog
