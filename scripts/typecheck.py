"""Type-check the ``imaging_hub`` package as Python imports it: mypy over a tree of links
laid out by pyproject's ``package-dir`` mapping.

The subpackages live in top-level folders (``schemas/`` is ``imaging_hub.schemas``), which
mypy cannot map; run on those folders, it found no module ``imaging_hub.*`` and, with
``ignore_missing_imports``, took every name imported from the project as ``Any``, so no call
across modules was checked. The tree of links (``.mypy_links/``, rebuilt on every run) gives
mypy the package as installed.

    .venv/bin/python scripts/typecheck.py [mypy options]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".mypy_links"
PACKAGE = "imaging_hub"


def link_tree() -> Path:
    """``TREE/imaging_hub``: a folder of links to the root package's files, and one link per
    mapped subpackage folder."""
    mapping: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    top = TREE / PACKAGE
    top.mkdir(parents=True)
    for item in (ROOT / mapping[PACKAGE]).iterdir():
        if item.suffix == ".py":
            (top / item.name).symlink_to(item)
    for name, folder in mapping.items():
        if name == PACKAGE:
            continue
        parent, _, leaf = name.rpartition(".")
        if parent != PACKAGE:
            raise SystemExit(f"typecheck: {name} is not a direct subpackage of {PACKAGE}")
        (top / leaf).symlink_to(ROOT / folder, target_is_directory=True)
    return TREE


def main(argv: list[str]) -> int:
    tree = link_tree()
    # a cache of its own: entries written by mypy run on the folders (other module paths)
    # made this run report errors that were not there
    cache = ROOT / ".mypy_cache" / "package"
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                           str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
                           "-p", PACKAGE, *argv], cwd=tree, check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
