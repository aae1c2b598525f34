"""The Dagster code location: ``dagster dev -m imaging_hub.orchestration.definitions`` or
``ihub orchestrate``.

Thin by design: the factory in ``assets.py`` makes one pair of assets per source configured
in ``$IHUB_HOME/sources.toml``; each source gets a job and a schedule (its ``schedule`` or
the default of its type); one sensor watches freshness. Configuration is read when Dagster
loads the code location (``@dg.definitions``), not at import time.
"""

from __future__ import annotations

import os

import dagster as dg

from imaging_hub.config import Settings
from imaging_hub.orchestration.assets import asset_name, source_assets
from imaging_hub.orchestration.resources import IhubResource
from imaging_hub.orchestration.sensors import freshness_sensor, job_name
from imaging_hub.sources import SourceConfig, load_sources, schedule_of


def build(sources: dict[str, SourceConfig], ihub: IhubResource) -> dg.Definitions:
    """Definitions for ``sources`` (exposed for tests, which pass their own)."""
    assets: list[dg.AssetsDefinition] = []
    jobs, schedules = [], []
    for source, cfg in sources.items():
        pair = source_assets(source, cfg)
        assets += pair
        name = asset_name(source)
        job = dg.define_asset_job(
            job_name(source), selection=dg.AssetSelection.assets(*pair),
            description=f"Harvest, check and publish '{source}'.",
            tags={"ihub/source": source})
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(
            name=f"{name}_schedule", job=job, cron_schedule=schedule_of(cfg),
            default_status=dg.DefaultScheduleStatus.RUNNING, execution_timezone="UTC",
            description=f"Scheduled harvest of '{source}'."))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules,
                          sensors=[freshness_sensor(jobs)], resources={"ihub": ihub})


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster: sources from ``$IHUB_HOME/sources.toml`` (default: IDC alone)."""
    settings = Settings.from_env(dict(os.environ))
    ihub = IhubResource(home=dg.EnvVar("IHUB_HOME")) if os.environ.get("IHUB_HOME") \
        else IhubResource(home=str(settings.home))
    return build(load_sources(settings.sources_file), ihub)
