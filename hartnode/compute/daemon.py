"""How the daemon (``node.py``) runs compute lending: its service, record tags and API.

Kept here so ``node.py`` stays the lifecycle read top to bottom: it probes
the GPU, builds the service with ``build_service``, announces
``capabilities`` in its peer record and answers the compute API routes
through ``read_view`` and ``request_job``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from hartnode.apps.web.server import ApiRequestError
from hartnode.catalog import Catalog, build_catalog
from hartnode.compute import commands, gpu_probe
from hartnode.compute.jobs import JobError, offer_capabilities
from hartnode.compute.policy import PolicyError
from hartnode.compute.service import ComputeService, Sender
from hartnode.compute.wallet import EscrowError
from hartnode.config import Config, compute_file_layer
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger

if TYPE_CHECKING:
    from hartnode.node import Node


def capabilities(cfg: Config, gpu: gpu_probe.GpuFacts) -> tuple[str, ...]:
    """What this node's peer record offers for compute (DESIGN §4): its GPU facts,
    job kinds and price; none when its policy keeps it to itself, or when it has
    neither a GPU nor an inference backend (the CPU kind is for tests and
    benchmarks: not worth every record's bytes, which stretch the announce
    interval of the whole network, ``peer_record.announce_interval``)."""
    if cfg.compute.compute_policy == "local_only":
        return ()
    if not (gpu.available and gpu.gpus) and not cfg.compute.backend_url:
        return ()
    return offer_capabilities(price_msp=cfg.compute.price_msp, models=(),
                              backend=bool(cfg.compute.backend_url),
                              gpu_tags=gpu.capabilities())


def build_service(cfg: Config, gossip: Sender, node_ledger: NodeLedger, access: StoreAccess,
                  catalog: Catalog, committer: Committer, gpu: gpu_probe.GpuFacts,
                  announce: Callable[[list[Event]], None]) -> ComputeService:
    """The compute service, registered on ``gossip`` (call before gossip runs)."""
    file_layer = compute_file_layer(cfg.compute, only_changed=True)
    return ComputeService(
        gossip, node_ledger, access, catalog, append=committer.append,
        load_policy=lambda: commands.own_policy(node_ledger, file_layer),
        gpu=gpu, price_msp=cfg.compute.price_msp, backend_url=cfg.compute.backend_url,
        announce=announce)


def on_committed(service: ComputeService, nursery: trio.Nursery,
                 events: Sequence[Event]) -> None:
    """A new ``compute.config.set`` of this node: the service reads its policy again."""
    if any(e.kind == "compute.config.set" for e in events):
        nursery.start_soon(service.refresh_policy)


async def read_view(node: Node, what: str) -> dict[str, object]:
    """``/api/v1/compute/<what>`` and ``/api/v1/wallet``: what the CLI prints."""
    from hartnode.node import json_form

    catalog = node.catalog or build_catalog()
    file_layer = compute_file_layer(node.cfg.compute, only_changed=True)

    def read() -> dict[str, Any]:
        if what == "status":
            return commands.status(node.node_ledger, catalog, file_layer, node.gpu)
        return commands.view(what, node.node_ledger, catalog, file_layer, catch_up=False)
    try:
        return json_form(await node.access.run(read))  # type: ignore[return-value]
    except PolicyError as e:
        raise ApiRequestError(f"the compute policy is invalid: {e}") from e


async def request_job(service: ComputeService | None,
                      body: dict[str, object]) -> dict[str, object]:
    """``POST /api/v1/compute/jobs``: run one job on a peer against a new escrow."""
    if service is None:
        raise ApiRequestError("compute is not running on this node")
    try:
        params = body["params"]
        if not isinstance(params, dict):
            raise TypeError("params must be an object")
        outcome = await service.request(
            str(body["peer"]), str(body["kind"]), params,
            amount_msp=int(body["amount_msp"]),  # type: ignore[call-overload]
            central=str(body["central"]), regional=str(body.get("regional", "")),
            timeout_s=float(body.get("timeout_s", 300)))  # type: ignore[arg-type]
    except (JobError, EscrowError) as e:
        raise ApiRequestError(str(e)) from e
    except (KeyError, TypeError, ValueError) as e:
        raise ApiRequestError(f"bad job request: {e}; expected peer, kind, params, "
                              "amount_msp, central") from e
    return dataclasses.asdict(outcome)
