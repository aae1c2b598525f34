"""TEMPORARY (development): engine nodes from IHUB_TEST_OPENSEARCH_URL."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass
class _Node:
    url: str


@pytest.fixture(scope="session")
def opensearch_node() -> _Node:
    url = os.environ.get("IHUB_TEST_OPENSEARCH_URL")
    if not url:
        pytest.skip("dev: no node")
    return _Node(url)


@pytest.fixture(scope="session")
def elasticsearch_node() -> _Node:
    url = os.environ.get("IHUB_TEST_ELASTICSEARCH_URL")
    if not url:
        pytest.skip("dev: no node")
    return _Node(url)
