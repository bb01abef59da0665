"""How the daemon (``node.py``) runs compute lending: its service, record tags and API.

Kept here so ``node.py`` stays the lifecycle read top to bottom: it probes
the GPU, builds the service with ``build_service``, announces
``capabilities`` in its peer record and registers the compute API routes
(``register_routes``: bound to the running node's services, like
``node_api``'s, since they read the views and run the job protocol):

    GET  /api/v1/compute/status | policy | jobs | escrow     GET /api/v1/wallet
    POST /api/v1/compute/jobs
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from hartnode.compute import commands, gpu_probe
from hartnode.compute.jobs import JobError, offer_capabilities
from hartnode.compute.policy import PolicyError, file_layer
from hartnode.compute.service import ComputeService, Sender
from hartnode.compute.wallet import EscrowError
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

if TYPE_CHECKING:  # types only: node.py and catalog.py import this package
    from hartnode.catalog import Catalog
    from hartnode.config import Config
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
                  announce: Callable[[list[Event]], None],
                  peer_allowed: Callable[[str], bool] = lambda peer: True) -> ComputeService:
    """The compute service, registered on ``gossip`` (call before gossip runs)."""
    layer = file_layer(cfg.compute, only_changed=True)
    return ComputeService(
        gossip, node_ledger, access, catalog, append=committer.append,
        load_policy=lambda: commands.own_policy(node_ledger, layer),
        gpu=gpu, price_msp=cfg.compute.price_msp, backend_url=cfg.compute.backend_url,
        announce=announce, peer_allowed=peer_allowed)


def on_committed(service: ComputeService, nursery: trio.Nursery,
                 events: Sequence[Event]) -> None:
    """A new ``compute.config.set`` of this node: the service reads its policy again."""
    if any(e.kind == "compute.config.set" for e in events):
        nursery.start_soon(service.refresh_policy)


async def read_view(node: Node, what: str) -> dict[str, object]:
    """``/api/v1/compute/<what>`` and ``/api/v1/wallet``: what the CLI prints."""
    from hartnode.node_api import json_form

    catalog = node.catalog
    if catalog is None:
        raise ApiRequestError("compute is not running on this node")
    layer = file_layer(node.cfg.compute, only_changed=True)

    def read() -> dict[str, Any]:
        assert catalog is not None
        if what == "status":
            return commands.status(node.node_ledger, catalog, layer, node.gpu)
        return commands.view(what, node.node_ledger, catalog, layer, catch_up=False)
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


def register_routes(routes: RouteTable, node: Node) -> None:
    """The compute routes, bound to the running ``node``."""
    def view(what: str) -> Callable[[ApiRequest], Awaitable[object]]:
        async def handler(request: ApiRequest) -> object:
            return await read_view(node, what)
        return handler

    for what in ("status", "policy", "jobs", "escrow"):
        routes.add("GET", f"/api/v1/compute/{what}", view(what))
    routes.add("GET", "/api/v1/wallet", view("wallet"))

    async def post_job(request: ApiRequest) -> object:
        body = request.json()
        if not isinstance(body, dict):
            raise ApiRequestError("expected a JSON object")
        return await request_job(node.compute_service, body)

    routes.add("POST", "/api/v1/compute/jobs", post_job)
