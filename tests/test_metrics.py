"""The metrics registry and its Prometheus text rendering (DESIGN §5)."""

from __future__ import annotations

import math
import re
import threading

import pytest

from hartnode.metrics import CONTENT_TYPE, NodeMetrics, Registry

# One sample line of text format 0.0.4: name, optional {labels}, value.
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)\Z")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|\Z)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text: str) -> dict[str, object]:
    """Parse exposition text strictly, line by line.

    Returns ``{"help": {name: text}, "type": {name: kind},
    "samples": {(name, ((label, value), ...)): float}}``; fails the test on
    any line that is not valid format 0.0.4 or on a sample whose family was
    not declared by a TYPE line before it.
    """
    assert text.endswith("\n")
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            assert name not in helps, f"duplicate HELP for {name}"
            helps[name] = _unescape(help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert kind in {"counter", "gauge"}, line
            assert name not in types, f"duplicate TYPE for {name}"
            types[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match is not None, f"not a sample line: {line!r}"
            name, label_text, value = match.groups()
            assert name in types, f"sample before its TYPE line: {line!r}"
            labels: list[tuple[str, str]] = []
            if label_text:
                pos = 0
                while pos < len(label_text):
                    label = _LABEL.match(label_text, pos)
                    assert label is not None, f"bad labels in {line!r}"
                    labels.append((label.group(1), _unescape(label.group(2))))
                    pos = label.end()
            key = (name, tuple(labels))
            assert key not in samples, f"duplicate sample {line!r}"
            samples[key] = float(value.replace("Inf", "inf"))
    return {"help": helps, "type": types, "samples": samples}


def samples_of(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    parsed = parse(text)
    samples = parsed["samples"]
    assert isinstance(samples, dict)
    return samples


def test_empty_registry_renders_nothing() -> None:
    assert Registry().render() == ""


def test_counter_without_labels_starts_at_zero_and_counts() -> None:
    registry = Registry()
    counter = registry.counter("jobs_done_total", "Jobs done.")
    assert registry.render() == (
        "# HELP jobs_done_total Jobs done.\n# TYPE jobs_done_total counter\njobs_done_total 0\n"
    )
    counter.inc()
    counter.inc(2.5)
    assert counter.value() == 3.5
    assert samples_of(registry.render()) == {("jobs_done_total", ()): 3.5}


def test_labelled_counter_keeps_one_series_per_label_set() -> None:
    registry = Registry()
    requests = registry.counter("req_total", "Requests.", ("route", "status"))
    requests.inc(route="/a", status="200")
    requests.inc(route="/a", status="200")
    requests.inc(route="/a", status="401")
    assert samples_of(registry.render()) == {
        ("req_total", (("route", "/a"), ("status", "200"))): 2,
        ("req_total", (("route", "/a"), ("status", "401"))): 1,
    }
    assert requests.value(route="/a", status="200") == 2
    assert requests.value(route="/b", status="200") == 0


def test_bound_series_is_exported_before_its_first_event() -> None:
    registry = Registry()
    rejected = registry.counter("rejected_total", "Rejected.", ("reason",))
    bad_sig = rejected.labels(reason="bad_signature")
    assert samples_of(registry.render()) == {("rejected_total", (("reason", "bad_signature"),)): 0}
    bad_sig.inc()
    bad_sig.inc(4)
    assert rejected.value(reason="bad_signature") == 5


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    counter = registry.counter("odd_total", 'Help with \\ backslash\nand "quotes".', ("v",))
    nasty = 'quote " backslash \\ newline \n end'
    counter.inc(v=nasty)
    text = registry.render()
    assert '# HELP odd_total Help with \\\\ backslash\\nand "quotes".\n' in text
    assert 'odd_total{v="quote \\" backslash \\\\ newline \\n end"} 1\n' in text
    assert len(text.splitlines()) == 3
    parsed = parse(text)
    assert parsed["help"] == {"odd_total": 'Help with \\ backslash\nand "quotes".'}
    assert samples_of(text) == {("odd_total", (("v", nasty),)): 1}


def test_gauges_set_inc_dec_and_special_values() -> None:
    registry = Registry()
    gauge = registry.gauge("temp", "A gauge.", ("where",))
    gauge.set(5, where="a")
    gauge.inc(2, where="a")
    gauge.dec(0.5, where="a")
    gauge.set(float("inf"), where="b")
    gauge.set(float("-inf"), where="c")
    gauge.set(float("nan"), where="d")
    text = registry.render()
    assert 'temp{where="a"} 6.5\n' in text
    assert 'temp{where="b"} +Inf\n' in text
    assert 'temp{where="c"} -Inf\n' in text
    assert 'temp{where="d"} NaN\n' in text
    assert parse(text)["type"] == {"temp": "gauge"}
    assert math.isnan(gauge.value(where="d"))


def test_gauge_callback_is_evaluated_at_scrape_time() -> None:
    registry = Registry()
    current = [1.0]
    gauge = registry.gauge("live", "Computed.")
    gauge.set_function(lambda: current[0])
    assert samples_of(registry.render()) == {("live", ()): 1}
    current[0] = 42.25
    assert samples_of(registry.render()) == {("live", ()): 42.25}
    assert gauge.value() == 42.25


def test_failing_callback_omits_only_its_sample(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    registry.counter("ok_total", "Fine.").inc()

    def broken() -> float:
        raise RuntimeError("boom")

    registry.gauge("broken", "Fails.").set_function(broken)
    assert samples_of(registry.render()) == {("ok_total", ()): 1}
    assert "broken" in caplog.text


def test_callback_may_touch_metrics_without_deadlock() -> None:
    registry = Registry()
    scrapes = registry.counter("scrapes_total", "Scrapes.")

    def counting() -> float:
        scrapes.inc()
        return scrapes.value()

    registry.gauge("seen", "Seen.").set_function(counting)
    registry.render()
    assert scrapes.value() == 1


def test_families_render_sorted_by_name_with_help_before_type() -> None:
    registry = Registry()
    registry.gauge("zeta", "Z.")
    registry.counter("alpha_total", "A.")
    lines = registry.render().splitlines()
    assert lines == [
        "# HELP alpha_total A.",
        "# TYPE alpha_total counter",
        "alpha_total 0",
        "# HELP zeta Z.",
        "# TYPE zeta gauge",
        "zeta 0",
    ]


def test_declaring_twice_returns_the_same_metric() -> None:
    registry = Registry()
    first = registry.counter("x_total", "X.", ("a",))
    assert registry.counter("x_total", "X.", ("a",)) is first
    with pytest.raises(ValueError, match="already"):
        registry.counter("x_total", "X.", ("b",))
    with pytest.raises(ValueError, match="already"):
        registry.gauge("x_total", "X.", ("a",))


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("no_suffix", ()),
        ("1bad_total", ()),
        ("bad-name_total", ()),
        ("ok_total", ("__res",)),
        ("ok_total", ("bad-label",)),
        ("ok_total", ("a", "a")),
    ],
)
def test_invalid_declarations_are_refused(name: str, labels: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Registry().counter(name, "Help.", labels)


def test_misuse_is_refused() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "C.", ("reason",))
    with pytest.raises(ValueError, match="only increase"):
        counter.inc(-1, reason="x")
    with pytest.raises(ValueError, match="only increase"):
        counter.inc(float("nan"), reason="x")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(reason="x", extra="y")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc()
    with pytest.raises(TypeError, match="must be a str"):
        counter.inc(reason=404)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot"):
        registry.gauge("g", "G.", ("a",)).set_function(lambda: 1.0)


def test_concurrent_increments_are_not_lost() -> None:
    registry = Registry()
    counter = registry.counter("hits_total", "Hits.", ("t",))
    per_thread = 20_000

    def hammer(label: str) -> None:
        series = counter.labels(t="shared")
        for _ in range(per_thread):
            series.inc()
            counter.inc(t=label)

    threads = [threading.Thread(target=hammer, args=(str(i),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(50):
        parse(registry.render())  # rendering concurrently stays well-formed
    for thread in threads:
        thread.join()
    assert counter.value(t="shared") == 4 * per_thread
    assert all(counter.value(t=str(i)) == per_thread for i in range(4))


def test_node_metrics_declares_the_daemon_series() -> None:
    registry = Registry()
    now = [100.0]
    m = NodeMetrics.register(registry, clock=lambda: now[0])
    m.events_appended.inc()
    m.events_ingested.inc(3)
    m.ingest_rejected.inc(reason="bad_signature")
    m.api_requests.inc(route="/healthz", status="200")
    m.wire_decode_errors.inc(reason="frame_too_large")
    m.ledger_events.set(4)
    now[0] = 112.5
    parsed = parse(registry.render())
    assert parsed["type"] == {
        "hartnode_api_requests_total": "counter",
        "hartnode_events_appended_total": "counter",
        "hartnode_events_ingested_total": "counter",
        "hartnode_ingest_rejected_total": "counter",
        "hartnode_ledger_events": "gauge",
        "hartnode_uptime_seconds": "gauge",
        "hartnode_wire_decode_errors_total": "counter",
    }
    helps = parsed["help"]
    assert isinstance(helps, dict)
    assert all(helps[name] for name in helps)
    assert parsed["samples"] == {
        ("hartnode_api_requests_total", (("route", "/healthz"), ("status", "200"))): 1,
        ("hartnode_events_appended_total", ()): 1,
        ("hartnode_events_ingested_total", ()): 3,
        ("hartnode_ingest_rejected_total", (("reason", "bad_signature"),)): 1,
        ("hartnode_ledger_events", ()): 4,
        ("hartnode_uptime_seconds", ()): 12.5,
        ("hartnode_wire_decode_errors_total", (("reason", "frame_too_large"),)): 1,
    }


def test_node_metrics_register_is_idempotent() -> None:
    registry = Registry()
    now = [10.0]
    first = NodeMetrics.register(registry, clock=lambda: now[0])
    now[0] = 15.0
    second = NodeMetrics.register(registry, clock=lambda: now[0])
    assert second.api_requests is first.api_requests
    assert second.uptime_seconds.value() == 5.0  # still counting from the first call


def test_content_type_names_the_format_version() -> None:
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
