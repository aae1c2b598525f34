"""The embedded index store (default): immutable generations on disk, served from memory.

No server process: ``publish`` writes a new generation beside the served one and switches
CURRENT atomically; readers notice the switch on their next request and load it, while a
publish that fails leaves the previous generation answering.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from imaging_hub.errors import NoIndexError, StaleCursorError, StoreError
from imaging_hub.indexers.base import HarvestResult
from imaging_hub.schemas.columnar import (
    collection_fields,
    series_fields,
)
from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.query import (
    CohortQuery,
    CountResponse,
    FacetBucket,
    FacetsResponse,
    FieldInfo,
    IndexInfo,
    SearchCounts,
    SearchRequest,
    SearchResponse,
    SourcesResponse,
    SourceStatus,
    SourceVersion,
    Total,
)
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord
from imaging_hub.store import layout, pages
from imaging_hub.store.counts import Counter
from imaging_hub.store.engine import SEQUESTERED, Generation, Mask, coerce_value
from imaging_hub.store.publish import Published, publish_generation


class EmbeddedStore:
    """``IndexStore`` over Arrow generations under ``index_dir``."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._lock = threading.Lock()
        self._gen: Generation | None = None
        self._counter: Counter | None = None

    # -- publishing -------------------------------------------------------------------------
    def publish(self, result: HarvestResult, source_type: str | None = None) -> Published:
        """Replace ``result.report.source``'s records (within ``result.scope``) atomically;
        return the new generation and the published report (with added/updated/unchanged/
        deleted counts). Raises ``StoreError``; the served generation then stays."""
        return publish_generation(self.index_dir, result, source_type)

    # -- reading ----------------------------------------------------------------------------
    def generation(self) -> Generation:
        """The served generation, reloaded when CURRENT has moved. Raises ``NoIndexError``."""
        name = layout.current_name(self.index_dir)
        if name is None:
            raise NoIndexError(f"no index published under {self.index_dir}; run 'ihub harvest'")
        with self._lock:
            if self._gen is None or self._gen.name != name:
                try:
                    self._gen = Generation(self.index_dir / name)
                except (OSError, pa.ArrowInvalid, KeyError, ValueError) as exc:
                    raise StoreError(f"generation {name} unreadable: {exc}") from exc
                self._counter = Counter(self._gen)
            return self._gen

    def _counter_for(self, gen: Generation) -> Counter:
        with self._lock:
            if self._counter is None or self._counter.gen is not gen:
                self._counter = Counter(gen)
            return self._counter

    @staticmethod
    def index_info(gen: Generation) -> IndexInfo:
        return IndexInfo(generation=gen.name, sources=[
            SourceVersion(source=name, version=s["report"]["source_version"],
                          harvested_at=s["report"]["started_at"], run_id=s["report"]["run_id"])
            for name, s in sorted(gen.manifest["sources"].items())
        ])

    @staticmethod
    def _select(gen: Generation, q: CohortQuery) -> tuple[np.ndarray | None,
                                                          dict[str, np.ndarray]]:
        """The rows the text allows (None = all) and, over those, each filter's mask.
        Sequestered records are never in the universe."""
        text = gen.text_mask(q.text)
        if gen.visible is not None:
            text = gen.visible if text is None else text & gen.visible
        universe = None if text is None else np.flatnonzero(text)
        return universe, {n: gen.field_mask(n, f, universe) for n, f in q.filters.items()}

    @staticmethod
    def _rows(universe: np.ndarray | None, masks: dict[str, np.ndarray],
              skip: str | None = None) -> np.ndarray | None:
        """Row indices matching every filter but ``skip`` (None = every row)."""
        mask: Mask = None
        for name, m in masks.items():
            if name != skip:
                mask = m if mask is None else mask & m
        if mask is None:
            return universe
        return np.flatnonzero(mask) if universe is None else universe[mask]

    def search(self, request: SearchRequest) -> SearchResponse:
        gen = self.generation()
        universe, masks = self._select(gen, request)
        rows = self._rows(universe, masks)
        facets: dict[str, list[FacetBucket]] = {}
        for name in request.facets:
            own = self._rows(universe, masks, skip=name) if name in masks else rows
            facets[name] = _buckets(gen.facet_counts(name, own), request.filters.get(name), name)
        total, hits, nxt = self._page(gen, rows, request)
        counts = None
        if request.counts:
            counter = self._counter_for(gen)
            overall = counter.overall(rows)
            counts = SearchCounts(**overall.model_dump(),
                                  by_source=counter.by_source(rows, overall))
        return SearchResponse(index=self.index_info(gen), total=total, hits=hits,
                              facets=facets, counts=counts, next=nxt)

    def _page(self, gen: Generation, rows: np.ndarray | None, req: SearchRequest
              ) -> tuple[Total, list[pages.Hit], str | None]:
        """The requested page at the requested level, and the token of the next one."""
        fp = _fingerprint(req)
        start = _decode_cursor(req.page.after, gen.name, fp)
        size = req.page.size
        hits: list[pages.Hit]
        if req.level == "collection":
            total, hits = pages.collection_page(gen, rows, start, size)
        elif req.level in ("study", "subject"):
            code = "_study" if req.level == "study" else "_subject"
            total, groups = pages.group_page(gen, rows, code, start, size)
            build = pages.study_hits if req.level == "study" else pages.subject_hits
            hits = build(gen, groups)
        else:
            total = gen.n if rows is None else len(rows)
            hits = pages.series_hits(gen, self._ordered(gen, rows, req.sort)[start:start + size])
        end = start + len(hits)
        nxt = _encode_cursor(gen.name, fp, end) if end < total and size else None
        return Total(count=total, unit=req.level), hits, nxt

    @staticmethod
    def _ordered(gen: Generation, rows: np.ndarray | None, sort: str | None) -> np.ndarray:
        if not sort:
            return np.arange(gen.n) if rows is None else rows
        order = gen_order(gen, sort)
        if rows is None:
            return order
        mask = np.zeros(gen.n, bool)
        mask[rows] = True
        return order[mask[order]]

    def count(self, query: CohortQuery) -> CountResponse:
        gen = self.generation()
        universe, masks = self._select(gen, query)
        rows = self._rows(universe, masks)
        counter = self._counter_for(gen)
        overall = counter.overall(rows)
        return CountResponse(
            index=self.index_info(gen), **overall.model_dump(),
            by_source=counter.by_source(rows, overall),
            by_collection=counter.by_collection(rows),
        )

    def facets(self) -> FacetsResponse:
        gen = self.generation()
        fields = [FieldInfo(name=s.name, kind=s.kind, description=s.description, facet=s.facet,
                            collection_level=s.collection_level) for s in FIELDS.values()]
        rows = None if gen.visible is None else np.flatnonzero(gen.visible)
        facets = {n: _buckets(gen.facet_counts(n, rows), None)
                  for n, s in FIELDS.items() if s.facet}
        return FacetsResponse(index=self.index_info(gen), fields=fields, facets=facets)

    def record(self, record_id: str) -> SeriesRecord | CollectionRecord | None:
        gen = self.generation()
        import pyarrow.compute as pc

        if ":collection:" in record_id:
            hit = pc.indices_nonzero(pc.equal(gen.collections.column("id"), record_id))
            if len(hit):
                row = gen.collections.slice(hit[0].as_py(), 1).to_pylist()[0]
                if row["access"] == SEQUESTERED:
                    return None
                return CollectionRecord(**collection_fields(row))
        hit = pc.indices_nonzero(pc.equal(gen.table.column("id"), record_id))
        if not len(hit):
            return None
        i = hit[0].as_py()
        if gen.visible is not None and not gen.visible[i]:
            return None
        ds = int(gen.codes["_dataset"][i])
        coll = gen.collections.slice(ds, 1).to_pylist()[0] if ds >= 0 else None
        return SeriesRecord(**series_fields(gen.table.slice(i, 1).to_pylist()[0], coll))

    def sources(self) -> SourcesResponse:
        try:
            gen = self.generation()
        except NoIndexError:
            return SourcesResponse(index=None, sources=[])
        out = []
        for name, s in sorted(gen.manifest["sources"].items()):
            r = s["report"]
            out.append(SourceStatus(
                source=name, version=r["source_version"], harvested_at=r["started_at"],
                run_id=r["run_id"], series=r["series"], collections=r["collections"],
                rejected=r["rejected"], warnings=r["warnings"]))
        return SourcesResponse(index=self.index_info(gen), sources=out)


