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
from typing import Any, Generic, TypeVar

import trio

from hartnode import __version__, live_feed, node_api, ops_api, sdnotify, ui_api
from hartnode.apps.goals import daemon as goals_daemon
from hartnode.apps.recipes import daemon as recipes_daemon
from hartnode.apps.web.live import LiveHub
from hartnode.apps.web.server import ApiBindError, ApiServerError, serve_api
from hartnode.attestation.certificate import CertificateError, effective_tier, parse_chain_file
from hartnode.attestation.challenge import ChallengeParams, paced
from hartnode.attestation.fraud import equivocation_alert, unreported_forks
from hartnode.attestation.manifest import ManifestError, installed_manifest, package_dir
from hartnode.attestation.revocation import (
    RevocationError,
    SignedRevocationList,
    parse_revocation_file,
    revocation_file_bytes,
)
from hartnode.catalog import Catalog, build_catalog
from hartnode.compute import daemon as compute_daemon
from hartnode.compute import gpu_probe
from hartnode.compute.service import ComputeService
from hartnode.config import Config, ConfigError, network_key, parse_hostport
from hartnode.datadir import CHAIN_FILE, DataDir, DataDirError
from hartnode.errors import find_in_group
from hartnode.files import replace_private
from hartnode.gossip import peer_store
from hartnode.gossip.link_service import LinkService
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.gossip.trust import TrustState
from hartnode.hierarchy.service import HierarchyService, HierarchySettings
from hartnode.integrity.service import (
    TrustService,
    TrustSettings,
    code_capability,
    for_overlay,
)
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.envelope import EnvelopeError, Event
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.log import Draft, IngestResult
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.store import StoreError
from hartnode.limits import overlay_config, replication_limits, transport_config
from hartnode.metrics import NodeMetrics, Registry
from hartnode.replication.service import ReplicationService
from hartnode.routes import ApiRequestError, RouteTable

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
FEED_CONFIRM_TIMEOUT_S = 30.0
REVOCATIONS_FILE = "revocations.json"  # the newest master-signed list this node holds
T = TypeVar("T")


class StartupError(Exception):
    """The daemon could not start; the message says why and what to do."""


@dataclass
class Node:
    """A running node's services. Apps' routes see it as their ``AppContext``;
    the node's own routes (``node_api``) read its services."""

    cfg: Config
    data_dir: DataDir
    node_ledger: NodeLedger
    access: StoreAccess
    committer: Committer
    metrics: NodeMetrics
    started_monotonic: float
    gossip: GossipService | None = None
    replication: ReplicationService | None = None
    hierarchy: HierarchyService | None = None
    trust: TrustService | None = None
    catalog: Catalog | None = None
    gpu: gpu_probe.GpuFacts | None = None
    compute_service: ComputeService | None = None

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

    # -- AppContext (hartnode.routes): what apps' routes may do --------------

    async def append_event(self, kind: str, reach: str, payload: Any, *,
                           actor: str = "node") -> dict[str, object]:
        if not isinstance(payload, dict):
            raise ApiRequestError("payload must be a JSON object")
        try:
            event = await self.committer.append(Draft(
                kind=kind, payload=payload, reach=reach, actor=actor,
                scope="user" if actor.startswith("user:") else "system"))
        except (UnknownKindError, PayloadError, EnvelopeError) as e:
            raise ApiRequestError(str(e)) from e
        return event.as_json()

    async def tail(self, n: int) -> list[dict[str, object]]:
        events = await self.access.run(self.node_ledger.ledger.tail, n)
        return [e.as_json() for e in events]

    async def read_views(self, fn: Callable[[Any], T]) -> T:
        views = self.node_ledger.views

        def read() -> T:
            # The committer catches the views up after waking its callers, so
            # a read right after an append could miss it; catching up here
            # (a no-op when nothing is new) gives read-your-writes.
            views.catch_up()
            return fn(views.state)

        return await self.access.run(read)


