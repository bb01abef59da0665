"""Policy resolution and admission; the GPU probe against a fake NVML module."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from hartnode.compute import gpu_probe, policy, replication
from hartnode.compute.policy import PolicyError


def test_env_beats_db_beats_file_beats_default_with_sources() -> None:
    p = policy.resolve(env={"HARTNODE_COMPUTE_COMPUTE_POLICY": "local_only", "PATH": "/bin"},
                       db={"compute_policy": "hive_always", "max_hive_gpu_pct": "30"},
                       file={"max_hive_gpu_pct": "70", "metered_daily_limit_usd": "2.50"})
    assert (p.compute_policy, p.sources["compute_policy"]) == ("local_only", "env")
    assert (p.max_hive_gpu_pct, p.sources["max_hive_gpu_pct"]) == (30, "node_compute_config")
    assert (p.metered_daily_limit_uusd, p.sources["metered_daily_limit_usd"]) == (2_500_000,
                                                                                  "config")
    assert (p.auto_settle, p.sources["auto_settle"]) == (True, "default")


@pytest.mark.parametrize(("key", "value"), [
    ("compute_policy", "sometimes"), ("max_hive_gpu_pct", "101"),
    ("metered_daily_limit_usd", "-1"), ("metered_daily_limit_usd", "nan"),
    ("metered_daily_limit_usd", "0.0000001"), ("auto_settle", "maybe"),
])
def test_an_invalid_value_is_an_error_naming_its_layer_never_a_default(key: str,
                                                                       value: str) -> None:
    with pytest.raises(PolicyError) as e:
        policy.resolve(env={}, db={key: value})
    assert e.value.key == key and e.value.source == "node_compute_config"


def _policy(**db: str) -> policy.Policy:
    return policy.resolve(env={}, db=db)


def test_admission_follows_the_policy() -> None:
    gpu_job = {"from_hive": True, "needs_gpu": True, "hive_gpu_pct_in_use": 0,
               "job_gpu_pct": 25, "metered_backend": False}
    assert policy.admit(_policy(compute_policy="local_only"), gpu_util_pct=0,
                        **gpu_job).reason == "local_only"  # type: ignore[arg-type]
    assert policy.admit(_policy(), gpu_util_pct=80, **gpu_job).reason == "gpu_busy"  # type: ignore[arg-type]
    assert policy.admit(_policy(), gpu_util_pct=0, **gpu_job).admitted  # type: ignore[arg-type]
    assert policy.admit(_policy(compute_policy="hive_always", max_hive_gpu_pct="20"),
                        gpu_util_pct=80, **gpu_job).reason == "gpu_cap"  # type: ignore[arg-type]
    assert policy.admit(_policy(), from_hive=True, needs_gpu=False, gpu_util_pct=None,
                        hive_gpu_pct_in_use=0, job_gpu_pct=0,
                        metered_backend=True).reason == "metered_not_for_hive"
    assert policy.admit(_policy(compute_policy="local_only"), from_hive=False, needs_gpu=True,
                        gpu_util_pct=100, hive_gpu_pct_in_use=0, job_gpu_pct=100,
                        metered_backend=True).admitted


class _NVMLError(Exception):
    pass


class _NotSupported(_NVMLError):
    pass


class _LibraryNotFound(_NVMLError):
    pass


class _DriverNotLoaded(_NVMLError):
    pass


def fake_nvml(*, init_error: type[Exception] | None = None, power: bool = True) -> Any:
    def init() -> None:
        if init_error is not None:
            raise init_error()

    def unsupported(*_: object) -> int:
        raise _NotSupported()

    return SimpleNamespace(
        NVMLError=_NVMLError, NVMLError_NotSupported=_NotSupported,
        NVMLError_LibraryNotFound=_LibraryNotFound, NVMLError_DriverNotLoaded=_DriverNotLoaded,
        nvmlInit=init, nvmlShutdown=lambda: None,
        nvmlSystemGetDriverVersion=lambda: b"550.54",
        nvmlDeviceGetCount=lambda: 2, nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: f"NVIDIA H100 #{h}",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=80 * 2**30, used=2**30),
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=7, memory=1),
        nvmlDeviceGetPowerUsage=(lambda h: 70_500) if power else unsupported,
        nvmlDeviceGetTotalEnergyConsumption=(lambda h: 3_600_000_000) if power else unsupported,
    )


def test_probe_reads_every_field() -> None:
    facts = gpu_probe.probe(fake_nvml())
    assert facts.available and facts.count == 2 and facts.driver == "550.54"
    g = facts.gpus[1]
    assert (g.name, g.memory_total_mib, g.memory_used_mib, g.utilization_pct, g.power_w,
            g.energy_kwh) == ("NVIDIA H100 #1", 81920, 1024, 7, 70.5, 1.0)
    assert "compute.gpu:2" in facts.capabilities()


@pytest.mark.parametrize(("error", "reason"), [(_LibraryNotFound, "no_driver"),
                                               (_DriverNotLoaded, "no_driver")])
def test_no_driver_means_cpu_only_not_an_error(error: type[Exception], reason: str) -> None:
    facts = gpu_probe.probe(fake_nvml(init_error=error))
    assert (facts.available, facts.reason, facts.capabilities()) == (False, reason,
                                                                     ("compute.cpu",))


def test_a_field_not_supported_is_none_and_the_rest_is_read() -> None:
    g = gpu_probe.probe(fake_nvml(power=False)).gpus[0]
    assert (g.power_w, g.energy_kwh, g.memory_total_mib, g.errors) == (None, None, 81920, ())


def test_replication_is_total_until_ten_then_adaptive_and_a_mismatch_resets() -> None:
    r = replication.Replicator()
    key = ("p", "cpu.hash_chain", "")
    for _ in range(replication.TRUST_AFTER):
        assert r.rate(key) == 1.0
        assert r.judge("cpu.hash_chain", "", {"p": "h", "q": "h"}).decided
    assert r.rate(key) == 0.1
    r.counts[key] = 1000
    assert r.rate(key) == replication.MIN_RATE
    rng = random.Random(1)
    assert 20 < sum(r.should_replicate(key, rng) for _ in range(1000)) < 80
    assert r.judge("cpu.hash_chain", "", {"p": "bad", "q": "h"}) == replication.Verdict(
        False, None, ())
    assert r.counts[key] == 0
    verdict = r.judge("cpu.hash_chain", "", {"p": "bad", "q": "h", "s": "h"})
    assert verdict == replication.Verdict(True, "h", ("p",))


def test_config_section_validates_policy_values_and_is_the_file_layer() -> None:
    from hartnode import config

    cfg = config.load(None, {"HARTNODE_COMPUTE_MAX_HIVE_GPU_PCT": "20"})
    assert policy.file_layer(cfg.compute, only_changed=True) == {"max_hive_gpu_pct": "20"}
    with pytest.raises(config.ConfigError, match=r"compute\.metered_daily_limit_usd"):
        config.load(None, {"HARTNODE_COMPUTE_METERED_DAILY_LIMIT_USD": "lots"})
    with pytest.raises(config.ConfigError, match=r"compute\.backend_url"):
        config.load(None, {"HARTNODE_COMPUTE_BACKEND_URL": "file:///etc/passwd"})


def test_compute_tags_are_valid_peer_record_capabilities() -> None:
    from hartnode.compute.daemon import capabilities as compute_capabilities
    from hartnode.config import ComputeConfig, Config
    from hartnode.gossip.peer_record import decode_peer_record, sign_peer_record
    from hartnode.identity import NodeIdentity

    cfg = Config(compute=ComputeConfig(backend_url="http://127.0.0.1:8080", price_msp=250))
    tags = compute_capabilities(cfg, gpu_probe.probe(fake_nvml()))
    assert {"compute.gpu:2", "compute.kind:inference.chat", "compute.price_msp:250",
            "compute.gpu_name:nvidia_h100__0"} <= set(tags)
    record = sign_peer_record(NodeIdentity.from_seed(b"\x66" * 32), addrs=(), tier="flat",
                              region="", seq=1, ts_ms=1, capabilities=tags)
    assert decode_peer_record(record.message).capabilities == tuple(sorted(tags))
    local = Config(compute=ComputeConfig(compute_policy="local_only"))
    assert compute_capabilities(local, gpu_probe.probe(fake_nvml())) == ()
    no_gpu = gpu_probe.probe(fake_nvml(init_error=_DriverNotLoaded))
    assert compute_capabilities(Config(), no_gpu) == ()  # nothing worth a record's bytes
