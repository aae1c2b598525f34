"""The backends the store conformance suite runs against, and a factory per backend.

Search-engine backends run on the real nodes the session's fixtures start
(``tests/conftest.py``: ``opensearch_node``, ``elasticsearch_node``); each test gets its own
index prefix, whose indices are deleted afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from imaging_hub.config import EngineSettings
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.base import IndexStore
from imaging_hub.store.embedded import EmbeddedStore
from tests.store import synthetic as syn

StoreFactory = Callable[[], IndexStore]
BACKENDS = ["embedded", "opensearch", "elasticsearch"]


def engine_settings(request: pytest.FixtureRequest, kind: str) -> EngineSettings:
    """Settings for a fresh prefix on the session's ``kind`` node; removed at teardown."""
    node = request.getfixturevalue(f"{kind}_node")
    settings = EngineSettings(kind=kind, urls=(node.url,),
                              index_prefix=f"t{secrets.token_hex(5)}", replicas=0)

    def drop() -> None:
        from imaging_hub.store.search_engine.client import EngineClient

        client = EngineClient(settings)
        names = client.request("GET", f"/_cat/indices/{settings.index_prefix}-*",
                               params={"format": "json", "h": "index"}) or []
        for chunk in range(0, len(names), 20):
            joined = ",".join(n["index"] for n in names[chunk:chunk + 20])
            client.request("DELETE", f"/{joined}", ignore=(404,))
        client.close()

    request.addfinalizer(drop)
    return settings


def two_sources(request: pytest.FixtureRequest, tmp_path: Path, seed: int,
                ) -> tuple[IndexStore, list[SeriesRecord]]:
    """A store of ``request.param``'s kind with the synthetic sources 'alpha' and 'mirror'
    (``seed``) published, and every record published."""
    data = syn.random_records(seed=seed)
    store = store_factory(request, tmp_path)()
    store.publish(syn.result("alpha", data["alpha"], syn.COLLECTIONS))
    store.publish(syn.result("mirror", data["mirror"], ["lungs"]))
    return store, data["alpha"] + data["mirror"]


def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of stores of ``request.param``'s kind, all over the same data."""
    if request.param == "embedded":
        return lambda: EmbeddedStore(tmp_path / "index")
    from imaging_hub.store.search_engine import SearchEngineStore

    settings = engine_settings(request, request.param)
    return lambda: SearchEngineStore(settings)
