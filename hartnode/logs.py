"""Structured logs: one line per record to stdout (journald keeps them).

``kv``:   ``ts=2026-11-22T10:00:00.123Z level=info logger=hartnode.node msg="ready" api=...``
``json``: one JSON object per line with the same fields.
Extra fields come from ``logger.info("msg", extra={"fields": {...}})``.

No Python reprs reach a log line: bytes are written as hex, lists, tuples and
sets as their items joined by commas, in the message's ``%s`` arguments and in
the fields alike (``tests/test_logs.py`` also keeps ``%r`` out of log calls).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


def plain(value: Any) -> Any:
    """``value`` as log text would show it without a Python repr: bytes as hex,
    a list, tuple, set or frozenset as its items joined by commas; numbers,
    strings and None as they are; a mapping's values made plain."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return ",".join(str(plain(v)) for v in value)
    if isinstance(value, set | frozenset):
        return ",".join(sorted(str(plain(v)) for v in value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def message(record: logging.LogRecord) -> str:
    """The record's message, its arguments made plain first."""
    if isinstance(record.args, tuple) and record.args:
        record.args = tuple(plain(a) for a in record.args)
    return record.getMessage()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": message(record),
    }
    out.update({k: plain(v) for k, v in (getattr(record, "fields", {}) or {}).items()})
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


def _kv_value(value: Any) -> str:
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/@" for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_kv_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


def setup(level: str = "info", fmt: str = "kv") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
