"""Small text forms the commands share: sizes and ages."""

from __future__ import annotations


def ago(ms: int, now_ms: int) -> str:
    """How long ago, in the largest unit that fits: ``4s``, ``12m``, ``3h``, ``2d``."""
    s = max(0, now_ms - ms) // 1000
    for unit, seconds in (("d", 86_400), ("h", 3600), ("m", 60)):
        if s >= seconds:
            return f"{s // seconds}{unit}"
    return f"{s}s"


def size(n: int) -> str:
    """Bytes with a binary prefix: ``512B``, ``1.5K``, ``20M``."""
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")
