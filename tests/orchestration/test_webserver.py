"""``ihub orchestrate``: the Dagster webserver and daemon as an operator runs them, driven
through the webserver's GraphQL API (what its UI uses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import VENV_BIN, free_port

pytestmark = pytest.mark.slow

LOCATION = "imaging_hub.orchestration.definitions"


@pytest.fixture(scope="module")
def dagster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("orchestrate")
    folder = home / "incoming"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        (folder / name).write_bytes(Path(get_testdata_file(name)).read_bytes())  # type: ignore[arg-type]
    (home / "sources.toml").write_text(
        f'[sources.incoming]\ntype = "dicom_folder"\npath = "{folder}"\n'
        f'[sources.broken]\ntype = "dicom_folder"\npath = "{home / "no-such-folder"}"\n')
    port = free_port()
    env = {**os.environ, "IHUB_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.Popen([str(VENV_BIN / "ihub"), "orchestrate", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise RuntimeError("the Dagster webserver did not start within 120 s")
        wait_for_location(url, deadline)
        yield url, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


WORKSPACE = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def wait_for_location(url: str, deadline: float) -> None:
    """The webserver answers before it has loaded the code location: wait for it (and
    fail with Dagster's own message if the location cannot load)."""
    while time.monotonic() < deadline:
        entries = gql(url, WORKSPACE)["workspaceOrError"].get("locationEntries") or []
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"]
            if loaded["__typename"] == "PythonError":
                raise RuntimeError(f"code location failed to load: {loaded['message']}")
            return
        time.sleep(0.5)
    raise RuntimeError("the code location did not load in time")


def gql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    r.raise_for_status()
    body = r.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


REPO = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  name location { name }
  schedules { name cronSchedule scheduleState { status } }
  sensors { name sensorState { status } }
  assetNodes { assetKey { path } }
} } } }"""

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""

STATUS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""


def run_job(url: str, job: str) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                           "jobName": job}, "runConfigData": {}}
    launched = gql(url, LAUNCH, p=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = gql(url, STATUS, id=run_id)["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return str(status)
        time.sleep(1)
    raise AssertionError(f"run {run_id} of {job} did not finish")


def ihub_json(home: Path, *args: str) -> Any:
    done = subprocess.run([str(VENV_BIN / "ihub"), *args, "--json"], capture_output=True,
                          text=True, env={**os.environ, "IHUB_HOME": str(home)}, check=True)
    return json.loads(done.stdout)


def test_operator_sees_sources_schedules_and_freshness(dagster: tuple[str, Path]) -> None:
    url, _home = dagster
    (repo,) = gql(url, REPO)["repositoriesOrError"]["nodes"]
    assets = {"/".join(n["assetKey"]["path"]) for n in repo["assetNodes"]}
    assert assets == {"harvest/incoming", "index/incoming", "harvest/broken", "index/broken"}
    schedules = {s["name"]: (s["cronSchedule"], s["scheduleState"]["status"])
                 for s in repo["schedules"]}
    assert schedules == {"incoming_schedule": ("30 2 * * *", "RUNNING"),
                         "broken_schedule": ("30 2 * * *", "RUNNING")}
    assert [s["name"] for s in repo["sensors"]] == ["source_freshness"]


def test_operator_triggers_runs_and_a_failed_one_leaves_the_index(
    dagster: tuple[str, Path],
) -> None:
    url, home = dagster
    assert run_job(url, "harvest_incoming") == "SUCCESS"
    counted = ihub_json(home, "count")
    assert counted["by_source"]["incoming"]["series"]["count"] == 2
    assert run_job(url, "harvest_broken") == "FAILURE"
    assert ihub_json(home, "count") == counted
    rows = {r["source"]: r for r in ihub_json(home, "sources")}
    assert rows["incoming"]["last_run"]["status"] == "published"
    assert rows["incoming"]["stale"] is False
    assert rows["broken"]["last_run"]["status"] == "failed"
    assert "does not exist" in rows["broken"]["last_run"]["error"]
