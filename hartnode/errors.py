"""The one base for errors an operator reads: what went wrong, and what to do.

The CLI prints ``message`` after ``hartnode: error:`` and ``hint`` after
``hartnode: hint:``; ``str()`` joins them for logs.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class HintedError(Exception):
    """A failure the operator can act on; ``hint`` says how."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}"


def find_in_group(group: BaseExceptionGroup[BaseException], cls: type[E]) -> E | None:
    """The first ``cls`` exception anywhere inside ``group`` (trio nurseries wrap
    what their tasks raise in exception groups, nested once per nursery)."""
    for exc in group.exceptions:
        if isinstance(exc, cls):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = find_in_group(exc, cls)
            if found is not None:
                return found
    return None
