"""Exports (manifests) and saved cohorts: the requests and answers of ``/api/v1/export`` and
``/api/v1/cohorts`` (HTTP and CLI share them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from imaging_hub.schemas.filters import All, AnyOf, Expr, FieldFilter, Match, Not
from imaging_hub.schemas.query import CohortQuery, _Strict

ExportFormat = Literal["csv", "tsv", "jsonl", "s5cmd", "gen3", "tcia", "dicomweb"]
EXPORT_FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "s5cmd", "gen3", "tcia", "dicomweb")
FORMAT_DOC = (
    "csv / tsv: one row per series (the page's columns); jsonl: one JSON object per series, "
    "then a last line {\"_export\": {...}} with counts and citations; s5cmd: IDC series "
    "copies for 's5cmd run' (comment lines carry the citations); gen3: a manifest.json of "
    "GUIDs for gen3-client / gen3sdk; tcia: a .tcia manifest for the NBIA Data Retriever; "
    "dicomweb: study/series UIDs with their WADO-RS URLs (csv).")


def _items(flt: FieldFilter) -> list[Any]:
    return [r.model_dump(exclude_none=True) if isinstance(r, BaseModel) else r
            for r in flt.items()]


def _expr(e: Expr) -> dict[str, Any]:
    if isinstance(e, Match):
        return {"field": e.field, "any_of": _items(e.any_of)}
    if isinstance(e, Not):
        return {"not": _expr(e.not_)}
    if isinstance(e, All):
        return {"all": [_expr(x) for x in e.all]}
    assert isinstance(e, AnyOf)
    return {"any": [_expr(x) for x in e.any]}


def query_body(q: CohortQuery) -> dict[str, Any]:
    """A query as the API takes it (``CohortQuery.model_validate`` reads it back): what
    exports and cohorts record, so it can be sent again."""
    body: dict[str, Any] = {}
    if q.text is not None:
        body["text"] = q.text
    if q.filters:
        body["filters"] = {name: _items(f) for name, f in q.filters.items()}
    if q.where is not None:
        body["where"] = _expr(q.where)
    return body


QUERY_DOC = "The search body (text, filters, where), as the API takes it."


class ExportOptions(_Strict):
    format: ExportFormat = Field(description=FORMAT_DOC)
    bundle: bool = Field(
        False, description="A zip holding the manifest, CITATION.md (how to cite every "
        "collection in it, the hosts' usage policies) and export.json (generation, query, "
        "counts): for formats that have no room for citations (csv, tsv, gen3, tcia, "
        "dicomweb).")


class ExportRequest(CohortQuery, ExportOptions):
    """``POST /api/v1/export``: the search body (text, filters, where) and a format."""


class CohortSaveRequest(CohortQuery):
    """``POST /api/v1/cohorts``: a name and the search body defining the cohort."""

    name: str = Field(min_length=1, max_length=200, description="What you call the cohort.")

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        name = name.strip()
        if not name or not name.isprintable():
            raise ValueError("name must be printable text, not blank")
        return name


class Citation(BaseModel):
    """How to cite one collection an export holds."""

    source: str
    collection: str
    name: str | None = None
    citation: str | None = Field(None, description="Citation text as the source gives it "
                                 "(null: none recorded; cite the DOI).")
    doi: list[str] = Field(default_factory=list)
    series: int = Field(0, description="Series of this collection in the export.")


class UsagePolicy(BaseModel):
    """A host whose data usage policy asks users to cite and link back (TCIA's does)."""

    host: str
    url: str


class ExportSummary(BaseModel):
    """What an export held: ``export.json`` in a bundle, the last line of a jsonl export."""

    generation: str
    exported_at: str
    format: str
    query: dict[str, Any] = Field(description=QUERY_DOC)
    cohort: str | None = Field(None, description="The saved cohort exported, if any.")
    matched: int = Field(description="Series matching the query (each once).")
    written: int = Field(description="Entries written (a dicomweb export writes one per "
                         "WADO-RS location).")
    skipped: dict[str, int] = Field(
        default_factory=dict, description="Matching series the format cannot list, by "
        "reason (e.g. no_s3_location: a series no IDC bucket holds).")
    citations: list[Citation] = Field(default_factory=list)
    usage_policies: list[UsagePolicy] = Field(default_factory=list)


class MemberChange(BaseModel):
    count: int
    sample: list[str] = Field(default_factory=list, description="Up to 20 series UIDs.")


class CohortChanges(BaseModel):
    """What differs when the cohort's definition runs on the generation served now."""

    generation: str = Field(description="The generation served now.")
    members_now: int = Field(description="Series the definition selects now.")
    added: MemberChange = Field(description="Selected now, not a member.")
    removed: MemberChange = Field(description="Members the definition no longer selects "
                                  "(still in the index, or gone).")
    gone: MemberChange = Field(description="Members no longer in the index at all (or no "
                               "longer visible): a pinned export cannot list them.")


class CohortInfo(BaseModel):
    """``GET /api/v1/cohorts/{id}``: a saved cohort, pinned to the generation it was saved
    on, and what changed since."""

    id: str
    name: str
    created_at: str
    query: dict[str, Any] = Field(description=QUERY_DOC)
    generation: str = Field(description="The generation the members were read from.")
    scope: str = Field(description="The scope it was saved with; only callers with the "
                       "same scope may read it.")
    members: int = Field(description="Series saved (each once).")
    members_available: int = Field(description="Saved series still in the index and "
                                   "visible: what its export lists.")
    changes: CohortChanges | None = Field(
        None, description="null when the generation served now is the saved one.")
    export: str = Field(description="Path of its export (add ?format=...).")
