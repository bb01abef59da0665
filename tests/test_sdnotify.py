"""The systemd notify client against a fake NOTIFY_SOCKET (DESIGN §6)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from hartnode import sdnotify


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, exported as NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def drain(sock: socket.socket) -> list[str]:
    """Every datagram already queued on ``sock``, decoded, oldest first."""
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_notify_is_a_noop_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False


def test_helpers_send_their_assignments(notify_socket: socket.socket) -> None:
    assert sdnotify.ready() is True
    assert sdnotify.status("syncing\nwith peers") is True
    assert sdnotify.watchdog() is True
    assert sdnotify.stopping() is True
    assert sdnotify.ready("listening on 127.0.0.1:6777") is True
    assert drain(notify_socket) == [
        "READY=1",
        "STATUS=syncing with peers",
        "WATCHDOG=1",
        "STOPPING=1",
        "READY=1\nSTATUS=listening on 127.0.0.1:6777",
    ]


def test_several_states_travel_in_one_datagram(notify_socket: socket.socket) -> None:
    assert sdnotify.notify("READY=1", "STATUS=up", "MAINPID=42") is True
    assert drain(notify_socket) == ["READY=1\nSTATUS=up\nMAINPID=42"]


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"hartnode-test-{os.getpid()}-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready() is True
        assert drain(sock) == ["READY=1"]


@pytest.mark.parametrize("value", ["relative/path", "@", "vsock:2:1234"])
def test_unsupported_socket_address_is_reported_not_raised(value: str) -> None:
    assert sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": value}) is False


def test_send_failure_returns_false(tmp_path: Path) -> None:
    missing = tmp_path / "nobody-listens-here"
    assert sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": str(missing)}) is False


@pytest.mark.parametrize("bad", ["READY", "STATUS=two\nlines"])
def test_malformed_assignment_is_a_caller_bug(bad: str) -> None:
    with pytest.raises(ValueError, match="KEY=value"):
        sdnotify.notify(bad, environ={})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "1"}, 0.0000005),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_USEC": ""}, None),
    ],
)
def test_watchdog_period(environ: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_period(environ) == expected


def test_watchdog_period_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_period() == 5.0


async def test_watchdog_loop_pings_at_exact_virtual_times(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pinged_at: list[float] = []
    with trio.move_on_after(47):
        await sdnotify.watchdog_loop(15.0, ping=lambda: pinged_at.append(trio.current_time()))
    start = pinged_at[0]
    assert [t - start for t in pinged_at] == [0.0, 15.0, 30.0, 45.0]


async def test_watchdog_loop_sends_real_datagrams(
    notify_socket: socket.socket, autojump_clock: trio.testing.MockClock
) -> None:
    start = trio.current_time()
    with trio.move_on_after(35):
        await sdnotify.watchdog_loop(10.0)
    assert trio.current_time() - start == 35.0
    assert drain(notify_socket) == ["WATCHDOG=1"] * 4


async def test_a_stuck_loop_stops_the_pings(autojump_clock: trio.testing.MockClock) -> None:
    """The pings depend on the trio loop scheduling the watchdog task.

    A task that hogs virtual time without yielding is modelled by advancing
    the clock from inside the ping: the next ping is due a full period after
    the loop lets the watchdog task run again, never earlier.
    """
    pinged_at: list[float] = []

    def ping() -> None:
        pinged_at.append(trio.current_time())
        if len(pinged_at) == 2:
            autojump_clock.jump(100)

    with trio.move_on_after(150):
        await sdnotify.watchdog_loop(20.0, ping=ping)
    start = pinged_at[0]
    assert [t - start for t in pinged_at] == [0.0, 20.0, 140.0]


@pytest.mark.parametrize("period", [0.0, -1.0, float("nan")])
async def test_watchdog_loop_rejects_a_bad_period(period: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        await sdnotify.watchdog_loop(period, ping=lambda: None)
