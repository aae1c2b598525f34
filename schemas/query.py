"""Requests and responses of the query API (HTTP and CLI share them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imaging_hub.schemas import guppy
from imaging_hub.schemas.counts import (
    ESTIMATED_DOC,
    MISSING_EXCLUDED_DOC,
    CountBlock,
    CountValue,
    EstimatedAdditional,
    FacetBucket,
    MissingExcluded,
    RestrictedPart,
    SearchCounts,
    is_none,
    is_true,
)
from imaging_hub.schemas.fields import FACET_FIELDS, SORT_FIELDS
from imaging_hub.schemas.filters import (
    MAX_EXPR_NODES,
    Expr,
    FieldFilter,
    expr_size,
    parse_field_filter,
)
from imaging_hub.schemas.records import AccessTier, CollectionRecord, SeriesRecord

MAX_PAGE_SIZE = 1000
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


FilterValue = FieldFilter


class CohortQuery(_Strict):
    """Text plus filters: values OR within a field, AND across fields; ranges inclusive;
    ``null`` selects records lacking the field. ``where`` (all / any / not over field
    matches) is AND'ed with them."""

    text: str | None = Field(
        None, max_length=500, description="Words matched in descriptions and collection names."
    )
    filters: dict[str, FieldFilter] = Field(
        default_factory=dict, description="Per field: values, ranges ({gte, lte}) or null "
        "(records lacking the field), OR'ed; fields AND'ed. Or a Gen3 Guppy filter "
        "({\"AND\": [{\"IN\": {\"modality\": [\"CT\"]}}, ...]}; see README).")
    where: Expr | None = Field(
        None, description="A boolean combination of field matches: {'all': [...]}, "
        "{'any': [...]}, {'not': {...}}, {'field': F, 'any_of': [...]}.")

    @model_validator(mode="before")
    @classmethod
    def _guppy(cls, data: Any) -> Any:
        """Gen3 Guppy filter JSON in ``filters``, read into filters + where
        (``schemas.guppy``; raises ``GuppyFilterError``, a ``ValueError``)."""
        return guppy.apply(data)

    @field_validator("filters", mode="before")
    @classmethod
    def _parse_filters(cls, filters: Any) -> Any:
        """Check every filter against the field table, with messages naming the field."""
        if not isinstance(filters, dict):
            return filters  # pydantic reports the type error
        return {name: parse_field_filter(name, value) for name, value in filters.items()}

    @field_validator("where")
    @classmethod
    def _small(cls, where: Expr | None) -> Expr | None:
        if where is not None and expr_size(where) > MAX_EXPR_NODES:
            raise ValueError(f"'where' has more than {MAX_EXPR_NODES} parts")
        return where


class Page(_Strict):
    size: int = Field(20, ge=0, le=MAX_PAGE_SIZE)
    after: str | None = Field(None, max_length=4096,
                              description="'next' token of a prior page.")


RELEVANCE = "relevance"
Level = Literal["series", "study", "subject", "collection"]
Unit = Literal["series", "studies", "subjects", "collections"]


class SearchRequest(CohortQuery):
    """``POST /api/v1/search``."""

    level: Level = "series"
    facet_unit: Unit | None = Field(
        None, description="What facet counts count: distinct series, studies, subjects or "
        "collections (default: the unit of the browse level).")
    facets: list[str] = Field(default_factory=list, max_length=len(FACET_FIELDS))
    page: Page = Field(default_factory=lambda: Page.model_validate({}))
    counts: bool = Field(
        False, description="Also return exact cohort counts (overall and by source)."
    )
    sort: str | None = Field(
        None, description=f"One of {', '.join(SORT_FIELDS)}, '-' prefix for descending; or "
        "'relevance': series whose fields match the text best first (BM25 on the search "
        "engines, a tf-idf over the same fields on the embedded store; ties in index order)."
    )

    @field_validator("facets")
    @classmethod
    def _known_facets(cls, facets: list[str]) -> list[str]:
        for name in facets:
            if name not in FACET_FIELDS:
                raise ValueError(f"unknown facet {name!r}; facetable: {', '.join(FACET_FIELDS)}")
        return list(dict.fromkeys(facets))

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, sort: str | None) -> str | None:
        if sort == RELEVANCE:
            return sort
        if sort is not None and sort.lstrip("-") not in SORT_FIELDS:
            raise ValueError(f"cannot sort by {sort!r}; sortable: {', '.join(SORT_FIELDS)}, "
                             f"or {RELEVANCE!r} (best text matches first)")
        return sort


