"""On-disk layout of the embedded index under ``$IHUB_HOME/index``.

    index/
      CURRENT                 name of the generation being served (replaced atomically)
      .publish.lock           serialises publishers (flock)
      gen-<time>-<rand>/      one immutable generation
        series.arrow          Arrow IPC file, one row per (source, series), sorted, with
                              dictionary-encoded keyword columns and dense _codes
        collections.arrow     one row per (source, collection)
        manifest.json         generation id, per-source version / run / counts / rejects

A generation is written to ``.tmp-<name>``, fsynced, renamed into place and only then named
in CURRENT, so readers see the old generation or the new one, never a half-written one.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CURRENT = "CURRENT"
SERIES_FILE = "series.arrow"
COLLECTIONS_FILE = "collections.arrow"
MANIFEST_FILE = "manifest.json"
KEEP_GENERATIONS = 2
# bumped when the files of a generation change shape; an older generation is refused with
# a clear message and rebuilt by the next publish (which reads it as files, tolerantly)
LAYOUT_VERSION = 2  # the served one and its predecessor (open cursors, quick rollback)


def new_generation_name() -> str:
    return f"gen-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(2)}"


def current_name(index_dir: Path) -> str | None:
    """The generation CURRENT names, or ``None`` when nothing has been published."""
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    return name or None


def read_manifest(gen_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((gen_dir / MANIFEST_FILE).read_text())
    return result


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_generation(index_dir: Path, tmp_dir: Path, name: str) -> Path:
    """Move a fully written ``tmp_dir`` into place and point CURRENT at it atomically."""
    for f in tmp_dir.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    final = index_dir / name
    os.rename(tmp_dir, final)
    _fsync_dir(index_dir)
    pointer = index_dir / f".{CURRENT}.{secrets.token_hex(3)}"
    pointer.write_text(name + "\n")
    with open(pointer, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / CURRENT)
    _fsync_dir(index_dir)
    return final


def collect_garbage(index_dir: Path, keep: int = KEEP_GENERATIONS) -> list[str]:
    """Remove leftovers of crashed publishes and all but the newest ``keep`` generations
    (never the one CURRENT names). Returns the names removed."""
    served = current_name(index_dir)
    removed = []
    for tmp in index_dir.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp.name)
    gens = sorted((p for p in index_dir.glob("gen-*") if p.is_dir()), reverse=True)
    for old in [g for g in gens if g.name != served][max(keep - 1, 0):]:
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old.name)
    return removed


@contextmanager
def publish_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock so two publishers never build on the same CURRENT."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".publish.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
