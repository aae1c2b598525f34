"""The backends the store conformance suite runs against, and a factory per backend.

Search-engine backends run on the real nodes the session's fixtures start
(``tests/conftest.py``); each test gets its own index prefix, removed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from imaging_hub.store.base import IndexStore
from imaging_hub.store.embedded import EmbeddedStore

StoreFactory = Callable[[], IndexStore]
BACKENDS = ["embedded"]


def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of stores of ``request.param``'s kind, all over the same data."""
    if request.param == "embedded":
        return lambda: EmbeddedStore(tmp_path / "index")
    raise NotImplementedError(request.param)
