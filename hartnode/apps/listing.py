"""Reading an app's view table the way its routes list it: newest-first pages cut by
a ``(ts_ms, id)`` cursor, and ids given as a unique hex prefix (recipes, goals).

The cursor ``next`` of one page is the ``before`` of the next, so a page never
repeats or skips a row when new rows arrive between two requests (no OFFSET).
Table and column names come from the calling module, never from a request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import apsw

from hartnode.apps.api_args import PAGE_MAX, QueryError
from hartnode.ledger import store

#: A page cursor, "<ts_ms>:<64 hex id>" (the social lists use it too).
CURSOR = re.compile(r"(\d{1,16}):([0-9a-f]{64})")
_HEX_PREFIX = re.compile(r"[0-9a-f]{8,64}")


def parse_cursor(before: str | None) -> tuple[int, str] | None:
    """The ``(ts_ms, id)`` a ``before`` argument names; None for the first page."""
    if before is None or before == "":
        return None
    m = CURSOR.fullmatch(before)
    if m is None:
        raise QueryError("before", "expected the `next` value of the previous page")
    return int(m.group(1)), m.group(2)


def newest_first(state: apsw.Connection, *, table: str, key: str, columns: str,
                 row: Callable[[tuple[Any, ...]], dict[str, Any]], limit: int,
                 before: str | None, where: Sequence[str] = (),
                 params: Sequence[object] = ()) -> dict[str, Any]:
    """``{"items": [...], "next": cursor | None}``: rows of ``table`` matching
    ``where`` (ANDed), newest first by ``(ts_ms, key)``, ``limit`` of them."""
    if not 1 <= limit <= PAGE_MAX:
        raise QueryError("limit", f"expected 1 to {PAGE_MAX}")
    clauses, args = list(where), list(params)
    cursor = parse_cursor(before)
    if cursor is not None:
        clauses.append(f"(ts_ms, {key}) < (?, ?)")
        args += list(cursor)
    sql = (f"SELECT {columns} FROM {table} "
           f"{'WHERE ' + ' AND '.join(clauses) if clauses else ''}"
           f" ORDER BY ts_ms DESC, {key} DESC LIMIT ?")
    rows = store.query(state, sql, (*args, limit + 1))
    items = [row(r) for r in rows[:limit]]
    nxt = f"{items[-1]['ts_ms']}:{items[-1][key]}" if len(rows) > limit else None
    return {"items": items, "next": nxt}


def resolve_prefix(state: apsw.Connection, *, table: str, key: str, ref: str,
                   noun: str, expected: str) -> str:
    """The full id in ``table.key`` that ``ref`` (the id or a unique prefix of at least
    8 hex digits) names. ``noun`` and ``expected`` word the 400s."""
    if not _HEX_PREFIX.fullmatch(ref):
        raise QueryError("id", f"expected {expected} (at least 8 lowercase hex digits)")
    rows = store.query(state, f"SELECT {key} FROM {table} WHERE {key} >= ? AND {key} < ? "
                              "LIMIT 2", (ref, ref + "g"))
    if not rows:
        raise QueryError("id", f"no {noun} {ref}")
    if len(rows) > 1:
        raise QueryError("id", f"{ref} is ambiguous; give more digits")
    return str(rows[0][0])
