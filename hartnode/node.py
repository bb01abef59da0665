"""The daemon: one trio nursery owns every service (DESIGN §2, §6).

Lifecycle, top to bottom: load config → take the data-dir lock → open the
store → start services (committer, API) → READY=1 → serve until SIGTERM or
SIGINT → STOPPING=1 → cancel services (each drains within its own bound) →
close the store → release the lock.

Anything that fails before READY is a ``StartupError``; the CLI turns it into
exit code 3 with the message and what to do.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from hartnode import __version__, sdnotify
from hartnode.apps.web.server import ApiBindError, ApiRequestError, ApiServerError, serve_api
from hartnode.catalog import Catalog, build_catalog
from hartnode.config import Config, ConfigError, parse_hostport
from hartnode.datadir import DataDir, DataDirError
from hartnode.identity import short_id
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.envelope import EnvelopeError
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.store import StoreError
from hartnode.metrics import NodeMetrics, Registry

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StartupError(Exception):
    """The daemon could not start; the message says why and what to do."""


@dataclass
class Node:
    """A running node's services, as the API backend sees them."""

    cfg: Config
    data_dir: DataDir
    node_ledger: NodeLedger
    access: StoreAccess
    committer: Committer
    metrics: NodeMetrics
    started_monotonic: float

    @property
    def node_id(self) -> str:
        identity = self.node_ledger.ledger.identity
        assert identity is not None
        return identity.node_id

    async def ledger_head(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            ledger = self.node_ledger.ledger
            own = ledger.head(self.node_id)
            return {
                "seq": own.seq if own else 0,
                "hash": own.hash.hex() if own else None,
                "events": ledger.max_id(),
                "origins": len(ledger.heads()),
                "views_watermark": self.node_ledger.views.watermark(),
            }

        return await self.access.run(read)

    # -- ApiBackend ------------------------------------------------------

    async def node_info(self) -> dict[str, object]:
        return {
            "node_id": self.node_id,
            "short_id": short_id(self.node_id),
            "version": __version__,
            "tier": self.cfg.node.tier,
            "region": self.cfg.node.region,
            "network": self.cfg.network.name,
            "uptime_s": round(time.monotonic() - self.started_monotonic, 3),
            "peers": 0,  # the gossip overlay reports here once it runs (issue #3)
            "ledger": await self.ledger_head(),
        }

    async def append_event(self, kind: str, reach: str, payload: Any) -> dict[str, object]:
        if not isinstance(payload, dict):
            raise ApiRequestError("payload must be a JSON object")
        try:
            event = await self.committer.append(Draft(kind=kind, payload=payload, reach=reach))
        except (UnknownKindError, PayloadError, EnvelopeError) as e:
            raise ApiRequestError(str(e)) from e
        return event.as_json()

    async def tail(self, n: int) -> list[dict[str, object]]:
        events = await self.access.run(self.node_ledger.ledger.tail, n)
        return [e.as_json() for e in events]


def open_node(data_dir: DataDir, cfg: Config, catalog: Catalog) -> NodeLedger:
    identity = data_dir.load_identity()
    return NodeLedger(data_dir.path, identity, catalog, create=True)


async def run_node(
    data_dir: DataDir,
    cfg: Config,
    *,
    on_ready: Callable[[tuple[str, int]], None] | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until SIGTERM/SIGINT or cancellation.

    Raises:
        StartupError: anything that stops the node from getting to READY.
    """
    try:
        lock = data_dir.lock()
    except DataDirError as e:
        raise StartupError(str(e)) from e
    try:
        try:
            token = data_dir.load_token()
            node_ledger = open_node(data_dir, cfg, build_catalog())
            api_host, api_port = parse_hostport(cfg.api.listen, "api.listen")
        except (DataDirError, StoreError, ConfigError) as e:
            raise StartupError(str(e)) from e
        try:
            await _serve(data_dir, cfg, node_ledger, token, (api_host, api_port), on_ready,
                         task_status)
        finally:
            node_ledger.close()
    finally:
        lock.release()


async def _serve(data_dir: DataDir, cfg: Config, node_ledger: NodeLedger, token: str,
                 api_listen: tuple[str, int],
                 on_ready: Callable[[tuple[str, int]], None] | None,
                 task_status: trio.TaskStatus[tuple[str, int]]) -> None:
    registry = Registry()
    metrics = NodeMetrics.register(registry)
    access = StoreAccess()
    committer = Committer(node_ledger, access, max_batch=cfg.ledger.group_commit_max,
                          metrics=metrics)
    node = Node(cfg, data_dir, node_ledger, access, committer, metrics, time.monotonic())
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:
            # Catch up views left behind by a crash before taking requests.
            await access.run(node_ledger.views.catch_up)
            # Set here and by the committer, never read at scrape time: the
            # scrape runs on aiohttp's thread, which must not touch the store.
            metrics.ledger_events.set(float(await access.run(node_ledger.ledger.max_id)))
            await nursery.start(committer.run)
            try:
                api_addr = await nursery.start(lambda task_status: serve_api(
                    host=api_listen[0], port=api_listen[1], token=token, backend=node,
                    metrics=registry, task_status=task_status))
            except (ApiBindError, ApiServerError) as e:
                raise StartupError(str(e)) from e
            period = sdnotify.watchdog_period()
            if period is not None:
                nursery.start_soon(sdnotify.watchdog_loop, period)
            sdnotify.ready(f"serving API on {api_addr[0]}:{api_addr[1]}")
            log.info("ready", extra={"fields": {
                "node_id": node.node_id, "api": f"http://{api_addr[0]}:{api_addr[1]}",
                "data_dir": str(data_dir.path), "version": __version__}})
            if on_ready is not None:
                on_ready(api_addr)
            task_status.started(api_addr)
            async for signum in signals:
                log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
                sdnotify.stopping()
                nursery.cancel_scope.cancel()
                break