METRICS_EXPORT_S = 5.0
PEERS_SAVE_S = 30.0  # seconds between writes of the peer table to ``peer_nodes``


async def export_overlay_metrics(gossip: GossipService, registry: Registry,
                                 metrics: NodeMetrics) -> None:
    """Copy the overlay's counters into the registry every few seconds.

    They live in plain Counters the trio loop updates; the scrape runs on
    aiohttp's thread, so it must not read them itself (a dict resized while
    it is copied raises). Deltas keep the exported series monotonic.
    """
    handshakes = registry.counter("hartnode_handshake_failures_total",
                                  "Peer connections that failed the handshake, by reason.",
                                  ("reason",))
    protocol = registry.counter("hartnode_peer_protocol_errors_total",
                                "Links ended because the peer broke the protocol, by reason.",
                                ("reason",))
    traffic = registry.counter("hartnode_peer_bytes_total",
                               "Sealed frame bytes on peer links, by direction (sent, received).",
                               ("direction",))
    links = registry.gauge("hartnode_peer_links", "Open authenticated peer links.")
    sources = ((gossip.transport_stats.decode_errors, metrics.wire_decode_errors, "reason"),
               (gossip.transport_stats.handshake_failures, handshakes, "reason"),
               (gossip.stats.protocol_errors, protocol, "reason"),
               (gossip.transport_stats.link_bytes, traffic, "direction"))
    exported: list[dict[str, int]] = [{} for _ in sources]
    while True:
        for (counts, series, label), done in zip(sources, exported, strict=True):
            for key, n in list(counts.items()):
                if n > done.get(key, 0):
                    series.inc(n - done.get(key, 0), **{label: key})
                    done[key] = n
        links.set(float(gossip.link_count()))
        await trio.sleep(METRICS_EXPORT_S)  # the export period, not a readiness wait


