"""Harvest results staged on disk between harvesting and publishing.

    staging/<source>/<run_id>/series.arrow, collections.arrow, meta.json

Staging lets the publish step run (or be approved) separately from the harvest: a result
held by a check waits here until an operator approves it or a newer run replaces it. The
series are written batch by batch from the (memory-mapped) harvested table and read back
memory-mapped, so staging holds no second copy of them in the process's memory.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa

from imaging_hub.config import Settings
from imaging_hub.errors import StoreError
from imaging_hub.indexers.base import HarvestResult, Scope, SeriesScope, StudyDateWindow
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.store.arrowio import read_arrow, write_arrow

KEEP_STAGED = 3
SERIES_FILE = "series.arrow"


def _dir(settings: Settings, source: str) -> Path:
    return settings.home / "staging" / source


def stage(settings: Settings, result: HarvestResult, source_type: str) -> Path:
    """Write ``result`` under staging/<source>/<run_id>/; returns that folder
    (``staged_series`` reads its series back)."""
    rep = result.report
    folder = _dir(settings, rep.source) / rep.run_id
    folder.mkdir(parents=True, exist_ok=True)
    write_arrow(result.series, folder / SERIES_FILE)  # chunk by chunk: no combined copy
    write_arrow(result.collections, folder / "collections.arrow")
    meta = {"report": rep.model_dump(mode="json"), "source_type": source_type,
            "link_params": result.link_params, "scope": _scope_json(result.scope),
            "min_count": result.min_count}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    for old in sorted(_dir(settings, rep.source).iterdir())[:-KEEP_STAGED]:
        if old.name != rep.run_id:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def load(settings: Settings, source: str, run_id: str | None = None,
         ) -> tuple[HarvestResult, str]:
    """A staged result (the newest when ``run_id`` is None) and its source type.

    Raises ``StoreError`` when there is none.
    """
    base = _dir(settings, source)
    runs = sorted(p for p in base.iterdir() if (p / "meta.json").exists()) \
        if base.exists() else []
    if run_id is not None:
        runs = [p for p in runs if p.name == run_id]
    if not runs:
        raise StoreError(f"no staged harvest of {source}"
                         + (f" with run id {run_id}" if run_id else ""))
    folder = runs[-1]
    meta = json.loads((folder / "meta.json").read_text())
    window = _scope_of(meta["scope"])
    result = HarvestResult(
        series=staged_series(folder),
        collections=read_arrow(folder / "collections.arrow"),
        report=HarvestReport.model_validate(meta["report"]), scope=window,
        link_params=meta["link_params"], min_count=meta.get("min_count"))
    return result, str(meta["source_type"])


def staged_series(folder: Path) -> pa.Table:
    """The series staged in ``folder``, memory-mapped (file-backed, not heap)."""
    return read_arrow(folder / SERIES_FILE)


def _scope_json(scope: Scope | None) -> object:
    if isinstance(scope, SeriesScope):
        return {"series_uids": sorted(scope.series_uids)}
    if scope is None:
        return None
    return [scope.start.isoformat() if scope.start else None,
            scope.end.isoformat() if scope.end else None]


def _scope_of(data: object) -> Scope | None:
    if isinstance(data, dict):
        return SeriesScope(frozenset(data["series_uids"]))
    if isinstance(data, list):
        return StudyDateWindow(date.fromisoformat(data[0]) if data[0] else None,
                               date.fromisoformat(data[1]) if data[1] else None)
    return None


def discard(settings: Settings, source: str, run_id: str) -> None:
    shutil.rmtree(_dir(settings, source) / run_id, ignore_errors=True)
