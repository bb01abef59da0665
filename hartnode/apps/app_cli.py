"""What an app's command-line module gets from ``hartnode.cli`` (which imports the apps,
so the apps cannot import it): the data dir, the catalog, the daemon's API.

An app module offers ``add_parsers(sub, data, as_json)`` and ``run(args, ctx)``;
``cli.py`` registers both and turns ``AppCommandError`` into its exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hartnode.datadir import DataDir
from hartnode.errors import HintedError
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.registries import Registries


class AppCommandError(HintedError):
    """A command failed; ``usage`` when the operator's input was wrong (exit 2)."""

    def __init__(self, message: str, hint: str = "", *, usage: bool = False) -> None:
        super().__init__(message, hint)
        self.usage = usage


@dataclass(frozen=True)
class AppCli:
    data_dir: DataDir
    catalog: Registries
    #: GET (body None) or POST ``path`` on the running daemon; raises the CLI's error.
    api: Callable[[str, Any], Any]

    @property
    def daemon_running(self) -> bool:
        """A running daemon owns the feed: writes go through its API then."""
        return self.data_dir.is_locked()

    def open_ledger(self) -> NodeLedger:
        return NodeLedger(self.data_dir.path, self.data_dir.load_identity(), self.catalog)


def emit(args: Any, out: Any, text: Callable[[Any], str]) -> None:
    """``--json``: one JSON document; otherwise the human form."""
    if getattr(args, "json", False):
        print(json.dumps(out, sort_keys=True, ensure_ascii=False))
    else:
        print(text(out))
