"""Durable run bookkeeping under ``$IHUB_HOME``: one report per harvest run, and one cursor
per source.

    runs/<run_id>.json     the run's HarvestReport; status running → published | failed | held
    state/<source>.json    the source's cursor: watermark (last harvested StudyDate day) and
                           when the last full (reconciling) pass ran

A run records its process id when it starts; a run still "running" whose process is gone
(killed, machine restarted) is reported as "abandoned", so nothing stays in progress forever.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from imaging_hub.config import Settings
from imaging_hub.schemas.report import HarvestReport


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def save_report(settings: Settings, report: HarvestReport) -> None:
    """Write (or overwrite) a run's report atomically."""
    data = report.model_dump(mode="json")
    data["_pid"], data["_host"] = os.getpid(), socket.gethostname()
    _write_json(settings.runs_dir / f"{report.run_id}.json", data)


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # cannot tell from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_report(path: Path) -> HarvestReport | None:
    """A run's report; a 'running' run whose process is gone comes back 'abandoned'."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid, host = data.pop("_pid", None), data.pop("_host", "")
    try:
        report = HarvestReport.model_validate(data)
    except ValueError:
        return None
    if report.status == "running" and pid is not None and not _alive(int(pid), host):
        report = report.model_copy(update={
            "status": "abandoned",
            "error": "the harvest process ended without finishing (killed or crashed)"})
    return report


def last_runs(settings: Settings) -> dict[str, HarvestReport]:
    """The latest run of each source (by start time), whatever its status."""
    latest: dict[str, HarvestReport] = {}
    if not settings.runs_dir.exists():
        return latest
    for path in settings.runs_dir.glob("*.json"):
        report = load_report(path)
        if report is None:
            continue
        prev = latest.get(report.source)
        if prev is None or report.started_at >= prev.started_at:
            latest[report.source] = report
    return latest


def find_run(settings: Settings, run_id: str) -> HarvestReport | None:
    return load_report(settings.runs_dir / f"{run_id}.json")


@dataclass
class Cursor:
    """Where a source's incremental harvests resume."""

    watermark: date | None = None  # studies dated from here (minus overlap) are re-read
    last_full: datetime | None = None  # last reconciling pass over the whole source

    @classmethod
    def load(cls, settings: Settings, source: str) -> Cursor:
        path = settings.home / "state" / f"{source}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        return cls(
            watermark=date.fromisoformat(data["watermark"]) if data.get("watermark") else None,
            last_full=datetime.fromisoformat(data["last_full"]) if data.get("last_full")
            else None)

    def save(self, settings: Settings, source: str) -> None:
        _write_json(settings.home / "state" / f"{source}.json", asdict(self))

    def advanced(self, started: datetime, full: bool) -> Cursor:
        return Cursor(watermark=started.astimezone(UTC).date(),
                      last_full=started if full else self.last_full)
