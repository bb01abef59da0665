"""The data directory: where a node keeps its key, token, config and databases.

    <data dir>/
      node.key        Ed25519 seed, 32 raw bytes, mode 0600
      api.token       bearer token of the local API, mode 0600
      hartnode.toml   the operator's settings (non-default keys only)
      ledger.sqlite   the signed event ledger (+ -wal, -shm)
      state.sqlite    the views (+ -wal, -shm)
      daemon.lock     held (flock) by the running daemon

Location: ``--data-dir`` > ``$HARTNODE_DATA_DIR`` > ``$XDG_DATA_HOME/hartnode``
> ``~/.local/share/hartnode`` (issue #2).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hartnode import config as config_mod
from hartnode.errors import HintedError
from hartnode.identity import NodeIdentity

KEY_FILE = "node.key"
TOKEN_FILE = "api.token"
LOCK_FILE = "daemon.lock"


class DataDirError(HintedError):
    """The data directory cannot be used; ``hint`` says what to do."""


def resolve(explicit: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if env.get("HARTNODE_DATA_DIR"):
        return Path(env["HARTNODE_DATA_DIR"]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME", "~")).expanduser() / ".local" / "share"
    return base / "hartnode"


@dataclass(frozen=True)
class DataDir:
    path: Path

    @property
    def key_path(self) -> Path:
        return self.path / KEY_FILE

    @property
    def token_path(self) -> Path:
        return self.path / TOKEN_FILE

    @property
    def config_path(self) -> Path:
        return self.path / config_mod.CONFIG_FILE

    def exists(self) -> bool:
        return self.key_path.exists()

    def init(self, settings: config_mod.Config) -> NodeIdentity:
        """Create the directory, key, token and config. Refuses to overwrite a key.

        Raises:
            DataDirError: already initialised, or not writable.
        """
        if self.exists():
            raise DataDirError(
                f"{self.path} is already initialised (node.key exists)",
                "use it as it is, or choose another --data-dir",
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            identity = NodeIdentity.generate()
            _write_private(self.key_path, identity.seed)
            if not self.token_path.exists():
                _write_private(self.token_path, secrets.token_urlsafe(32).encode() + b"\n")
            header = "# hartnode settings; see config/hartnode.toml for every key and its doc\n"
            self.config_path.write_text(
                header + config_mod.render_toml(settings, only_changed=True), encoding="utf-8"
            )
        except OSError as e:
            raise DataDirError(f"cannot create {self.path}: {e}", "check permissions") from e
        return identity

    def load_identity(self) -> NodeIdentity:
        """Read ``node.key``; refuse a key others can read.

        Raises:
            DataDirError: missing, unreadable, wrong size, or too open.
        """
        try:
            st = self.key_path.stat()
            seed = self.key_path.read_bytes()
        except FileNotFoundError:
            raise DataDirError(
                f"{self.key_path} is missing", "run `hartnode init` to create a node"
            ) from None
        except OSError as e:
            raise DataDirError(f"cannot read {self.key_path}: {e}", "check permissions") from e
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DataDirError(
                f"{self.key_path} is readable by others (mode {stat.S_IMODE(st.st_mode):o})",
                f"run `chmod 600 {self.key_path}`",
            )
        if len(seed) != 32:
            raise DataDirError(
                f"{self.key_path} holds {len(seed)} bytes, not a 32-byte Ed25519 seed",
                "restore the key from your backup",
            )
        return NodeIdentity.from_seed(seed)

    def load_token(self) -> str:
        try:
            return self.token_path.read_text(encoding="ascii").strip()
        except OSError as e:
            raise DataDirError(f"cannot read {self.token_path}: {e}",
                               "run `hartnode init` or check permissions") from e

    def load_config(self, environ: Mapping[str, str] | None = None) -> config_mod.Config:
        return config_mod.load(self.config_path, environ)

    def lock(self) -> DaemonLock:
        """Take the daemon lock. Raises DataDirError when another process holds it."""
        return DaemonLock.acquire(self.path / LOCK_FILE)

    def is_locked(self) -> bool:
        """True when a running daemon holds this directory."""
        try:
            lock = DaemonLock.acquire(self.path / LOCK_FILE)
        except DataDirError:
            return True
        lock.release()
        return False


class DaemonLock:
    """An flock on ``daemon.lock``: one daemon per data directory. The kernel
    drops it when the process dies, so a SIGKILLed daemon leaves no stale lock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def acquire(cls, path: Path) -> DaemonLock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirError(
                f"{path.parent} is in use by a running hartnode daemon",
                "stop it first (`systemctl stop hartnode`), or use another --data-dir",
            ) from None
        return cls(fd)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file with mode 0600, durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
