"""Dagster on a real PostgreSQL: the instance ``orchestration/instance.py`` writes when
``IHUB_DAGSTER_POSTGRES_URL`` is set, and the deployment's ``deploy/dagster/dagster.yaml``,
both used for real (schema migration, imaging-hub's assets materialised, runs read back from
PostgreSQL's own tables)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from pydicom.data import get_testdata_file

from imaging_hub.orchestration.definitions import build
from imaging_hub.orchestration.instance import write_instance_yaml
from imaging_hub.orchestration.resources import IhubResource
from imaging_hub.sources import load_sources
from tests.conftest import VENV_BIN
from tests.deploy.files import DEPLOY
from tests.postgres import Postgres, postgres_server

DAGSTER_SCHEME = "postgresql+psycopg2"  # what deploy/ and deploy/README.md prescribe


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


def create_database(pg: Postgres, name: str) -> str:
    """Create database ``name``; returns the URL Dagster is given for it."""
    conn = psycopg2.connect(pg.url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')  # name is the test's own literal
    conn.close()
    return pg.url(name, scheme=DAGSTER_SCHEME)


def folder_home(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), folder / name)  # type: ignore[arg-type]
    home = tmp_path / "home"
    home.mkdir()
    (home / "sources.toml").write_text(f'[sources.incoming]\ntype = "dicom_folder"\n'
                                       f'path = "{folder}"\n')
    return home


def test_instance_yaml_puts_runs_into_postgres(
    pg: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = create_database(pg, "dagster")
    dagster_home = tmp_path / "dagster"
    monkeypatch.setenv("IHUB_DAGSTER_POSTGRES_URL", url)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    written = write_instance_yaml(dagster_home).read_text()
    assert "postgres_url" in written and url not in written  # the secret stays in the env
    migrated = subprocess.run([str(VENV_BIN / "dagster"), "instance", "migrate"],
                              capture_output=True, text=True, env={**os.environ})
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    home = folder_home(tmp_path)
    ihub = IhubResource(home=str(home))
    defs = build(load_sources(home / "sources.toml"), ihub)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize(list(defs.assets), resources={"ihub": ihub},  # type: ignore[arg-type]
                                instance=instance)
        assert result.success
        (run,) = instance.get_runs()
        assert run.run_id == result.run_id and run.is_success

    with psycopg2.connect(pg.url("dagster")) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, status FROM runs")
        assert cur.fetchall() == [(result.run_id, "SUCCESS")]
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND "
                    "dagster_event_type = 'ASSET_MATERIALIZATION'", (result.run_id,))
        assert cur.fetchone() == (2,)  # harvest/incoming and index/incoming


def test_deployment_dagster_yaml_runs_on_postgres(
    pg: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = create_database(pg, "dagster_deploy")
    monkeypatch.setenv("IHUB_DAGSTER_POSTGRES_URL", url)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    config = (DEPLOY / "dagster" / "dagster.yaml").read_text()
    logs = "/var/lib/ihub/dagster-logs"
    assert logs in config
    (dagster_home / "dagster.yaml").write_text(config.replace(logs, str(tmp_path / "logs")))
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = dg.materialize([trivial], instance=instance)
        assert result.success
    with psycopg2.connect(pg.url("dagster_deploy")) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone() == ("SUCCESS",)


@dg.asset
def trivial() -> int:
    return 1
