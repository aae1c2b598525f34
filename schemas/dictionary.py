"""The data dictionary (``GET /api/v1/dictionary``, the page ``/dictionary``, ``ihub
schema``) and the field coverage every store backend computes for it.

Generated, never written by hand: fields from the registry (``schemas/fields.py``),
vocabularies from the tables (``indexers/vocab``), coverage from the index.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from imaging_hub.schemas.query import IndexInfo


class SourceCoverage(BaseModel):
    """How many of one source's records have a value, per searchable field."""

    records: int = Field(description="Series records of the source (visible to the caller).")
    fields: dict[str, int] = Field(
        default_factory=dict, description="field -> records with a value (a collection-level "
        "field: records whose collection has one)")


class CoverageResponse(BaseModel):
    index: IndexInfo
    sources: dict[str, SourceCoverage]


class TableSource(BaseModel):
    """One vocabulary table: where its rows come from."""

    table: str
    title: str = ""
    source: str = ""
    url: str | None = None
    version: str | None = None
    retrieved: str | None = None
    licence: str = ""
    notice: str | None = None
    rows: int = Field(description="Rows in effect (shipped, amended by the override).")
    shipped_rows: int
    override: str | None = Field(None, description="The operator's override file, if any.")
    override_rows: int = 0


class VocabularyEntry(BaseModel):
    """One harmonised value: its label and the raw spellings that map to it."""

    value: str
    label: str
    raw: list[str] = Field(default_factory=list, description="Raw values mapped to it.")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="e.g. body region, laterality, LOINC axes")


class Vocabulary(BaseModel):
    name: str
    description: str
    harmonised_from: list[str] = Field(description="The raw fields it is computed from.")
    tables: list[TableSource]
    entries: list[VocabularyEntry]


class FieldCoverage(BaseModel):
    records: int
    filled: int
    percent: float = Field(description="filled / records * 100, one decimal")


class DictionaryField(BaseModel):
    """A field of the records: how it is stored and searched, what fills it, how often."""

    name: str
    level: str = Field(description="series or collection (inherited by its series)")
    type: str = Field(description="storage type: keyword, float, int, long, date, ...")
    kind: str | None = Field(None, description="filter kind (keyword, range, boolean); "
                             "null: stored, not searchable")
    label: str
    description: str
    facet: bool = False
    text: bool = Field(False, description="part of free-text search")
    harmonised: bool = Field(False, description="computed from raw fields by a vocabulary")
    vocabulary: str | None = Field(None, description="name of its vocabulary")
    coverage: dict[str, FieldCoverage] | None = Field(
        None, description="per source (null: not computed: a stored-only field, or no index)")


class DictionaryResponse(BaseModel):
    index: IndexInfo | None = Field(None, description="The index coverage was computed on.")
    fields: list[DictionaryField]
    vocabularies: list[Vocabulary]
    notices: list[str] = Field(default_factory=list, description="Licence notices to show.")
    vocabulary_version: str = Field(description="Fingerprint of the tables in effect.")
