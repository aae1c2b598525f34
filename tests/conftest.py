"""Shared fixtures: a real IDC slice harvested once per session, a live API server, and real
OpenSearch / Elasticsearch nodes (one each per session, started on first use)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imaging_hub.config import Settings
from imaging_hub.harvest import run_harvest
from imaging_hub.indexers.idc import IdcSource
from tests.engines import Engine, EngineKind, start_engine

# A few real IDC collections, chosen for variety: slide microscopy, CT/PT/MR, a
# non-commercial licence, NLM's own licence, malformed PatientAge and PatientSex values.
IDC_SLICE = (
    "cptac_lscc", "nsclc_radiogenomics", "ct_lymph_nodes", "nsclc_radiomics_genomics",
    "tcga_chol", "nlm_visible_human_project", "pseudo_phi_dicom_data",
)
VENV_BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked ``slow`` first (stable otherwise): with several workers
    (scripts/test.sh) a long file then starts early instead of finishing the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def idc_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IHUB_HOME with the IDC slice harvested and published."""
    home = tmp_path_factory.mktemp("ihub-home")
    run_harvest(Settings(home=home), "idc", IdcSource(collections=list(IDC_SLICE)))
    return home


class LiveServer:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.proc = proc

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def start_server(home: Path) -> LiveServer:
    """``ihub serve`` as a subprocess on a free loopback port, ready to answer."""
    port = free_port()
    env = {**os.environ, "IHUB_HOME": str(home)}
    proc = subprocess.Popen(
        [str(VENV_BIN / "ihub"), "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ihub serve exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return LiveServer(url, proc)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("ihub serve did not answer within 60 s")


@contextlib.contextmanager
def serving(home: Path) -> Iterator[LiveServer]:
    """``ihub serve`` over ``home`` for the block; terminated after it."""
    live = start_server(home)
    try:
        yield live
    finally:
        live.proc.terminate()
        live.proc.wait(timeout=20)


@pytest.fixture(scope="session")
def server(idc_home: Path) -> Iterator[LiveServer]:
    with serving(idc_home) as live:
        yield live


# --- real search engines (scripts/opensearch.sh, scripts/elasticsearch.sh) -------------------
# One node of each per session, started on first use and always stopped at the end. A node
# that cannot start fails the tests using it with the script's output; it is never a skip.
# Homes come from tempfile.mkdtemp(), not tmp_path_factory: see tests/engines/__init__.py for why.

ENGINE_TEST_HEAP = "512m"


def _engine_session(kind: EngineKind) -> Iterator[Engine]:
    home = Path(tempfile.mkdtemp(prefix=f"ihub-{kind}-"))
    engine = start_engine(kind, home, nodes=1, heap=ENGINE_TEST_HEAP)
    try:
        yield engine
    finally:
        engine.stop()  # raises (and keeps the folder) if a node would not stop
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[Engine]:
    """A one-node OpenSearch cluster; ``.url`` is its HTTP address."""
    yield from _engine_session("opensearch")


@pytest.fixture(scope="session")
def elasticsearch_node() -> Iterator[Engine]:
    """A one-node Elasticsearch cluster; ``.url`` is its HTTP address."""
    yield from _engine_session("elasticsearch")
