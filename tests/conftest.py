"""Shared fixtures for the real-process tests: data dirs, the CLI, the daemon, the writer.

- ``node``:          a data dir made by ``hartnode init``, API on a free loopback port
- ``hartnode``:      run the CLI as a subprocess with a clean environment
- ``start_daemon``:  ``hartnode run`` with a fake ``NOTIFY_SOCKET``; waits for READY=1
- ``start_writer``:  ``python -m hartnode.testing.crash_writer`` with its stdout piped
- ``start_lines``:   any child whose stdout lines the test reads with a deadline

Readiness is always a message (a notify datagram, a line on a pipe), never a
sleep; every wait is bounded and fails the test with the child's output.
Every child is killed and reaped, and every socket and pipe closed, at
teardown, so ``-W error`` stays quiet.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

CLI_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 20.0

# The console script next to this interpreter, else the module.
_SCRIPT = Path(sys.executable).with_name("hartnode")
HARTNODE = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "import sys; from hartnode.cli import main; sys.exit(main())"]


# Fixtures that start real processes (the CLI, the daemon, a writer): every test
# using one is in the ``slow`` tier, so ``pytest -m "not slow"`` stays quick
# without anyone having to remember the mark (issue #9.6).
PROCESS_FIXTURES = frozenset({"hartnode", "node", "start_daemon", "start_lines", "start_writer"})


def pytest_configure(config: pytest.Config) -> None:
    """Children start with SIGINT as a command typed at a prompt has it.

    A shell without job control that starts a command in the background
    (``pytest &`` in a CI script) sets SIGINT to "ignore", and an ignored signal
    stays ignored through fork and exec: every child would then ignore Ctrl-C,
    and ``ledger tail -f`` never stopped on it (its test timed out, every time,
    whenever pytest was started that way). Python's own handler in this process
    is reset to the default in each child at exec, like a foreground start.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and stays out of the kernel's way.

    A port from ``bind(0)`` lies in the ephemeral range, so between this call and
    the daemon's bind (or across a kill and restart on the same port) the kernel
    may hand it to some outgoing connection as its source port: CI saw exactly
    that ("Address already in use"). Ports are therefore drawn below that range,
    never twice in one test run, and checked bindable.
    """
    low = 20000
    high = min(_EPHEMERAL[0], 65536) - 1
    if high - low < 1000:  # pragma: no cover - an unusual port range
        low, high = 1024, _EPHEMERAL[0] - 1
    rng = random.Random()
    for _ in range(1000):
        port = rng.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def clean_env(data_dir: Path | None, home: Path, extra: Mapping[str, str] | None = None
              ) -> dict[str, str]:
    """A child environment without the caller's HARTNODE_*, NOTIFY_SOCKET or WATCHDOG_*."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    if data_dir is not None:
        env["HARTNODE_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Result:
    """What one CLI run did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (f"hartnode {' '.join(self.args)} -> {self.returncode}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


@dataclass(frozen=True)
class Hartnode:
    """Runs ``hartnode ARGS`` with a clean env in which HOME is a scratch dir."""

    home: Path

    def __call__(self, *args: str, data_dir: Path | None, env: Mapping[str, str] | None = None,
                 timeout: float = CLI_TIMEOUT_S) -> Result:
        proc = subprocess.run(
            [*HARTNODE, *args], env=clean_env(data_dir, self.home, env), capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Node:
    """An initialised data dir and how to reach its daemon."""

    path: Path
    node_id: str
    api_port: int
    cli: Hartnode

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def run(self, *args: str, env: Mapping[str, str] | None = None,
            timeout: float = CLI_TIMEOUT_S) -> Result:
        """``hartnode ARGS`` with HARTNODE_DATA_DIR set to this node."""
        return self.cli(*args, data_dir=self.path, env=env, timeout=timeout)

    def token(self) -> str:
        return (self.path / "api.token").read_text(encoding="ascii").strip()

    def api(self, path: str, body: object | None = None, *, timeout: float = 30.0) -> Any:
        """The running daemon's JSON answer to ``GET path`` (or ``POST path`` with
        ``body`` as JSON), with this node's API token; HTTPError on a 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data,
                                     method="GET" if body is None else "POST")
        req.add_header("Authorization", f"Bearer {self.token()}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())


def init_node(cli: Hartnode, path: Path) -> Node:
    """``hartnode init`` into ``path`` with the API on a free loopback port."""
    port = free_port()
    result = cli("init", "--api", f"127.0.0.1:{port}", "--listen", "127.0.0.1:0",
                 data_dir=path)
    assert result.returncode == 0, str(result)
    m = re.search(r"initialised node ([0-9a-f]{64})", result.stdout)
    assert m, str(result)
    return Node(path, m.group(1), port, cli)


def snapshot(path: Path) -> dict[str, str]:
    """SHA-256 of every durable file in ``path`` (not the lock or WAL side files)."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.name != "daemon.lock" and not p.name.endswith(("-wal", "-shm")):
            out[str(p.relative_to(path))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def hartnode(tmp_path: Path) -> Hartnode:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return Hartnode(home)


@pytest.fixture
def unused_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    return free_port()


@pytest.fixture
def node(tmp_path: Path, hartnode: Hartnode) -> Node:
    return init_node(hartnode, tmp_path / "node")


# -- waiting on file descriptors --------------------------------------------


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # pragma: no cover - Linux < 5.3
        return None


class LineReader:
    """Complete lines from a pipe, with a deadline; drops an unterminated tail at EOF."""

    def __init__(self, stream: IO[bytes], context: Callable[[], str] = str) -> None:
        self.stream = stream
        self.context = context  # appended to failure messages (e.g. the child's stderr)
        self.fd = stream.fileno()
        self._buf = b""
        self.eof = False

    def _fill(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(timeout, 0.0))
        if not ready:
            return False
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
        self._buf += chunk
        return True

    def _take(self) -> list[str]:
        *lines, self._buf = self._buf.split(b"\n")
        return [line.decode() for line in lines]

    def read(self, n: int, timeout: float) -> list[str]:
        """At least ``n`` lines (all complete ones available), or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        lines = self._take()
        while len(lines) < n:
            if self.eof:
                pytest.fail(f"EOF after {len(lines)} of {n} lines\n{self.context()}")
            if not self._fill(deadline - time.monotonic()):
                pytest.fail(f"timed out after {timeout} s with {len(lines)} of {n} lines\n"
                            f"{self.context()}")
            lines += self._take()
        return lines

    def read_to_eof(self, timeout: float) -> list[str]:
        """Every complete line until the writer's end closes."""
        deadline = time.monotonic() + timeout
        lines = self._take()
        while not self.eof:
            if not self._fill(deadline - time.monotonic()):
                pytest.fail(f"no EOF within {timeout} s\n{self.context()}")
            lines += self._take()
        return lines


# -- the daemon --------------------------------------------------------------


def _notify_socket(tmp: Path) -> tuple[socket.socket, str]:
    """A bound AF_UNIX datagram socket standing in for systemd's, and its NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    path = tmp / f"notify-{uuid.uuid4().hex[:8]}"
    if len(os.fsencode(path)) < 100:
        sock.bind(str(path))
        return sock, str(path)
    name = f"hartnode-test-{uuid.uuid4().hex}"  # sun_path is short; use the abstract namespace
    sock.bind(b"\0" + name.encode())
    return sock, "@" + name


@dataclass
class Daemon:
    """A ``hartnode run`` child with its notify socket and log file."""

    node: Node
    proc: subprocess.Popen[bytes]
    notify: socket.socket
    log_path: Path
    log_file: IO[bytes]
    pidfd: int | None
    messages: list[str] = field(default_factory=list)

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def received(self, assignment: str) -> bool:
        """Whether a datagram read so far carried ``assignment``."""
        return any(assignment in m.split("\n") for m in self.messages)

    def drain(self) -> None:
        """Read every datagram already queued into ``messages``, without waiting."""
        while True:
            try:
                self.messages.append(self.notify.recv(4096, socket.MSG_DONTWAIT).decode())
            except BlockingIOError:
                return

    def wait_notify(self, assignment: str, timeout: float = READY_TIMEOUT_S,
                    after: int = 0) -> int:
        """Wait for a datagram carrying ``assignment`` (e.g. ``READY=1``); returns its index.

        Only messages from index ``after`` on count. Fails the test if the
        daemon exits first or nothing comes within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        watched = [self.notify] + ([self.pidfd] if self.pidfd is not None else [])
        while True:
            exited = self.proc.poll() is not None  # before draining: it sent all it will
            self.drain()
            for i, message in enumerate(self.messages[after:], start=after):
                if assignment in message.split("\n"):
                    return i
            left = deadline - time.monotonic()
            if exited:
                pytest.fail(f"the daemon exited ({self.proc.returncode}) before {assignment}; "
                            f"notifications {self.messages}\n{self.log()}")
            if left <= 0:
                pytest.fail(f"no {assignment} within {timeout} s; notifications "
                            f"{self.messages}\n{self.log()}")
            # A datagram or the child's exit wakes us; 0.5 s only bounds a missing pidfd.
            select.select(watched, [], [], min(left, 0.5 if self.pidfd is None else left))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.notify.close()
        self.log_file.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


StartDaemon = Callable[..., Daemon]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """``start(node, env=..., wait_ready=True, args=())`` starts ``hartnode [ARGS] run``
    on ``node``.

    With ``wait_ready`` it returns once READY=1 arrived on the fake NOTIFY_SOCKET.
    """
    daemons: list[Daemon] = []

    def start(node: Node, *, env: Mapping[str, str] | None = None,
              wait_ready: bool = True, args: Sequence[str] = ()) -> Daemon:
        sock, notify_name = _notify_socket(tmp_path)
        log_path = tmp_path / f"daemon-{len(daemons)}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed by Daemon.close
        child_env = clean_env(node.path, node.cli.home, {"NOTIFY_SOCKET": notify_name,
                                                         **(env or {})})
        proc = subprocess.Popen([*HARTNODE, *args, "run"], env=child_env, stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT)
        daemon = Daemon(node, proc, sock, log_path, log_file, _pidfd(proc.pid))
        daemons.append(daemon)
        if wait_ready:
            daemon.wait_notify("READY=1")
        return daemon

    yield start
    for daemon in daemons:
        daemon.close()


# -- children that print lines (the crash writer, API posters) ---------------


@dataclass
class Writer:
    """A child whose stdout is read line by line; for the crash writer each
    line is the hash of an event it declared durable."""

    proc: subprocess.Popen[bytes]
    lines: LineReader

    def kill(self, timeout: float = 10.0) -> list[str]:
        """SIGKILL it; returns the complete lines it printed that were not read yet."""
        self.proc.kill()
        self.proc.wait(timeout=timeout)
        return self.lines.read_to_eof(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


StartLines = Callable[..., Writer]
StartWriter = Callable[..., Writer]


@pytest.fixture
def start_lines(tmp_path: Path) -> Iterator[StartLines]:
    """``start(argv, env=None)`` starts a child with stdout piped into a LineReader."""
    writers: list[Writer] = []
    home = tmp_path / "home"

    def start(argv: list[str], env: Mapping[str, str] | None = None) -> Writer:
        home.mkdir(exist_ok=True)
        err_path = tmp_path / f"child-{len(writers)}.err"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, env=clean_env(None, home, env),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None

        def context() -> str:
            return f"child exit {proc.poll()}, stderr:\n{err_path.read_text(errors='replace')}"

        writer = Writer(proc, LineReader(proc.stdout, context))
        writers.append(writer)
        return writer

    yield start
    for writer in writers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            writer.close()


@pytest.fixture
def start_writer(start_lines: StartLines) -> StartWriter:
    """``start(data_dir, seed=..., max_batch=...)`` starts the crash writer."""

    def start(data_dir: Path, *, seed: int, max_batch: int = 40) -> Writer:
        return start_lines([sys.executable, "-m", "hartnode.testing.crash_writer", str(data_dir),
                            "--seed", str(seed), "--max-batch", str(max_batch)])

    return start


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll a distributed condition that no single event announces, within a deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
