"""What a peer record says about a node's compute, both ways (DESIGN §4).

A record's capabilities are short tags (lowercase ``[a-z0-9._:-]``,
``peer_record``): ``compute.cpu``, ``compute.gpu:<count>``,
``compute.gpu_mem_mib:<MiB>``, ``compute.gpu_name:<model>``,
``compute.kind:<job kind>``, ``compute.model:<model id>``,
``compute.price_msp:<milli-Spark per job>``, ``compute.policy:<policy>``.

- ``offer_capabilities``: this node's tags, for its own record;
- ``parse_offer``: a peer's tags as an ``Offer`` (the ``peer_nodes`` compute
  columns, ``peer_store``), and ``parse_capabilities``/``find_providers``: the
  providers a requester may send a job to, best first.

Pure: no I/O, so the peer store and the requester read records alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_MODELS = 8  # model tags kept in a record (the record holds 32 tags in all)


@dataclass(frozen=True)
class Offer:
    """A peer's compute as its record states it (unchecked claims: a job's
    result is checked by replication, not by believing the record)."""

    cpu: bool = False
    gpu_count: int = 0
    gpu_name: str = ""
    gpu_memory_mib: int = 0
    kinds: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    price_msp: int | None = None
    policy: str = ""


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 15 else None


def parse_offer(caps: Sequence[str]) -> Offer:
    """The compute tags of a record (others ignored; a malformed number is left out)."""
    values: dict[str, list[str]] = {}
    cpu = False
    for cap in caps:
        if cap == "compute.cpu":
            cpu = True
        elif cap.startswith("compute.") and ":" in cap:
            name, value = cap[len("compute."):].split(":", 1)
            values.setdefault(name, []).append(value)

    def one(name: str) -> str:
        return values.get(name, [""])[0]

    return Offer(cpu=cpu, gpu_count=_int(one("gpu")) or 0, gpu_name=one("gpu_name"),
                 gpu_memory_mib=_int(one("gpu_mem_mib")) or 0,
                 kinds=tuple(sorted(values.get("kind", []))),
                 models=tuple(sorted(values.get("model", []))),
                 price_msp=_int(one("price_msp")), policy=one("policy"))


def model_tag(model: str) -> str:
    """A model id as a record tag value allows: lowercase, other characters as ``_``."""
    return "".join(c if c.isalnum() or c in "._:-" else "_" for c in model.lower())[:48]


def offer_capabilities(*, price_msp: int, models: Sequence[str], backend: bool,
                       gpu_tags: Sequence[str], policy: str = "") -> tuple[str, ...]:
    """This node's compute tags for its peer record: the kinds it runs, its
    models, its price, its policy, its GPU."""
    kinds = ["compute.kind:cpu.hash_chain"] + (["compute.kind:inference.chat"] if backend else [])
    tags = [*gpu_tags, *kinds, f"compute.price_msp:{price_msp}"]
    if policy:
        tags.append(f"compute.policy:{policy}")
    tags.extend(f"compute.model:{model_tag(m)}" for m in list(models)[:MAX_MODELS])
    return tuple(sorted(set(tags))[:24])


@dataclass(frozen=True)
class Provider:
    node_id: str
    models: tuple[str, ...]
    price_msp: int
    score: float
    kinds: tuple[str, ...] = ()


def parse_capabilities(node_id: str, caps: Sequence[str], score: float) -> Provider | None:
    """A provider from its record's tags; None if it offers no job kind."""
    offer = parse_offer(caps)
    if not offer.kinds:
        return None
    return Provider(node_id, offer.models, offer.price_msp or 0, score, offer.kinds)


def find_providers(candidates: Sequence[Provider], *, model: str, limit: int, kind: str = "",
                   max_price_msp: int | None = None) -> list[Provider]:
    """Providers running ``kind`` ('' for any) of ``model`` ('' for any) at no more
    than ``max_price_msp``, best score first, then cheapest."""
    fit = [p for p in candidates
           if (not model or model_tag(model) in p.models) and (not kind or kind in p.kinds)
           and (max_price_msp is None or p.price_msp <= max_price_msp)]
    return sorted(fit, key=lambda p: (-p.score, p.price_msp, p.node_id))[:limit]
