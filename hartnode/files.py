"""Private files, written whole and durably: the one helper every writer of the data dir uses.

Below ``config`` and ``datadir`` in the layers (it imports nothing of
hartnode), so the ledger's maintenance (backups, restores) and the operator's
commands can write files without importing the data directory's module, and
``config`` can import the overlay's profile table without a package cycle.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

PRIVATE_MODE = 0o600
# Every file the daemon writes is created with these: a symlink or file
# planted under the name makes the open fail instead of redirecting the write.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_private(path: Path, data: bytes | Path, *, mode: int = PRIVATE_MODE) -> None:
    """Write ``data`` (bytes, or a file's contents, streamed) to a new file
    (mode 0600 by default, whatever the umask), durably.

    O_EXCL|O_NOFOLLOW: an existing file or a planted symlink makes it fail
    (FileExistsError, or OSError ELOOP) instead of writing through it.
    """
    fd = os.open(path, _CREATE_FLAGS, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits off
        if isinstance(data, Path):
            with data.open("rb") as src, os.fdopen(os.dup(fd), "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def replace_private(path: Path, data: bytes | Path, *, mode: int = PRIVATE_MODE) -> None:
    """Replace ``path`` atomically with ``data``: readers see the old file or the new.

    The temporary file is ``<name>.tmp`` beside it (``revocations.json.tmp``), created with
    :func:`write_private` (O_EXCL|O_NOFOLLOW). A leftover one from a crash,
    or a symlink planted there, is unlinked (the link itself, never its
    target) and the create tried once more.
    """
    tmp = path.with_name(path.name + ".tmp")  # per target: two files never share one
    try:
        write_private(tmp, data, mode=mode)
    except OSError as e:
        if not isinstance(e, FileExistsError) and e.errno != errno.ELOOP:
            raise
        tmp.unlink(missing_ok=True)
        write_private(tmp, data, mode=mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
