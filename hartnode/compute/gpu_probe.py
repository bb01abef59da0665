"""GPU facts from NVML (nvidia-ml-py, imported as ``pynvml``) (DESIGN §4).

No driver or no library means a CPU-only node, not an error: ``probe``
returns ``GpuFacts(available=False, reason=...)``. A field a GPU does not
support (``NVMLError_NotSupported``, common for power and energy on
consumer and virtual GPUs) is None, and the others are still read. Any other
NVML error on one GPU is recorded in ``errors`` for that GPU; the probe
never raises for the hardware's sake.

The module is passed in (``nvml=``) so tests use a fake, and the daemon
probes once at start and again for ``compute status``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total_mib: int | None
    memory_used_mib: int | None
    utilization_pct: int | None
    power_w: float | None
    energy_kwh: float | None  # since the driver was loaded
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuFacts:
    available: bool
    reason: str  # ok | no_library | no_driver | nvml_error
    driver: str = ""
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)

    @property
    def count(self) -> int:
        return len(self.gpus)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def capabilities(self) -> tuple[str, ...]:
        """Tags for the peer record (``compute.gpu:<n>``, memory and model name)."""
        if not self.available or not self.gpus:
            return ("compute.cpu",)
        mem = min((g.memory_total_mib or 0) for g in self.gpus)
        # Peer record tags are lowercase [a-z0-9._:-] (``peer_record``).
        name = "".join(c if c.isalnum() else "_" for c in self.gpus[0].name.lower())[:40]
        return ("compute.cpu", f"compute.gpu:{self.count}", f"compute.gpu_mem_mib:{mem}",
                f"compute.gpu_name:{name}")


def _load() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    module: ModuleType = pynvml
    return module


def _error_class(nvml: Any, name: str) -> type[BaseException]:
    cls = getattr(nvml, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else _Never


class _Never(Exception):
    pass


def probe(nvml: Any = None) -> GpuFacts:
    """Read every GPU's facts; see the module doc for what never raises."""
    nvml = nvml if nvml is not None else _load()
    if nvml is None:
        return GpuFacts(False, "no_library")
    base = _error_class(nvml, "NVMLError")
    no_driver = (_error_class(nvml, "NVMLError_LibraryNotFound"),
                 _error_class(nvml, "NVMLError_DriverNotLoaded"))
    not_supported = _error_class(nvml, "NVMLError_NotSupported")
    try:
        nvml.nvmlInit()
    except no_driver:
        return GpuFacts(False, "no_driver")
    except base as e:
        return GpuFacts(False, f"nvml_error: {e}")
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = tuple(_one(nvml, i, base, not_supported)
                     for i in range(nvml.nvmlDeviceGetCount()))
    except base as e:
        return GpuFacts(False, f"nvml_error: {e}")
    finally:
        with contextlib.suppress(base):
            nvml.nvmlShutdown()
    return GpuFacts(True, "ok", driver, gpus)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _one(nvml: Any, index: int, base: type[BaseException],
         not_supported: type[BaseException]) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    errors: list[str] = []

    def read(what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except not_supported:
            return None
        except base as e:
            errors.append(f"{what}: {e}")
            return None

    mem = read("memory", lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    util = read("utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
    power_mw = read("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle))
    energy_mj = read("energy", lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    name = read("name", lambda: nvml.nvmlDeviceGetName(handle))
    return Gpu(
        index=index, name=_text(name) if name is not None else "unknown",
        memory_total_mib=mem.total // 2**20 if mem is not None else None,
        memory_used_mib=mem.used // 2**20 if mem is not None else None,
        utilization_pct=int(util.gpu) if util is not None else None,
        power_w=power_mw / 1000 if power_mw is not None else None,
        energy_kwh=energy_mj / 3.6e9 if energy_mj is not None else None,
        errors=tuple(errors))
