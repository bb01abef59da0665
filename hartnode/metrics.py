"""Counters and gauges rendered as Prometheus text, format 0.0.4 (DESIGN §5).

A deliberately small registry instead of a client library: the daemon needs
counters (optionally labelled), gauges, and gauges computed at scrape time,
and nothing else. It is thread-safe because the trio thread increments
ledger and wire counters while the aiohttp thread (``apps/web``) counts
requests and renders ``/metrics``.

Usage::

    registry = Registry()
    m = NodeMetrics.register(registry)
    m.ingest_rejected.inc(reason="bad_signature")
    text = registry.render()

Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

#: The Content-Type of :meth:`Registry.render` output.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

LabelValues = tuple[str, ...]


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_value(value: float) -> str:
    """Render a sample value; integral values print without a fraction."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


class _Metric:
    """State shared by counters and gauges: name, help, labels, samples."""

    kind = ""

    def __init__(
        self, name: str, help_text: str, labelnames: tuple[str, ...], lock: threading.Lock
    ) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = labelnames
        self._lock = lock
        self._values: dict[LabelValues, float] = {}
        if not labelnames:
            # A label-less series exists from the start, so it reads 0, not absent.
            self._values[()] = 0.0

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(
                f"{self.name} takes labels {sorted(self.labelnames)}, got {sorted(labels)}"
            )
        for label, value in labels.items():
            if not isinstance(value, str):
                raise TypeError(f"label {label}={value!r} of {self.name} must be a str")
        return tuple(labels[name] for name in self.labelnames)

    def _add(self, key: LabelValues, amount: float) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current value of one series (0 if it was never touched)."""
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def _snapshot(self) -> list[tuple[LabelValues, float]]:
        """Samples to render; called with the registry lock held."""
        return sorted(self._values.items())

    def _render(self, samples: Iterable[tuple[LabelValues, float]]) -> list[str]:
        lines = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for key, value in samples:
            if key:
                pairs = ",".join(
                    f'{name}="{_escape_label_value(v)}"'
                    for name, v in zip(self.labelnames, key, strict=True)
                )
                lines.append(f"{self.name}{{{pairs}}} {_format_value(value)}")
            else:
                lines.append(f"{self.name} {_format_value(value)}")
        return lines


class CounterSeries:
    """One labelled series of a counter, bound once for a hot path."""

    def __init__(self, counter: Counter, key: LabelValues) -> None:
        self._counter = counter
        self._key = key

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (non-negative) to this series."""
        self._counter._check_amount(amount)
        self._counter._add(self._key, amount)


class Counter(_Metric):
    """A monotonically increasing count. Names end in ``_total``."""

    kind = "counter"

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        """Add ``amount`` to the series named by ``labels``.

        Raises:
            ValueError: ``amount`` is negative or NaN, or the label names
                differ from the ones the counter was declared with.
            TypeError: a label value is not a str.
        """
        self._check_amount(amount)
        self._add(self._key(labels), amount)

    def labels(self, **labels: str) -> CounterSeries:
        """Bind a series (creating it at 0, so it is exported before its first event).

        Raises:
            ValueError, TypeError: as for :meth:`inc`.
        """
        key = self._key(labels)
        self._add(key, 0.0)
        return CounterSeries(self, key)

    def _check_amount(self, amount: float) -> None:
        if not amount >= 0:
            raise ValueError(f"{self.name} can only increase, got {amount!r}")


