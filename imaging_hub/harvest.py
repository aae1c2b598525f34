"""Run one source's harvest and publish it; record the run's report either way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from imaging_hub.config import Settings
from imaging_hub.errors import IhubError
from imaging_hub.indexers.base import ProgressFn, StudyDateWindow, new_run_id, no_progress
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.sources import SourceConfig, build_indexer
from imaging_hub.store.embedded import EmbeddedStore


def run_harvest(
    settings: Settings, name: str, config: SourceConfig,
    collections: Sequence[str] | None = None, progress: ProgressFn = no_progress,
    window: StudyDateWindow | None = None, full: bool = False,
) -> HarvestReport:
    """Harvest ``name`` and publish it; on failure the served index is untouched.

    ``window``/``full`` choose an incremental or a full (reconciling) run for sources that
    support it. The report (published or failed) is written to
    ``$IHUB_HOME/runs/<run_id>.json``. Raises the ``IhubError`` that stopped the run, after
    recording it.
    """
    run_id = new_run_id(name)
    started = datetime.now(UTC)
    store = EmbeddedStore(settings.index_dir)
    try:
        indexer = build_indexer(name, config, collections, window=window, full=full)
        result = indexer.harvest(run_id, progress)
        progress(f"{name}: publishing", 0, 1)
        report = store.publish(result, source_type=config.type).report
        progress(f"{name}: published", 1, 1)
    except IhubError as exc:
        report = HarvestReport(
            source=name, run_id=run_id, source_version="unknown", started_at=started,
            finished_at=datetime.now(UTC), status="failed", error=str(exc))
        _save(settings, report)
        raise
    _save(settings, report)
    return report


def _save(settings: Settings, report: HarvestReport) -> None:
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    path = settings.runs_dir / f"{report.run_id}.json"
    path.write_text(json.dumps(report.model_dump(mode="json"), indent=2))


def last_runs(settings: Settings) -> dict[str, HarvestReport]:
    """The latest run report of each source (published or failed)."""
    latest: dict[str, HarvestReport] = {}
    if not settings.runs_dir.exists():
        return latest
    for path in sorted(settings.runs_dir.glob("*.json")):
        try:
            report = HarvestReport.model_validate_json(path.read_text())
        except ValueError:
            continue
        prev = latest.get(report.source)
        if prev is None or report.started_at >= prev.started_at:
            latest[report.source] = report
    return latest
