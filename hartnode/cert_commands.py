"""The operator's certificate commands, one function per CLI verb (DESIGN §3 "Hierarchy").

A CLI module beside ``cli`` (not in ``attestation``, whose certificates and
revocation lists are pure and sit below gossip): it reads and writes the data
directory and its config, which stand above the overlay's profile table.

    hartnode keys master-init PATH                      -> master_init
    hartnode cert issue ...                             -> cert_issue
    hartnode cert install CHAIN [--data-dir]            -> cert_install
    hartnode cert show [CHAIN | --data-dir]             -> cert_show
    hartnode cert revoke --master-key K --list L ...    -> cert_revoke

Each takes plain arguments (paths, strings, ints) and returns a
``CommandOutput``: ``text`` for people, ``data`` (JSON-ready) for ``--json``.
Each failure is one ``CommandError`` with a message and a hint; ``usage`` is
True when the arguments were wrong (exit 2 in the CLI), False when a check or
the file system failed (exit 1). ``now_ms`` parameters exist for tests; the
CLI leaves them None (the wall clock).

Files: ``cert.chain.json`` (chain file, see ``certificate``), the revocation
file (see ``revocation``), key files (32-byte seed, mode 0600, see
``master_key``). Chain and revocation files are public and written 0644.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from hartnode import config as config_mod
from hartnode.attestation import master_key
from hartnode.attestation.certificate import (
    ALL_REGIONS,
    MASTER_PATH_LEN,
    MAX_CHAIN_FILE_BYTES,
    TIER_MAX_PATH_LEN,
    TIERS,
    CertificateError,
    ChainError,
    SignedCertificate,
    VerifiedTier,
    chain_file_bytes,
    is_capability,
    is_region,
    is_serial,
    issue_certificate,
    parse_chain_file,
    verify_chain,
)
from hartnode.attestation.revocation import (
    MAX_REVOCATION_FILE_BYTES,
    RevocationError,
    RevocationList,
    SignedRevocationList,
    parse_revocation_file,
    revocation_file_bytes,
    sign_revocations,
)
from hartnode.datadir import CHAIN_FILE, KEY_FILE, DataDir, DataDirError
from hartnode.errors import HintedError
from hartnode.files import replace_private, write_private
from hartnode.identity import NodeIdentity, is_node_id

DAY_MS: Final = 86_400_000
# A new certificate starts a little in the past, so a subject whose clock runs
# a few minutes behind the issuer's does not see it as not yet valid.
BACKDATE_MS: Final = 5 * 60_000
MAX_VALID_DAYS: Final = 36_500

_CHAIN_HINTS: Final = {
    "empty": "the chain file holds no certificate",
    "too_long": "a chain is at most master -> central -> regional -> local",
    "malformed": "the chain file is damaged; ask the issuer for a fresh copy",
    "wrong_issuer": "the chain was not issued from this master key, or its links are out "
                    "of order (link 0 must be the one the master signed)",
    "bad_signature": "the chain was altered or damaged; ask the issuer for a fresh copy",
    "not_yet_valid": "check this machine's clock, or wait until the certificate starts",
    "expired": "ask the issuer for a new certificate",
    "window_not_nested": "a certificate must end before its issuer's does",
    "tier_not_below": "an issuer may only certify tiers below its own "
                      "(central > regional > local; a local issues nothing)",
    "region_widened": "issue for the issuer's own region (any region only from a \"*\" central)",
    "capabilities_widened": "grant only capabilities the issuer holds",
    "path_len": "the issuer's path_len does not allow a chain this deep",
    "revoked_serial": "this certificate was revoked; ask the issuer for a new one",
    "revoked_subject": "this key was revoked; create a new node key and have it certified",
    "presenter_mismatch": "the chain certifies another node; check the subject and data dir",
}


@dataclass(frozen=True)
class CommandOutput:
    """What a command prints: ``text`` for people, ``data`` for ``--json``."""

    text: str
    data: dict[str, Any]


class CommandError(HintedError):
    """A command failed: what went wrong, what to do, and whether it was bad usage."""

    def __init__(self, message: str, hint: str, *, usage: bool = False) -> None:
        super().__init__(message, hint)
        self.usage = usage


DEFAULT_VALID_DAYS = 365


def _now(now_ms: int | None) -> int:
    return time.time_ns() // 1_000_000 if now_ms is None else now_ms


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms"


def _chain_error(e: ChainError, what: str) -> CommandError:
    return CommandError(f"{what}: {e}", _CHAIN_HINTS.get(e.reason, "see the message"))


def _master_key_bytes(master_public_key: str) -> bytes:
    value = master_public_key.strip().lower()
    if not is_node_id(value):
        raise CommandError(f"master public key {master_public_key!r} is not 64 hex digits",
                           "pass the key `hartnode keys master-init` printed", usage=True)
    return bytes.fromhex(value)


def _read(path: Path, limit: int, what: str) -> bytes:
    """Read at most ``limit`` + 1 bytes, so an oversize file fails the decoder's limit."""
    try:
        with path.open("rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        raise CommandError(f"{what} {path} does not exist", "check the path",
                           usage=True) from None
    except OSError as e:
        raise CommandError(f"cannot read {what} {path}: {e}", "check permissions") from e


