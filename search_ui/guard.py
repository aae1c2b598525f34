"""Every query a caller makes, as the access policy allows it: recorded in the audit log
when the caller is audited, run with the caller's visibility, and stripped of sources the
caller may not learn of. The HTTP API and the CLI both go through ``GuardedQueries``.

Hits and record lookups use ``caller.hits``. Aggregate numbers (totals, facets, cohort
counts, the source listing) draw on ``caller.counts``: when that holds records the caller
may not see one by one, each number is computed over both and its restricted part is
protected (``search_ui.protect``: thresholds, rounding, optional noise). Cohort counts also
get estimates for datasets known only by their published facts (``search_ui.estimate``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from imaging_hub.access import (
    Caller,
    narrowed_grants,
    visible_hosts,
    visible_index,
    visible_listing,
)
from imaging_hub.audit import AuditLog
from imaging_hub.errors import StoreError
from imaging_hub.schemas.counts import EstimatedAdditional
from imaging_hub.schemas.dictionary import DictionaryResponse
from imaging_hub.schemas.query import (
    CohortQuery,
    CollectionHit,
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
from imaging_hub.search_ui.estimate import estimated_additional
from imaging_hub.search_ui.protect import (
    Policy,
    Protection,
    policy_for,
    protect_count,
    protect_facets_answer,
    protect_listing,
    protect_search,
)
from imaging_hub.search_ui.service import QueryService, series_hit_links

Answer = TypeVar("Answer", SearchResponse, CountResponse, FacetsResponse)
CATALOGUE_TYPE = "catalog"  # sources whose datasets are known only by published facts
PAIR_ATTEMPTS = 3


class GuardedQueries:
    """The query service behind the access policy, small-count protection and the audit
    log. ``protection``: the server's noise settings (default: none)."""

    def __init__(self, service: QueryService, audit: AuditLog,
                 protection: Protection | None = None) -> None:
        self.service = service
        self.audit = audit
        self.protection = protection or Protection()
        self._datasets: dict[tuple[str, Visibility], list[CollectionHit]] = {}

    def _numbers(self, caller: Caller, visible: Callable[[], Answer],
                 counted: Callable[[], Answer],
                 protect: Callable[[Answer, Answer, Policy], Answer],
                 collections_unit: bool = False) -> Answer:
        """``visible()`` (over ``caller.hits``) and, when the caller may count records it
        may not see that can be in the answer (``collections_unit``: it counts collection
        records), ``counted()`` (over ``caller.counts``) from the same generation, the
        second protecting the first. Raises ``StoreError`` when the index keeps changing
        between the two (and the store's errors)."""
        for _ in range(PAIR_ATTEMPTS):
            seen = visible()
            policy = policy_for(caller, seen.index, self.protection)
            if not policy.needed(collections_unit):
                return seen
            numbers = counted()
            if numbers.index.generation == seen.index.generation:
                return protect(seen, numbers, policy)
        raise StoreError("the index changed while the numbers were counted; ask again")

    def search(self, request: SearchRequest, caller: Caller) -> SearchResponse:
        """Hits over ``caller.hits``; facets, totals and counts protected (see the module).
        Raises ``AuditError`` (and the store's errors)."""
        self.audit.record(caller, "search", request)
        numbers_only = request.model_copy(update={"page": Page(size=0)})
        result = self._numbers(
            caller, lambda: self.service.search(request, caller.hits),
            lambda: self.service.search(numbers_only, caller.counts),
            lambda seen, counted, policy: protect_search(seen, counted, request, policy),
            collections_unit=request.level == "collection"
            or request.facet_unit == "collections")
        result = self._visible(result, caller)
        if result.counts is not None:
            extra = self._estimates(request, caller, result.index)
            if extra is not None:
                result = result.model_copy(update={"counts": result.counts.model_copy(
                    update={"estimated_additional": extra})})
        return result

    def count(self, query: CohortQuery, caller: Caller) -> CountResponse:
        self.audit.record(caller, "count", query)
        result = self._numbers(
            caller, lambda: self.service.count(query, caller.hits),
            lambda: self.service.count(query, caller.counts),
            lambda seen, counted, policy: protect_count(seen, counted, query, policy))
        return result.model_copy(update={
            "index": self._index(result.index, caller),
            "estimated_additional": self._estimates(query, caller, result.index)})

    def facets(self, caller: Caller) -> FacetsResponse:
        self.audit.record(caller, "facets", None)
        result = self._numbers(caller, lambda: self.service.facets(caller.hits),
                               lambda: self.service.facets(caller.counts),
                               protect_facets_answer)
        return result.model_copy(update={"index": self._index(result.index, caller)})

    def dictionary(self, caller: Caller) -> DictionaryResponse:
        """The data dictionary; its coverage over records the caller may see one by one (a
        fill rate per source is a statistic of a restricted group that thresholds do not
        fit), its index naming only sources the caller may learn of."""
        self.audit.record(caller, "dictionary", None)
        result = self.service.dictionary(caller.hits)
        if result.index is not None:
            result = result.model_copy(update={"index": self._index(result.index, caller)})
        return result

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
        if listing.index is None:
            return listing
        return protect_listing(listing, caller,
                               policy_for(caller, listing.index, self.protection))

    def _estimates(self, query: CohortQuery, caller: Caller,
                   index: IndexInfo) -> EstimatedAdditional | None:
        """Estimates from the catalogue datasets the caller may count (their published
        facts; they hold no records to count)."""
        datasets = self._catalogue(caller, index)
        return estimated_additional(datasets, query, caller.counts) if datasets else None

    def _catalogue(self, caller: Caller, index: IndexInfo) -> list[CollectionHit]:
        """The record-less datasets of catalogue sources the caller may count, kept per
        generation."""
        names = sorted(s.source for s in index.sources if s.type == CATALOGUE_TYPE)
        if not names:
            return []
        key = (index.generation, caller.counts)
        if key not in self._datasets:
            if any(k[0] != index.generation for k in self._datasets):
                self._datasets.clear()
            found = self.service.search(SearchRequest.model_validate({
                "level": "collection", "filters": {"source": names},
                "page": {"size": 1000}}), caller.counts)
            self._datasets[key] = [h for h in found.hits
                                   if isinstance(h, CollectionHit) and not h.series]
        return self._datasets[key]

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
