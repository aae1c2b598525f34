"""A real 3-node OpenSearch cluster (one replica per shard), started by
``scripts/opensearch.sh start --nodes 3``: the script's cluster survives a killed node and
re-launches it, a node killed while questions are answered, a node killed while a generation
is published, health as operators see it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch

from imaging_hub import staging
from imaging_hub.config import EngineSettings, Settings
from imaging_hub.errors import StoreError
from imaging_hub.harvest import publish_staged
from imaging_hub.runs import find_run
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.store.search_engine import SearchEngineStore
from tests.conftest import VENV_BIN, free_port
from tests.engines import Engine, pid_running, start_engine
from tests.engines.test_engine_scripts import (
    DOCS,
    assert_stopped,
    opensearch_bulk,
    wait_health,
)
from tests.store import synthetic as syn

pytestmark = pytest.mark.slow

QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/search", {"facets": ["modality", "sex", "collection"], "counts": True,
                        "page": {"size": 5}}),
    ("/api/v1/search", {"text": "chest OR lung", "level": "study", "facets": ["age"],
                        "page": {"size": 5}}),
    ("/api/v1/search", {"filters": {"modality": ["CT", "MR"]}, "level": "subject",
                        "facet_unit": "subjects", "facets": ["sex"]}),
    ("/api/v1/cohort/count", {"filters": {"sex": ["F", None], "age": [{"gte": 40}]}}),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Engine]:
    home = Path(tempfile.mkdtemp(prefix="ihub-cluster-"))
    engine = start_engine("opensearch", home, nodes=3, heap="512m")
    try:
        yield engine
        pids = engine.node_pids()
        engine.stop()
        assert_stopped(engine, pids)  # every node's PID gone, every port free
    finally:
        engine.stop()  # a no-op when already stopped
        shutil.rmtree(home, ignore_errors=True)


def node_urls(engine: Engine) -> tuple[str, ...]:
    return tuple(f"http://127.0.0.1:{engine.port + i}" for i in range(engine.nodes))


def engine_settings(engine: Engine, prefix: str) -> EngineSettings:
    return EngineSettings(kind="opensearch", urls=node_urls(engine), index_prefix=prefix,
                          shards=3)


def serve(engine: Engine, prefix: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "IHUB_HOME": str(home), "IHUB_STORE": "opensearch",
           "OPENSEARCH_URL": ",".join(node_urls(engine)), "IHUB_INDEX_PREFIX": prefix}
    proc = subprocess.Popen([str(VENV_BIN / "ihub"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.3)


def wait_green(engine: Engine, nodes: int = 3) -> None:
    health = httpx.get(f"{node_urls(engine)[0]}/_cluster/health", params={
        "wait_for_status": "green", "wait_for_nodes": str(nodes), "timeout": "120s"},
        timeout=150).json()
    assert health["status"] == "green", health


def test_the_scripts_three_nodes_survive_a_killed_node(cluster: Engine) -> None:
    client = OpenSearch(list(node_urls(cluster)), timeout=60)
    names = sorted(n["name"] for n in client.cat.nodes(format="json", h="name"))
    assert names == ["node-1", "node-2", "node-3"]
    assert len(cluster.node_pids()) == 3

    # Replicas of a lost node stay unassigned (yellow) for 5 minutes instead of the default 1,
    # so the state checked below does not depend on how fast this machine is.
    client.indices.create(index="scripts-series", body={"settings": {
        "number_of_shards": 3, "number_of_replicas": 1,
        "index.unassigned.node_left.delayed_timeout": "5m"}})
    opensearch_bulk(client, "scripts-series")
    health = wait_health(client, index="scripts-series", wait_for_status="green")
    assert (health["status"], health["active_shards"]) == ("green", 6)

    killed = cluster.kill_node(3, signal.SIGKILL)
    assert not pid_running(killed)
    health = wait_health(client, wait_for_nodes="2", wait_for_status="yellow")
    assert (health["number_of_nodes"], health["status"]) == (2, "yellow")
    assert client.count(index="scripts-series")["count"] == len(DOCS)
    ct = client.search(index="scripts-series",
                       body={"query": {"term": {"modality.keyword": "CT"}}})
    assert ct["hits"]["total"]["value"] == 15

    cluster.restart_node(3)
    health = wait_health(client, index="scripts-series", wait_for_status="green",
                         wait_for_nodes="3")
    assert (health["number_of_nodes"], health["status"]) == (3, "green")
    assert client.count(index="scripts-series")["count"] == len(DOCS)
    pids = cluster.node_pids()
    assert len(pids) == 3 and killed not in pids
    client.indices.delete(index="scripts-series")


def test_a_node_killed_while_questions_are_answered(cluster: Engine, tmp_path: Path) -> None:
    store = SearchEngineStore(engine_settings(cluster, "tkill"))
    data = syn.random_records(seed=11, n=600)
    store.publish(syn.result("alpha", data["alpha"], syn.COLLECTIONS))
    store.publish(syn.result("mirror", data["mirror"], ["lungs"]))
    proc, url = serve(cluster, "tkill", tmp_path)
    client = httpx.Client(base_url=url, timeout=60)
    try:
        want = [client.post(path, json=body).json() for path, body in QUESTIONS]
        seen: list[tuple[int, int, bytes]] = []
        stop = threading.Event()

        def ask() -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                while not stop.is_set():
                    for i, (path, body) in enumerate(QUESTIONS):
                        r = c.post(path, json=body, headers={"cache-control": "no-cache"})
                        seen.append((i, r.status_code, r.content))

        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(2)
        cluster.kill_node(2, signal.SIGKILL)
        killed_at = len(seen)
        # the node leaves and replicas take over: ask until the sources listing shows it and
        # every question was answered twice more since the kill (at most 60 s)
        deadline = time.monotonic() + 60
        while True:
            sources = client.get("/api/v1/sources").json()
            answered_since = len(seen) - killed_at
            if sources["backend"]["nodes"] == 2 and answered_since > 2 * len(QUESTIONS):
                break
            assert time.monotonic() < deadline, (sources["backend"], answered_since)
            time.sleep(0.5)
        stop.set()
        asker.join(timeout=120)
        after_kill = len(seen)
        statuses = {s for _, s, _ in seen}
        assert statuses <= {200, 503}, statuses  # never a 5xx other than a clear 503
        answered = [(i, body) for i, s, body in seen if s == 200]
        assert len(answered) > 2 * len(QUESTIONS) and after_kill
        for i, body in answered:  # every answer identical to the one before the kill
            assert httpx.Response(200, content=body).json() == want[i], QUESTIONS[i]
        unavailable = [body for _, s, body in seen if s == 503]
        assert all(b'"store_unavailable"' in b for b in unavailable)
        assert sources["backend"]["status"] == "degraded"
        assert sources["backend"]["nodes"] == 2
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        cluster.restart_node(2)
        wait_green(cluster)


def test_a_node_killed_during_a_publish(cluster: Engine, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, store="opensearch",
                        engine=engine_settings(cluster, "tpub"))
    store = SearchEngineStore(settings.engine)  # type: ignore[arg-type]
    first = syn.random_records(seed=5, n=300)["alpha"]
    store.publish(syn.result("alpha", first, syn.COLLECTIONS))
    before = store.count(CohortQuery())
    served = store.generation_name()
    big = syn.random_records(seed=6, n=12_000)["alpha"]
    big_run = syn.result("alpha", big, syn.COLLECTIONS, run="run-big")
    staging.stage(settings, big_run, "test")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            publish_staged(settings, "alpha", "run-big")
        except BaseException as exc:  # noqa: BLE001 - the thread reports what stopped it
            failure.append(exc)

    publisher = threading.Thread(target=run)
    publisher.start()
    deadline = time.monotonic() + 120
    while not httpx.get(f"{node_urls(cluster)[0]}/_cat/indices/tpub-series-*",
                        params={"format": "json"}, timeout=10).json()[1:]:
        assert time.monotonic() < deadline, "the new generation's indices never appeared"
        time.sleep(0.2)
    time.sleep(1.0)  # the bulk load is under way
    cluster.kill_node(3, signal.SIGKILL)
    publisher.join(timeout=600)
    assert failure and isinstance(failure[0], StoreError), failure
    report = find_run(settings, "run-big")
    assert report is not None and report.status == "failed"
    assert store.generation_name() == served  # the previous alias keeps answering
    assert store.count(CohortQuery()).model_dump() == before.model_dump()
    cluster.restart_node(3)
    wait_green(cluster)
    staging.stage(settings, big_run, "test")
    publish_staged(settings, "alpha", "run-big")  # the rerun succeeds
    assert store.generation_name() != served
    assert store.count(CohortQuery()).series.count == len(big)
