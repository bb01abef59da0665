"""The data directory: where a node keeps its key, token, config and databases.

    <data dir>/
      node.key        Ed25519 seed, 32 raw bytes, mode 0600
      api.token       bearer token of the local API, mode 0600
      hartnode.toml   the operator's settings (non-default keys only), never rewritten
      ledger.sqlite   the signed event ledger (+ -wal, -shm)
      state.sqlite    the views (+ -wal, -shm)
      daemon.lock     held (flock) by the running daemon

Location: ``--data-dir`` > ``$HARTNODE_DATA_DIR`` > ``$XDG_DATA_HOME/hartnode``
> ``~/.local/share/hartnode`` (issue #2).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hartnode import config as config_mod
from hartnode.errors import HintedError
from hartnode.files import write_private
from hartnode.identity import NodeIdentity

KEY_FILE = "node.key"
TOKEN_FILE = "api.token"
LOCK_FILE = "daemon.lock"
DATABASE_FILES = ("ledger.sqlite", "state.sqlite")
CHAIN_FILE = "cert.chain.json"  # the installed certificate chain (``hartnode cert install``)
# What `kb backup` copies beside the databases, and `kb restore` puts back:
# the identity, the API token, the settings, the certificate chain and the
# revocation list (node.REVOCATIONS_FILE).
BACKUP_FILES = (KEY_FILE, TOKEN_FILE, config_mod.CONFIG_FILE, CHAIN_FILE, "revocations.json")


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
        self.check_usable(create=True)
        self.refuse_orphan_ledger()
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            identity = NodeIdentity.generate()
            write_private(self.key_path, identity.seed)
            if not self.token_path.exists():
                write_private(self.token_path, secrets.token_urlsafe(32).encode() + b"\n")
            if not self.config_path.exists():  # the operator's file is never overwritten
                header = "# hartnode settings; see config/hartnode.toml for every key and its doc\n"
                write_private(self.config_path, (
                    header + config_mod.render_toml(settings, only_changed=True)).encode())
            self.create_databases()
        except OSError as e:
            raise DataDirError(f"cannot create {self.path}: {e}", "check permissions") from e
        return identity

    def check_usable(self, *, create: bool = False) -> None:
        """Refuse a path that is not a directory this process can use.

        ``create``: a missing directory is fine (it will be made), as long as
        its nearest existing ancestor is a directory.

        Raises:
            DataDirError: a file where the directory should be, or no access.
        """
        path = self.path
        if not path.exists():
            if not create:
                raise DataDirError(f"{path} does not exist",
                                   "run `hartnode init` first, or pass --data-dir")
            parent = path.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            if not parent.is_dir():
                raise DataDirError(f"cannot create {path}: {parent} is not a directory",
                                   "choose another --data-dir (or $HARTNODE_DATA_DIR)")
            return
        if not path.is_dir():
            raise DataDirError(f"{path} is not a directory",
                               "point --data-dir (or $HARTNODE_DATA_DIR) at the node's directory")
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataDirError(f"cannot read {path}: permission denied",
                               "run as the user that owns it (e.g. `sudo -u hartnode ...`)")

    def refuse_orphan_ledger(self) -> None:
        """Refuse to make a new key beside a ledger: that ledger holds another
        node's feed (a backup restored without its ``node.key``), and a new
        identity would start a second feed on top of it.

        Raises:
            DataDirError: ``ledger.sqlite`` exists but ``node.key`` does not.
        """
        if not self.exists() and (self.path / DATABASE_FILES[0]).exists():
            raise DataDirError(
                f"{self.path} holds a ledger but no {KEY_FILE}: starting would make a new node "
                "on top of the old node's feed",
                f"restore {KEY_FILE} from your backup (mode 0600), or restore the whole backup "
                "with `hartnode kb restore SRC`")

    def create_databases(self) -> None:
        """Create missing (empty) database files with mode 0600, whatever the umask;
        SQLite gives the -wal and -shm files the same mode."""
        for name in DATABASE_FILES:
            with contextlib.suppress(FileExistsError):
                write_private(self.path / name, b"")

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
        """Read ``api.token``; refuse one others can read, like the key.

        Raises:
            DataDirError: missing, unreadable, empty, or too open.
        """
        try:
            st = self.token_path.stat()
            token = self.token_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise DataDirError(f"cannot read {self.token_path}: {e}",
                               "run `hartnode init` or check permissions") from e
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DataDirError(
                f"{self.token_path} is readable by others (mode {stat.S_IMODE(st.st_mode):o})",
                f"run `chmod 600 {self.token_path}`",
            )
        if not token:
            raise DataDirError(f"{self.token_path} is empty",
                               "restore it from your backup, or write a new random token")
        return token

    def load_config(self, environ: Mapping[str, str] | None = None) -> config_mod.Config:
        """The config layers; a data dir that is a file or unreadable is a DataDirError."""
        if self.path.exists():
            self.check_usable()
        try:
            return config_mod.load(self.config_path, environ)
        except OSError as e:
            raise DataDirError(f"cannot read {self.config_path}: {e}",
                               "check the path and its permissions") from e

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
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise DataDirError(f"cannot open {path}: {e}",
                               "check the data directory's path and permissions") from e
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
