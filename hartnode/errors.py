"""The one base for errors an operator reads: what went wrong, and what to do.

The CLI prints ``message`` after ``hartnode: error:`` and ``hint`` after
``hartnode: hint:``; ``str()`` joins them for logs.
"""

from __future__ import annotations


class HintedError(Exception):
    """A failure the operator can act on; ``hint`` says how."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}"
