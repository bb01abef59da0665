"""The web UI's files ship with the package (issue #13): a non-editable ``pip install .``
installs only what pyproject's package-data names, so every file under static/ must match it,
and every module a page imports must exist."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from hartnode.apps.web.ui import STATIC_DIR

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = STATIC_DIR.parents[2]  # hartnode/


def test_every_static_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["hartnode"]
    files = [p.relative_to(PACKAGE).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert files, "no static files"
    missing = [f for f in files if not any(fnmatch(f, g) for g in globs)]
    assert missing == [], f"add these to [tool.setuptools.package-data]: {missing}"


def test_every_imported_module_exists_and_nothing_comes_from_the_network() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.suffix not in (".js", ".html", ".css"):
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path
        for target in re.findall(r'(?:from|src=|href=)\s*"(/static/[^"]+)"', text):
            assert (STATIC_DIR / target.removeprefix("/static/")).is_file(), (path, target)
