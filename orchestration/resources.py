"""Dagster resources: where imaging-hub lives (``IHUB_HOME``), configured through
``EnvVar`` so nothing is read from the environment at import time."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from imaging_hub.config import Settings
from imaging_hub.sources import SourceConfig, load_sources
from imaging_hub.store.embedded import EmbeddedStore


class IhubResource(dg.ConfigurableResource):  # type: ignore[misc]
    """The imaging-hub home: sources, staged harvests, run reports and the index store."""

    home: str

    def settings(self) -> Settings:
        return Settings(home=Path(self.home))

    def sources(self) -> dict[str, SourceConfig]:
        return load_sources(self.settings().sources_file)

    def store(self) -> EmbeddedStore:
        return EmbeddedStore(self.settings().index_dir)
