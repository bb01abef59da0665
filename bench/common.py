"""Shared helpers of the benchmarks: paired repeats, medians, the result table.

The machine is shared and noisy, so no figure is reported alone: each repeat
measures the figure AND its physical limit (or peer) back to back, the table
shows the median of each, and the ratio is the median of the per-repeat
ratios (a paired measurement: a neighbour's burst slows both sides of one
pair, so it mostly cancels out of the ratio).

    table = Table("bench_ledger")
    table.add(Row("append, batch 1000", value=..., unit="ev/s", limit=..., ...))
    table.print()
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"  # git-ignored: caches, temp data dirs, JSON results


def out_dir(*parts: str) -> Path:
    """A directory under ``bench/out`` (on the real disk, so fsync is real)."""
    path = OUT_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn()`` takes (perf_counter)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Rate:
    """Operations per second of one run, by the wall clock and by this thread's CPU time.

    The CPU rate leaves out the time the scheduler gave our core to a
    neighbour (and time spent waiting on the disk), so on a busy machine it
    shows what the code costs; the wall rate is what a user gets.
    """

    wall: float
    cpu: float


def rate(fn: Callable[[], Any], n: int) -> Rate:
    """Run ``fn()`` once; ``n`` is how many operations it performs."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return Rate(n / wall, n / max(cpu, 1e-9))


@dataclass
class Paired:
    """Per-repeat samples of a figure and of the limit it is compared with."""

    values: list[float] = field(default_factory=list)
    limits: list[float] = field(default_factory=list)

    def add(self, value: float, limit: float) -> None:
        self.values.append(value)
        self.limits.append(limit)

    @property
    def value(self) -> float:
        return median(self.values)

    @property
    def limit(self) -> float:
        return median(self.limits)

    @property
    def ratio(self) -> float:
        """Median of the per-repeat value/limit ratios."""
        return median([v / lim for v, lim in zip(self.values, self.limits, strict=True)])


@dataclass
class Row:
    """One line of the result table.

    ``goal`` is a predicate text such as ``ratio >= 50%`` or ``value <= 1.0 s``;
    ``met`` is None for rows that only inform.
    """

    figure: str
    value: float
    unit: str
    limit: float | None = None
    limit_name: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    samples: list[float] = field(default_factory=list)
    limit_samples: list[float] = field(default_factory=list)

    @classmethod
    def paired(cls, figure: str, p: Paired, unit: str, limit_name: str, *, goal: str = "",
               min_ratio: float | None = None, max_ratio: float | None = None) -> Row:
        """A row from paired samples; the goal, if any, is on the ratio."""
        ratio = p.ratio
        met: bool | None = None
        if min_ratio is not None:
            met = ratio >= min_ratio
        if max_ratio is not None:
            met = ratio <= max_ratio
        return cls(figure, p.value, unit, p.limit, limit_name, ratio, goal, met,
                   list(p.values), list(p.limits))


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


class Table:
    """The table every benchmark prints (and saves as JSON under bench/out)."""

    HEADER = ("figure", "value", "limit/peer measured in same run", "ratio", "goal", "met?")

    def __init__(self, name: str, argv: Sequence[str] | None = None) -> None:
        self.name = name
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.command = " ".join([".venv/bin/python", f"bench/{name}.py",
                                 *(sys.argv[1:] if argv is None else argv)])
        self.started = dt.datetime.now(dt.UTC)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.figure}: {fmt(row.value, row.unit)}"
              + (f"  (limit {fmt(row.limit, row.unit)}, ratio {row.ratio:.0%})"
                 if row.limit is not None and row.ratio is not None else ""), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def lines(self) -> list[str]:
        cells = []
        for r in self.rows:
            limit = "-" if r.limit is None else f"{fmt(r.limit, r.unit)} ({r.limit_name})"
            ratio = "-" if r.ratio is None else f"{r.ratio:.0%}"
            met = "-" if r.met is None else ("yes" if r.met else "NO")
            cells.append((r.figure, fmt(r.value, r.unit), limit, ratio, r.goal or "-", met))
        out = ["| " + " | ".join(self.HEADER) + " |",
               "|" + "|".join("---" for _ in self.HEADER) + "|"]
        out += ["| " + " | ".join(c) + " |" for c in cells]
        return out

    def print(self) -> None:
        print()
        print(f"## {self.name}   ({self.command})")
        print(f"{self.started:%Y-%m-%d %H:%M} UTC; {machine_line()}")
        print()
        for line in self.lines():
            print(line)
        for text in self.notes:
            print(f"- {text}")
        missed = [r.figure for r in self.rows if r.met is False]
        print()
        print("all goals met" if not missed else f"GOALS MISSED: {', '.join(missed)}")
        self.save()

    def save(self) -> Path:
        path = out_dir() / f"{self.name}.json"
        path.write_text(json.dumps({
            "name": self.name, "command": self.command, "date": self.started.isoformat(),
            "machine": machine(), "rows": [asdict(r) for r in self.rows], "notes": self.notes,
        }, indent=2) + "\n", encoding="utf-8")
        return path


def machine() -> dict[str, Any]:
    """What the figures were measured on, noise included (load average)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import apsw
    import nacl

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "sqlite": apsw.sqlite_lib_version(),
        "pynacl": nacl.__version__,
        "kernel": platform.release(),
    }


def machine_line() -> str:
    m = machine()
    load = ", ".join(f"{x:.1f}" for x in m["loadavg"])
    return (f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, SQLite {m['sqlite']}, "
            f"load average {load}")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer events and repeats (a smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="override the number of repeats")
    return p
