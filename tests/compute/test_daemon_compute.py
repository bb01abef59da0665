"""The daemon serves compute lending: API routes, CLI through a running daemon, record tags."""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import Node, StartDaemon

HTTP_TIMEOUT_S = 10.0


def _get(node: Node, path: str) -> dict[str, object]:
    req = urllib.request.Request(node.api_url + path)
    req.add_header("Authorization", f"Bearer {node.token()}")
    with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
        out: dict[str, object] = json.loads(resp.read())
    return out


@pytest.mark.slow
def test_api_and_cli_while_the_daemon_runs(node: Node, start_daemon: StartDaemon) -> None:
    start_daemon(node, env={"HARTNODE_COMPUTE_PRICE_MSP": "250"})
    # Through the daemon: a signed local event, then visible in the API at once.
    assert node.run("compute", "policy", "set", "auto_settle", "false").returncode == 0
    policy = _get(node, "/api/v1/compute/policy")["policy"]
    assert policy["auto_settle"] == {"value": "false", "source": "node_compute_config"}  # type: ignore[index]
    status = _get(node, "/api/v1/compute/status")
    assert "cpu.hash_chain" in status["job_kinds"]  # type: ignore[operator]
    assert status["wallet"]["spark_msp"] == 0  # type: ignore[index]
    assert _get(node, "/api/v1/wallet")["wallet"]["node_id"] == node.node_id  # type: ignore[index]
    assert _get(node, "/api/v1/compute/escrow") == {"escrows": []}
    cli = node.run("compute", "status", "--json")
    assert cli.returncode == 0, str(cli)
    assert json.loads(cli.stdout)["policy"]["auto_settle"]["value"] == "false"
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(node, "/api/v1/compute/nope")
    assert e.value.code == 404
    e.value.close()
