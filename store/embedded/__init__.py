"""The embedded index store (default): immutable generations on disk, served from memory.

No server process: ``publish`` writes a new generation beside the served one and switches
CURRENT atomically; readers notice the switch on their next request and load it, while a
publish that fails leaves the previous generation answering.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.errors import NoIndexError, StoreError
from imaging_hub.indexers.base import HarvestResult, Scope
from imaging_hub.schemas.columnar import collection_fields, series_fields
from imaging_hub.schemas.counts import MissingExcluded, SearchCounts
from imaging_hub.schemas.dictionary import CoverageResponse
from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.filters import FieldFilter
from imaging_hub.schemas.query import (
    DEFAULT_VISIBILITY,
    RELEVANCE,
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
from imaging_hub.store.embedded import layout, pages, stream
from imaging_hub.store.embedded.counts import Counter
from imaging_hub.store.embedded.coverage import coverage as field_coverage
from imaging_hub.store.embedded.engine import Generation
from imaging_hub.store.embedded.facets import FacetCounter
from imaging_hub.store.embedded.publish import publish_generation, published_count
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
from imaging_hub.store.streaming import SeriesStream


class EmbeddedStore:
    """``IndexStore`` over Arrow generations under ``index_dir``."""

    kind = "embedded"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._lock = threading.Lock()
        self._gen: Generation | None = None
        self._counter: Counter | None = None
        self._facets: FacetCounter | None = None

    # -- publishing -------------------------------------------------------------------------
    def publish(self, result: HarvestResult, source_type: str = "") -> Published:
        return publish_generation(self.index_dir, result, source_type)

    def published_count(self, source: str, scope: Scope | None) -> int:
        return published_count(self.index_dir, source, scope)

    # -- reading ----------------------------------------------------------------------------
    def generation(self) -> Generation:
        """The served generation, reloaded when CURRENT has moved (embedded internals and
        their tests only; callers use the ``IndexStore`` methods). Raises ``NoIndexError``."""
        name = layout.current_name(self.index_dir)
        if name is None:
            raise NoIndexError(f"no index published under {self.index_dir}; run 'ihub harvest'")
        with self._lock:
            if self._gen is None or self._gen.name != name:
                try:
                    gen = Generation(self.index_dir / name)
                except StoreError:
                    raise
                except (OSError, pa.ArrowInvalid, KeyError, ValueError, AttributeError,
                        TypeError) as exc:
                    raise StoreError(f"generation {name} unreadable ({exc}); run 'ihub "
                                     f"harvest' to rebuild it") from exc
                self._gen, self._counter, self._facets = gen, Counter(gen), FacetCounter(gen)
            return self._gen

    def _tools(self) -> tuple[Generation, Counter, FacetCounter]:
        gen = self.generation()
        with self._lock:
            assert self._counter is not None and self._facets is not None
            if self._counter.gen is not gen:  # a reload raced us: use matching helpers
                return gen, Counter(gen), FacetCounter(gen)
            return gen, self._counter, self._facets

    def generation_name(self) -> str:
        name = layout.current_name(self.index_dir)
        if name is None:
            raise NoIndexError(f"no index published under {self.index_dir}; run 'ihub harvest'")
        return name

    def index_info(self) -> IndexInfo:
        return index_info(self.generation().name, self.generation().manifest["sources"])

    @staticmethod
    def _select(gen: Generation, q: CohortQuery, vis: Visibility,
                ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """The rows the text and visibility allow (None = all) and, over those, each
        filter's mask."""
        text = gen.text_mask(q.text)
        visible = gen.visible(vis)
        if visible is not None:
            text = visible if text is None else text & visible
        if q.where is not None:
            where = gen.where_mask(q.where)
            text = where if text is None else text & where
        universe = None if text is None else np.flatnonzero(text)
        return universe, {n: gen.field_mask(n, f, universe) for n, f in q.filters.items()}

    @staticmethod
    def _rows(universe: np.ndarray | None, masks: dict[str, np.ndarray],
              skip: str | None = None) -> np.ndarray | None:
        """Row indices matching every filter but ``skip`` (None = every row)."""
        mask: np.ndarray | None = None
        for name, m in masks.items():
            if name != skip:
                mask = m if mask is None else mask & m
        if mask is None:
            return universe
        return np.flatnonzero(mask) if universe is None else universe[mask]

    def search(self, request: SearchRequest,
               visibility: Visibility = DEFAULT_VISIBILITY) -> SearchResponse:
        gen, counter, facet_counter = self._tools()
        universe, masks = self._select(gen, request, visibility)
        rows = self._rows(universe, masks)
        unit = request.facet_unit or unit_of(request.level)
        facets = {}
        for name in request.facets:
            own = self._rows(universe, masks, skip=name) if name in masks else rows
            facets[name] = buckets(facet_counter.counts(name, own, unit),
                                   request.filters.get(name), name)
        if unit == "collections" and request.facets:
            extra = rowless_facets([gen.collection_rows[d] for d in pages.rowless_datasets(gen)],
                                   request, visibility, request.facets)
            facets = {n: buckets(merge_counts([(b.value, b.count) for b in facets[n]
                                               if b.count], extra[n]),
                                 request.filters.get(n), n) for n in request.facets}
        total, hits, nxt = self._page(gen, rows, request, visibility)
        counts = None
        if request.counts:
            overall = counter.overall(rows)
            counts = SearchCounts(**overall.model_dump(),
                                  by_source=counter.by_source(rows, overall),
                                  missing_excluded=self._missing_excluded(
                                      gen, counter, universe, masks, request))
        return SearchResponse(index=index_info(gen.name, gen.manifest["sources"]),
                              total=total, hits=hits, facets=facets, facet_unit=unit,
                              counts=counts, next=nxt)

    def _page(self, gen: Generation, rows: np.ndarray | None, req: SearchRequest,
              vis: Visibility) -> tuple[Total, list[pages.Hit], str | None]:
        """The requested page at the requested level, and the token of the next one."""
        fp = paging.fingerprint(req)
        start = paging.decode_offset(req.page.after, gen.name, fp)
        size = req.page.size
        hits: list[pages.Hit]
        if req.level == "collection":
            rowless = [d for d in pages.rowless_datasets(gen) if rowless_matches(
                gen.collection_rows[d], req, vis)]
            total, hits = pages.collection_page(gen, rows, start, size, rowless)
        elif req.level in ("study", "subject"):
            code = "_study" if req.level == "study" else "_subject"
            level_rows = gen.study_rows(rows) if req.level == "study" else rows
            total, groups = pages.group_page(gen, level_rows, code, start, size)
            build = pages.study_hits if req.level == "study" else pages.subject_hits
            hits = build(gen, groups)
        else:
            ordered = pages.first_of_each_series(
                gen, self._ordered(gen, gen.series_rows(rows), req.sort, req.text))
            total = len(ordered)
            hits = pages.series_hits(gen, ordered[start:start + size], gen.visible(vis))
        end = start + len(hits)
        nxt = paging.encode_offset(gen.name, fp, end) if end < total and size else None
        return Total(count=total, unit=req.level), hits, nxt

    @staticmethod
    def _ordered(gen: Generation, rows: np.ndarray | None, sort: str | None,
                 text: str | None = None) -> np.ndarray:
        if not sort or (sort == RELEVANCE and not text):
            return np.arange(gen.n) if rows is None else rows
        if sort == RELEVANCE:
            chosen = np.arange(gen.n) if rows is None else rows
            score = gen.text_scores(text)[chosen]
            return chosen[np.argsort(-score, kind="stable")]
        order = gen_order(gen, sort)
        if rows is None:
            return order
        mask = np.zeros(gen.n, bool)
        mask[rows] = True
        return order[mask[order]]

    def count(self, query: CohortQuery,
              visibility: Visibility = DEFAULT_VISIBILITY) -> CountResponse:
        gen, counter, _ = self._tools()
        universe, masks = self._select(gen, query, visibility)
        rows = self._rows(universe, masks)
        overall = counter.overall(rows)
        return CountResponse(
            index=index_info(gen.name, gen.manifest["sources"]), **overall.model_dump(),
            by_source=counter.by_source(rows, overall),
            by_collection=counter.by_collection(rows),
            missing_excluded=self._missing_excluded(gen, counter, universe, masks, query),
        )

    def records(self, query: CohortQuery, visibility: Visibility = DEFAULT_VISIBILITY,
                series_uids: Sequence[str] | None = None) -> SeriesStream:
        gen = self.generation()  # the stream keeps this generation, whatever is published
        universe, masks = self._select(gen, query, visibility)
        rows = self._rows(universe, masks)
        if series_uids is not None:
            rows = stream.member_rows(gen, rows, series_uids)
        ordered = stream.series_order(gen, rows)
        if series_uids is not None:
            ordered = stream.uid_order(gen, ordered)
        return stream.EmbeddedStream(gen, ordered, gen.visible(visibility))

    def _missing_excluded(self, gen: Generation, counter: Counter,
                          universe: np.ndarray | None, masks: dict[str, np.ndarray],
                          q: CohortQuery) -> dict[str, MissingExcluded]:
        """Per filter not selecting null: the records matching everything else that lack
        the field."""
        out = {}
        for name, flt in q.filters.items():
            if flt.missing:
                continue
            others = self._rows(universe, masks, skip=name)
            lacking = gen.field_mask(name, FieldFilter(missing=True), others)
            rows = np.flatnonzero(lacking) if others is None else others[lacking]
            b = counter.overall(rows)
            out[name] = MissingExcluded(subjects=b.subjects.count, studies=b.studies.count,
                                        series=b.series.count)
        return out

    def facets(self, visibility: Visibility = DEFAULT_VISIBILITY) -> FacetsResponse:
        gen, _, facet_counter = self._tools()
        visible = gen.visible(visibility)
        rows = None if visible is None else np.flatnonzero(visible)
        facets = {n: buckets(facet_counter.counts(n, rows, "series"), None)
                  for n, s in FIELDS.items() if s.facet}
        return facets_response(index_info(gen.name, gen.manifest["sources"]), facets)

    def coverage(self, visibility: Visibility = DEFAULT_VISIBILITY) -> CoverageResponse:
        gen = self.generation()
        visible = gen.visible(visibility)
        rows = None if visible is None else np.flatnonzero(visible)
        return CoverageResponse(index=index_info(gen.name, gen.manifest["sources"]),
                                sources=field_coverage(gen, rows))

    def record(self, record_id: str, visibility: Visibility = DEFAULT_VISIBILITY,
               ) -> SeriesRecord | CollectionRecord | None:
        gen = self.generation()
        if ":collection:" in record_id:
            hit = pc.indices_nonzero(pc.equal(gen.collections.column("id"), record_id))
            if len(hit):
                row = gen.collections.slice(hit[0].as_py(), 1).to_pylist()[0]
                if not visibility.allows(row["access"], row["source"], row["collection"]):
                    return None
                return CollectionRecord(**collection_fields(row))
        hit = pc.indices_nonzero(pc.equal(gen.table.column("id"), record_id))
        if not len(hit):
            return None
        i = hit[0].as_py()
        visible = gen.visible(visibility)
        if visible is not None and not visible[i]:
            return None
        ds = int(gen.codes["_dataset"][i])
        coll = gen.collections.slice(ds, 1).to_pylist()[0] if ds >= 0 else None
        return SeriesRecord(**series_fields(gen.table.slice(i, 1).to_pylist()[0], coll))

    def sources(self) -> SourcesResponse:
        try:
            gen = self.generation()
        except NoIndexError:
            return SourcesResponse(index=None, sources=[], backend=self.health())
        return sources_response(gen.name, gen.manifest["sources"], self.health())

    def health(self) -> StoreHealth:
        try:
            name = layout.current_name(self.index_dir)
        except OSError as exc:
            return StoreHealth(backend=self.kind, status="unavailable", detail=str(exc))
        detail = None if name else "nothing published yet: run 'ihub harvest'"
        return StoreHealth(backend=self.kind, status="ok", generation=name, detail=detail)

    def close(self) -> None:
        with self._lock:
            self._gen = self._counter = self._facets = None


def gen_order(gen: Generation, sort: str) -> np.ndarray:
    """Row order for a sort key ('-' = descending), missing values last; computed once per
    generation and key."""
    if sort not in gen.orders:
        values = gen.numeric[sort.lstrip("-")]
        keyed = np.where(np.isnan(values), np.inf, -values if sort.startswith("-") else values)
        gen.orders[sort] = np.argsort(keyed, kind="stable")
    return gen.orders[sort]
