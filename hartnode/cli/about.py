"""``hartnode version`` and ``hartnode id``: what this install and this node are,
offline (no daemon needed)."""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

from hartnode import __version__
from hartnode import config as config_mod
from hartnode.cli.base import EXIT_OK, Parents, Subparsers, data_dir, print_json, require_init
from hartnode.datadir import DataDir


def add_parser(sub: Subparsers, parents: Parents) -> None:
    version = sub.add_parser("version", help="print the versions of hartnode, Python, SQLite")
    version.add_argument("--json", action="store_true", help="one JSON object")
    version.set_defaults(handler=cmd_version)
    ident = sub.add_parser("id", parents=[parents.data], help="this node's id, tier and "
                           "addresses (offline: no daemon needed)")
    ident.add_argument("--json", action="store_true", help="one JSON object")
    ident.set_defaults(handler=cmd_id)


def cmd_version(args: argparse.Namespace) -> int:
    import apsw

    info = {"hartnode": __version__, "python": platform.python_version(),
            "sqlite": apsw.sqlitelibversion(), "apsw": apsw.apswversion()}
    if args.json:
        print_json(info)
    else:
        print(f"hartnode {info['hartnode']}\nPython   {info['python']} "
              f"({platform.python_implementation()})\nSQLite   {info['sqlite']} "
              f"(apsw {info['apsw']})")
    return EXIT_OK


def _standing(dd: DataDir, cfg: config_mod.Config, node_id: str) -> dict[str, Any]:
    """What the installed chain proves against the pinned master key, and the
    standing the daemon would take: the same calls as ``node.build_gossip`` and
    ``node.hierarchy_settings``, offline."""
    from hartnode.attestation.certificate import (
        CertificateError,
        effective_tier,
        parse_chain_file,
    )
    from hartnode.attestation.revocation import RevocationError, parse_revocation_file
    from hartnode.datadir import CHAIN_FILE
    from hartnode.node import REVOCATIONS_FILE, tier_standing

    master = bytes.fromhex(cfg.trust.master_key) if cfg.trust.master_key else None
    chain_file, revocations_file = dd.path / CHAIN_FILE, dd.path / REVOCATIONS_FILE
    problems: list[str] = []
    chain: tuple[tuple[bytes, bytes], ...] = ()
    if chain_file.exists():
        try:
            chain = tuple(link.to_wire() for link in parse_chain_file(chain_file.read_bytes()))
        except (CertificateError, OSError) as e:
            problems.append(f"{chain_file} is unreadable ({e}): `hartnode run` refuses it")
    revocations = None
    if master is not None and revocations_file.exists():
        try:
            revocations = parse_revocation_file(revocations_file.read_bytes(),
                                                master_public_key=master).revocations
        except (RevocationError, OSError) as e:
            problems.append(f"{revocations_file} is unusable ({e}): `hartnode run` refuses it")
    proven, proven_region, error = "flat", "", ""
    if master is not None and chain:
        verified, chain_error = effective_tier(
            chain, master_public_key=master, now_ms=time.time_ns() // 1_000_000,
            revocations=revocations, presenter_node_id=node_id)
        proven, proven_region = verified.tier, verified.region
        error = chain_error.reason if chain_error else ""
    tier, region, warnings = tier_standing(
        cfg.node.tier, chain_installed=chain_file.exists(), master_pinned=master is not None,
        proven=proven, proven_region=proven_region, error=error)
    return {"tier": tier, "region": region, "proven_tier": proven,
            "claimed_tier": cfg.node.tier, "warnings": problems + warnings}


def cmd_id(args: argparse.Namespace) -> int:
    from hartnode.gossip.service import advertised_addrs
    from hartnode.identity import short_id

    dd = data_dir(args)
    require_init(dd)
    cfg = dd.load_config()
    node_id = dd.load_identity().node_id
    host, port = config_mod.parse_hostport(cfg.network.listen, "network.listen")
    info: dict[str, Any] = {
        "node_id": node_id, "short_id": short_id(node_id), "network": cfg.network.name,
        **_standing(dd, cfg, node_id), "listen": cfg.network.listen,
        "advertise": list(advertised_addrs(cfg.network.advertise, host, port)),
        "api": cfg.api.listen, "data_dir": str(dd.path)}
    if args.json:
        print_json(info)
        return EXIT_OK
    region = f" / {info['region']}" if info["region"] else ""
    print(f"node      {node_id}\nshort id  {info['short_id']}\nnetwork   {info['network']}\n"
          f"tier      {info['tier']}{region} (proven: {info['proven_tier']}, "
          f"claimed: {info['claimed_tier']})\nlisten    {info['listen']}\n"
          f"advertise {' '.join(info['advertise']) or '(none: dialled by no one, behind NAT)'}"
          f"\napi       {info['api']}\ndata dir  {info['data_dir']}")
    for text in info["warnings"]:
        print(f"warning   {text}")
    return EXIT_OK
