"""The systemd notify protocol: READY, STOPPING, STATUS and WATCHDOG (DESIGN §6).

``hartnode.service`` is ``Type=notify`` with ``WatchdogSec=``: systemd passes
the path of a unix datagram socket in ``$NOTIFY_SOCKET`` and expects
newline-separated ``KEY=value`` assignments on it (sd_notify(3)). The protocol
is a single ``sendto``, so it is written here by hand rather than pulled in as
a dependency. Outside systemd (tests, a terminal) every call is a no-op.

The watchdog is pinged from a trio task (:func:`watchdog_loop`), not from a
thread: if the trio loop wedges, the pings stop and systemd restarts the
daemon, which is the whole point of the watchdog.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import NoReturn

import trio

log = logging.getLogger(__name__)

# A send to systemd's socket does not block in practice (its queue is large
# and drained promptly); the timeout only bounds the damage if it ever does,
# since these calls run on the trio loop.
_SEND_TIMEOUT_S = 1.0


def _socket_address(value: str) -> str | bytes | None:
    """Translate ``$NOTIFY_SOCKET`` into an ``AF_UNIX`` address, or None if unsupported.

    A leading ``@`` names a socket in the Linux abstract namespace, whose
    kernel name starts with a NUL byte instead.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    return None


def notify(*states: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``KEY=value`` assignments to the service manager.

    Args:
        states: assignments such as ``"READY=1"`` or ``"STATUS=syncing"``;
            sent together in one datagram, so systemd applies them at once.
        environ: where to read ``NOTIFY_SOCKET`` (default ``os.environ``);
            tests pass their own mapping.

    Returns:
        True when the datagram was sent; False when ``NOTIFY_SOCKET`` is unset
        (not running under systemd), unsupported, or the send failed. A failed
        send is logged rather than raised: losing a notification must not
        crash the daemon.

    Raises:
        ValueError: a state is not ``KEY=value`` or contains a newline (the
            protocol's separator); that is a bug in the caller.
    """
    for state in states:
        if "=" not in state or "\n" in state:
            raise ValueError(f"not a single KEY=value notify assignment: {state!r}")
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET")
    if not raw or not states:
        return False
    address = _socket_address(raw)
    if address is None:
        log.warning("sd_notify: unsupported NOTIFY_SOCKET=%s; notifications disabled", raw)
        return False
    payload = "\n".join(states).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.sendto(payload, address)
    except OSError as exc:
        log.warning("sd_notify: sending %s to %s failed: %s", " ".join(states), raw, exc)
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Tell systemd that startup finished (every listener is bound).

    Args:
        status_text: optional one-line status shown by ``systemctl status``.
    """
    if status_text is None:
        return notify("READY=1")
    return notify("READY=1", _status_assignment(status_text))


def stopping() -> bool:
    """Tell systemd that a clean shutdown (drain) has begun."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """Ping the service watchdog: the daemon's event loop is still alive."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """Set the free-form status line shown by ``systemctl status``.

    Newlines are folded into spaces because they separate assignments.
    """
    return notify(_status_assignment(text))


def _status_assignment(text: str) -> str:
    return "STATUS=" + " ".join(text.splitlines())


def watchdog_period(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings, or None when no watchdog is armed for us.

    systemd sets ``WATCHDOG_USEC`` to the ``WatchdogSec=`` timeout; pinging at
    half of it (as sd_watchdog_enabled(3) advises) leaves room for one late
    ping. ``WATCHDOG_PID``, when set, names the process the watchdog is meant
    for; a child that merely inherited the environment must not ping.

    Args:
        environ: where to read the variables (default ``os.environ``).

    Returns:
        Half the timeout in seconds, or None if the variables are unset,
        malformed, not positive, or addressed to another process.
    """
    env = os.environ if environ is None else environ
    usec_text = env.get("WATCHDOG_USEC")
    if not usec_text:
        return None
    pid_text = env.get("WATCHDOG_PID")
    if pid_text:
        try:
            if int(pid_text) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(usec_text)
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


async def watchdog_loop(period: float, *, ping: Callable[[], object] = watchdog) -> NoReturn:
    """Ping the watchdog now and then every ``period`` seconds, forever.

    Runs as a task in the daemon's nursery; cancel it to stop. Because the
    pings come from the trio loop itself, a loop that stops scheduling tasks
    stops pinging and systemd restarts the daemon.

    Args:
        period: seconds between pings, normally :func:`watchdog_period`.
        ping: the function that sends one ping; tests replace it.

    Raises:
        ValueError: ``period`` is not a positive number.
    """
    if not period > 0:
        raise ValueError(f"watchdog period must be positive, got {period!r}")
    while True:
        ping()
        await trio.sleep(period)
