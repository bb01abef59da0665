"""What the ledger receives from the apps: the kinds it checks and the views it projects.

The ledger does not import ``hartnode.catalog`` (which imports the apps, which
import the ledger: a package cycle); whoever opens a ledger hands it anything
with these two attributes (``catalog.Catalog`` has them).
"""

from __future__ import annotations

from typing import Protocol

from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry


class Registries(Protocol):
    @property
    def kinds(self) -> KindRegistry: ...

    @property
    def views(self) -> ViewRegistry: ...