class Link(BaseModel):
    rel: str = Field(description="viewer, doi, drs, s3, wado-rs, landing ...")
    href: str
    host: str = Field(description="Platform the link leads to.")
    title: str | None = None


class SeriesHit(SeriesRecord):
    links: list[Link] = Field(default_factory=list)
    hosts: list[str] = Field(
        default_factory=list,
        description="Every source holding this SeriesInstanceUID (one series, several hosts).")


class CollectionHit(CollectionRecord):
    links: list[Link] = Field(default_factory=list)
    series: int = Field(0, description="Matching series of the collection in this index.")


class StudyHit(BaseModel):
    """A DICOM study (grouped from its matching series; one study even at several hosts)."""

    id: str = Field(description="'study:<StudyInstanceUID>'")
    level: Literal["study"] = "study"
    study_uid: str
    subject_id: str
    collection: str
    hosts: list[str] = Field(description="Sources holding matching series of the study.")
    study_date: str | None = None
    study_description: str | None = None
    modalities: list[str]
    series: int = Field(description="Matching series of the study.")
    instances: int
    links: list[Link] = Field(default_factory=list)


class SubjectHit(BaseModel):
    """A subject (PatientID within a source), grouped from its matching series."""

    id: str = Field(description="'<source>:subject:<PatientID>' of its first source")
    level: Literal["subject"] = "subject"
    source: str
    subject_id: str
    hosts: list[str] = Field(
        default_factory=list,
        description="Sources holding the subject (linked through shared study UIDs).")
    collections: list[str]
    sex: str | None = None
    age_min: float | None = Field(None, description="Youngest age at a matching study.")
    age_max: float | None = None
    modalities: list[str]
    studies: int = Field(description="Matching studies of the subject.")
    series: int = Field(description="Matching series of the subject.")


class Total(BaseModel):
    count: int = Field(description="Matching records the caller may list (exact).")
    exact: bool = True
    unit: Level
    restricted: RestrictedPart | None = Field(
        None, exclude_if=is_none, description="Matching records the caller may count but not "
        "list, protected (absent: none can match).")


class TierCount(BaseModel):
    series: int = 0
    collections: int = 0


class SourceVersion(BaseModel):
    source: str
    version: str
    harvested_at: str
    run_id: str
    type: str = Field("", description="Source type (idc, dicomweb, ...): which links it gets.")
    links: dict[str, str] = Field(
        default_factory=dict, description="What the source's links need (e.g. WADO-RS root).")
    # internal (never serialised): the source's published records per access tier, from
    # the manifest (None: published before tiers were recorded); read by imaging_hub.access
    tiers: dict[AccessTier, TierCount] | None = Field(None, exclude=True)
    # internal: the source's small-count threshold (sources.toml min_count, recorded at
    # publish; read by search_ui.protect)
    min_count: int = Field(10, exclude=True)


class IndexInfo(BaseModel):
    generation: str
    sources: list[SourceVersion]


class Suggestion(BaseModel):
    field: str
    label: str
    value: str
    count: int = Field(description="Series with this value (visible to the caller).")


class SearchResponse(BaseModel):
    index: IndexInfo
    total: Total
    hits: list[SeriesHit | StudyHit | SubjectHit | CollectionHit]
    facets: dict[str, list[FacetBucket]]
    facet_unit: Unit = Field("series", description="What the facet counts count.")
    counts: SearchCounts | None = None
    facets_timed_out: list[str] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(
        default_factory=list, description="When text matched nothing: facet values holding "
        "its words, with their counts (series).")
    next: str | None = None


