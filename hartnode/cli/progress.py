"""A one-line progress bar on stderr for the long ``kb`` commands, drawn with
``\\r`` only when stderr is a terminal: a log file or a pipe gets nothing, and
stdout (the command's output, ``--json`` included) is never touched."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from hartnode.cli.format import size

WIDTH = 24  # cells of the bar itself
REDRAW_S = 0.1  # at most ten redraws a second: drawing must not slow the work


class ProgressBar:
    """``with ProgressBar("verify") as bar: maintenance.verify(..., progress=bar)``.

    Called as ``bar(what, done, total)`` (``maintenance.Progress``); the line is
    cleared when the block ends, so what the command prints next starts clean.
    """

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self.title = title
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._last = float("-inf")
        self._shown = 0  # characters on the line now

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < REDRAW_S and done < total:
            return
        self._last = now
        frac = min(done / total, 1.0) if total > 0 else 1.0
        filled = int(frac * WIDTH)
        counts = (f"{size(done)}/{size(total)}" if what.endswith(".sqlite")
                  else f"{done}/{total} {what}")
        line = f"{self.title} {what if what.endswith('.sqlite') else ''}".rstrip()
        line = f"{line} [{'#' * filled}{'.' * (WIDTH - filled)}] {frac:4.0%} {counts}"
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0
