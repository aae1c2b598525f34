"""Dagster resources: where imaging-hub lives (``IHUB_HOME``), configured through
``EnvVar`` so nothing is read from the environment at import time."""

from __future__ import annotations

import os

import dagster as dg

from imaging_hub.config import Settings
from imaging_hub.sources import SourceConfig, load_sources
from imaging_hub.store.base import IndexStore
from imaging_hub.store.factory import open_store


class IhubResource(dg.ConfigurableResource):  # type: ignore[misc]
    """The imaging-hub home: sources, staged harvests, run reports and the index store."""

    home: str

    def settings(self) -> Settings:
        """IHUB_HOME from the resource; the store backend (IHUB_STORE and its connection)
        from the environment of the run, read when the run asks, never at import."""
        return Settings.from_env({**os.environ, "IHUB_HOME": self.home})

    def sources(self) -> dict[str, SourceConfig]:
        return load_sources(self.settings().sources_file)

    def store(self) -> IndexStore:
        return open_store(self.settings())
