"""Release manifests: the files of a release as a Merkle root (DESIGN §4, issue 10).

A manifest lists a release's files, each ``{path, size, blake3}`` (POSIX path
relative to the install root, byte size, hex BLAKE3 of the contents), sorted
by path. Its **root** is a Merkle tree over those entries, shaped like RFC
6962's (leaf = BLAKE3(0x00 ‖ JCS(entry)), node = BLAKE3(0x01 ‖ left ‖ right),
split at the largest power of two below n), so a leaf can never pass for a
node and one file can later be proven against the root alone.

The root is what a node calls its **code hash**: ``installed_code_hash``
builds the manifest of this node's own installed package at start and the
peer record carries it. ``policy.release.published`` events (``trust_events``)
publish signed manifests; ``hartnode trust manifest build DIR`` makes one.

Bytes compiled at run time (``__pycache__``, ``*.pyc``) differ between Python
versions and are left out. A symlink or a special file in an install is an
error, not skipped: it would make two installs with the same root behave
differently.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

from hartnode.canonical import canonical_bytes

MAX_FILES = 400  # entries per manifest: its JSON stays well under the 64 KiB event bound
MAX_FILE_BYTES = 16 * 1024 * 1024  # one release file
MAX_PATH_CHARS = 200
_PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


class ManifestError(ValueError):
    """A manifest or an install is unusable; ``reason`` names why.

    Reasons: ``bad_path``, ``bad_field``, ``too_many_files``, ``too_large``,
    ``duplicate_path``, ``not_sorted``, ``empty``, ``not_regular_file``,
    ``unreadable``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def is_release_path(path: object) -> bool:
    """True for a relative POSIX path whose every part is a plain name."""
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH_CHARS:
        return False
    return all(_PATH_PART.fullmatch(part) for part in path.split("/"))


@dataclass(frozen=True, slots=True)
class ManifestFile:
    path: str
    size: int
    blake3: str  # hex

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "blake3": self.blake3}

    def leaf(self) -> bytes:
        return blake3.blake3(b"\x00" + canonical_bytes(self.to_json())).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962-shaped Merkle root of leaf hashes (n >= 1)."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    left, right = merkle_root(leaves[:split]), merkle_root(leaves[split:])
    return blake3.blake3(b"\x01" + left + right).digest()


@dataclass(frozen=True, slots=True)
class Manifest:
    """A release: version and files, sorted by path. ``root`` is the code hash."""

    version: str
    files: tuple[ManifestFile, ...]
    _root: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not _VERSION.fullmatch(self.version):
            raise ManifestError("bad_field", "version")
        if not self.files:
            raise ManifestError("empty", "a release has at least one file")
        if len(self.files) > MAX_FILES:
            raise ManifestError("too_many_files", f"{len(self.files)} > {MAX_FILES}")
        previous = ""
        for f in self.files:
            if not is_release_path(f.path):
                raise ManifestError("bad_path", repr(f.path)[:120])
            if type(f.size) is not int or not 0 <= f.size <= MAX_FILE_BYTES:
                raise ManifestError("bad_field", f"{f.path}: size")
            if not isinstance(f.blake3, str) or not _HEX32.fullmatch(f.blake3):
                raise ManifestError("bad_field", f"{f.path}: blake3")
            if f.path == previous:
                raise ManifestError("duplicate_path", f.path)
            if f.path < previous:
                raise ManifestError("not_sorted", f.path)
            previous = f.path
        object.__setattr__(self, "_root", merkle_root([f.leaf() for f in self.files]))

    @property
    def root(self) -> bytes:
        """32-byte Merkle root: the release's code hash."""
        return self._root

    @property
    def root_hex(self) -> str:
        return self.root.hex()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """The manifest as published: version, root, files (what the event payload holds)."""
        return {"version": self.version, "root": self.root_hex,
                "files": [f.to_json() for f in self.files]}

    @classmethod
    def from_json(cls, obj: Any) -> Manifest:
        """Decode a published manifest; its ``root`` must match the files.

        Raises:
            ManifestError: a field is missing or wrong, or the root does not match.
        """
        if type(obj) is not dict or obj.keys() != {"version", "root", "files"}:
            raise ManifestError("bad_field", "expected exactly version, root, files")
        files = obj["files"]
        if type(files) is not list:
            raise ManifestError("bad_field", "files")
        if len(files) > MAX_FILES:
            raise ManifestError("too_many_files", f"{len(files)} > {MAX_FILES}")
        entries = []
        for item in files:
            if type(item) is not dict or item.keys() != {"path", "size", "blake3"}:
                raise ManifestError("bad_field", "a file entry needs exactly path, size, blake3")
            entries.append(ManifestFile(item["path"], item["size"], item["blake3"]))
        manifest = cls(obj["version"], tuple(entries))
        if manifest.root_hex != obj["root"]:
            raise ManifestError("bad_field", "root does not match the files")
        return manifest


