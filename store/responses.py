"""Response parts every backend builds the same way: facet buckets, field descriptions,
index and source listings. Backends compute numbers; the shape is decided here, once."""

from __future__ import annotations

from typing import Any, SupportsFloat, SupportsInt

from imaging_hub.schemas.counts import CountBlock, CountValue, FacetBucket
from imaging_hub.schemas.fields import DEFAULT_FACETS, FIELDS, SORT_FIELDS
from imaging_hub.schemas.filters import FieldFilter
from imaging_hub.schemas.query import (
    FacetsResponse,
    FieldInfo,
    IndexInfo,
    Level,
    SourcesResponse,
    SourceStatus,
    SourceVersion,
    StoreHealth,
    Unit,
)

UNIT_OF_LEVEL: dict[Level, Unit] = {
    "series": "series", "study": "studies", "subject": "subjects", "collection": "collections"}


def unit_of(level: Level) -> Unit:
    """The unit facets count in by default at a browse level."""
    return UNIT_OF_LEVEL[level]


def buckets(pairs: list[tuple[Any, int]], selected: FieldFilter | None,
            name: str = "") -> list[FacetBucket]:
    """Facet buckets, largest first, "not recorded" (value null) last; selected values stay
    listed even at zero (matched)."""
    counts = dict(pairs)
    if selected is not None:
        spec = FIELDS.get(name)
        for v in selected.values:
            if spec is not None and spec.kind == "range" and not isinstance(v, bool):
                v = int(float(v))
            counts.setdefault(v, 0)
        if selected.missing:
            counts.setdefault(None, 0)
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] is None, -kv[1], str(kv[0])))
    return [FacetBucket(value=v, count=c) for v, c in ordered]


def field_infos() -> list[FieldInfo]:
    """The searchable fields as the page and API clients see them (the field registry)."""
    return [FieldInfo(name=s.name, kind=s.kind, label=s.label or s.name,
                      description=s.description, facet=s.facet,
                      collection_level=s.collection_level, multi=s.multi,
                      sortable=s.sortable, display=dict(s.display),
                      values_also=s.also_values, control=s.control)
            for s in FIELDS.values()]


def facets_response(index: IndexInfo, facets: dict[str, list[FacetBucket]]) -> FacetsResponse:
    return FacetsResponse(index=index, fields=field_infos(), facets=facets,
                          default_facets=list(DEFAULT_FACETS), sort_fields=list(SORT_FIELDS))


def _version(name: str, entry: dict[str, Any]) -> SourceVersion:
    r = entry["report"]
    return SourceVersion(source=name, version=r["source_version"],
                         harvested_at=r["started_at"], run_id=r["run_id"],
                         type=entry.get("type") or "", links=dict(entry.get("links") or {}),
                         tiers=entry.get("tiers"), min_count=entry.get("min_count") or 10)


def index_info(generation: str, sources: dict[str, Any]) -> IndexInfo:
    """The generation served and, per source, its version, type and link parameters."""
    return IndexInfo(generation=generation,
                     sources=[_version(n, s) for n, s in sorted(sources.items())])


def sources_response(generation: str, sources: dict[str, Any],
                     health: StoreHealth) -> SourcesResponse:
    out = []
    for name, s in sorted(sources.items()):
        r = s["report"]
        out.append(SourceStatus(
            source=name, version=r["source_version"], harvested_at=r["started_at"],
            run_id=r["run_id"], series=r["series"], collections=r["collections"],
            rejected=r["rejected"], warnings=r["warnings"]))
    return SourcesResponse(index=index_info(generation, sources), sources=out, backend=health)


def count_block(subjects: SupportsInt, studies: SupportsInt, series: SupportsInt,
           instances: SupportsFloat, size: SupportsFloat,
           size_unknown: SupportsFloat = 0) -> CountBlock:
    """Counts; bytes are a lower bound (``exact`` false) when some series have no size."""
    unknown = round(float(size_unknown))
    return CountBlock(
        subjects=CountValue(count=int(subjects)), studies=CountValue(count=int(studies)),
        series=CountValue(count=int(series)),
        instances=CountValue(count=round(float(instances))),
        bytes=CountValue(count=round(float(size)), exact=unknown == 0,
                         missing=unknown or None),
    )
