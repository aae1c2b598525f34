"""The index store interface every backend implements: embedded (default), OpenSearch,
Elasticsearch. Every caller (API, CLI, harvest runner, drop check, Dagster) knows only this,
and gets its store from ``store.factory.open_store``.

Backends take and return the typed models of ``imaging_hub.schemas``; nothing else crosses
this boundary. What is policy stays above the backends: who may see what arrives as a
``Visibility`` (applied by the backend to every answer), counting identity is computed at
publish by ``store.identity``, text semantics are ``schemas.text``, links are built by the
query layer from the identifiers and ``IndexInfo.sources`` (type, link parameters). The same
conformance suite (tests/store) runs against every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from imaging_hub.indexers.base import HarvestResult, Scope
from imaging_hub.schemas.dictionary import CoverageResponse
from imaging_hub.schemas.query import (
    DEFAULT_VISIBILITY,
    CohortQuery,
    CountResponse,
    FacetsResponse,
    IndexInfo,
    SearchRequest,
    SearchResponse,
    SourcesResponse,
    StoreHealth,
    Visibility,
)
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord
from imaging_hub.store.merge import Published
from imaging_hub.store.streaming import SeriesStream

__all__ = ["IndexStore", "Published"]


class IndexStore(Protocol):
    kind: str  # "embedded", "opensearch", "elasticsearch"

    def publish(self, result: HarvestResult, source_type: str = "") -> Published:
        """Replace one source's records (within ``result.scope``) with ``result`` atomically;
        return the new generation and the published report.

        Other sources' records are kept as they are. On any failure the previously
        published generation keeps answering. Raises ``StoreError``.
        """
        ...

    def published_count(self, source: str, scope: Scope | None) -> int:
        """Records of ``source`` served now within ``scope`` (the drop check's baseline).
        Raises ``NoIndexError`` when nothing is published."""
        ...

    def search(self, request: SearchRequest,
               visibility: Visibility = DEFAULT_VISIBILITY) -> SearchResponse:
        """Hits (without links), disjunctive facets and totals. Raises ``NoIndexError``,
        ``QueryError``, ``StaleCursorError``, ``StoreError``."""
        ...

    def count(self, query: CohortQuery,
              visibility: Visibility = DEFAULT_VISIBILITY) -> CountResponse:
        """Exact distinct subjects/studies/series, instances and bytes, by source and
        collection."""
        ...

    def records(self, query: CohortQuery, visibility: Visibility = DEFAULT_VISIBILITY,
                series_uids: Sequence[str] | None = None) -> SeriesStream:
        """Every series matching ``query`` once, read in chunks from the generation served
        now and only from it (``store/streaming.py``); with ``series_uids``, only series
        with those UIDs (in UID order). Raises ``NoIndexError``, ``StoreError``."""
        ...

    def facets(self, visibility: Visibility = DEFAULT_VISIBILITY) -> FacetsResponse:
        """Fields with their kinds and the unfiltered facet counts."""
        ...

    def coverage(self, visibility: Visibility = DEFAULT_VISIBILITY) -> CoverageResponse:
        """Per source, its series records and, per searchable field, how many have a value
        (exact). Raises ``NoIndexError``, ``StoreError``."""
        ...

    def record(self, record_id: str, visibility: Visibility = DEFAULT_VISIBILITY,
               ) -> SeriesRecord | CollectionRecord | None:
        """One stored record by id (without links), or ``None``."""
        ...

    def generation_name(self) -> str:
        """The generation being served (cheap; search engines cache it for a second).
        Raises ``NoIndexError``."""
        ...

    def index_info(self) -> IndexInfo:
        """The generation served and the source versions it holds. Raises ``NoIndexError``."""
        ...

    def sources(self) -> SourcesResponse:
        """Published sources with version, last run, counts, rejects; the backend's health."""
        ...

    def health(self) -> StoreHealth:
        """Whether the backend answers, and what it serves. Never raises."""
        ...

    def close(self) -> None:
        """Release connections and caches."""
        ...
