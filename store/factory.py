"""The one place that picks the index store backend (``IHUB_STORE``)."""

from __future__ import annotations

from imaging_hub.config import Settings
from imaging_hub.errors import ConfigError
from imaging_hub.store.base import IndexStore


def open_store(settings: Settings) -> IndexStore:
    """The configured backend: the embedded store under ``IHUB_HOME`` or a search engine
    cluster. Raises ``ConfigError`` for an incomplete configuration."""
    if settings.store == "embedded":
        from imaging_hub.store.embedded import EmbeddedStore

        return EmbeddedStore(settings.index_dir)
    if settings.engine is None:
        raise ConfigError(f"IHUB_STORE={settings.store} needs its connection settings")
    from imaging_hub.store.search_engine import SearchEngineStore

    return SearchEngineStore(settings.engine, copies=settings.published_dir)