async def keep_peer_nodes(gossip: GossipService, node_ledger: NodeLedger,
                          access: StoreAccess) -> None:
    """Write the peer table to ``peer_nodes`` every ``PEERS_SAVE_S``, and once more at
    exit; then the compute columns its records' capabilities fill."""
    state = node_ledger.views.state

    def write(rows: list[peer_store.Row]) -> None:
        peer_store.write(state, rows)
        compute_daemon.save_peer_columns(state)
    try:
        while True:
            await trio.sleep(PEERS_SAVE_S)
            await access.run(write, peer_store.snapshot(gossip.peers,
                                                        time.time_ns() // 1_000_000))
    finally:
        with trio.CancelScope(shield=True):
            await access.run(write, peer_store.snapshot(gossip.peers,
                                                        time.time_ns() // 1_000_000))


async def confirm_own_feed(replication: ReplicationService, gate: trio.Event) -> None:
    """Hold own appends until a neighbour has shown us our own feed's head.

    A node restored from an old backup would otherwise append at a seq its
    peers already hold a different event for: a fork of its own feed, which
    everyone would rightly treat as equivocation (issue #4). Bounded: with no
    neighbour within FEED_CONFIRM_TIMEOUT_S the node appends anyway, and says so.
    """
    with trio.move_on_after(FEED_CONFIRM_TIMEOUT_S) as waited:
        await replication.feed_confirmed.wait()
    if waited.cancelled_caught:
        log.warning("appending before any peer confirmed this node's feed head", extra={
            "fields": {"waited_s": FEED_CONFIRM_TIMEOUT_S}})
    gate.set()


def _count_ingest(metrics: NodeMetrics, result: IngestResult) -> None:
    metrics.events_ingested.inc(len(result.stored))
    for reason, n in result.rejected.items():
        metrics.ingest_rejected.inc(n, reason=reason)
    if result.stored:
        metrics.ledger_events.set(float(result.stored[-1][0]))


class Subscribers(Generic[T]):
    """One event's subscribers, called in the order they subscribed.

    Built before the service that fires the event and those that hear it, so
    services are wired by constructor arguments, never patched afterwards.
    """

    def __init__(self) -> None:
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, fn: Callable[[T], None]) -> None:
        self._subscribers.append(fn)

    def __call__(self, value: T) -> None:
        for fn in self._subscribers:
            fn(value)


def challenge_params(cfg: Config) -> ChallengeParams:
    """The profile's challenge pace and deadline, with the config's overrides."""
    params = for_overlay(overlay_config(cfg))
    return paced(float(cfg.trust.challenge_interval or params.round_interval),
                 float(cfg.trust.challenge_timeout or params.timeout))


def build_gossip(data_dir: DataDir, cfg: Config, node_ledger: NodeLedger,
                 capabilities: tuple[str, ...] = ()) -> GossipService:
    """The overlay service, configured from ``cfg`` and the installed certificate chain."""
    identity = node_ledger.ledger.identity
    assert identity is not None
    chain_file = data_dir.path / CHAIN_FILE
    chain: tuple[tuple[bytes, bytes], ...] = ()
    if chain_file.exists():
        try:
            chain = tuple(link.to_wire() for link in parse_chain_file(chain_file.read_bytes()))
        except (CertificateError, OSError) as e:
            raise StartupError(f"{chain_file} is unreadable ({e}); reinstall it with "
                               "`hartnode cert install` or remove it to run as flat") from e
    settings = GossipSettings(
        network_key=network_key(cfg),
        listen=parse_hostport(cfg.network.listen, "network.listen"),
        advertise=cfg.network.advertise,
        seeds=cfg.network.seeds,
        overlay=overlay_config(cfg),
        tier=cfg.node.tier,
        region=cfg.node.region,
        announce_interval=float(cfg.network.announce_interval),
        chain=chain,
        transport_config=transport_config(cfg),
        capabilities=capabilities,
    )
    master = bytes.fromhex(cfg.trust.master_key) if cfg.trust.master_key else None
    trust = TrustState(master)
    revocations_file = data_dir.path / REVOCATIONS_FILE
    if master is not None and revocations_file.exists():
        try:
            trust.current = parse_revocation_file(revocations_file.read_bytes(),
                                                  master_public_key=master)
        except (RevocationError, OSError) as e:
            raise StartupError(f"{revocations_file} is unusable ({e}); remove it, the current "
                               "list is pulled from peers on connect") from e
    table = PeerTable(self_id=identity.node_id, ttl_ms=int(2500 * cfg.network.announce_interval),
                      master_public_key=master,
                      revocations=trust.current.revocations if trust.current else None)

    def keep(signed: SignedRevocationList) -> None:
        # Written atomically (a crash leaves the old list or the new, never
        # half), through a temp file a planted symlink cannot redirect.
        try:
            replace_private(revocations_file, revocation_file_bytes(signed))
        except OSError as e:  # the list is applied in memory; peers resend it on connect
            log.warning("cannot save the revocation list", extra={"fields": {
                "path": str(revocations_file), "error": str(e)}})

    gossip = GossipService(identity, settings, table, trust=trust)
    gossip.register(LinkService("revocations file", on_revocations=keep))
    return gossip


def build_replication(cfg: Config, gossip: GossipService, node_ledger: NodeLedger,
                      access: StoreAccess, *,
                      on_ingested: Callable[[IngestResult], None] | None = None,
                      on_fork: Callable[[Event, Event], None] | None = None,
                      ) -> ReplicationService:
    """Replication over ``gossip``'s links, with the config's per-peer limits."""
    return ReplicationService(
        gossip, node_ledger, access, round_interval=float(cfg.network.sync_interval),
        on_ingested=on_ingested, on_fork=on_fork,
        limits=replication_limits(cfg, gossip.settings.overlay))


def tier_standing(claimed: str, *, chain_installed: bool, master_pinned: bool,
                  proven: str, proven_region: str, error: str = "") -> tuple[str, str, list[str]]:
    """The standing a node syncs with, and what to warn the operator of.

    ``proven`` is what the installed chain proves against the pinned master
    key (``flat`` without either). The node takes a tier only when the
    config claims it and the chain proves it: peers would not treat it as
    more either. Returns (tier, region, warnings).
    """
    warnings = []
    if chain_installed and not master_pinned:
        warnings.append("a certificate chain is installed but trust.master_key is not set: "
                        "nothing can check it, so this node syncs as flat; set trust.master_key "
                        "to the network's master public key")
    if claimed == proven:
        return (proven, proven_region, warnings) if proven != "flat" else ("flat", "", warnings)
    if proven != "flat":
        warnings.append(f"the installed chain proves tier {proven} but node.tier is {claimed}; "
                        f"syncing as flat until they agree: set node.tier = \"{proven}\"")
    elif master_pinned and chain_installed:
        warnings.append(f"node.tier claims {claimed} but the installed chain proves nothing "
                        f"({error or 'invalid'}); syncing as flat: reinstall a valid chain "
                        "with `hartnode cert install`")
    elif not chain_installed:
        warnings.append(f"node.tier claims {claimed} but no certificate chain is installed; "
                        "syncing as flat: install one with `hartnode cert install`, or set "
                        "node.tier = \"flat\"")
    return "flat", "", warnings


def hierarchy_settings(cfg: Config, gossip: GossipService) -> HierarchySettings:
    """This node's place in the hierarchy: the standing its own chain proves
    (see ``tier_standing``); each disagreement with the config is logged."""
    master = gossip.peers.master_public_key
    proven, proven_region, error = "flat", "", ""
    if master is not None and gossip.settings.chain:
        current = gossip.trust.current
        verified, chain_error = effective_tier(
            gossip.settings.chain, master_public_key=master, now_ms=time.time_ns() // 1_000_000,
            revocations=current.revocations if current else None,
            presenter_node_id=gossip.node_id)
        proven, proven_region = verified.tier, verified.region
        error = chain_error.reason if chain_error else ""
    tier, region, warnings = tier_standing(
        cfg.node.tier, chain_installed=bool(gossip.settings.chain),
        master_pinned=master is not None, proven=proven, proven_region=proven_region,
        error=error)
    for text in warnings:
        log.warning("tier: %s", text, extra={"fields": {
            "claimed": cfg.node.tier, "proven": proven, "error": error}})
    h = cfg.hierarchy
    return HierarchySettings(tier=tier, region=region, parents=h.parents,
                             retry_min=float(h.retry_min), retry_max=float(h.retry_max),
                             ack_timeout=float(h.ack_timeout))


def open_node(data_dir: DataDir, cfg: Config, catalog: Catalog) -> NodeLedger:
    data_dir.refuse_orphan_ledger()
    identity = data_dir.load_identity()
    try:
        data_dir.create_databases()  # mode 0600 before SQLite makes them with the umask's
    except OSError as e:
        raise DataDirError(f"cannot create the databases in {data_dir.path}: {e}",
                           "check the data directory's permissions") from e
    return NodeLedger(data_dir.path, identity, catalog, create=True)


def ready_fields(cfg: Config, node_id: str, api_addr: tuple[str, int], peer_port: int,
                 data_dir: DataDir) -> dict[str, object]:
    """The ``ready`` log line's fields. The peer listener binds every interface
    by default: the line says where it listens, and how to narrow it."""
    peer_host = parse_hostport(cfg.network.listen, "network.listen")[0]
    shown = f"[{peer_host}]" if ":" in peer_host else peer_host
    fields: dict[str, object] = {
        "node_id": node_id, "api": f"http://{api_addr[0]}:{api_addr[1]}",
        "peer_listen": f"{shown}:{peer_port}", "peer_port": peer_port,
        "data_dir": str(data_dir.path), "version": __version__}
    if peer_host in ("0.0.0.0", "::", ""):
        fields["peer_listen_hint"] = ("peers can connect on every interface; set "
                                      "network.listen = \"IP:PORT\" to restrict it")
    return fields


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
            catalog = build_catalog(
                bytes.fromhex(cfg.trust.master_key) if cfg.trust.master_key else None)
            node_ledger = open_node(data_dir, cfg, catalog)
            api_host, api_port = parse_hostport(cfg.api.listen, "api.listen")
        except (DataDirError, StoreError, ConfigError) as e:
            raise StartupError(str(e)) from e
        try:
            await _serve(data_dir, cfg, node_ledger, catalog, token, (api_host, api_port),
                         on_ready, task_status)
        finally:
            node_ledger.close()
    finally:
        lock.release()


async def _serve(data_dir: DataDir, cfg: Config, node_ledger: NodeLedger,
                 catalog: Catalog, token: str,
                 api_listen: tuple[str, int],
                 on_ready: Callable[[tuple[str, int]], None] | None,
                 task_status: trio.TaskStatus[tuple[str, int]]) -> None:
    registry = Registry()
    metrics = NodeMetrics.register(registry)
    access = StoreAccess()
    # Events several services hear, fanned out in subscription order.
    committed: Subscribers[list[Event]] = Subscribers()
    ingested: Subscribers[IngestResult] = Subscribers()
    # Own appends wait until a peer confirmed this node's feed head, unless
    # this is the first node of a network (no one to ask).
    feed_gate = trio.Event() if cfg.network.seeds else None
    committer = Committer(node_ledger, access, max_batch=cfg.ledger.group_commit_max,
                          metrics=metrics, on_committed=committed, gate=feed_gate)
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:
            # Catch up views left behind by a crash before taking requests.
            await access.run(node_ledger.views.catch_up)
            # Set here and by the committer, never read at scrape time: the
            # scrape runs on aiohttp's thread, which must not touch the store.
            metrics.ledger_events.set(float(await access.run(node_ledger.ledger.max_id)))
            try:  # this node's code hash: the manifest of the package it runs from
                manifest = await trio.to_thread.run_sync(installed_manifest)
            except ManifestError as e:
                raise StartupError(f"cannot hash this node's own install: {e}") from e
            # No driver or no GPU is a CPU-only node, never an error (gpu_probe).
            gpu = await trio.to_thread.run_sync(gpu_probe.probe)
            models = await compute_daemon.backend_models(cfg)
            gossip = build_gossip(data_dir, cfg, node_ledger,
                                  capabilities=(code_capability(manifest.root_hex),
                                                *compute_daemon.capabilities(cfg, gpu, models)))
            remembered = await access.run(peer_store.load, node_ledger.views.state,
                                          gossip.peers, time.time_ns() // 1_000_000)
            if remembered.loaded or remembered.dropped:
                log.info("peers_remembered", extra={"fields": {
                    "loaded": remembered.loaded, "dropped": remembered.dropped}})
            # Services attach to gossip as they are built (``GossipService.register``).
            # The hierarchy syncs by replication's push and attaches to it as it is
            # built (``attach_hierarchy``): who is parent or child, and the answers.
            replication = build_replication(
                cfg, gossip, node_ledger, access, on_ingested=ingested,
                on_fork=lambda a, b: nursery.start_soon(
                    committer.append, equivocation_alert(a, b)))
            hierarchy = HierarchyService(gossip, replication, node_ledger, access,
                                         hierarchy_settings(cfg, gossip))
            h_settings = hierarchy.settings
            trust = TrustService(
                gossip, node_ledger, access, committer.append, TrustSettings(
                    install_root=package_dir().parent, manifest=manifest,
                    master_public_key=gossip.peers.master_public_key,
                    params=challenge_params(cfg), regional=h_settings.tier == "regional"),
                roles=hierarchy)
            ingested.subscribe(trust.on_ingested)
            committed.subscribe(replication.announce)
            committed.subscribe(lambda _events: hierarchy.wake())
            ingested.subscribe(lambda result: _count_ingest(metrics, result))
            # It may owe a parent (or children) some of them.
            ingested.subscribe(lambda result: hierarchy.wake() if result.stored else None)
            compute = compute_daemon.build_service(cfg, gossip, node_ledger, access, catalog,
                                                   committer, gpu, announce=committed,
                                                   peer_allowed=trust.compute_allowed,
                                                   peers=gossip.peers)
            committed.subscribe(lambda events: compute_daemon.on_committed(
                compute, nursery, events))
            search = recipes_daemon.build_search(cfg, data_dir, node_ledger, access)
            committed.subscribe(search.wake)
            ingested.subscribe(lambda result: recipes_daemon.on_ingested(search, result))
            node = Node(cfg, data_dir, node_ledger, access, committer, metrics,
                        time.monotonic(), gossip=gossip, replication=replication,
                        hierarchy=hierarchy, trust=trust, catalog=catalog, gpu=gpu,
                        compute_service=compute)
            # The web UI's live updates: event-driven for the ledger, deltas for status.
            live = LiveHub()
            committed.subscribe(lambda events: live_feed.on_committed(live, events))
            ingested.subscribe(lambda result: live_feed.on_ingested(live, result))
            ops = ops_api.Operations(node, live.publish)
            routes = RouteTable()
            node_api.register_routes(routes, node)
            ui_api.register_routes(routes, node)
            ops_api.register_routes(routes, ops)
            compute_daemon.register_routes(routes, node)
            recipes_daemon.register_routes(routes, node, search)
            goals = goals_daemon.build_dispatcher(node_ledger, access, catalog, compute,
                                                  announce=committed)
            goals_daemon.register_routes(routes, node, goals)
            catalog.routes.bind(node, routes)
            for a, b in await access.run(unreported_forks, node_ledger.ledger,
                                         node_ledger.views.state, node.node_id):
                nursery.start_soon(committer.append, equivocation_alert(a, b))
            if feed_gate is not None:
                nursery.start_soon(confirm_own_feed, replication, feed_gate)
            await nursery.start(committer.run)
            try:
                peer_port = await nursery.start(gossip.run)
            except (OSError, BaseExceptionGroup) as e:
                # The listener's own nursery wraps its bind error in a group.
                bind_error = e if isinstance(e, OSError) else find_in_group(e, OSError)
                if bind_error is None:
                    raise
                raise StartupError(
                    f"cannot listen on {cfg.network.listen} for peers: "
                    f"{bind_error.strerror or bind_error}; "
                    "stop what uses that port or set network.listen") from e
            await nursery.start(replication.run)
            await nursery.start(hierarchy.run)
            await nursery.start(trust.run)
            await nursery.start(compute.run)
            await nursery.start(search.run)
            nursery.start_soon(goals_daemon.recover, goals)
            await nursery.start(ops.run)
            nursery.start_soon(live_feed.publish_status, node, live)
            nursery.start_soon(export_overlay_metrics, gossip, registry, metrics)
            nursery.start_soon(keep_peer_nodes, gossip, node_ledger, access)
            try:
                api_addr = await nursery.start(lambda task_status: serve_api(
                    host=api_listen[0], port=api_listen[1], token=token, routes=routes,
                    metrics=registry, allowed_hosts=cfg.api.allowed_hosts, live=live,
                    task_status=task_status))
            except (ApiBindError, ApiServerError) as e:
                raise StartupError(str(e)) from e
            period = sdnotify.watchdog_period()
            if period is not None:
                nursery.start_soon(sdnotify.watchdog_loop, period)
            sdnotify.ready(f"serving API on {api_addr[0]}:{api_addr[1]}")
            log.info("ready", extra={"fields": ready_fields(
                cfg, node.node_id, api_addr, peer_port, data_dir)})
            if on_ready is not None:
                on_ready(api_addr)
            task_status.started(api_addr)
            async for signum in signals:
                log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
                sdnotify.stopping()
                nursery.cancel_scope.cancel()
                break