def _write(path: Path, data: bytes, *, replace: bool) -> None:
    """Write a public file (0644) durably: new only, or replaced atomically
    (through the data dir's one O_EXCL|O_NOFOLLOW helper: no planted symlink
    redirects the write)."""
    try:
        if replace:
            # rename() is atomic: readers see the old file or the new one, never half.
            replace_private(path, data, mode=0o644)
        else:
            write_private(path, data, mode=0o644)
    except FileExistsError:
        raise CommandError(f"{path} already exists", "choose another output path or "
                           "remove the old file", usage=True) from None
    except OSError as e:
        raise CommandError(f"cannot write {path}: {e}", "check the path, free space and "
                           "permissions") from e
    master_key.fsync_dir(path.parent)


def read_chain(path: str | Path) -> tuple[SignedCertificate, ...]:
    """Read a chain file, or ``cert.chain.json`` when ``path`` is a directory.

    Raises:
        CommandError: missing, unreadable, or not a chain file.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / CHAIN_FILE
    try:
        return parse_chain_file(_read(p, MAX_CHAIN_FILE_BYTES, "chain file"))
    except CertificateError as e:
        raise CommandError(f"{p} is not a valid chain file: {e}",
                           "ask the issuer for a fresh copy") from e


def read_revocations(path: str | Path, master_public_key: bytes) -> SignedRevocationList:
    """Read a revocation file and check that the pinned master signed it.

    Raises:
        CommandError: missing, unreadable, malformed, or signed by another key.
    """
    p = Path(path).expanduser()
    try:
        return parse_revocation_file(_read(p, MAX_REVOCATION_FILE_BYTES, "revocation list"),
                                     master_public_key=master_public_key)
    except RevocationError as e:
        hint = ("it was not signed by this master key" if e.reason == "bad_signature"
                else "the file is damaged; fetch a fresh copy")
        raise CommandError(f"{p} is not a valid revocation list: {e}", hint) from e


def _key(path: str | Path, what: str) -> NodeIdentity:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / KEY_FILE  # a data directory: its node.key
    try:
        return master_key.load_signing_key(p, what=what)
    except master_key.KeyFileError as e:
        raise CommandError(e.message, e.hint) from e


def _describe(tier: VerifiedTier) -> dict[str, Any]:
    return {"node_id": tier.node_id, "tier": tier.tier, "region": tier.region,
            "capabilities": list(tier.capabilities), "not_after_ms": tier.not_after_ms,
            "serials": list(tier.serials)}


def master_init(path: str | Path) -> CommandOutput:
    """``keys master-init PATH``: create the offline master key file (mode 0600).

    Returns:
        ``data["master_public_key"]``: the hex public key to pin in every node's config.

    Raises:
        CommandError: inside a node data directory, the file exists, or I/O failed.
    """
    p = Path(path).expanduser()
    try:
        identity = master_key.create_master_key(p)
    except master_key.KeyFileError as e:
        raise CommandError(e.message, e.hint, usage=True) from e
    text = (f"master key written to {p} (mode 0600)\n"
            f"master public key: {identity.node_id}\n"
            "pin the public key in every node's config; keep the key file offline "
            "and backed up: it cannot be replaced without re-certifying every node")
    return CommandOutput(text, {"path": str(p), "master_public_key": identity.node_id})


def cert_issue(issuer_key_path: str | Path, issuer_chain_path: str | Path | None,
               subject_node_id: str, tier: str, region: str, valid_days: int | None,
               capabilities: Sequence[str], path_len: int | None, out_path: str | Path,
               serial: str | None = None, *, master_public_key: str | None = None,
               now_ms: int | None = None) -> CommandOutput:
    """``cert issue``: certify ``subject_node_id`` and write the new chain file.

    Args:
        issuer_key_path: the master key file (no issuer chain), or the issuing
            node's key (its node.key, or its data directory).
        issuer_chain_path: None when the master issues; else the issuer's own
            chain file (or its data directory, for cert.chain.json).
        subject_node_id: the node id (hex public key) being certified.
        tier, region, capabilities: what the certificate grants (module doc of
            ``certificate``); capabilities are sorted and de-duplicated.
        valid_days: from now; must end within the issuer's own validity. None:
            DEFAULT_VALID_DAYS, cut short to end with the issuer's certificate.
        path_len: None for the most the issuer and tier allow.
        out_path: the new chain file (the issuer's chain plus this link); never
            overwritten.
        serial: None for 128 random bits.
        master_public_key: the pinned master key (hex) to check against; None
            trusts the one the issuer's chain names.

    Raises:
        CommandError: bad arguments, an issuer that may not grant this, or I/O.
    """
    subject = subject_node_id.strip().lower()
    if not is_node_id(subject):
        raise CommandError(f"subject {subject_node_id!r} is not a node id",
                           "pass the 64-hex-digit id `hartnode status` shows", usage=True)
    if tier not in TIERS:
        raise CommandError(f"tier {tier!r} is unknown", f"use one of {', '.join(TIERS)}",
                           usage=True)
    if not is_region(region) or (region == ALL_REGIONS and tier != "central"):
        raise CommandError(f"region {region!r} is invalid for tier {tier}",
                           'a region name like "eu-west"; "*" (all) only for central',
                           usage=True)
    if valid_days is not None and (
            type(valid_days) is not int or not 1 <= valid_days <= MAX_VALID_DAYS):
        raise CommandError(f"valid days {valid_days!r} is out of range",
                           f"use 1 to {MAX_VALID_DAYS}", usage=True)
    if isinstance(capabilities, str):  # a lone string would iterate as letters
        raise CommandError("capabilities must be a list of names", 'e.g. ["sync"]', usage=True)
    bad_caps = [c for c in capabilities if not is_capability(c)]
    if bad_caps:
        raise CommandError(f"invalid capability names: {', '.join(map(repr, bad_caps))}",
                           "use lowercase letters, digits and . _ : -", usage=True)
    if serial is not None and not is_serial(serial):
        raise CommandError(f"serial {serial!r} is invalid", "use 32 lowercase hex digits",
                           usage=True)
    now = _now(now_ms)
    issuer = _key(issuer_key_path, "issuer key")
    pinned = None if master_public_key is None else _master_key_bytes(master_public_key)

    issuer_chain: tuple[SignedCertificate, ...] = ()
    window, issuer_path_len = (0, now + MAX_VALID_DAYS * DAY_MS), MASTER_PATH_LEN
    if issuer_chain_path is None:
        if pinned is not None and pinned != issuer.public_key:
            raise CommandError("the issuer key is not the pinned master key",
                               "pass the issuer's chain file too", usage=True)
        master = issuer.public_key
    else:
        issuer_chain = read_chain(issuer_chain_path)
        master = pinned or bytes.fromhex(issuer_chain[0].cert.issuer)
        try:
            verify_chain(issuer_chain, master_public_key=master, now_ms=now,
                               revocations=None, presenter_node_id=issuer.node_id)
        except ChainError as e:
            raise _chain_error(e, "the issuer's own chain is not valid") from e
        last = issuer_chain[-1].cert
        if last.path_len == 0:
            raise CommandError(f"the issuer's {last.tier} certificate has path_len 0: it "
                               "may not issue certificates",
                               "ask an issuer higher in the hierarchy", usage=True)
        window, issuer_path_len = (last.not_before, last.not_after), last.path_len

    if path_len is None:
        path_len = max(0, min(TIER_MAX_PATH_LEN[tier], issuer_path_len - 1))
    not_before = max(now - BACKDATE_MS, window[0])
    if valid_days is None:
        not_after = min(now + DEFAULT_VALID_DAYS * DAY_MS, window[1])
    else:
        not_after = now + valid_days * DAY_MS
    if not_after > window[1] or not_after <= now:
        left = (window[1] - now) // DAY_MS
        raise CommandError(f"{valid_days} days would outlast the issuer's own certificate, "
                           f"which ends {_iso(window[1])}",
                           f"use --valid-days {left} or less, or renew the issuer first"
                           if left >= 1 else "renew the issuer's certificate first",
                           usage=True)
    try:
        link = issue_certificate(
            issuer, serial=serial or secrets.token_hex(16), subject=subject, tier=tier,
            region=region, not_before=not_before, not_after=not_after, path_len=path_len,
            capabilities=capabilities)
    except CertificateError as e:
        raise CommandError(f"cannot issue this certificate: {e}", "check the arguments",
                           usage=True) from e
    chain = (*issuer_chain, link)
    # The issuer's limits are whatever a verifier will enforce: verify the result.
    try:
        granted = verify_chain(chain, master_public_key=master, now_ms=now, revocations=None,
                               presenter_node_id=subject)
    except ChainError as e:
        err = _chain_error(e, "the issuer may not grant this certificate")
        raise CommandError(err.message, err.hint, usage=True) from e
    out = Path(out_path).expanduser()
    _write(out, chain_file_bytes(chain), replace=False)
    c = link.cert
    text = (f"issued {c.tier} certificate {c.serial}\n"
            f"  subject  {c.subject}\n  region   {c.region}\n"
            f"  valid    {_iso(c.not_before)} .. {_iso(c.not_after)}\n"
            f"  path_len {c.path_len}\n  caps     {', '.join(c.capabilities) or '-'}\n"
            f"chain of {len(chain)} written to {out}\n"
            f"install it on the subject with: hartnode cert install {out}")
    return CommandOutput(text, {"path": str(out), "serial": c.serial,
                                "certificate": c.to_json(), "granted": _describe(granted)})


def cert_install(data_dir: str | Path, chain_path: str | Path, master_public_key: str,
                 revocations_path: str | Path | None = None, *,
                 now_ms: int | None = None) -> CommandOutput:
    """``cert install``: verify a chain for this node and copy it to ``cert.chain.json``.

    The node's own key (node.key) gives the presenter; an existing chain is
    replaced atomically (renewal).

    Raises:
        CommandError: no node here, a chain that does not verify for this node,
            a bad revocation list, or I/O.
    """
    master = _master_key_bytes(master_public_key)
    dd = DataDir(Path(data_dir).expanduser())
    try:
        identity = dd.load_identity()
    except DataDirError as e:
        raise CommandError(e.message, e.hint) from e
    chain = read_chain(chain_path)
    revocations = (None if revocations_path is None
                   else read_revocations(revocations_path, master).revocations)
    try:
        granted = verify_chain(chain, master_public_key=master, now_ms=_now(now_ms),
                               revocations=revocations, presenter_node_id=identity.node_id)
    except ChainError as e:
        raise _chain_error(e, "the chain does not verify for this node") from e
    target = dd.path / CHAIN_FILE
    _write(target, chain_file_bytes(chain), replace=True)
    notes = _config_notes(dd, granted)
    text = (f"installed {target}\nthis node is {granted.tier} for region {granted.region} "
            f"until {_iso(granted.not_after_ms or 0)}\n"
            f"capabilities: {', '.join(granted.capabilities) or '-'}"
            + "".join(f"\nnote: {n}" for n in notes))
    return CommandOutput(text, {"path": str(target), "granted": _describe(granted),
                                "notes": notes})


def _config_notes(dd: DataDir, granted: VerifiedTier) -> list[str]:
    """Where the node's config claims something other than the chain grants."""
    try:
        cfg = dd.load_config()
    except config_mod.ConfigError as e:
        return [f"could not read the node's config to compare: {e}"]
    notes = []
    if cfg.node.tier != granted.tier:
        notes.append(f'config says node.tier = "{cfg.node.tier}"; set it to "{granted.tier}"')
    if granted.region != ALL_REGIONS and cfg.node.region != granted.region:
        notes.append(f'config says node.region = "{cfg.node.region}"; '
                     f'set it to "{granted.region}"')
    return notes


def cert_show(path_or_data_dir: str | Path, master_public_key: str | None = None,
              revocations_path: str | Path | None = None, *,
              now_ms: int | None = None) -> CommandOutput:
    """``cert show``: describe a chain file (or a data directory's installed chain).

    With ``master_public_key`` the chain is also verified (presenter: its last
    subject). ``data["valid"]`` is None when not checked, else a bool; the CLI
    should exit 1 when it is False. A data directory without a chain is flat,
    which is not an error.

    Raises:
        CommandError: unreadable or malformed files, a bad master key argument.
    """
    p = Path(path_or_data_dir).expanduser()
    if p.is_dir() and not (p / CHAIN_FILE).exists():
        return CommandOutput(f"no certificate chain in {p}: the node is flat",
                             {"path": str(p / CHAIN_FILE), "chain": [], "valid": None,
                              "granted": None, "error": None})
    chain = read_chain(p)
    lines = []
    for i, link in enumerate(chain):
        c = link.cert
        lines.append(f"link {i}: {c.tier} certificate {c.serial}\n"
                     f"  subject  {c.subject}\n  issuer   {c.issuer}\n"
                     f"  region   {c.region}\n"
                     f"  valid    {_iso(c.not_before)} .. {_iso(c.not_after)}\n"
                     f"  path_len {c.path_len}\n  caps     {', '.join(c.capabilities) or '-'}")
    data: dict[str, Any] = {
        "path": str(p / CHAIN_FILE if p.is_dir() else p),
        "chain": [{"cert": link.cert.to_json(), "sig": link.signature.hex()}
                  for link in chain],
        "valid": None, "granted": None, "error": None}
    if master_public_key is not None:
        master = _master_key_bytes(master_public_key)
        revocations = (None if revocations_path is None
                       else read_revocations(revocations_path, master).revocations)
        try:
            granted = verify_chain(chain, master_public_key=master, now_ms=_now(now_ms),
                                   revocations=revocations,
                                   presenter_node_id=chain[-1].cert.subject)
        except ChainError as e:
            data.update(valid=False, error={"reason": e.reason, "hop_index": e.hop_index,
                                            "detail": e.detail})
            lines.append(f"NOT VALID: {e} — {_CHAIN_HINTS.get(e.reason, '')}")
        else:
            data.update(valid=True, granted=_describe(granted))
            lines.append(f"VALID: grants {granted.tier} for region {granted.region} until "
                         f"{_iso(granted.not_after_ms or 0)}")
    return CommandOutput("\n".join(lines), data)


def cert_revoke(master_key_path: str | Path, revocation_list_path: str | Path,
                serials: Sequence[str] = (), subjects: Sequence[str] = (), *,
                now_ms: int | None = None) -> CommandOutput:
    """``cert revoke``: write the next revocation list (seq + 1) with these entries added.

    Creates the list at seq 1 when the file does not exist yet; otherwise the
    file must be signed by this master key. The file is replaced atomically.

    Raises:
        CommandError: no or invalid entries, a foreign or damaged list, or I/O.
    """
    serials = [s.strip().lower() for s in serials]
    subjects = [s.strip().lower() for s in subjects]
    if not serials and not subjects:
        raise CommandError("nothing to revoke", "name at least one serial or subject",
                           usage=True)
    bad = [s for s in serials if not is_serial(s)] + [s for s in subjects if not is_node_id(s)]
    if bad:
        raise CommandError(f"invalid entries: {', '.join(map(repr, bad))}",
                           "serials are 32 hex digits, subjects 64 (a node id)", usage=True)
    master = _key(master_key_path, "master key")
    path = Path(revocation_list_path).expanduser()
    now = _now(now_ms)
    try:
        if path.exists():
            current = read_revocations(path, master.public_key).revocations
            new = current.extended(issued_ms=now, serials=serials, subjects=subjects)
        else:
            current = None
            new = RevocationList.build(seq=1, issued_ms=now, serials=serials,
                                       subjects=subjects)
    except RevocationError as e:
        raise CommandError(f"cannot build the revocation list: {e}",
                           "too many entries, or invalid ones") from e
    _write(path, revocation_file_bytes(sign_revocations(new, master)), replace=True)
    added_serials = sorted(set(new.serials) - set(current.serials if current else ()))
    added_subjects = sorted(set(new.subjects) - set(current.subjects if current else ()))
    text = (f"revocation list seq {new.seq} written to {path}: "
            f"{len(new.serials)} serials, {len(new.subjects)} subjects "
            f"({len(added_serials) + len(added_subjects)} new)\n"
            "spread it to the nodes; it replaces any list with a lower seq")
    return CommandOutput(text, {"path": str(path), "seq": new.seq,
                                "added_serials": added_serials,
                                "added_subjects": added_subjects,
                                "revocations": new.to_json()})
