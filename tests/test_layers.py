"""The import layers (DESIGN §2): sans-I/O cores import no I/O, and no package cycle returns.

Read from the source with ``ast`` (every import statement at any depth, so a
lazy import inside a function counts; an import under ``if TYPE_CHECKING:``
does not, it never runs). Nothing is imported, so a test failure names the
module and the import line's target.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import hartnode

ROOT = Path(hartnode.__file__).parent

#: What a core must not reach, directly or through any hartnode module it imports.
IO_MODULES = frozenset({"trio", "trio_websocket", "apsw", "aiohttp", "asyncio", "socket", "time"})

#: The sans-I/O cores and the plain modules they stand on.
CORES = (
    "hartnode.protocol",
    "hartnode.wire_numbers",
    "hartnode.routes",
    "hartnode.canonical",
    "hartnode.identity",
    "hartnode.gossip.wire",
    "hartnode.gossip.messages",
    "hartnode.gossip.handshake",
    "hartnode.gossip.secretbox",
    "hartnode.gossip.hyparview",
    "hartnode.gossip.admission",
    "hartnode.gossip.plumtree",
    "hartnode.gossip.token_bucket",
    "hartnode.gossip.overlay_config",
    "hartnode.gossip.peer_record",
    "hartnode.gossip.trust",
    "hartnode.gossip.link_service",
    "hartnode.attestation.certificate",
    "hartnode.attestation.revocation",
    "hartnode.attestation.challenge",
    "hartnode.attestation.reputation",
    "hartnode.ledger.envelope",
    "hartnode.ledger.kinds",
    "hartnode.ledger.items",
    "hartnode.ledger.held",
    "hartnode.ledger.verdict",
    "hartnode.replication.core",
    "hartnode.replication.messages",
    "hartnode.replication.fork_evidence",
    "hartnode.replication.direction",
    "hartnode.hierarchy.direction",
    "hartnode.hierarchy.parent_choice",
    "hartnode.apps.events",
    "hartnode.compute.replication",
    "hartnode.compute.capabilities",
    "hartnode.apps.recipes.kinds",
    "hartnode.apps.goals.kinds",
    "hartnode.apps.goals.lifecycle",
    "hartnode.apps.goals.gate",
)


def _module_name(path: Path) -> str:
    parts = ("hartnode", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_only(tree: ast.Module) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports (``from a import b`` gives ``a``, and ``a.b``
    when that is a module)."""
    path = _modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module] if node.level else [node.module or ""])
            target = target.rstrip(".")
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names
                       if f"{target}.{a.name}" in _modules())
    return frozenset(out)


def _io_reached(core: str) -> list[str]:
    """``"module imports name"`` for every I/O import reachable from ``core``."""
    seen: set[str] = set()
    stack, found = [core], []
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in sorted(_imports(module)):
            if name.split(".")[0] in IO_MODULES:
                found.append(f"{module} imports {name}")
            elif name in _modules():
                stack.append(name)
    return found


@pytest.mark.parametrize("core", CORES)
def test_a_sans_io_core_reaches_no_io_module(core: str) -> None:
    assert core in _modules(), f"{core} is gone: update CORES"
    assert _io_reached(core) == []


def _unit(module: str) -> str:
    """The node of the package graph: a subpackage, or a top-level module."""
    return module.split(".")[1] if module.count(".") >= 1 else module


def _package_graph(ignore: frozenset[tuple[str, str]] = frozenset()) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in _modules():
        if module == "hartnode":
            continue
        src = _unit(module)
        for name in _imports(module):
            dst = _unit(name)
            if name.startswith("hartnode.") and dst != src and (src, dst) not in ignore:
                graph.setdefault(src, set()).add(dst)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_package_cycle() -> None:
    assert _cycles(_package_graph()) == []


def test_the_ledger_imports_no_networking_and_no_replication() -> None:
    # base < ledger < attestation < gossip < replication < hierarchy < apps/catalog < node
    above = {"attestation", "gossip", "replication", "hierarchy", "apps", "catalog", "node"}
    assert _package_graph().get("ledger", set()) & above == set()
    assert _package_graph().get("replication", set()) & {"hierarchy", "apps", "catalog",
                                                         "node"} == set()


def test_the_graph_sees_a_cycle_and_a_lazy_import() -> None:
    # The checks above would pass on an empty graph; show they can fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "hartnode.gossip.hyparview" in _imports("hartnode.gossip.messages")
    assert "time" in _imports("hartnode.node_api")
    assert "hartnode.node" not in _imports("hartnode.node_api")  # under TYPE_CHECKING


def test_the_tests_mirror_the_package_layout() -> None:
    """Each folder of tests/ is named after the package it tests (issue #9.6)."""
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert folders <= packages, f"test folders with no package of that name: {folders - packages}"
    for folder in folders:
        for sub in (tests / folder).iterdir():
            if sub.is_dir() and sub.name != "__pycache__":
                assert (ROOT / folder / sub.name / "__init__.py").exists(), sub