class CountResponse(CountBlock):
    index: IndexInfo
    by_source: dict[str, CountBlock]
    by_collection: dict[str, CountBlock]
    missing_excluded: dict[str, MissingExcluded] = Field(
        default_factory=dict, description=MISSING_EXCLUDED_DOC)
    estimated_additional: EstimatedAdditional | None = Field(
        None, exclude_if=is_none, description=ESTIMATED_DOC)


class RecordResponse(BaseModel):
    index: IndexInfo
    record: SeriesHit | CollectionHit


class FieldInfo(BaseModel):
    name: str
    kind: str = Field(description="keyword, range or boolean")
    label: str = Field(description="How the page names the field.")
    description: str
    facet: bool
    collection_level: bool
    multi: bool = Field(False, description="Several values per record (collection lists).")
    sortable: bool = False
    values_also: bool = Field(False, description="A range field that also takes values.")
    display: dict[str, str] = Field(default_factory=dict, description="value -> label")
    control: Literal["values", "buckets", "range"] | None = Field(
        None, description="How the page offers it; null: filter-only (drill-down links).")


class FacetsResponse(BaseModel):
    index: IndexInfo
    fields: list[FieldInfo] = Field(description="Searchable fields, in the page's order.")
    facets: dict[str, list[FacetBucket]] = Field(description="Unfiltered counts (series).")
    default_facets: list[str] = Field(default_factory=list)
    sort_fields: list[str] = Field(default_factory=list)


class SourceStatus(BaseModel):
    source: str
    version: str
    harvested_at: str
    run_id: str
    series: int | None = Field(description="Series records (null: suppressed, see detail).")
    collections: int | None
    rejected: dict[str, int]
    warnings: dict[str, int]
    exact: bool = Field(True, exclude_if=is_true)
    detail: dict[str, CountValue] | None = Field(
        None, exclude_if=is_none, description="series / collections holding records the caller "
        "may count but not see: how they were protected.")


class StoreHealth(BaseModel):
    """The index store's state, as operators see it in ``ihub sources`` and the API."""

    backend: str = Field(description="embedded, opensearch or elasticsearch")
    status: Literal["ok", "degraded", "unavailable"]
    detail: str | None = None
    generation: str | None = Field(None, description="The generation being served.")
    nodes: int | None = Field(None, description="Cluster nodes answering (search engines).")


class SourcesResponse(BaseModel):
    index: IndexInfo | None
    sources: list[SourceStatus]
    backend: StoreHealth | None = None


class Grant(BaseModel):
    """Records of one access tier a caller may see, optionally only those of some sources
    or collections (a token scope such as ``controlled,source:midrc``)."""

    model_config = ConfigDict(frozen=True)
    tier: AccessTier
    sources: frozenset[str] | None = None
    collections: frozenset[str] | None = None


class Visibility(BaseModel):
    """Which records an answer may draw on: those a grant covers. The access policy builds
    it; every backend applies it to every answer (hits, counts, facets, lookups), so nothing
    outside it leaks."""

    model_config = ConfigDict(frozen=True)
    grants: frozenset[Grant] = frozenset(
        Grant(tier=t) for t in ("open", "registration", "controlled"))

    @classmethod
    def of_tiers(cls, *tiers: AccessTier) -> Visibility:
        return cls(grants=frozenset(Grant(tier=t) for t in tiers))

    @property
    def tiers(self) -> frozenset[str]:
        """Tiers some grant covers (entirely or in part)."""
        return frozenset(g.tier for g in self.grants)

    def allows(self, tier: str, source: str, collection: str) -> bool:
        return any(g.tier == tier and (g.sources is None or source in g.sources)
                   and (g.collections is None or collection in g.collections)
                   for g in self.grants)


DEFAULT_VISIBILITY = Visibility()


class ErrorDetail(BaseModel):
    field: str | None = None
    problem: str


class ErrorBody(BaseModel):
    error: str = Field(description="Short code, e.g. invalid_request, not_found.")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


SearchResponse.model_rebuild()
