"""Every event kind and view this build understands, registered explicitly.

Import-time side effects would make the set depend on what happened to be
imported; one function that calls each app's ``register`` makes it visible.
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.apps import notes
from hartnode.attestation import fraud, trust_events
from hartnode.hierarchy import policy
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry


@dataclass(frozen=True)
class Catalog:
    kinds: KindRegistry
    views: ViewRegistry


def build_catalog() -> Catalog:
    kinds = KindRegistry()
    views = ViewRegistry()
    for app in (notes, fraud, policy, trust_events):
        app.register(kinds, views)
    return Catalog(kinds, views)
