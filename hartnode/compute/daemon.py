"""How the daemon (``node.py``) runs compute lending: its service, record tags and API.

Kept here so ``node.py`` stays the lifecycle read top to bottom: it probes
the GPU, builds the service with ``build_service``, announces
``capabilities`` in its peer record and registers the compute API routes
(``register_routes``: bound to the running node's services, like
``node_api``'s, since they read the views and run the job protocol):

    GET  /api/v1/compute/status | policy | jobs | escrow     GET /api/v1/wallet
    POST /api/v1/compute/jobs   (``ComputeService.submit``: replicated by the rule)

The requester's providers are read from the peer table (``providers``):
every peer whose record offers compute, as ``capabilities`` parses it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import apsw
import trio

from hartnode.compute import commands, gpu_probe
from hartnode.compute.capabilities import (
    Provider,
    offer_capabilities,
    parse_capabilities,
    parse_offer,
)
from hartnode.compute.jobs import JobError
from hartnode.compute.metering import Price
from hartnode.compute.policy import PolicyError, file_layer
from hartnode.compute.service import ComputeService, Sender
from hartnode.compute.wallet import EscrowError
from hartnode.config import usd_to_uusd
from hartnode.gossip.peer_record import PeerTable
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

if TYPE_CHECKING:  # types only: node.py and catalog.py import this package
    from hartnode.catalog import Catalog
    from hartnode.config import Config
    from hartnode.node import Node


def capabilities(cfg: Config, gpu: gpu_probe.GpuFacts,
                 models: Sequence[str] = ()) -> tuple[str, ...]:
    """What this node's peer record offers for compute (DESIGN §4): its GPU facts,
    job kinds and price; none when its policy keeps it to itself, or when it has
    neither a GPU nor an inference backend, unless it lends whatever it has
    (``hive_always``): the CPU kind is for tests and benchmarks, not worth
    every record's bytes otherwise, which stretch the announce interval of
    the whole network (``peer_record.announce_interval``). ``models``: the
    backend's (``/v1/models``, read at start)."""
    policy = cfg.compute.compute_policy
    if policy == "local_only":
        return ()
    if not (gpu.available and gpu.gpus) and not cfg.compute.backend_url \
            and policy != "hive_always":
        return ()
    return offer_capabilities(price_msp=cfg.compute.price_msp, models=models,
                              backend=bool(cfg.compute.backend_url),
                              gpu_tags=gpu.capabilities(), policy=policy)


def providers(table: PeerTable) -> list[Provider]:
    """Every peer whose record offers compute (scores are equal: whom to trust
    with a result is replication's question, and the quarantined are left
    out by the service)."""
    out = []
    for node_id, entry in table.entries.items():
        provider = parse_capabilities(node_id, entry.record.capabilities, 1.0)
        if provider is not None:
            out.append(provider)
    return out


def save_peer_columns(state: apsw.Connection) -> int:
    """Fill the compute columns of ``peer_nodes`` from each row's capabilities
    (state schema 1.5.0), after ``peer_store.write``; returns the rows changed.
    Here, not in ``peer_store``: gossip knows nothing of compute's tags."""
    updates = []
    for node_id, caps_json in state.execute(
            "SELECT node_id, capabilities_json FROM peer_nodes"):
        try:
            caps = json.loads(caps_json)
        except ValueError:
            caps = []
        o = parse_offer([c for c in caps if isinstance(c, str)] if isinstance(caps, list)
                        else [])
        updates.append((o.gpu_count, o.gpu_name, o.gpu_memory_mib, json.dumps(list(o.kinds)),
                        json.dumps(list(o.models)), o.price_msp if o.kinds else None,
                        o.policy, node_id))
    with state:
        state.executemany(
            "UPDATE peer_nodes SET gpu_count = ?, gpu_model = ?, gpu_memory_mib = ?,"
            " compute_kinds_json = ?, compute_models_json = ?, compute_price_msp = ?,"
            " compute_policy = ? WHERE node_id = ?", updates)
    return len(updates)


def metered_price(cfg: Config) -> Price | None:
    """The backend's price when ``compute.metered``: one rate, prompt and completion."""
    if not cfg.compute.metered:
        return None
    per_mtok = usd_to_uusd(cfg.compute.metered_usd_per_1k_tokens) * 1000
    return Price(per_mtok, per_mtok)


def build_service(cfg: Config, gossip: Sender, node_ledger: NodeLedger, access: StoreAccess,
                  catalog: Catalog, committer: Committer, gpu: gpu_probe.GpuFacts,
                  announce: Callable[[list[Event]], None],
                  peer_allowed: Callable[[str], bool] = lambda peer: True,
                  peers: PeerTable | None = None) -> ComputeService:
    """The compute service, registered on ``gossip`` (call before gossip runs)."""
    layer = file_layer(cfg.compute, only_changed=True)
    return ComputeService(
        gossip, node_ledger, access, catalog, append=committer.append,
        load_policy=lambda: commands.own_policy(node_ledger, layer),
        gpu=gpu, price_msp=cfg.compute.price_msp, backend_url=cfg.compute.backend_url,
        announce=announce, peer_allowed=peer_allowed,
        providers=(lambda: providers(peers)) if peers is not None else (lambda: ()),
        metered_price=metered_price(cfg))


async def backend_models(cfg: Config, timeout_s: float = 5.0) -> list[str]:
    """The backend's models for the peer record (``/v1/models``); none when it
    does not answer in ``timeout_s``: a node starts without its backend."""
    if not cfg.compute.backend_url or cfg.compute.compute_policy == "local_only":
        return []
    import asyncio

    from hartnode.compute.openai_client import Backend, BackendError

    try:
        return await trio.to_thread.run_sync(
            asyncio.run, Backend(cfg.compute.backend_url, timeout_s=timeout_s).models())
    except BackendError:
        return []


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
    """``POST /api/v1/compute/jobs``: run one job, replicated by the rule, against
    new escrows; ``peer`` (optional) picks the provider, else the records do."""
    if service is None:
        raise ApiRequestError("compute is not running on this node")
    try:
        params = body["params"]
        if not isinstance(params, dict):
            raise TypeError("params must be an object")
        peer = body.get("peer")
        outcome = await service.submit(
            str(body["kind"]), params,
            amount_msp=int(body["amount_msp"]),  # type: ignore[call-overload]
            central=str(body["central"]), regional=str(body.get("regional", "")),
            model=str(body.get("model", "")), peer=str(peer) if peer else None,
            timeout_s=float(body.get("timeout_s", 300)))  # type: ignore[arg-type]
    except (JobError, EscrowError) as e:
        raise ApiRequestError(str(e)) from e
    except (KeyError, TypeError, ValueError) as e:
        raise ApiRequestError(f"bad job request: {e}; expected kind, params, amount_msp, "
                              "central, and optionally peer, model, regional") from e
    return outcome.to_json()


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
