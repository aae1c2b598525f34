"""Every query a caller makes, as the access policy allows it: recorded in the audit log
when the caller is audited, run with the caller's visibility, and stripped of sources the
caller may not learn of. The HTTP API and the CLI both go through ``GuardedQueries``.

Hits and record lookups use ``caller.hits``. Aggregate numbers (totals, facets, cohort
counts, the source listing) go through the two functions of the small-count seam below.
"""

from __future__ import annotations

from typing import TypeVar

from imaging_hub.access import (
    Caller,
    narrowed_grants,
    visible_hosts,
    visible_index,
    visible_listing,
)
from imaging_hub.audit import AuditLog
from imaging_hub.schemas.dictionary import DictionaryResponse
from imaging_hub.schemas.query import (
    CohortQuery,
    CountResponse,
    FacetsResponse,
    IndexInfo,
    Page,
    RecordResponse,
    SearchRequest,
    SearchResponse,
    SeriesHit,
    SourcesResponse,
    Visibility,
)
from imaging_hub.search_ui.service import QueryService, series_hit_links

Answer = TypeVar("Answer", SearchResponse, CountResponse, FacetsResponse, SourcesResponse,
                 DictionaryResponse)


# -- the small-count seam (issue 10, step 2) ------------------------------------------------
def counts_view(caller: Caller) -> Visibility:
    """What totals, facets and cohort counts draw on. Today: ``caller.hits``, so every
    number is exact over records the caller may see one by one. Small-count protection
    returns ``caller.counts`` here and suppresses in ``protect_counts``."""
    return caller.hits


def protect_counts(answer: Answer, caller: Caller) -> Answer:
    """The numbers of ``answer`` as ``caller`` may see them. Today: unchanged (they are
    drawn from ``counts_view``, i.e. records the caller may see; the source listing's from
    ``caller.counts``, without sequestered records unless granted)."""
    return answer


class GuardedQueries:
    """The query service behind the access policy and the audit log."""

    def __init__(self, service: QueryService, audit: AuditLog) -> None:
        self.service = service
        self.audit = audit

    def search(self, request: SearchRequest, caller: Caller) -> SearchResponse:
        """Hits over ``caller.hits``; facets, totals and counts over ``counts_view``.
        Raises ``AuditError`` (and the store's errors)."""
        self.audit.record(caller, "search", request)
        aggregate = counts_view(caller)
        if aggregate == caller.hits:  # one store call answers both
            result = self.service.search(request, caller.hits)
        else:
            result = self.service.search(
                request.model_copy(update={"facets": [], "counts": False}), caller.hits)
            if request.facets or request.counts:
                numbers = self.service.search(
                    request.model_copy(update={"page": Page(size=0)}), aggregate)
                result = result.model_copy(update={
                    "facets": numbers.facets, "counts": numbers.counts,
                    "facet_unit": numbers.facet_unit,
                    "facets_timed_out": numbers.facets_timed_out})
        return protect_counts(self._visible(result, caller), caller)

    def count(self, query: CohortQuery, caller: Caller) -> CountResponse:
        self.audit.record(caller, "count", query)
        result = self.service.count(query, counts_view(caller))
        result = result.model_copy(update={"index": self._index(result.index, caller)})
        return protect_counts(result, caller)

    def facets(self, caller: Caller) -> FacetsResponse:
        self.audit.record(caller, "facets", None)
        result = self.service.facets(counts_view(caller))
        result = result.model_copy(update={"index": self._index(result.index, caller)})
        return protect_counts(result, caller)

    def dictionary(self, caller: Caller) -> DictionaryResponse:
        """The data dictionary; its coverage counts over ``counts_view`` (a source the
        caller may not see has no coverage), its index naming only sources the caller may
        learn of."""
        self.audit.record(caller, "dictionary", None)
        result = self.service.dictionary(counts_view(caller))
        if result.index is not None:
            result = result.model_copy(update={"index": self._index(result.index, caller)})
        return protect_counts(result, caller)

    def record(self, record_id: str, caller: Caller) -> RecordResponse | None:
        """One record the caller may see, or None (as if it did not exist)."""
        self.audit.record(caller, "record", {"id": record_id})
        found = self.service.record(record_id, caller.hits)
        if found is None:
            return None
        return found.model_copy(update={"index": self._index(found.index, caller)})

    def sources(self, caller: Caller) -> SourcesResponse:
        self.audit.record(caller, "sources", None)
        listing = visible_listing(self.service.sources(), caller, self._reached(caller))
        return protect_counts(listing, caller)

    def _visible(self, result: SearchResponse, caller: Caller) -> SearchResponse:
        """Series hits naming (and linking to) only hosts the caller may see; the index
        naming only sources the caller may learn of."""
        hosts = {s.source: s for s in result.index.sources}
        hits = []
        for hit in result.hits:
            if isinstance(hit, SeriesHit):
                kept = visible_hosts(hit, result.index, caller)
                if kept is not hit:
                    hit = kept.model_copy(update={"links": series_hit_links(kept, hosts)})
            hits.append(hit)
        return result.model_copy(update={"hits": hits,
                                         "index": self._index(result.index, caller)})

    def _index(self, index: IndexInfo, caller: Caller) -> IndexInfo:
        return visible_index(index, caller, self._reached(caller))

    def _reached(self, caller: Caller) -> frozenset[str]:
        """Sources where the caller's collection-narrowed grants see a record (one facet
        query, only for callers holding such grants)."""
        narrowed = narrowed_grants(caller)
        if narrowed is None:
            return frozenset()
        found = self.service.search(SearchRequest.model_validate(
            {"facets": ["source"], "page": {"size": 0}}), narrowed)
        return frozenset(str(b.value) for b in found.facets["source"] if b.count)