def _walk(root: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        base = Path(dirpath)
        for d in dirnames:
            if (base / d).is_symlink():
                raise ManifestError("not_regular_file", str(base / d))
        for name in sorted(filenames):
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            full = base / name
            yield full.relative_to(root).as_posix(), full


def build_manifest(root: Path, version: str, *, prefix: str = "") -> Manifest:
    """The manifest of every file under ``root`` (paths prefixed with ``prefix``).

    Raises:
        ManifestError: a path is not a plain name, a file is a symlink or
            special file, too large, unreadable, or there are too many.
    """
    entries = []
    for rel, full in _walk(root):
        path = f"{prefix}{rel}"
        if not is_release_path(path):
            raise ManifestError("bad_path", path[:120])
        try:
            st = full.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise ManifestError("not_regular_file", path)
            if st.st_size > MAX_FILE_BYTES:
                raise ManifestError("too_large", f"{path}: {st.st_size} bytes")
            data = full.read_bytes()
        except OSError as e:
            raise ManifestError("unreadable", f"{path}: {e.strerror}") from e
        entries.append(ManifestFile(path, len(data), blake3.blake3(data).hexdigest()))
        if len(entries) > MAX_FILES:
            raise ManifestError("too_many_files", f"more than {MAX_FILES} under {root}")
    entries.sort(key=lambda f: f.path)
    return Manifest(version, tuple(entries))


def package_dir() -> Path:
    """Where this node's own code is installed (the ``hartnode`` package)."""
    return Path(__file__).resolve().parent.parent


def installed_manifest(install_dir: Path | None = None, version: str | None = None) -> Manifest:
    """The manifest of this node's installed package: paths start with ``hartnode/``."""
    from hartnode import __version__

    return build_manifest(install_dir or package_dir(), version or __version__, prefix="hartnode/")


class ReleaseBytes:
    """Reads ranges of a release's files from an install directory.

    ``root`` is the directory the manifest's paths are relative to (for an
    installed package, the directory above ``hartnode/``).
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest

    def read(self, index: int, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of file ``index``; fewer where the file is short.

        Raises:
            OSError: the file is missing or unreadable (the caller's own error).
        """
        with open(self.root / self.manifest.files[index].path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def mismatches(self) -> list[str]:
        """Paths whose installed bytes differ from the manifest (or are missing)."""
        bad = []
        for f in self.manifest.files:
            try:
                data = (self.root / f.path).read_bytes()
            except OSError:
                bad.append(f.path)
                continue
            if len(data) != f.size or blake3.blake3(data).hexdigest() != f.blake3:
                bad.append(f.path)
        return bad


class MemoryRelease:
    """A release held in memory (the simulator's and the tests' ``ReleaseBytes``)."""

    def __init__(self, version: str, files: dict[str, bytes]) -> None:
        self.contents = dict(files)
        self.manifest = Manifest(version, tuple(sorted(
            (ManifestFile(p, len(d), blake3.blake3(d).hexdigest()) for p, d in files.items()),
            key=lambda f: f.path)))
        self._by_index = [self.contents[f.path] for f in self.manifest.files]

    def read(self, index: int, offset: int, length: int) -> bytes:
        return self._by_index[index][offset:offset + length]

    def modified(self, changes: dict[str, bytes]) -> MemoryRelease:
        """A copy whose ``changes`` replace some files' bytes (an altered install).

        Its ``manifest`` is of the altered bytes, but ``read`` keeps the
        original file order so the same ranges can be asked of it."""
        altered = MemoryRelease(self.manifest.version, {**self.contents, **changes})
        altered._by_index = [altered.contents[f.path] for f in self.manifest.files]
        return altered
