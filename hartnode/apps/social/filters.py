"""What a local user does not want to see, and the labels that apply now.

A viewer's blocks and mute words (its own ``local`` events) hide authors and
texts from what it reads; labels from regional or central nodes are looked up
per target, the latest per (labeller, target, label) by ``(ts_ms, hash)``,
dropped when negated or expired. ``!hide`` (AT Protocol's) hides the target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import apsw

HIDE = "!hide"
_MAX_IN = 500  # ids per IN (...) list: well below SQLite's parameter limit


@dataclass(frozen=True)
class Viewer:
    """A local user's filters: who it blocks and which words it mutes."""

    user: str | None = None
    blocked: frozenset[str] = frozenset()
    muted: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, user: str, blocked: Iterable[str], muted: Iterable[str]) -> Viewer:
        words = tuple(sorted(set(muted)))
        pattern = (re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in words),
                              re.IGNORECASE) if words else None)
        return cls(user, frozenset(blocked), words, pattern)

    @classmethod
    def load(cls, state: apsw.Connection, user: str | None) -> Viewer:
        """The local user's own blocks and mute words (None: an anonymous reader)."""
        if user is None:
            return cls()
        blocked = [str(b) for (b,) in state.execute(
            "SELECT blocked_id FROM social_blocks WHERE user_id=? AND active=1", (user,))]
        muted = [str(w) for (w,) in state.execute(
            "SELECT word FROM social_mutes WHERE user_id=? AND active=1", (user,))]
        return cls.of(user, blocked, muted)

    def mutes(self, *texts: str) -> bool:
        """True when a muted word appears (whole word, any case) in one of ``texts``."""
        return self._pattern is not None and any(self._pattern.search(t) for t in texts)

    def hides(self, author: str, *texts: str) -> bool:
        return author in self.blocked or self.mutes(*texts)


def chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _MAX_IN):
        yield ids[i:i + _MAX_IN]


def active_labels(state: apsw.Connection, targets: Iterable[str], now_ms: int
                  ) -> dict[str, list[dict[str, object]]]:
    """Per target, the labels in force at ``now_ms``: ``{label, labeler, tier}``."""
    ids = sorted(set(targets))
    latest: dict[tuple[str, str, str], tuple[object, ...]] = {}
    for part in chunks(ids):
        for row in state.execute(
                "SELECT labeler, target_id, label, neg, exp_ms, tier FROM social_labels WHERE "
                f"target_id IN ({','.join('?' * len(part))}) ORDER BY ts_ms, hash", part):
            latest[(str(row[0]), str(row[1]), str(row[2]))] = tuple(row)
    out: dict[str, list[dict[str, object]]] = {}
    for (labeler, target, label), (_, _, _, neg, exp_ms, tier) in sorted(latest.items()):
        if neg or (exp_ms is not None and int(exp_ms) <= now_ms):  # type: ignore[call-overload]
            continue
        out.setdefault(target, []).append({"label": label, "labeler": labeler, "tier": tier})
    return out


def hidden_by_label(labels: dict[str, list[dict[str, object]]], *targets: str) -> bool:
    return any(entry["label"] == HIDE for t in targets for entry in labels.get(t, ()))
