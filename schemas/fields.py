"""The field registry: every stored column and every searchable field, declared once.

Everything that needs to know the fields reads this table:

* the record models (``schemas/records.py``) are checked against it at import, so a field
  cannot be added to one without the other;
* the columnar layout (``schemas/columnar.py``: Arrow schemas, record <-> row);
* the store backends (the embedded engine's columns, the OpenSearch/Elasticsearch mappings);
* API validation (``schemas/query.py``) and ``GET /api/v1/facets``, which the web page reads
  instead of keeping its own list.

A ``Column`` is something stored per record; a column with a ``filter`` kind is a searchable
field. Collection-level fields (disease type, primary site, species) are stored on the
collection record and inherited by its series for filtering and faceting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["keyword", "float", "int", "long", "date", "timestamp", "bool", "json",
                     "keyword_list"]
FilterKind = Literal["keyword", "range", "boolean"]
FieldKind = FilterKind  # the name the query models use
Level = Literal["series", "collection"]


@dataclass(frozen=True)
class Column:
    """One stored field: its storage type, where it sits in the record model, and how it
    can be searched (``filter``; None = stored only)."""

    name: str
    type: ColumnType
    path: str  # attribute path in the record model, e.g. "identifiers.study_uid"
    filter: FilterKind | None = None
    facet: bool = False
    label: str = ""
    description: str = ""
    level: Level = "series"
    upper: bool = False  # coded values: filter values are upper-cased like the stored ones
    display: dict[str, str] = field(default_factory=dict)  # value -> label on the page
    text: bool = False  # part of free-text search
    sortable: bool = False
    also_values: bool = False  # a range field that also accepts a list of exact values
    provenance: bool = False  # not part of a record's content (ignored when diffing runs)
    widget: Literal["values", "buckets", "range"] | None = None  # the page's control

    @property
    def control(self) -> str | None:
        """How the page offers the field: a value list, buckets (+ range), a range; or
        None (filter-only: set by drill-down links, shown as chips)."""
        if self.widget:
            return self.widget
        return "values" if self.facet else None

    # -- the names the query layer has always used --------------------------------------
    @property
    def kind(self) -> FilterKind:
        assert self.filter is not None, f"{self.name} is not searchable"
        return self.filter

    @property
    def multi(self) -> bool:
        return self.type == "keyword_list"

    @property
    def collection_level(self) -> bool:
        return self.level == "collection"


FieldSpec = Column  # older name, kept for callers


def _c(name: str, type_: ColumnType, path: str | None = None, **kw: object) -> Column:
    return Column(name, type_, path or name, **kw)  # type: ignore[arg-type]


# Stored per series record, in this order (Arrow layout, OpenSearch mapping).
SERIES_COLUMNS: tuple[Column, ...] = (
    _c("id", "keyword", description="Stable record id: '<source>:<SeriesInstanceUID>'."),
    _c("source", "keyword", filter="keyword", facet=True, label="Platform (source)",
       description="Configured source (platform) name."),
    _c("collection", "keyword", filter="keyword", facet=True, label="Collection",
       description="Collection/project id as the source has it."),
    _c("subject_id", "keyword", filter="keyword", label="Subject",
       description="PatientID as the source has it."),
    _c("study_uid", "keyword", "identifiers.study_uid", filter="keyword", label="Study UID",
       description="DICOM StudyInstanceUID."),
    _c("series_uid", "keyword", "identifiers.series_uid", filter="keyword",
       label="Series UID", description="DICOM SeriesInstanceUID."),
    _c("doi", "keyword", "identifiers.doi", filter="keyword", label="DOI",
       description="DOI of the series' dataset."),
    _c("crdc_series_uuid", "keyword", "identifiers.crdc_series_uuid"),
    _c("drs_uri", "keyword", "identifiers.drs_uri"),
    _c("aws_bucket", "keyword", "identifiers.aws_bucket"),
    _c("source_native", "json", "identifiers.source_native"),
    _c("modality", "keyword", filter="keyword", facet=True, upper=True, label="Modality",
       description="DICOM Modality (CT, MR, SM, ...)."),
    _c("body_part", "keyword", filter="keyword", facet=True, upper=True, text=True,
       label="Body part examined", description="DICOM BodyPartExamined, upper-cased."),
    _c("body_part_raw", "keyword"),
    _c("sex", "keyword", filter="keyword", facet=True, upper=True, label="Sex",
       description="DICOM PatientSex: M, F, O.",
       display={"F": "female", "M": "male", "O": "other"}),
    _c("sex_raw", "keyword"),
    # -- harmonised (indexers/vocab): beside the raw fields, filled at harvest -------------
    _c("modality_meaning", "keyword", filter="keyword", label="Modality (meaning)", text=True,
       description="Meaning of the modality code (DICOM CID 29/33); harmonised."),
    _c("body_part_code", "keyword", filter="keyword", facet=True,
       label="Body part (SNOMED CT)",
       description="SNOMED CT code of BodyPartExamined (DICOM PS3.16 Annex L); harmonised."),
    _c("body_part_meaning", "keyword", text=True),
    _c("body_region", "keyword", filter="keyword", facet=True, upper=True,
       label="Body region",
       description="Coarse body region of the body part (HEAD, CHEST, ABDOMEN, ...); "
       "lung, heart and mediastinum are CHEST; harmonised."),
    _c("procedure", "keyword", filter="keyword", facet=True, label="Procedure (LOINC)",
       description="LOINC/RSNA Playbook code of the study description and modality "
       "(MIDRC's mapping table); harmonised."),
    _c("procedure_name", "keyword", text=True),
    _c("race", "keyword", filter="keyword", facet=True, label="Race",
       description="OMB race category; harmonised."),
    _c("race_raw", "keyword", filter="keyword", label="Race (as recorded)",
       description="Race as the source has it."),
    _c("ethnicity", "keyword", filter="keyword", facet=True, label="Ethnicity",
       description="OMB ethnicity category; harmonised."),
    _c("ethnicity_raw", "keyword", filter="keyword", label="Ethnicity (as recorded)",
       description="Ethnicity as the source has it."),
    _c("age", "float", filter="range", facet=True, sortable=True, widget="buckets",
       label="Age at imaging (years)",
       description="Age in years at imaging; facet buckets by decade."),
    _c("age_raw", "keyword"),
    _c("manufacturer", "keyword", filter="keyword", facet=True, label="Manufacturer",
       description="Equipment manufacturer as recorded."),
    _c("study_date", "date"),
    _c("study_year", "int", filter="range", facet=True, sortable=True, also_values=True,
       widget="range",
       label="Study year", description="Year of the study date."),
    _c("study_description", "keyword", text=True),
    _c("series_description", "keyword", text=True),
    _c("instances", "long", filter="range", sortable=True, label="Instances",
       description="Number of instances in the series."),
    _c("size_bytes", "long", filter="range", sortable=True, label="Size (bytes)",
       description="Size of the series in bytes."),
    _c("access", "keyword", "access.tier", filter="keyword", facet=True,
       label="Access tier",
       description="Access tier: open, registration, controlled, sequestered."),
    _c("license", "keyword", "access.license", filter="keyword", facet=True, label="Licence",
       description="Licence name as the source has it."),
    _c("license_url", "keyword", "access.license_url"),
    _c("commercial_use", "bool", "access.commercial_use", filter="boolean", facet=True,
       label="Commercial use", description="Whether the licence allows commercial use.",
       display={"true": "allowed", "false": "not allowed"}),
    _c("source_version", "keyword", "provenance.source_version", provenance=True),
    _c("harvested_at", "timestamp", "provenance.harvested_at", provenance=True),
    _c("run_id", "keyword", "provenance.run_id", provenance=True),
    # source attributes without a field of their own (an export's unmapped columns, a hub
    # row's platform); searchable as free text (names and values)
    _c("extra", "json", text=True),
)

# Stored per collection record.
COLLECTION_COLUMNS: tuple[Column, ...] = (
    _c("id", "keyword"),
    _c("source", "keyword"),
    _c("collection", "keyword", text=True),
    _c("name", "keyword", text=True),
    _c("description", "keyword", text=True),
    _c("disease_type", "keyword_list", filter="keyword", facet=True, level="collection",
       label="Disease type", description="Disease/cancer type of the collection.", text=True),
    _c("primary_site", "keyword_list", filter="keyword", facet=True, level="collection",
       label="Primary site", description="Primary/tumour site of the collection.", text=True),
    _c("species", "keyword_list", filter="keyword", facet=True, level="collection",
       label="Species", description="Species of the collection's subjects."),
    _c("subjects", "long"),
    _c("program", "keyword"),
    _c("status", "keyword"),
    _c("updated", "keyword"),
    _c("doi", "keyword_list"),
    _c("citation", "keyword"),
    _c("access", "keyword", "access.tier"),
    _c("license", "keyword", "access.license"),
    _c("license_url", "keyword", "access.license_url"),
    _c("commercial_use", "bool", "access.commercial_use"),
    _c("source_version", "keyword", "provenance.source_version", provenance=True),
    _c("harvested_at", "timestamp", "provenance.harvested_at", provenance=True),
    _c("run_id", "keyword", "provenance.run_id", provenance=True),
    _c("extra", "json", text=True),  # a catalogue entry's modalities, images, access, ...
)

# Searchable fields, in the order the page shows them.
_ORDER = ("source", "collection", "disease_type", "primary_site", "modality", "body_region",
          "body_part", "body_part_code", "procedure", "sex", "age", "race", "ethnicity",
          "license", "access", "commercial_use", "species", "manufacturer",
          "study_year", "subject_id", "study_uid", "series_uid", "doi", "instances",
          "size_bytes", "modality_meaning", "race_raw", "ethnicity_raw")
_SEARCHABLE = {c.name: c for c in SERIES_COLUMNS + COLLECTION_COLUMNS if c.filter}
assert set(_ORDER) == set(_SEARCHABLE), set(_ORDER) ^ set(_SEARCHABLE)
FIELDS: dict[str, Column] = {n: _SEARCHABLE[n] for n in _ORDER}

FACET_FIELDS: tuple[str, ...] = tuple(n for n, f in FIELDS.items() if f.facet)
DEFAULT_FACETS: tuple[str, ...] = (
    "source", "collection", "disease_type", "primary_site", "modality", "body_region",
    "body_part", "sex", "age", "license", "access",
)
AGE_BUCKET_YEARS = 10
SORT_FIELDS: tuple[str, ...] = tuple(n for n, f in FIELDS.items() if f.sortable)
# free text (schemas/text.py): per record these, and its collection's COLLECTION_TEXT_COLUMNS
TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in SERIES_COLUMNS if c.text)
COLLECTION_TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLLECTION_COLUMNS if c.text)
UPPER_CASE_FIELDS = frozenset(n for n, f in FIELDS.items() if f.upper)
SERIES_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in SERIES_COLUMNS)
CONTENT_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in SERIES_COLUMNS if not c.provenance and c.name != "id")
