"""The searchable fields, declared once: filters, facets and the store all read this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["keyword", "range", "boolean"]


@dataclass(frozen=True)
class FieldSpec:
    """How one field can be filtered and faceted."""

    name: str
    kind: FieldKind
    description: str
    facet: bool = True
    multi: bool = False  # several values per record (collection-level lists)
    collection_level: bool = False  # comes from the collection record, inherited by series
    also_values: bool = False  # a range field that also accepts a list of exact values


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("source", "keyword", "Configured source (platform) name."),
        FieldSpec("collection", "keyword", "Collection/project id as the source has it."),
        FieldSpec("modality", "keyword", "DICOM Modality (CT, MR, SM, ...)."),
        FieldSpec("body_part", "keyword", "DICOM BodyPartExamined, upper-cased."),
        FieldSpec("sex", "keyword", "DICOM PatientSex: M, F, O."),
        FieldSpec("age", "range", "Age in years at imaging; facet buckets by decade."),
        FieldSpec("manufacturer", "keyword", "Equipment manufacturer as recorded."),
        FieldSpec("license", "keyword", "Licence name as the source has it."),
        FieldSpec("access", "keyword", "Access tier: open, registration, controlled, sequestered."),
        FieldSpec("commercial_use", "boolean", "Whether the licence allows commercial use."),
        FieldSpec("study_year", "range", "Year of the study date.", also_values=True),
        FieldSpec(
            "disease_type", "keyword", "Disease/cancer type of the collection.", multi=True,
            collection_level=True,
        ),
        FieldSpec(
            "primary_site", "keyword", "Primary/tumour site of the collection.", multi=True,
            collection_level=True,
        ),
        FieldSpec(
            "species", "keyword", "Species of the collection's subjects.", multi=True,
            collection_level=True,
        ),
        FieldSpec("subject_id", "keyword", "PatientID as the source has it.", facet=False),
        FieldSpec("study_uid", "keyword", "DICOM StudyInstanceUID.", facet=False),
        FieldSpec("series_uid", "keyword", "DICOM SeriesInstanceUID.", facet=False),
        FieldSpec("doi", "keyword", "DOI of the series' dataset.", facet=False),
        FieldSpec("instances", "range", "Number of instances in the series.", facet=False),
        FieldSpec("size_bytes", "range", "Size of the series in bytes.", facet=False),
    )
}

FACET_FIELDS: tuple[str, ...] = tuple(n for n, f in FIELDS.items() if f.facet)
DEFAULT_FACETS: tuple[str, ...] = (
    "source", "collection", "disease_type", "primary_site", "modality", "body_part", "sex",
    "age", "license", "access",
)
AGE_BUCKET_YEARS = 10
SORT_FIELDS: tuple[str, ...] = ("age", "study_year", "instances", "size_bytes")