class Gauge(_Metric):
    """A value that goes up and down, set directly or computed at scrape time."""

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, labelnames: tuple[str, ...], lock: threading.Lock
    ) -> None:
        super().__init__(name, help_text, labelnames, lock)
        self._function: Callable[[], float] | None = None

    def set(self, value: float, /, **labels: str) -> None:
        """Set the series named by ``labels`` to ``value``."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        """Add ``amount`` (may be negative) to the series named by ``labels``."""
        self._add(self._key(labels), amount)

    def dec(self, amount: float = 1.0, /, **labels: str) -> None:
        """Subtract ``amount`` from the series named by ``labels``."""
        self._add(self._key(labels), -amount)

    @property
    def function(self) -> Callable[[], float] | None:
        """The scrape-time callback, if one is set."""
        return self._function

    def set_function(self, function: Callable[[], float]) -> None:
        """Compute the value at every scrape by calling ``function``.

        The callback runs in whichever thread renders (the web server's), so
        it must be thread-safe and cheap: read a number, do not do I/O. A
        callback that raises is logged and its sample left out of that
        scrape rather than failing the whole page.

        Raises:
            ValueError: the gauge has labels (a callback yields one value).
        """
        if self.labelnames:
            raise ValueError(f"{self.name} has labels; a callback gauge cannot")
        with self._lock:
            self._function = function

    def value(self, **labels: str) -> float:
        """The current value; for a callback gauge, the callback's result."""
        function = self._function
        if function is not None:
            self._key(labels)
            return float(function())
        return super().value(**labels)


_M = TypeVar("_M", Counter, Gauge)


class Registry:
    """A thread-safe set of metrics, rendered in Prometheus text format.

    :meth:`counter` and :meth:`gauge` return the existing metric when called
    again with the same name and shape, so independent modules can ask for
    the series they update without passing handles around.
    """

    def __init__(self) -> None:
        # One lock for all metrics: updates are a dict add, contention is nil.
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Counter:
        """Declare (or fetch) a counter.

        Raises:
            ValueError: the name does not end in ``_total`` or is not a valid
                metric name, a label name is invalid, or the name is taken by
                a metric of another kind or labels.
        """
        if not name.endswith("_total"):
            raise ValueError(f"counter names end in _total: {name!r}")
        return self._declare(Counter, name, help_text, tuple(labelnames))

    def gauge(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Gauge:
        """Declare (or fetch) a gauge.

        Raises:
            ValueError: as for :meth:`counter`, except the ``_total`` rule.
        """
        return self._declare(Gauge, name, help_text, tuple(labelnames))

    def _declare(self, cls: type[_M], name: str, help_text: str, labelnames: tuple[str, ...]) -> _M:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"duplicate label names for {name}: {labelnames}")
        with self._lock:
            existing = self._metrics.get(name)
            if existing is not None:
                if not isinstance(existing, cls) or existing.labelnames != labelnames:
                    raise ValueError(
                        f"{name} is already a {existing.kind} with labels {existing.labelnames}"
                    )
                return existing
            metric = cls(name, help_text, labelnames, self._lock)
            self._metrics[name] = metric
            return metric

    def render(self) -> str:
        """The whole registry in text exposition format 0.0.4, sorted by name."""
        with self._lock:
            snapshot = [
                (metric, metric._snapshot(), metric.function if isinstance(metric, Gauge) else None)
                for _, metric in sorted(self._metrics.items())
            ]
        lines: list[str] = []
        for metric, samples, function in snapshot:
            if function is not None:
                # Outside the lock: a callback may itself touch metrics.
                samples = self._call(metric.name, function)
            lines.extend(metric._render(samples))
        return "\n".join(lines) + "\n" if lines else ""

    @staticmethod
    def _call(name: str, function: Callable[[], float]) -> list[tuple[LabelValues, float]]:
        try:
            return [((), float(function()))]
        except Exception:
            log.exception("metrics: callback for %s failed; sample omitted", name)
            return []


@dataclass(frozen=True)
class NodeMetrics:
    """The series the daemon exports (DESIGN §5), as handles to update.

    Label values must come from small fixed sets (reason codes, route
    templates, status codes), never from peer input, or a hostile peer could
    grow the registry without bound.
    """

    #: Events this node signed and appended to its own feed.
    events_appended: Counter
    #: Events received from peers that passed verification and were stored.
    events_ingested: Counter
    #: Received events refused, labelled ``reason`` (e.g. ``bad_signature``).
    ingest_rejected: Counter
    #: HTTP API requests, labelled ``route`` (template) and ``status`` (code).
    api_requests: Counter
    #: Malformed wire frames, labelled ``reason`` (the DecodeError reason).
    wire_decode_errors: Counter
    #: Seconds since the metrics were registered (the daemon's start).
    uptime_seconds: Gauge
    #: Events stored in the ledger; the ledger sets it or installs a callback.
    ledger_events: Gauge

    @classmethod
    def register(
        cls, registry: Registry, *, clock: Callable[[], float] = time.monotonic
    ) -> NodeMetrics:
        """Declare the daemon's series on ``registry`` and return their handles.

        Idempotent: calling it again on the same registry returns the same
        series, and the uptime keeps counting from the first call.

        Args:
            registry: where to declare the series.
            clock: monotonic seconds, for the uptime gauge; tests pass a fake.
        """
        uptime = registry.gauge(
            "hartnode_uptime_seconds", "Seconds since the hartnode daemon started."
        )
        if uptime.function is None:
            started = clock()
            uptime.set_function(lambda: clock() - started)
        return cls(
            events_appended=registry.counter(
                "hartnode_events_appended_total",
                "Events this node signed and appended to its own ledger feed.",
            ),
            events_ingested=registry.counter(
                "hartnode_events_ingested_total",
                "Events received from peers, verified and stored in the ledger.",
            ),
            ingest_rejected=registry.counter(
                "hartnode_ingest_rejected_total",
                "Events received from peers and refused, by reason.",
                ("reason",),
            ),
            api_requests=registry.counter(
                "hartnode_api_requests_total",
                "Local HTTP API requests, by route template and status code.",
                ("route", "status"),
            ),
            wire_decode_errors=registry.counter(
                "hartnode_wire_decode_errors_total",
                "Malformed wire frames received from peers, by decode error reason.",
                ("reason",),
            ),
            uptime_seconds=uptime,
            ledger_events=registry.gauge(
                "hartnode_ledger_events", "Events stored in the local ledger."
            ),
        )
