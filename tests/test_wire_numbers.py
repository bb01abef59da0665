"""The one table of wire numbers and the registered message classes agree both ways."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hartnode
import hartnode.node  # imports every service, so every message registers
from hartnode import wire_numbers
from hartnode.gossip import messages as _messages  # noqa: F401 - the overlay's types
from hartnode.gossip import wire


def _registered() -> dict[int, type]:
    return {n: cls for n, cls in wire.registered_types().items()
            if n not in wire_numbers.TEST_RANGE}


def test_every_table_entry_is_registered_under_its_number() -> None:
    registered = _registered()
    for number, name in wire_numbers.WIRE_NUMBERS.items():
        assert number in registered, f"{number} {name} is in the table but not registered"
        assert name.split(".", 1)[1] == registered[number].__name__


def test_every_registered_class_is_in_the_table() -> None:
    for number, cls in _registered().items():
        entry = wire_numbers.WIRE_NUMBERS.get(number)
        assert entry is not None and entry.endswith("." + cls.__name__), (number, cls)


def test_no_number_or_name_is_reused() -> None:
    names = list(wire_numbers.WIRE_NUMBERS.values())
    assert len(names) == len(set(names))
    assert not set(wire_numbers.WIRE_NUMBERS) & set(wire_numbers.RETIRED)
    assert not set(wire_numbers.WIRE_NUMBERS) & set(wire_numbers.TEST_RANGE)
    assert all(0 < n < 2**16 for n in (*wire_numbers.WIRE_NUMBERS, *wire_numbers.RETIRED))


def test_a_class_missing_from_the_table_cannot_register() -> None:
    class Unlisted:
        pass

    with pytest.raises(KeyError, match="wire_numbers"):
        wire.wire_message("replication")(Unlisted)


def test_the_table_is_data_only() -> None:
    # Any message module may import it, so it must import nothing of hartnode.
    path = Path(hartnode.__file__).parent / "wire_numbers.py"
    tree = ast.parse(path.read_text())
    imported = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = {a.name for n in imported if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in imported if isinstance(n, ast.ImportFrom)}
    assert modules <= {"__future__", "typing"}
