"""The package layers around replication (issue #9.5): no cycle through it.

base (canonical, identity, errors) < ledger < attestation < gossip <
replication < hierarchy < apps/catalog < node: a package imports only those
before it. Read from the source (every import statement, at any depth), so a
lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hartnode

ROOT = Path(hartnode.__file__).parent


def _imports(package: str) -> dict[str, set[str]]:
    """module file -> the hartnode modules it imports."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        out[str(path.relative_to(ROOT))] = names
    return out


def _offenders(package: str, above: tuple[str, ...]) -> list[str]:
    return [f"{path} imports {name}" for path, names in _imports(package).items()
            for name in sorted(names)
            if any(name == f"hartnode.{a}" or name.startswith(f"hartnode.{a}.") for a in above)]


def test_the_ledger_imports_no_networking_and_no_replication() -> None:
    assert _offenders("ledger", ("gossip", "hierarchy", "replication", "attestation")) == []


def test_replication_imports_nothing_above_it() -> None:
    assert _offenders("replication", ("hierarchy", "apps", "catalog", "node", "cli")) == []


def test_gossip_does_not_import_replication_or_hierarchy() -> None:
    assert _offenders("gossip", ("replication", "hierarchy", "apps", "node")) == []


def test_the_replication_core_loads_without_io_libraries() -> None:
    # A fresh interpreter: what the core pulls in, transitively.
    code = ("import sys, hartnode.replication.core, hartnode.replication.fork_evidence, "
            "hartnode.replication.direction, hartnode.ledger.items; "
            "print(','.join(sorted(m for m in ('trio', 'apsw', 'aiohttp') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == ""
    for path, names in _imports("replication").items():
        if path != "replication/service.py":
            assert not names & {"time", "trio", "apsw", "aiohttp"}, path
