"""Every unmapped value of a run, kept beside its report for curators.

    runs/unmapped/<run_id>.json   {"source", "run_id", "vocabularies", "fields":
                                   {field: [[value, records], ...]}}   (most frequent first)

The run report keeps only counts and the most frequent values; ``ihub vocab unmapped`` reads
these files (the newest run of each source that has one).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from imaging_hub.config import Settings
from imaging_hub.runs import load_report
from imaging_hub.schemas.report import HarvestReport


def _path(settings: Settings, run_id: str) -> Path:
    return settings.runs_dir / "unmapped" / f"{run_id}.json"  # apart: reports are runs/*.json


def save(settings: Settings, source: str, run_id: str, vocabularies: str,
         fields: dict[str, list[tuple[str, int]]]) -> None:
    """Write a run's unmapped values atomically."""
    path = _path(settings, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"source": source, "run_id": run_id,
                               "vocabularies": vocabularies,
                               "fields": {f: [[v, n] for v, n in values]
                                          for f, values in fields.items()}}, indent=1))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Unmapped:
    """One unmapped value of a source's latest harmonised run."""

    source: str
    run_id: str
    status: str
    field: str
    value: str
    records: int


def latest(settings: Settings, source: str | None = None) -> list[Unmapped]:
    """Unmapped values of the newest run of each source (or of ``source``) that has a list,
    field by field, most frequent first."""
    newest: dict[str, tuple[HarvestReport, Path]] = {}
    if settings.runs_dir.exists():
        for listing in (settings.runs_dir / "unmapped").glob("*.json"):
            report = load_report(settings.runs_dir / listing.name)
            if report is None or (source is not None and report.source != source):
                continue
            kept = newest.get(report.source)
            if kept is None or report.started_at > kept[0].started_at:
                newest[report.source] = (report, listing)
    out: list[Unmapped] = []
    for name, (report, listing) in sorted(newest.items()):
        data = json.loads(listing.read_text())
        for field, values in sorted(data["fields"].items()):
            out += [Unmapped(name, report.run_id, report.status, field, str(v), int(n))
                    for v, n in values]
    return out
