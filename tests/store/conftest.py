"""Fixtures of the store conformance suite (tests/store/test_conformance*.py): a store
factory per backend and two synthetic sources published once per module and backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.base import IndexStore
from tests.store.backends import BACKENDS, StoreFactory, store_factory, two_sources


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    return store_factory(request, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> tuple[IndexStore, list[SeriesRecord]]:
    """Two sources published once per backend; the tests using it only read."""
    return two_sources(request, tmp_path_factory.mktemp("loaded"), seed=7)
