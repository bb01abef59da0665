"""Every event kind and view this build understands, registered explicitly.

Import-time side effects would make the set depend on what happened to be
imported; one function that calls each app's ``register`` makes it visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hartnode.apps import notes
from hartnode.attestation import fraud
from hartnode.compute import views as compute_views
from hartnode.hierarchy import policy
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry


@dataclass(frozen=True)
class Catalog:
    kinds: KindRegistry
    views: ViewRegistry
    # The escrow book behind the compute views (balances for the same-write check).
    compute: compute_views.BookCache = field(
        default_factory=lambda: compute_views.BookCache(None))


def build_catalog(master_key: bytes | None = None) -> Catalog:
    """Every kind and view. ``master_key``: the pinned master public key, which
    decides whose Spark grants count (DESIGN §4); None mints nothing."""
    kinds = KindRegistry()
    views = ViewRegistry()
    for app in (notes, fraud, policy):
        app.register(kinds, views)
    compute = compute_views.register(kinds, views, master_key=master_key)
    return Catalog(kinds, views, compute)
