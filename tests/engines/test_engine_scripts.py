"""scripts/opensearch.sh and scripts/elasticsearch.sh against real nodes.

Each test starts its own cluster in a fresh home (tempfile.mkdtemp; tests/engines/__init__.py
says why) on a free port range and checks it with the real Python clients. Small heaps keep
three nodes within a few GB; the first run fetches the engines through mvn into the cache.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import elasticsearch
import pytest
from elasticsearch import Elasticsearch
from opensearchpy import OpenSearch

from tests.engines import (
    TRANSPORT_OFFSET,
    Engine,
    free_port_range,
    pid_running,
    port_free,
    run_script,
    start_engine,
    url_line,
)

pytestmark = pytest.mark.slow

OPENSEARCH_VERSION = os.environ.get("IHUB_OPENSEARCH_VERSION", "2.19.6")
ELASTICSEARCH_VERSION = os.environ.get("IHUB_ELASTICSEARCH_VERSION", "8.19.21")
DOCS = [
    {"series_uid": f"1.2.840.{i}", "collection": "nlst" if i % 3 else "tcga_luad",
     "modality": "CT" if i % 2 else "MR", "description": f"chest series {i}"}
    for i in range(30)
]


@pytest.fixture
def home() -> Iterator[Path]:
    """A fresh IHUB_HOME; whatever a failed test left running is stopped afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ihub-engine-test-"))
    yield path
    for kind in ("opensearch", "elasticsearch"):
        if (path / kind).exists():
            run_script(kind, path, "stop")
    shutil.rmtree(path, ignore_errors=True)


def assert_stopped(engine: Engine, pids: list[int]) -> None:
    """Every PID is gone and every HTTP and transport port of the cluster is free."""
    assert pids and not [p for p in pids if pid_running(p)]
    assert engine.node_pids() == []
    for i in range(engine.nodes):
        assert port_free(engine.port + i)
        assert port_free(engine.port + TRANSPORT_OFFSET + i)


def opensearch_bulk(client: OpenSearch, index: str) -> None:
    body: list[object] = []
    for doc in DOCS:
        body += [{"index": {"_index": index, "_id": doc["series_uid"]}}, doc]
    result = client.bulk(body=body, refresh=True)
    assert not result["errors"]


def wait_health(client: OpenSearch, seconds: float = 120, **wait_for: str) -> dict[str, object]:
    """``_cluster/health`` with ``wait_for_*`` parameters, asked again until ``seconds`` pass.

    (opensearch-py takes a ``timeout`` argument as the client's own request timeout, so the
    server's default wait of 30 s per call is used.)
    """
    deadline = time.monotonic() + seconds
    while True:
        health: dict[str, object] = client.cluster.health(**wait_for, ignore=408)
        if not health["timed_out"] or time.monotonic() > deadline:
            return health


def test_opensearch_one_node_start_search_stop(home: Path) -> None:
    engine = start_engine("opensearch", home, heap="512m")
    client = OpenSearch([engine.url], timeout=30)
    assert client.info()["version"]["number"] == OPENSEARCH_VERSION

    client.indices.create(index="series", body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {"modality": {"type": "keyword"},
                                    "description": {"type": "text"}}}})
    client.index(index="series", id="idc:1.2.3", refresh=True,
                 body={"modality": "CT", "description": "Chest CT low dose"})
    client.index(index="series", id="idc:4.5.6", refresh=True,
                 body={"modality": "MR", "description": "Brain T1"})
    hits = client.search(index="series", body={"query": {"bool": {
        "must": [{"match": {"description": "chest"}}],
        "filter": [{"term": {"modality": "CT"}}]}}})["hits"]
    assert hits["total"]["value"] == 1
    assert hits["hits"][0]["_id"] == "idc:1.2.3"

    # Starting again is idempotent: same URL, same process, data still there.
    pids = engine.node_pids()
    assert len(pids) == 1
    again = run_script("opensearch", home, "start", "--port", str(engine.port))
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert url_line("opensearch", again.stdout) == engine.url
    assert engine.node_pids() == pids
    assert client.count(index="series")["count"] == 2
    # ... but not with another layout while it runs.
    other = run_script("opensearch", home, "start", "--nodes", "2")
    assert other.returncode == 1
    assert "already running with 1 node(s)" in other.stderr

    engine.stop()
    assert_stopped(engine, pids)
    again = run_script("opensearch", home, "stop")
    assert again.returncode == 0
    assert "nothing running" in again.stderr


def test_elasticsearch_one_node_with_the_v8_client(home: Path) -> None:
    assert elasticsearch.__versionstr__.startswith("8.")  # ES 8 refuses compatible-with=9
    engine = start_engine("elasticsearch", home, heap="512m")
    es = Elasticsearch(engine.url, request_timeout=30)
    # The integ-test zip has no rest-root module, so GET / (info, ping) is not served there;
    # the node's version comes from the nodes API instead.
    [node] = es.nodes.info(node_id="_local")["nodes"].values()
    assert node["version"] == ELASTICSEARCH_VERSION
    with pytest.raises(elasticsearch.ApiError) as no_root:
        es.info()
    assert no_root.value.meta.status == 405

    es.indices.create(index="series", settings={"number_of_shards": 1, "number_of_replicas": 0},
                      mappings={"properties": {"modality": {"type": "keyword"}}})
    es.index(index="series", id="idc:1.2.3", document={"modality": "CT", "description": "chest"})
    es.index(index="series", id="idc:4.5.6", document={"modality": "MR", "description": "brain"},
             refresh=True)
    hits = es.search(index="series", query={"term": {"modality": "CT"}})["hits"]
    assert [h["_id"] for h in hits["hits"]] == ["idc:1.2.3"]

    pids = engine.node_pids()
    engine.stop()
    assert_stopped(engine, pids)


def test_stop_with_nothing_running_is_a_noop(home: Path) -> None:
    for kind in ("opensearch", "elasticsearch"):
        done = run_script(kind, home, "stop")
        assert done.returncode == 0
        assert f"{kind}: nothing to stop under {home}/{kind}" in done.stderr
        status = run_script(kind, home, "status")
        assert status.returncode == 3
        assert "no cluster" in status.stdout


def test_start_fails_clearly_when_the_port_is_taken(home: Path) -> None:
    port = free_port_range(1)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        done = run_script("opensearch", home, "start", "--port", str(port))
    assert done.returncode == 1
    assert f"port {port} (node-1) is in use by another process" in done.stderr
    assert not done.stdout.strip()
