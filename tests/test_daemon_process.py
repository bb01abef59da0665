"""``hartnode run`` as systemd runs it: a real process, real sockets (DESIGN §6).

Each daemon gets a fake ``NOTIFY_SOCKET`` (an AF_UNIX datagram socket bound
by the test). Readiness is the READY=1 datagram, never a sleep; READY must
mean every listener is bound, so the test connects to the API port the
moment READY arrives and it must accept.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from hartnode import __version__
from hartnode.datadir import DataDir

if TYPE_CHECKING:
    from conftest import Daemon, Node, StartDaemon

HTTP_TIMEOUT_S = 10.0


def get(node: Node, path: str, *, token: bool = True) -> tuple[int, bytes]:
    req = urllib.request.Request(node.api_url + path)
    if token:
        req.add_header("Authorization", f"Bearer {node.token()}")
    with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
        return resp.status, resp.read()


def status_json(node: Node) -> dict[str, Any]:
    result = node.run("status", "--json")
    assert result.returncode == 0, str(result)
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def stop_cleanly(daemon: Daemon, sig: int = signal.SIGTERM) -> float:
    """Send ``sig``; STOPPING=1 must arrive and the exit code be 0, all within 5 s."""
    ready = daemon.wait_notify("READY=1", timeout=0)
    started = time.monotonic()
    daemon.proc.send_signal(sig)
    stopping = daemon.wait_notify("STOPPING=1", timeout=5.0, after=ready + 1)
    assert stopping > ready
    left = 5.0 - (time.monotonic() - started)
    rc = daemon.proc.wait(timeout=max(left, 0.1))
    elapsed = time.monotonic() - started
    assert rc == 0, daemon.log()
    assert elapsed < 5.0
    return elapsed


def test_ready_means_bound_then_health_status_and_sigterm(
        node: Node, start_daemon: StartDaemon) -> None:
    daemon = start_daemon(node)  # returns the moment READY=1 arrives
    with socket.create_connection(("127.0.0.1", node.api_port), timeout=2.0):
        pass  # accepted: the API was bound before READY was sent
    ready = next(m for m in daemon.messages if "READY=1" in m.split("\n"))
    assert f"STATUS=serving API on 127.0.0.1:{node.api_port}" in ready.split("\n")

    assert get(node, "/healthz", token=False) == (200, b'{"status": "ok"}')

    info = status_json(node)
    assert info["node_id"] == node.node_id
    assert info["version"] == __version__
    assert info["tier"] == "flat"
    assert info["peers"] == 0
    assert info["ledger"]["seq"] == 0 and info["ledger"]["events"] == 0
    human = node.run("status")
    assert human.returncode == 0, str(human)
    assert node.node_id in human.stdout and "ledger" in human.stdout

    stop_cleanly(daemon)
    assert not daemon.received("WATCHDOG=1")  # no watchdog was armed
    assert "msg=stopping signal=SIGTERM" in daemon.log()
    assert not DataDir(node.path).is_locked()
    verify = node.run("kb", "verify")
    assert verify.returncode == 0, str(verify)


def test_ledger_append_while_running_goes_through_the_api(
        node: Node, start_daemon: StartDaemon) -> None:
    start_daemon(node)
    result = node.run("ledger", "append", "--kind", "note.created",
                      "--payload", '{"text": "through the daemon"}')
    assert result.returncode == 0, str(result)
    event = json.loads(result.stdout)
    assert (event["origin"], event["seq"], event["payload"]) == (
        node.node_id, 1, {"text": "through the daemon"})

    # The daemon stored it and projected it: it went through POST /api/v1/events.
    head = status_json(node)["ledger"]
    assert (head["seq"], head["hash"], head["events"], head["views_watermark"]) == (
        1, event["hash"], 1, 1)
    _, metrics = get(node, "/metrics")
    assert b'hartnode_api_requests_total{route="/api/v1/events",status="201"} 1' in metrics


def test_restart_after_sigkill_resumes_the_feed(node: Node, start_daemon: StartDaemon) -> None:
    daemon = start_daemon(node)
    first = node.run("ledger", "append", "--kind", "note.created", "--payload", '{"text": "a"}')
    assert first.returncode == 0, str(first)
    daemon.proc.kill()
    assert daemon.proc.wait(timeout=5.0) == -signal.SIGKILL
    # The kernel dropped the flock with the process: no stale lock blocks the restart.
    start_daemon(node)
    second = node.run("ledger", "append", "--kind", "note.created", "--payload", '{"text": "b"}')
    assert second.returncode == 0, str(second)
    after = json.loads(second.stdout)
    assert (after["seq"], after["prev"]) == (2, json.loads(first.stdout)["hash"])
    head = status_json(node)["ledger"]
    assert (head["events"], head["views_watermark"]) == (2, 2)


def test_second_daemon_on_the_same_data_dir_exits_3(
        node: Node, start_daemon: StartDaemon, unused_port: int) -> None:
    start_daemon(node)
    # Another port, so that only the data-dir lock can stop it.
    second = node.run("run", env={"HARTNODE_API_LISTEN": f"127.0.0.1:{unused_port}"})
    assert second.returncode == 3, str(second)
    assert "hartnode: error: hartnode could not start:" in second.stderr
    assert f"{node.path} is in use by a running hartnode daemon" in second.stderr
    assert "stop it first" in second.stderr
    assert get(node, "/healthz", token=False)[0] == 200  # the first one is unharmed


def test_api_port_in_use_exits_3_naming_the_port(node: Node, start_daemon: StartDaemon) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", node.api_port))
        squatter.listen()
        daemon = start_daemon(node, wait_ready=False)
        rc = daemon.proc.wait(timeout=20.0)
        log = daemon.log()
        assert rc == 3, log
        assert ("hartnode: error: hartnode could not start: cannot listen on "
                f"127.0.0.1:{node.api_port}") in log
        assert "Address already in use" in log
        daemon.drain()
        assert not daemon.received("READY=1"), daemon.messages
    # The failed start left nothing behind: with the port free it starts.
    start_daemon(node)


def test_peer_port_in_use_exits_3_naming_the_port(node: Node, start_daemon: StartDaemon,
                                                   unused_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", unused_port))
        squatter.listen()
        daemon = start_daemon(node, wait_ready=False,
                              env={"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{unused_port}"})
        rc = daemon.proc.wait(timeout=20.0)
        log = daemon.log()
        assert rc == 3, log
        assert ("hartnode: error: hartnode could not start: cannot listen on "
                f"127.0.0.1:{unused_port} for peers") in log
        assert "Traceback" not in log
        daemon.drain()
        assert not daemon.received("READY=1"), daemon.messages


def test_watchdog_pings_when_watchdog_usec_is_set(
        node: Node, start_daemon: StartDaemon) -> None:
    daemon = start_daemon(node, env={"WATCHDOG_USEC": "200000"})
    first = daemon.wait_notify("WATCHDOG=1", timeout=5.0)
    daemon.wait_notify("WATCHDOG=1", timeout=5.0, after=first + 1)  # and again, every 0.1 s
    stop_cleanly(daemon, signal.SIGINT)


def test_watchdog_is_silent_when_addressed_to_another_pid(
        node: Node, start_daemon: StartDaemon) -> None:
    # WATCHDOG_PID=1: the variables were meant for another process, which must
    # not be pinged for. The first ping would come before the trio loop answers
    # /healthz, so by the time STOPPING arrives a wrong ping would be on record.
    daemon = start_daemon(node, env={"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    assert get(node, "/healthz", token=False)[0] == 200
    stop_cleanly(daemon)
    assert not daemon.received("WATCHDOG=1"), daemon.messages
