"""Compute policy: resolved env > ``node_compute_config`` > config file > defaults (DESIGN §4).

Each value keeps the layer it came from, so ``hartnode compute policy``
shows why a node behaves as it does. ``node_compute_config`` rows come from
signed local events (``hartnode compute policy set KEY VALUE``): the latest
by seq wins, and a rebuild gives the same answer. Every value is validated
where it is read; an invalid one is an error naming the key and its layer,
never a silent default (the original failed open on budget checks).

``admit`` is the admission decision a provider takes before running a job,
sans-I/O: it gets the job's facts and the GPU's utilisation as arguments.
Money is integer micro-USD (``uusd``): no floats in limits or events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hartnode.config import COMPUTE_POLICIES, usd_to_uusd

ENV_PREFIX = "HARTNODE_COMPUTE_"
POLICIES = COMPUTE_POLICIES
IDLE_GPU_PCT = 10  # hive_when_idle: the GPU counts as idle below this utilisation

DEFAULTS: dict[str, str] = {
    "compute_policy": "hive_when_idle",
    "max_hive_gpu_pct": "50",
    "allow_metered_for_hive": "false",
    "metered_daily_limit_usd": "0",
    "auto_settle": "true",
}
KEYS = tuple(DEFAULTS)


class PolicyError(ValueError):
    """A policy value is invalid; names the key, the value and its layer."""

    def __init__(self, key: str, value: str, source: str, problem: str) -> None:
        super().__init__(f"{key}={value!r} (from {source}): {problem}")
        self.key = key
        self.source = source


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _pct(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 100:
        raise ValueError("expected 0 to 100")
    return value


def _choice(text: str) -> str:
    if text not in POLICIES:
        raise ValueError(f"expected one of {', '.join(POLICIES)}")
    return text


PARSERS = {"compute_policy": _choice, "max_hive_gpu_pct": _pct,
           "allow_metered_for_hive": _bool, "metered_daily_limit_usd": usd_to_uusd,
           "auto_settle": _bool}


def file_layer(section: object, *, only_changed: bool = False) -> dict[str, str]:
    """The policy keys of the config's ``[compute]`` section (``config.ComputeConfig``)
    as the strings ``resolve`` reads; ``only_changed`` leaves out values equal to
    the defaults, so that ``compute policy`` names them ``default``, not ``config``."""
    def text(v: object) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    out = {k: text(getattr(section, k)) for k in KEYS}
    return {k: v for k, v in out.items() if not only_changed or v != DEFAULTS[k]}


def check_value(key: str, value: str, source: str = "input") -> None:
    """Raise PolicyError unless ``value`` is valid for ``key`` (used before signing a set)."""
    if key not in PARSERS:
        raise PolicyError(key, value, source, f"unknown key; known: {', '.join(KEYS)}")
    try:
        PARSERS[key](value)
    except ValueError as e:
        raise PolicyError(key, value, source, str(e)) from None


@dataclass(frozen=True)
class Policy:
    compute_policy: str
    max_hive_gpu_pct: int
    allow_metered_for_hive: bool
    metered_daily_limit_uusd: int
    auto_settle: bool
    sources: Mapping[str, str]  # key -> env | node_compute_config | config | default
    raw: Mapping[str, str]

    def to_json(self) -> dict[str, object]:
        return {key: {"value": self.raw[key], "source": self.sources[key]} for key in KEYS}


def resolve(*, env: Mapping[str, str], db: Mapping[str, str],
            file: Mapping[str, str] | None = None) -> Policy:
    """The effective policy and where each value came from.

    Args:
        env: the process environment (``HARTNODE_COMPUTE_<KEY>``, upper case).
        db: ``node_compute_config`` of this node, key → value.
        file: the ``[compute]`` section of the config file, as strings.

    Raises:
        PolicyError: the winning value of a key is invalid.
    """
    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        for source, layer in (("env", {k[len(ENV_PREFIX):].lower(): v for k, v in env.items()
                                       if k.startswith(ENV_PREFIX)}),
                              ("node_compute_config", db), ("config", file or {}),
                              ("default", DEFAULTS)):
            if key in layer:
                raw[key], sources[key] = layer[key], source
                break
        check_value(key, raw[key], sources[key])
    return Policy(
        compute_policy=_choice(raw["compute_policy"]),
        max_hive_gpu_pct=_pct(raw["max_hive_gpu_pct"]),
        allow_metered_for_hive=_bool(raw["allow_metered_for_hive"]),
        metered_daily_limit_uusd=usd_to_uusd(raw["metered_daily_limit_usd"]),
        auto_settle=_bool(raw["auto_settle"]),
        sources=sources, raw=raw)


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str  # admitted | local_only | gpu_busy | gpu_cap | metered_not_for_hive


def admit(policy: Policy, *, from_hive: bool, needs_gpu: bool, gpu_util_pct: int | None,
          hive_gpu_pct_in_use: int, job_gpu_pct: int, metered_backend: bool) -> Admission:
    """Whether a provider runs a job, by its policy (sans-I/O).

    Args:
        from_hive: the job came from another node (not this node's own work).
        gpu_util_pct: the GPU's utilisation now (None: no GPU or not readable).
        hive_gpu_pct_in_use: GPU share already given to admitted hive jobs.
        job_gpu_pct: the share this job takes.
    """
    if not from_hive:
        return Admission(True, "admitted")
    if policy.compute_policy == "local_only":
        return Admission(False, "local_only")
    if metered_backend and not policy.allow_metered_for_hive:
        return Admission(False, "metered_not_for_hive")
    if needs_gpu:
        if (policy.compute_policy == "hive_when_idle" and gpu_util_pct is not None
                and gpu_util_pct - hive_gpu_pct_in_use >= IDLE_GPU_PCT):
            return Admission(False, "gpu_busy")
        if hive_gpu_pct_in_use + job_gpu_pct > policy.max_hive_gpu_pct:
            return Admission(False, "gpu_cap")
    return Admission(True, "admitted")
