"""Every unmapped value of a run, kept beside its report for curators.

    runs/<run_id>.unmapped.json   {"source", "run_id", "vocabularies", "fields":
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
from imaging_hub.runs import last_runs


def _path(settings: Settings, run_id: str) -> Path:
    return settings.runs_dir / f"{run_id}.unmapped.json"


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
    runs = sorted((p for p in settings.runs_dir.glob("*.json")
                   if not p.name.endswith(".unmapped.json")), reverse=True) \
        if settings.runs_dir.exists() else []
    status = {r.run_id: r.status for r in last_runs(settings).values()}
    seen: set[str] = set()
    out: list[Unmapped] = []
    for report in runs:
        listing = _path(settings, report.stem)
        if not listing.exists():
            continue
        data = json.loads(listing.read_text())
        src = str(data["source"])
        if src in seen or (source is not None and src != source):
            continue
        seen.add(src)
        for field, values in sorted(data["fields"].items()):
            out += [Unmapped(src, report.stem, status.get(report.stem, "earlier"), field,
                             str(v), int(n)) for v, n in values]
    return out
