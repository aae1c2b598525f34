"""Harvest runs, shared by the CLI and the Dagster assets: plan → harvest → stage → check →
publish, with every run's report recorded whatever happens.

* **plan**: full or incremental (a date window from the source's cursor, with a day of
  overlap; a full reconciling pass every ``full_every_days``) for source types that support
  windows (the registry says which; the type decides what the dates mean).
* **check**: a record-count drop above the source's ``max_drop_pct`` against what is
  published *holds* the run: it stays staged, the published records keep answering, and an
  operator approves it (``ihub approve``) or a later run replaces it.
* **publish**: atomic, per source (``store.publish``); the cursor advances only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from imaging_hub import staging
from imaging_hub.config import Settings
from imaging_hub.errors import IhubError, NoIndexError
from imaging_hub.indexers import vocab
from imaging_hub.indexers.base import (
    HarvestResult,
    ProgressFn,
    StudyDateWindow,
    new_run_id,
    no_progress,
)
from imaging_hub.indexers.vocab import unmapped as vocab_unmapped
from imaging_hub.runs import Cursor, find_run, save_report
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.source_types import WindowedConfig, source_type
from imaging_hub.sources import SourceConfig, build_indexer
from imaging_hub.store.factory import open_store
from imaging_hub.store.merge import Published

OVERLAP = timedelta(days=1)


class HeldForApproval(IhubError):
    """A harvest's record count dropped too far; it is staged, not published."""

    def __init__(self, report: HarvestReport) -> None:
        super().__init__(report.error or "held")
        self.report = report


@dataclass(frozen=True)
class Plan:
    window: StudyDateWindow | None
    full: bool


def plan(settings: Settings, name: str, config: SourceConfig,
         now: datetime | None = None) -> Plan:
    """Full or incremental, from the source's cursor, for the types that support windows
    (``SourceType.windows``; their configuration is a ``WindowedConfig``)."""
    if not source_type(config.type).windows or not isinstance(config, WindowedConfig):
        return Plan(None, True)
    now = now or datetime.now(UTC)
    cursor = Cursor.load(settings, name)
    due = cursor.last_full is None or now - cursor.last_full >= timedelta(
        days=config.full_every_days)
    if due or cursor.watermark is None:
        return Plan(None, True)
    start = cursor.watermark - OVERLAP
    if config.incremental_days:  # re-read at least the last N days (late corrections)
        start = min(start, now.date() - timedelta(days=config.incremental_days))
    return Plan(StudyDateWindow(start=start), False)


def drop_problem(settings: Settings, result: HarvestResult, max_drop_pct: float) -> str | None:
    """Why ``result`` must be held (too few records against what is published), or None."""
    try:
        before = open_store(settings).published_count(result.report.source, result.scope)
    except NoIndexError:
        return None
    after = result.series.num_rows
    if before == 0 or after >= before:
        return None
    drop = 100.0 * (before - after) / before
    if drop <= max_drop_pct:
        return None
    return (f"record count dropped {drop:.1f}% ({before:,} published → {after:,} harvested), "
            f"over the source's max_drop_pct {max_drop_pct:g}%")


def harvest_and_stage(
    settings: Settings, name: str, config: SourceConfig,
    collections: Sequence[str] | None = None, progress: ProgressFn = no_progress,
    window: StudyDateWindow | None = None, full: bool | None = None,
) -> HarvestResult:
    """Run the source's indexer, harmonise its vocabularies (``indexers/vocab``: the one
    place every source's harmonised fields are computed, unmapped values counted in the
    report and listed in ``runs/unmapped/<run_id>.json``) and stage the result. The run's
    report is 'running' while it works and 'failed' if it raises (the error is re-raised).
    Every step streams its table batch by batch into a memory-mapped file, so memory does not
    grow with the number of series; the series returned are the staged file's."""
    if window is None and full is None:
        chosen = plan(settings, name, config)
        window, full = chosen.window, chosen.full
    run_id = new_run_id(name)
    started = datetime.now(UTC)
    save_report(settings, HarvestReport(source=name, run_id=run_id, source_version="pending",
                                        started_at=started, status="running"))
    try:
        vocabularies = vocab.load(settings.home)  # a bad override file fails the run early
        indexer = build_indexer(name, config, collections, window=None if full else window)
        result = indexer.harvest(run_id, progress)
        progress(f"{name}: harmonising vocabularies", 0, 1)
        result, unmapped = vocab.harmonise_result(result, vocabularies)
        vocab_unmapped.save(settings, name, run_id, vocabularies.digest, unmapped)
        result.min_count = config.min_count
        folder = staging.stage(settings, result, config.type)
    except IhubError as exc:
        save_report(settings, HarvestReport(
            source=name, run_id=run_id, source_version="unknown", started_at=started,
            finished_at=datetime.now(UTC), status="failed", error=str(exc)))
        raise
    report = result.report.model_copy(update={"status": "staged"})
    save_report(settings, report)
    return HarvestResult(series=staging.staged_series(folder),  # memory-mapped, not heap
                         collections=result.collections, report=report,
                         scope=result.scope, link_params=result.link_params,
                         min_count=result.min_count)


def hold(settings: Settings, result: HarvestResult, problem: str) -> HarvestReport:
    report = result.report.model_copy(update={"status": "held", "error": problem,
                                              "finished_at": datetime.now(UTC)})
    save_report(settings, report)
    return report


def publish_staged(settings: Settings, name: str, run_id: str | None = None,
                   progress: ProgressFn = no_progress) -> Published:
    """Publish a staged run (the newest when ``run_id`` is None); advance the cursor."""
    result, source_type = staging.load(settings, name, run_id)
    progress(f"{name}: publishing", 0, 1)
    try:
        published = open_store(settings).publish(result, source_type)
    except IhubError as exc:
        save_report(settings, result.report.model_copy(update={
            "status": "failed", "error": str(exc), "finished_at": datetime.now(UTC)}))
        raise
    save_report(settings, published.report)
    cursor = Cursor.load(settings, name)
    cursor.advanced(result.report.started_at, full=result.scope is None).save(settings, name)
    staging.discard(settings, name, result.report.run_id)
    progress(f"{name}: published", 1, 1)
    return published


def run_harvest(
    settings: Settings, name: str, config: SourceConfig,
    collections: Sequence[str] | None = None, progress: ProgressFn = no_progress,
    window: StudyDateWindow | None = None, full: bool | None = None,
    allow_drop: bool = False,
) -> HarvestReport:
    """Harvest, check and publish one source (the CLI's path; Dagster runs the same steps
    as separate assets). Raises the ``IhubError`` that stopped the run, or
    ``HeldForApproval`` when the drop check held it; the served index is untouched then."""
    result = harvest_and_stage(settings, name, config, collections, progress, window, full)
    problem = None if allow_drop else drop_problem(settings, result, config.max_drop_pct)
    if problem:
        raise HeldForApproval(hold(settings, result, problem))
    return publish_staged(settings, name, result.report.run_id, progress).report


def approve(settings: Settings, name: str, run_id: str | None = None) -> HarvestReport:
    """Publish a held run (the newest staged one by default) despite its check."""
    if run_id is not None and find_run(settings, run_id) is None:
        raise IhubError(f"no run {run_id}")
    return publish_staged(settings, name, run_id).report
