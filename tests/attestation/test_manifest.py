"""Release manifests: the Merkle root, building from a directory, strict decoding."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hartnode.attestation.manifest import (
    Manifest,
    ManifestError,
    ManifestFile,
    ReleaseBytes,
    build_manifest,
    installed_manifest,
    merkle_root,
)


def tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "a.py").write_bytes(b"print('a')\n")
    (root / "pkg" / "sub" / "b.py").write_bytes(b"b" * 10_000)
    (root / "pkg" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"compiled")
    return root


def test_a_manifest_from_a_directory_and_its_root(tmp_path: Path) -> None:
    m = build_manifest(tree(tmp_path), "1.2.3")
    assert [f.path for f in m.files] == ["pkg/a.py", "pkg/sub/b.py"]  # no compiled bytes
    assert m.root == merkle_root([f.leaf() for f in m.files])
    assert Manifest.from_json(m.to_json()) == m
    (tmp_path / "pkg" / "a.py").write_bytes(b"print('A')\n")
    changed = build_manifest(tmp_path, "1.2.3")
    assert changed.root != m.root
    reader = ReleaseBytes(tmp_path, m)
    assert reader.mismatches() == ["pkg/a.py"]
    assert reader.read(1, 9_990, 100) == b"b" * 10


def test_leaves_and_nodes_cannot_be_confused() -> None:
    files = tuple(ManifestFile(f"f{i}", i, f"{i:064x}") for i in range(5))
    m = Manifest("1", files)
    assert m.root != merkle_root([f.leaf() for f in files[:4]])
    assert len({Manifest("1", files[:n]).root for n in range(1, 6)}) == 5


def test_a_symlink_in_an_install_is_an_error(tmp_path: Path) -> None:
    tree(tmp_path)
    os.symlink(tmp_path / "pkg" / "a.py", tmp_path / "pkg" / "link.py")
    with pytest.raises(ManifestError) as e:
        build_manifest(tmp_path, "1")
    assert e.value.reason == "not_regular_file"


@pytest.mark.parametrize("obj, reason", [
    ({"version": "1", "root": "00" * 32, "files": []}, "empty"),
    ({"version": "1", "root": "00" * 32,
      "files": [{"path": "../etc/passwd", "size": 1, "blake3": "00" * 32}]}, "bad_path"),
    ({"version": "1", "root": "00" * 32,
      "files": [{"path": "b", "size": 1, "blake3": "00" * 32},
                {"path": "a", "size": 1, "blake3": "00" * 32}]}, "not_sorted"),
    ({"version": "1", "root": "00" * 32,
      "files": [{"path": "a", "size": 1, "blake3": "00" * 32}]}, "bad_field"),  # wrong root
    ({"version": "1", "files": []}, "bad_field"),
])
def test_a_bad_published_manifest_is_refused(obj: object, reason: str) -> None:
    with pytest.raises(ManifestError) as e:
        Manifest.from_json(obj)
    assert e.value.reason == reason


def test_the_installed_package_has_a_code_hash() -> None:
    m = installed_manifest()
    assert all(f.path.startswith("hartnode/") for f in m.files)
    assert "hartnode/attestation/manifest.py" in {f.path for f in m.files}
    assert len(m.root_hex) == 64


def test_the_cli_builds_the_same_manifest_as_the_node(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from hartnode.cli import main

    pkg = tree(tmp_path) / "pkg"
    assert main(["trust", "manifest", "build", str(pkg), "--version", "2.0.0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert Manifest.from_json(printed) == build_manifest(pkg, "2.0.0", prefix="pkg/")
    assert printed["files"][0]["path"] == "pkg/a.py"
    assert installed_manifest(pkg, "2.0.0").root != Manifest.from_json(printed).root  # prefix
