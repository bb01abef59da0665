"""Signing key files: the offline master key, and issuer keys such as a node's node.key.

Both are the same format as the data directory's ``node.key``: the 32-byte
Ed25519 seed, raw, in a file of mode 0600. The master key is the trust anchor
of the whole network (DESIGN §3): whoever holds it can certify a central node.
So it is created apart from any node (``keys master-init PATH``, ideally on an
offline machine or removable medium), is never overwritten, and is refused
when others can read it. Only its public key goes into node configs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from hartnode.errors import HintedError
from hartnode.identity import NodeIdentity

SEED_LEN: Final = 32
# Files whose presence marks a hartnode data directory (see hartnode.datadir).
DATA_DIR_MARKERS: Final = ("node.key", "ledger.sqlite")


class KeyFileError(HintedError):
    """A key file cannot be created or used; ``hint`` says what to do."""


def enclosing_data_dir(path: Path) -> Path | None:
    """The node data directory ``path`` would sit in (its folder or any above), or None."""
    for folder in path.absolute().parents:
        if any((folder / marker).exists() for marker in DATA_DIR_MARKERS):
            return folder
    return None


def create_master_key(path: Path) -> NodeIdentity:
    """Generate a master key and write its seed to a new file, mode 0600, durably.

    Args:
        path: the new file; its folder must exist and must not be (inside) a
            node data directory, where backups and daemons would spread it.

    Raises:
        KeyFileError: inside a data directory, the file exists, or cannot be written.
    """
    path = Path(path).expanduser()
    home = enclosing_data_dir(path)
    if home is not None:
        raise KeyFileError(
            f"{path} is inside the node data directory {home}",
            "keep the master key apart from every node: write it to an offline "
            "machine or removable medium")
    if not path.parent.is_dir():
        raise KeyFileError(f"folder {path.parent} does not exist", "create it first")
    identity = NodeIdentity.generate()
    try:
        # O_EXCL: never replace an existing key (losing a master key is final);
        # O_NOFOLLOW: never write through a planted symlink.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists",
                           "a master key is never overwritten; choose another path") from None
    except OSError as e:
        raise KeyFileError(f"cannot create {path}: {e}", "check the path and permissions") from e
    try:
        os.fchmod(fd, 0o600)  # the umask may have narrowed it; never widen past 0600
        os.write(fd, identity.seed)
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write {path}: {e}", "check free space and the medium") from e
    os.close(fd)
    fsync_dir(path.parent)
    return identity


def load_signing_key(path: Path, *, what: str = "key") -> NodeIdentity:
    """Read a 32-byte seed file (a master key or a node.key); refuse one others can read.

    Args:
        path: the key file.
        what: how to name it in messages ("master key", "issuer key").

    Raises:
        KeyFileError: missing, not a regular file, too open, or not 32 bytes.
    """
    path = Path(path).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist", "check the path") from None
    except OSError as e:
        raise KeyFileError(f"cannot open {what} {path}: {e}", "check permissions") from e
    try:
        st = os.fstat(fd)  # of the opened file, so a swap after the check cannot fool us
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{what} {path} is not a regular file", "check the path")
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{what} {path} is accessible by others (mode {stat.S_IMODE(st.st_mode):o})",
                f"run `chmod 600 {path}`, and consider the key exposed if others could read it")
        seed = os.read(fd, SEED_LEN + 1)
    except OSError as e:
        raise KeyFileError(f"cannot read {what} {path}: {e}", "check permissions") from e
    finally:
        os.close(fd)
    if len(seed) != SEED_LEN:
        raise KeyFileError(f"{what} {path} is not a {SEED_LEN}-byte Ed25519 seed",
                           "pass the master key file or a node's node.key")
    return NodeIdentity.from_seed(seed)


def fsync_dir(folder: Path) -> None:
    """Make a new directory entry durable (best effort where the OS refuses)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
