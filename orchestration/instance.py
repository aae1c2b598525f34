"""The Dagster instance imaging-hub runs with: state under ``$IHUB_HOME/dagster`` (SQLite),
or PostgreSQL when ``IHUB_DAGSTER_POSTGRES_URL`` is set (see deploy/README.md); run
monitoring on, so a run whose process died is marked failed instead of staying "started"."""

from __future__ import annotations

import os
from pathlib import Path

SQLITE = """\
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
telemetry:
  enabled: false
"""

POSTGRES = SQLITE + """\
storage:
  postgres:
    postgres_url:
      env: IHUB_DAGSTER_POSTGRES_URL
"""


def write_instance_yaml(dagster_home: str | Path) -> Path:
    """Write ``dagster.yaml`` into ``dagster_home`` (kept if the operator wrote their own)."""
    path = Path(dagster_home) / "dagster.yaml"
    if path.exists() and "# managed by imaging-hub" not in path.read_text():
        return path
    body = POSTGRES if os.environ.get("IHUB_DAGSTER_POSTGRES_URL") else SQLITE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# managed by imaging-hub (delete this line to keep your edits)\n" + body)
    return path
