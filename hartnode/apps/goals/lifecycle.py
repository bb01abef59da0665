"""A goal's lifecycle as a table (h11's habit): draft, active, paused, done, failed.

    draft ──activate──▶ active ◀──activate── paused
      │                   │ │ └──pause──────────▲
      └──fail──▶ failed ◀─┘ └──done──▶ done ◀───┘ (and paused ──fail──▶ failed)

``done`` and ``failed`` are terminal. Pure: the writer checks a step before
signing it, the projection ignores a step the table does not allow.
"""

from __future__ import annotations

TERMINAL = frozenset({"done", "failed"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "failed"}),
    "active": frozenset({"paused", "done", "failed"}),
    "paused": frozenset({"active", "done", "failed"}),
    "done": frozenset(),
    "failed": frozenset(),
}
#: CLI verbs → the status they set.
VERBS = {"activate": "active", "pause": "paused", "done": "done", "fail": "failed"}


class LifecycleError(ValueError):
    """A step the table does not allow; the message names both states."""


def check_step(current: str, to: str) -> None:
    """Raises LifecycleError unless ``current → to`` is allowed."""
    if to not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none: it is final"
        raise LifecycleError(f"a {current} goal cannot become {to} (allowed: {allowed})")


def allowed(current: str, to: str) -> bool:
    return to in TRANSITIONS.get(current, frozenset())