def _buckets(pairs: list[tuple[Any, int]], selected: Any, name: str = "") -> list[FacetBucket]:
    counts = dict(pairs)
    if isinstance(selected, list):  # selected values stay visible even at zero, as matched
        spec = FIELDS.get(name)
        for v in selected:
            if spec is not None and spec.kind == "range":
                v = int(float(v))
            elif spec is not None:
                v = coerce_value(name, spec.kind, v)
            counts.setdefault(v, 0)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [FacetBucket(value=v, count=c) for v, c in ordered]


def gen_order(gen: Generation, sort: str) -> np.ndarray:
    """Row order for a sort key ('-' = descending), missing values last; computed once per
    generation and key."""
    if sort not in gen.orders:
        values = gen.numeric[sort.lstrip("-")]
        keyed = np.where(np.isnan(values), np.inf, -values if sort.startswith("-") else values)
        gen.orders[sort] = np.argsort(keyed, kind="stable")
    return gen.orders[sort]


def _fingerprint(req: SearchRequest) -> str:
    body = req.model_dump_json(include={"text", "filters", "sort", "level"})
    return hashlib.sha1(body.encode()).hexdigest()[:12]


def _encode_cursor(gen: str, fp: str, pos: int) -> str:
    raw = json.dumps({"g": gen, "q": fp, "p": pos}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str | None, gen: str, fp: str) -> int:
    """Position a 'next' token points at. Raises ``StaleCursorError`` when the token is
    from another generation, ``ValueError`` when it is malformed or from another query."""
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        g, q, p = data["g"], data["q"], int(data["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("page.after is not a token this API issued") from exc
    if q != fp:
        raise ValueError("page.after belongs to a different query (text/filters/sort/level)")
    if g != gen:
        raise StaleCursorError(
            f"page.after was issued by index generation {g}; now serving {gen}. Start again.")
    if p < 0:
        raise ValueError("page.after is not a token this API issued")
    return p
