"""Payload schemas per event kind, enforced on append and on ingest.

A schema is a small tree of field specs (``Str``, ``Int``, ``Bool``, ``Hex``,
``List``, ``Obj``). ``check`` walks a payload and raises ``PayloadError``
naming the exact field (``payload.items[2].name``), so an operator or a peer
learns what to fix. Schemas are plain data, registered by each app in code
(``KindRegistry.register``); none are loaded from files, so a peer cannot
change what we accept.

Unknown kinds: appending one is refused (we would be signing something we do
not understand). Ingesting one from a newer peer is allowed as *opaque*: its
hash, signature and chain are still verified, it is stored and forwarded,
but no view projects it. Refusing it would stall that origin's whole feed on
every older node, since later events would wait behind the gap forever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hartnode.canonical import MAX_SAFE_INTEGER


class PayloadError(ValueError):
    """A payload does not match its kind's schema; ``path`` names the field."""

    def __init__(self, kind: str, path: str, problem: str) -> None:
        super().__init__(f"{kind}: {path}: {problem}")
        self.kind = kind
        self.path = path
        self.problem = problem


class UnknownKindError(KeyError):
    """No schema is registered for this kind."""

    def __init__(self, kind: str, known: Iterable[str]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.known = sorted(known)

    def __str__(self) -> str:
        return f"unknown event kind {self.kind!r}; known kinds: {', '.join(self.known)}"


class Spec:
    """A field spec. ``check`` returns an error text or None."""

    def check(self, value: Any) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def walk(self, value: Any, path: str, errors: list[tuple[str, str]]) -> None:
        problem = self.check(value)
        if problem is not None:
            errors.append((path, problem))


@dataclass(frozen=True)
class Str(Spec):
    min_len: int = 0
    max_len: int = 10_000
    pattern: str | None = None

    def check(self, value: Any) -> str | None:
        if type(value) is not str:
            return f"expected a string, got {_type_name(value)}"
        if not self.min_len <= len(value) <= self.max_len:
            return f"expected {self.min_len} to {self.max_len} characters, got {len(value)}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"does not match {self.pattern}"
        return None


@dataclass(frozen=True)
class Int(Spec):
    min: int = -MAX_SAFE_INTEGER
    max: int = MAX_SAFE_INTEGER

    def check(self, value: Any) -> str | None:
        if type(value) is not int:
            return f"expected an integer, got {_type_name(value)}"
        if not self.min <= value <= self.max:
            return f"expected {self.min} to {self.max}, got {value}"
        return None


@dataclass(frozen=True)
class Bool(Spec):
    """true or false (compute receipts and metering: ``estimated``, ``ok``)."""

    def check(self, value: Any) -> str | None:
        return None if type(value) is bool else f"expected true or false, got {_type_name(value)}"


@dataclass(frozen=True)
class Hex(Spec):
    """Lowercase hex of exactly ``nbytes`` bytes (a node id, a hash)."""

    nbytes: int = 32

    def check(self, value: Any) -> str | None:
        if type(value) is not str or not re.fullmatch(f"[0-9a-f]{{{2 * self.nbytes}}}", value):
            return f"expected {2 * self.nbytes} lowercase hex digits"
        return None


@dataclass(frozen=True)
class List(Spec):
    item: Spec
    max_items: int = 1000

    def check(self, value: Any) -> str | None:
        if type(value) is not list:
            return f"expected a list, got {_type_name(value)}"
        if len(value) > self.max_items:
            return f"expected at most {self.max_items} items, got {len(value)}"
        return None

    def walk(self, value: Any, path: str, errors: list[tuple[str, str]]) -> None:
        problem = self.check(value)
        if problem is not None:
            errors.append((path, problem))
            return
        for i, item in enumerate(value):
            self.item.walk(item, f"{path}[{i}]", errors)


@dataclass(frozen=True)
class Obj(Spec):
    """An object with named fields; ``optional`` ones may be absent; no others allowed."""

    fields: dict[str, Spec]
    optional: frozenset[str] = field(default_factory=frozenset)

    def check(self, value: Any) -> str | None:
        return None if type(value) is dict else f"expected an object, got {_type_name(value)}"

    def walk(self, value: Any, path: str, errors: list[tuple[str, str]]) -> None:
        problem = self.check(value)
        if problem is not None:
            errors.append((path, problem))
            return
        for name in value.keys() - self.fields.keys():
            errors.append((f"{path}.{name}", "unexpected field"))
        for name, spec in self.fields.items():
            if name not in value:
                if name not in self.optional:
                    errors.append((f"{path}.{name}", "missing required field"))
                continue
            spec.walk(value[name], f"{path}.{name}", errors)


def _type_name(value: Any) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list",
             dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class KindSpec:
    """One event kind: its payload schema and the reaches it may be appended with."""

    kind: str
    payload: Obj
    reaches: frozenset[str] = frozenset({"local", "hierarchy", "network"})
    doc: str = ""


class KindRegistry:
    """Every event kind this node understands, registered in code by each app."""

    def __init__(self) -> None:
        self._kinds: dict[str, KindSpec] = {}

    def register(self, spec: KindSpec) -> None:
        if spec.kind in self._kinds:
            raise ValueError(f"event kind {spec.kind!r} is registered twice")
        self._kinds[spec.kind] = spec

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def check(self, kind: str, payload: Any, reach: str | None = None) -> None:
        """Check ``payload`` (and ``reach``, if given) against ``kind``'s schema.

        Raises:
            UnknownKindError: no schema for ``kind``.
            PayloadError: names the first offending field.
        """
        spec = self._kinds.get(kind)
        if spec is None:
            raise UnknownKindError(kind, self._kinds)
        if reach is not None and reach not in spec.reaches:
            allowed = ", ".join(sorted(spec.reaches))
            raise PayloadError(kind, "reach", f"{reach!r} not allowed for this kind ({allowed})")
        errors: list[tuple[str, str]] = []
        spec.payload.walk(payload, "payload", errors)
        if errors:
            path, problem = errors[0]
            raise PayloadError(kind, path, problem)
