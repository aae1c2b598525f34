"""The search-engine index store: OpenSearch or Elasticsearch (one implementation; the
client adapts the few endpoints where they differ). Layout and exactness: ``mapping.py``;
the query DSL: ``query.py``; publishing: ``publish.py``; pages of hits: ``hits.py``; the
served generation as read: ``served.py``.

The API process is stateless over the cluster: every instance asks the aliases which
generation is served (cached for a second) and then queries that generation's indices by
name, so one answer never mixes two generations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from imaging_hub.config import EngineSettings
from imaging_hub.errors import NoIndexError, StaleCursorError, StoreError, StoreUnavailable
from imaging_hub.indexers.base import HarvestResult, Scope, SeriesScope
from imaging_hub.schemas.counts import SearchCounts
from imaging_hub.schemas.dictionary import CoverageResponse
from imaging_hub.schemas.fields import FIELDS
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
    Total,
    Visibility,
)
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord
from imaging_hub.store import paging
from imaging_hub.store.merge import Published
from imaging_hub.store.responses import (
    buckets,
    facets_response,
    index_info,
    sources_response,
    unit_of,
)
from imaging_hub.store.rowless import facet_counts as rowless_facets
from imaging_hub.store.rowless import matches as rowless_matches
from imaging_hub.store.rowless import merge_counts
from imaging_hub.store.search_engine import counts as count_module
from imaging_hub.store.search_engine import coverage as coverage_module
from imaging_hub.store.search_engine import facets as facet_module
from imaging_hub.store.search_engine import hits as hit_module
from imaging_hub.store.search_engine import mapping, publish
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON, EngineClient
from imaging_hub.store.search_engine.docs import collection_from_doc
from imaging_hub.store.search_engine.local_copy import LocalCopies
from imaging_hub.store.search_engine.served import Served, read_served
from imaging_hub.store.search_engine.stream import EngineStream
from imaging_hub.store.streaming import UID_BATCH, SeriesStream

GEN_TTL_S = 1.0
PIT_KEEP = "5m"
UNIT_INDEX = {"series": "series", "studies": "study", "subjects": "subject",
              "collections": "series"}
T = TypeVar("T")
LevelPage = tuple[str, str, JSON, list[JSON]]  # kind, index, first page's body, its clauses


class SearchEngineStore:
    """``IndexStore`` on an OpenSearch or Elasticsearch cluster."""

    def __init__(self, settings: EngineSettings, copies: Path | None = None) -> None:
        """``copies``: the folder of this publisher's copies (``local_copy.py``)."""
        self.kind = settings.kind
        self._copies = LocalCopies(copies, settings.index_prefix) if copies else None
        self.settings = settings
        self.prefix = settings.index_prefix
        self.client = EngineClient(settings)
        self._lock = threading.Lock()
        self._served: Served | None = None

    # -- publishing -------------------------------------------------------------------------
    def publish(self, result: HarvestResult, source_type: str = "") -> Published:
        published = publish.publish(self.client, self.prefix, result, source_type,
                                    self.settings.shards, self.settings.replicas,
                                    self._copies)
        with self._lock:
            self._served = None
        return published

    def published_count(self, source: str, scope: Scope | None) -> int:
        served = self._current()
        if isinstance(scope, SeriesScope):  # the UIDs a batch at a time (terms limits)
            uids = sorted(scope.series_uids)
            return sum(self._count_rows(served, source, {"terms": {
                dsl.f("series_uid"): uids[i:i + UID_BATCH]}})
                for i in range(0, len(uids), UID_BATCH))
        if scope is None:
            return self._count_rows(served, source, None)
        dates = {k: v.isoformat() for k, v in (("gte", scope.start), ("lte", scope.end))
                 if v is not None}
        return self._count_rows(served, source, {"range": {dsl.f("study_date"): dates}}
                                if dates else {"exists": {"field": dsl.f("study_date")}})

    def _count_rows(self, served: Served, source: str, clause: JSON | None) -> int:
        """Records of ``source`` (nested rows) matching ``clause``."""
        clauses: list[JSON] = [{"term": {dsl.f("source"): source}}]
        clauses += [clause] if clause else []
        body = {"size": 0, "aggs": {"rows": {"nested": {"path": mapping.NESTED}, "aggs": {
            "m": {"filter": {"bool": {"filter": clauses}}}}}}}
        got = self.client.search(served.index(self.prefix, "series"), body)
        return int(got["aggregations"]["rows"]["m"]["doc_count"])

    # -- the served generation --------------------------------------------------------------
    def _current(self, refresh: bool = False) -> Served:
        with self._lock:
            cached = self._served
        if cached and not refresh and time.monotonic() - cached.at < GEN_TTL_S:
            return cached
        gen = publish.served_generation(self.client, self.prefix)
        if gen is None:
            raise NoIndexError(f"nothing published on the {self.kind} cluster under prefix "
                               f"{self.prefix!r}; run 'ihub harvest'")
        if cached and cached.generation == gen:
            cached.at = time.monotonic()
            return cached
        served = read_served(self.client, self.prefix, gen)
        with self._lock:
            self._served = served
        return served

    def _run(self, fn: Callable[[Served], T]) -> T:
        """``fn`` on the served generation; once more on a fresh lookup if its indices
        vanished meanwhile (a publish replaced them)."""
        served = self._current()
        try:
            return fn(served)
        except StoreError as exc:
            if "index_not_found" not in str(exc) or isinstance(exc, StaleCursorError):
                raise
        return fn(self._current(refresh=True))

    def generation_name(self) -> str:
        return self._current().generation

    def index_info(self) -> IndexInfo:
        served = self._current()
        return index_info(served.generation, served.meta["sources"])

    # -- search -----------------------------------------------------------------------------
    def search(self, request: SearchRequest,
               visibility: Visibility = DEFAULT_VISIBILITY) -> SearchResponse:
        return self._run(lambda served: self._search(served, request, visibility))

    def _search(self, served: Served, req: SearchRequest, vis: Visibility) -> SearchResponse:
        dm = served.datasets_matching(req.text)
        clauses = dsl.row_filter(req, vis, dm)
        unit = req.facet_unit or unit_of(req.level)
        searches: list[count_module.Search] = []
        if req.facets:
            index = served.index(self.prefix, UNIT_INDEX[unit])
            searches += [(tag, index, body) for tag, body in
                         facet_module.facet_searches(
                             req, vis, dm, req.facets, unit,
                             multi_copy=bool(served.meta.get("multi_copy_series")))]
        first = None  # a level's first page goes along, built once
        if req.level != "collection" and not req.page.after:
            first = self._level_page(served, req, clauses)
            searches.append(("page", first[1], first[2]))
        sources = sorted(served.meta["sources"])
        missing = dsl.missing_clauses(req, vis, dm) if req.counts else {}
        # a filtered facet's "no value" bucket is the records matching everything else that
        # lack the field: the "missing excluded" count of the facet unit's level
        level = "" if unit == "collections" else UNIT_INDEX[unit]
        from_facets = {n for n in missing if n in req.facets} if level else set()
        if req.counts:
            searches += count_module.searches(served, self.prefix, clauses, False, missing,
                                              sources, answered=(level, from_facets))
        tagged = self._msearch(searches)
        raw = {n: facet_module.read_facet(n, facet_module.facet_of(n, tagged), unit)
               for n in req.facets}
        facets = {n: buckets(raw[n], req.filters.get(n), n) for n in req.facets}
        counts = None
        if req.counts:
            overall, by_source, _ = count_module.read(tagged, sources, breakdown=False)
            answered = {level: {n: dict(raw[n]).get(None, 0) for n in from_facets}}
            counts = SearchCounts(**overall.model_dump(), by_source=by_source,
                                  missing_excluded=count_module.missing_excluded(
                                      missing, tagged, answered))
        if unit == "collections" and req.facets:
            extra = rowless_facets(served.rowless, req, vis, req.facets)
            facets = {n: buckets(merge_counts([(b.value, b.count) for b in facets[n]
                                               if b.count], extra[n]), req.filters.get(n), n)
                      for n in req.facets}
        total, page, nxt = self._page(served, req, vis, clauses,
                                      (first, tagged["page"]) if first else None)
        return SearchResponse(index=index_info(served.generation, served.meta["sources"]),
                              total=total, hits=page, facets=facets, facet_unit=unit,
                              counts=counts, next=nxt)

    def _msearch(self, searches: list[count_module.Search]) -> dict[str, JSON]:
        """Answers of tagged searches sent in one round trip, by tag."""
        if not searches:
            return {}
        answers = self.client.msearch([(index, body) for _, index, body in searches])
        return {tag: answer for (tag, _, _), answer in zip(searches, answers, strict=True)}

    def _page(self, served: Served, req: SearchRequest, vis: Visibility, clauses: list[JSON],
              first: tuple[LevelPage, JSON] | None = None,
              ) -> tuple[Total, list[Any], str | None]:
        """The requested page; ``first``: the first page's search (``_level_page``) and its
        answer, when it went along with the facets and counts."""
        fp = paging.fingerprint(req)
        position = paging.decode(req.page.after, served.generation, fp)
        if req.level == "collection":
            return self._collection_page(served, req, vis, clauses, fp, position)
        if first is not None:
            (kind, index, _, clauses), answer = first
            got, pit = answer, None
        else:
            kind, index, body, clauses = self._level_page(served, req, clauses)
            got, pit = self._paged_search(index, body, position)
        hits = got["hits"]["hits"]
        total = int(got["hits"]["total"]["value"])
        page: list[Any]
        if kind == "series":
            page = [hit_module.series_hit(h, vis) for h in hits]
        else:
            keys = [h["fields"]["key"][0] for h in hits]
            page = self._summaries(index, clauses, kind, keys) if keys else []
        done = (position or {}).get("n", 0) + len(hits)
        nxt = None
        if req.page.size and hits and done < total:
            nxt = paging.encode(served.generation, fp,
                                {"sa": hits[-1]["sort"], "pit": pit, "n": done})
        elif pit:
            self.client.close_pit(pit)
        return Total(count=total, unit=req.level), page, nxt

    def _level_page(self, served: Served, req: SearchRequest, clauses: list[JSON],
                    ) -> LevelPage:
        """(kind, index, body of its first page, clauses on that index) of a level page."""
        kind = {"series": "series", "study": "study", "subject": "subject"}[req.level]
        body, clauses = hit_module.level_page(
            kind, req, clauses, flat=not served.meta.get("multi_copy_series"))
        return kind, served.index(self.prefix, kind), body, clauses

    def _paged_search(self, index: str, body: JSON, position: Any) -> tuple[JSON, str | None]:
        """The first page on the index; later ones on the token's point in time (or on the
        generation's index again, which never changes, if the point in time expired)."""
        if not position:
            return self.client.search(index, body), None
        if not isinstance(position, dict) or "sa" not in position:
            raise ValueError("page.after is not a token this API issued")
        body = {**body, "search_after": position["sa"]}
        # the second page opens a point in time that later pages reuse (a first page never
        # pays for one: most questions stop there)
        pit = position.get("pit") or self._open_pit(index)
        if pit:
            try:
                got = self.client.search(None, {**body, "pit": {"id": pit,
                                                                "keep_alive": PIT_KEEP}})
                return got, got.get("pit_id") or pit
            except StoreError as exc:
                if isinstance(exc, StoreUnavailable):
                    raise
        try:
            return self.client.search(index, body), None
        except StoreError as exc:
            if "index_not_found" in str(exc):
                raise StaleCursorError("page.after was issued by an index generation that "
                                       "is no longer kept. Start again.") from exc
            raise

    def _open_pit(self, index: str) -> str | None:
        try:
            return self.client.open_pit(index, PIT_KEEP)
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            return None  # e.g. the index is gone: the search below says so

    def _summaries(self, index: str, clauses: list[JSON], level: str, keys: list[str],
                   ) -> list[Any]:
        body = {"size": 0, "query": {"bool": {"filter": [{"terms": {"key": keys}},
                                                          dsl.has_row(clauses)]}},
                "aggs": hit_module.summary_aggs(clauses, level, len(keys))}
        got = self.client.search(index, body)
        return list(hit_module.summaries(got["aggregations"], level, keys))

    def _collection_page(self, served: Served, req: SearchRequest, vis: Visibility,
                         clauses: list[JSON], fp: str, position: Any,
                         ) -> tuple[Total, list[Any], str | None]:
        start = 0 if position is None else position
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise ValueError("page.after is not a token this API issued")
        datasets = {"terms": {"field": dsl.f("dataset"), "size": dsl.TERMS_SIZE},
                    "aggs": {"s": {"filter": dsl.IS_SERIES}}}  # matching series
        body = {"size": 0, "query": dsl.has_row(clauses), "aggs": {"rows": {
            "nested": {"path": mapping.NESTED}, "aggs": {"m": {
                "filter": {"bool": {"filter": clauses}}, "aggs": {"d": datasets}}}}}}
        got = self.client.search(served.index(self.prefix, "series"), body)
        per = {b["key"]: b["s"]["doc_count"]
               for b in got["aggregations"]["rows"]["m"]["d"]["buckets"]}
        for c in served.rowless:
            if rowless_matches(c, req, vis):
                per[c["dataset"]] = 0
        docs = sorted((c for c in served.collections if c["dataset"] in per),
                      key=lambda c: (c["source"], c["collection"]))
        size = req.page.size
        page = [hit_module.collection_hit(c, per[c["dataset"]]) for c in docs[start:start + size]]
        end = start + len(page)
        nxt = paging.encode(served.generation, fp, end) if end < len(docs) and size else None
        return Total(count=len(docs), unit="collection"), page, nxt

    # -- counts, facets, records ------------------------------------------------------------
    def count(self, query: CohortQuery,
              visibility: Visibility = DEFAULT_VISIBILITY) -> CountResponse:
        def run(served: Served) -> CountResponse:
            dm = served.datasets_matching(query.text)
            clauses = dsl.row_filter(query, visibility, dm)
            sources = sorted(served.meta["sources"])
            missing = dsl.missing_clauses(query, visibility, dm)
            tagged = self._msearch(count_module.searches(
                served, self.prefix, clauses, True, missing, sources))
            overall, by_source, by_collection = count_module.read(tagged, sources, True)
            return CountResponse(index=index_info(served.generation, served.meta["sources"]),
                                 **overall.model_dump(), by_source=by_source,
                                 by_collection=by_collection,
                                 missing_excluded=count_module.missing_excluded(missing,
                                                                                tagged))
        return self._run(run)

    def records(self, query: CohortQuery, visibility: Visibility = DEFAULT_VISIBILITY,
                series_uids: Sequence[str] | None = None) -> SeriesStream:
        return self._run(lambda served: EngineStream(
            self.client, served.index(self.prefix, "series"), served.generation, served.meta,
            served.collections, query, visibility, served.datasets_matching(query.text),
            series_uids))

    def facets(self, visibility: Visibility = DEFAULT_VISIBILITY) -> FacetsResponse:
        names = [n for n, s in FIELDS.items() if s.facet]
        got = self.search(SearchRequest(facets=names, page={"size": 0}), visibility)
        return facets_response(got.index, got.facets)

    def coverage(self, visibility: Visibility = DEFAULT_VISIBILITY) -> CoverageResponse:
        def run(served: Served) -> CoverageResponse:
            got = self.client.search(served.index(self.prefix, "series"),
                                     coverage_module.body(visibility))
            return CoverageResponse(index=index_info(served.generation, served.meta["sources"]),
                                    sources=coverage_module.read(got))
        return self._run(run)

    def record(self, record_id: str, visibility: Visibility = DEFAULT_VISIBILITY,
               ) -> SeriesRecord | CollectionRecord | None:
        def run(served: Served) -> SeriesRecord | CollectionRecord | None:
            if ":collection:" in record_id:
                for c in served.collections:
                    if c["id"] == record_id:
                        if not visibility.allows(c["access"], c["source"], c["collection"]):
                            return None
                        return CollectionRecord(**collection_from_doc(c))
            clauses = [{"term": {dsl.f("id"): record_id}},
                       dsl.visibility_clause(visibility)]
            got = self.client.search(served.index(self.prefix, "series"), {
                "size": 1, "_source": hit_module.HIT_SOURCE,
                "query": dsl.has_row(clauses, {"size": 1, "_source": True})})
            hits = got["hits"]["hits"]
            if not hits:
                return None
            hit = hit_module.series_hit(hits[0], visibility)
            return SeriesRecord(**hit.model_dump(exclude={"links", "hosts"}))
        return self._run(run)

    def sources(self) -> SourcesResponse:
        health = self.health()
        try:
            served = self._current()
        except (NoIndexError, StoreError):
            return SourcesResponse(index=None, sources=[], backend=health)
        return sources_response(served.generation, served.meta["sources"], health)

    def health(self) -> StoreHealth:
        try:
            h = self.client.request("GET", "/_cluster/health")
            gen = publish.served_generation(self.client, self.prefix)
        except StoreError as exc:
            return StoreHealth(backend=self.kind, status="unavailable", detail=str(exc))
        status = {"green": "ok", "yellow": "degraded"}.get(h.get("status"), "unavailable")
        detail = f"cluster {h.get('cluster_name')} is {h.get('status')}"
        if gen is None:
            detail += "; nothing published yet: run 'ihub harvest'"
        return StoreHealth(backend=self.kind, status=status, detail=detail,  # type: ignore[arg-type]
                           generation=gen, nodes=h.get("number_of_nodes"))

    def close(self) -> None:
        self.client.close()
