"""One pair of assets per configured source, made by a factory:

    harvest/<source>   harvest and stage; check ``record_count_drop`` (blocking)
    index/<source>     publish the staged harvest into the served index

A failed drop check blocks ``index/<source>`` in that run: the harvest is *held* and the
published records keep answering. An operator approves it by materialising
``index/<source>`` with ``approve_held: true`` (or ``ihub approve``).
"""


import re
from datetime import date
from typing import Any

import dagster as dg

from imaging_hub import staging
from imaging_hub.harvest import drop_problem, harvest_and_stage, hold, publish_staged
from imaging_hub.indexers.base import StudyDateWindow
from imaging_hub.orchestration.resources import IhubResource
from imaging_hub.runs import find_run
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.sources import SourceConfig

DROP_CHECK = "record_count_drop"


def asset_name(source: str) -> str:
    """A Dagster-safe name for a source (letters, digits, underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", source)


class HarvestConfig(dg.Config):  # type: ignore[misc]
    full: bool | None = None  # None: as planned from the cursor
    since: str | None = None  # YYYY-MM-DD: incremental StudyDate window (DICOMweb)
    until: str | None = None
    collections: list[str] = []  # IDC: only these collections


class PublishConfig(dg.Config):  # type: ignore[misc]
    approve_held: bool = False  # publish a harvest the drop check held
    run_id: str | None = None  # which staged run (default: the newest)


def _report_metadata(report: HarvestReport) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "run_id": report.run_id, "source_version": report.source_version,
        "read": report.read, "series": report.series, "collections": report.collections,
        "rejected": dg.MetadataValue.json(report.rejected),
        "rejected_total": sum(report.rejected.values()),
        "warnings": dg.MetadataValue.json(report.warnings),
        "scope": report.scope or "full",
    }
    for key in ("added", "updated", "unchanged", "deleted"):
        value = getattr(report, key)
        if value is not None:
            meta[key] = value
    return meta


def source_assets(source: str, source_config: SourceConfig) -> list[dg.AssetsDefinition]:
    """The harvest and index assets of one source."""
    name = asset_name(source)
    harvest_key = dg.AssetKey(["harvest", name])

    @dg.asset(
        key=harvest_key, group_name="harvest", kinds={source_config.type},
        description=f"Harvest '{source}' ({source_config.type}) and stage the records.",
        check_specs=[dg.AssetCheckSpec(
            DROP_CHECK, asset=harvest_key, blocking=True,
            description=f"Hold the publish if the record count drops more than "
                        f"{source_config.max_drop_pct:g}% against what is published.")],
    )
    def harvest(context: dg.AssetExecutionContext, config: HarvestConfig,
                ihub: IhubResource) -> dg.MaterializeResult:
        settings = ihub.settings()
        cfg = ihub.sources()[source]
        window = None
        if config.since or config.until:
            window = StudyDateWindow(
                date.fromisoformat(config.since) if config.since else None,
                date.fromisoformat(config.until) if config.until else None)
        result = harvest_and_stage(
            settings, source, cfg, config.collections or None,
            progress=lambda stage, done, total: context.log.debug(f"{stage} {done}/{total}"),
            window=window, full=config.full if window is None else False)
        problem = drop_problem(settings, result, cfg.max_drop_pct)
        report = hold(settings, result, problem) if problem else result.report
        if problem:
            context.log.warning(f"{source}: held: {problem}")
        return dg.MaterializeResult(
            metadata=_report_metadata(report),
            check_results=[dg.AssetCheckResult(
                check_name=DROP_CHECK, passed=problem is None,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"problem": problem or "none", "harvested": report.series})])

    @dg.asset(
        key=dg.AssetKey(["index", name]), group_name="index", deps=[harvest_key],
        kinds={"index"},
        description=f"'{source}' as published in the served index (atomic, per source).",
    )
    def index(context: dg.AssetExecutionContext, config: PublishConfig,
              ihub: IhubResource) -> dg.MaterializeResult:
        settings = ihub.settings()
        staged, _type = staging.load(settings, source, config.run_id)
        run = find_run(settings, staged.report.run_id)
        if run is not None and run.status == "held" and not config.approve_held:
            raise dg.Failure(
                description=f"{source}: run {run.run_id} is held: {run.error}. Materialise "
                            f"again with approve_held: true to publish it anyway.")
        published = publish_staged(settings, source, staged.report.run_id)
        report, generation = published.report, published.generation
        context.log.info(f"{source}: published run {report.run_id} as {generation}")
        return dg.MaterializeResult(metadata={**_report_metadata(report),
                                              "generation": generation,
                                              "harvested_at": report.started_at.isoformat()})

    return [harvest, index]
