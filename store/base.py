"""The index store interface every backend implements (embedded now, OpenSearch later).

Backends take and return the typed models of ``imaging_hub.schemas``; nothing else crosses
this boundary. The same conformance suite (tests/store) runs against every backend.
"""

from __future__ import annotations

from typing import Protocol

from imaging_hub.indexers.base import HarvestResult
from imaging_hub.schemas.query import (
    CohortQuery,
    CountResponse,
    FacetsResponse,
    SearchRequest,
    SearchResponse,
    SourcesResponse,
)
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord
from imaging_hub.store.publish import Published


class IndexStore(Protocol):
    def publish(self, result: HarvestResult, source_type: str | None = None) -> Published:
        """Replace one source's records (within ``result.scope``) with ``result`` atomically;
        return the new generation and the published report.

        Other sources' records are kept as they are. On any failure the previously
        published generation keeps answering. Raises ``StoreError``.
        """
        ...

    def search(self, request: SearchRequest) -> SearchResponse:
        """Hits, disjunctive facets and totals. Raises ``NoIndexError``, ``QueryError``,
        ``StaleCursorError``."""
        ...

    def count(self, query: CohortQuery) -> CountResponse:
        """Exact distinct subjects/studies/series, instances and bytes, by source and
        collection."""
        ...

    def facets(self) -> FacetsResponse:
        """Fields with their kinds and the unfiltered facet counts."""
        ...

    def record(self, record_id: str) -> SeriesRecord | CollectionRecord | None:
        """One stored record by id, or ``None``."""
        ...

    def sources(self) -> SourcesResponse:
        """Published sources with version, last run, counts, rejects."""
        ...
