"""Freshness: flag (and re-run) sources whose last good harvest is older than allowed."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from imaging_hub.orchestration.assets import asset_name
from imaging_hub.orchestration.resources import IhubResource
from imaging_hub.sources import max_age


def job_name(source: str) -> str:
    return f"harvest_{asset_name(source)}"


def freshness_sensor(jobs: Sequence[Any]) -> dg.SensorDefinition:
    """The freshness sensor, able to start any source's harvest job."""
    return dg.sensor(
        name="source_freshness", minimum_interval_seconds=600, jobs=list(jobs),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests a harvest of every source whose last good harvest is older "
                    "than its max_age_hours (or that was never published).",
    )(source_freshness)


def source_freshness(context: dg.SensorEvaluationContext,
                     ihub: IhubResource) -> dg.SensorResult | dg.SkipReason:
    now = datetime.now(UTC)
    published = {s.source: s for s in ihub.store().sources().sources}
    requests, fresh = [], []
    for source, cfg in ihub.sources().items():
        pub = published.get(source)
        age_h = None if pub is None else (
            now - datetime.fromisoformat(pub.harvested_at)).total_seconds() / 3600
        if age_h is not None and age_h <= max_age(cfg):
            fresh.append(source)
            continue
        why = "never published" if age_h is None else f"{age_h:.1f} h old > {max_age(cfg):g} h"
        context.log.warning(f"{source} is stale: {why}")
        requests.append(dg.RunRequest(
            job_name=job_name(source),
            run_key=f"stale-{source}-{pub.run_id if pub else 'never'}",
            tags={"ihub/reason": "stale", "ihub/source": source, "ihub/why": why}))
    if not requests:
        return dg.SkipReason(f"all fresh: {', '.join(fresh) or 'no sources'}")
    return dg.SensorResult(run_requests=requests)
