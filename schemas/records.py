"""The records imaging-hub stores: one per DICOM series, one per collection (dataset).

Identifiers are stored, URLs are not: links are built at query time
(``imaging_hub.search_ui.links``). Coded values keep the source's raw text beside the
normalised value, so a normaliser change never loses information.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AccessTier = Literal["open", "registration", "controlled", "sequestered"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Model):
    """Where and when a record was harvested."""

    source: str = Field(description="Configured source name, e.g. 'idc'.")
    source_version: str = Field(description="Release/version of the source data, e.g. 'idc v25'.")
    harvested_at: datetime
    run_id: str = Field(description="Id of the harvest run that produced the record.")


class Access(_Model):
    """Who may use the data and how."""

    tier: AccessTier = Field(description="open / registration / controlled / sequestered.")
    license: str | None = Field(None, description="Licence name exactly as the source has it.")
    license_url: str | None = None
    commercial_use: bool | None = Field(
        None, description="Whether the licence allows commercial use; null when unknown."
    )


class SeriesIdentifiers(_Model):
    """Persistent identifiers of a series; every link is built from these."""

    study_uid: str | None = Field(
        description="DICOM StudyInstanceUID; null only on a subject-level record (a "
        "metadata export row about a subject, without DICOM UIDs).")
    series_uid: str | None = Field(
        description="DICOM SeriesInstanceUID; null on a subject- or study-level record.")
    doi: str | None = Field(None, description="DOI of the dataset the series belongs to.")
    crdc_series_uuid: str | None = Field(None, description="CRDC/Gen3 GUID of the series.")
    drs_uri: str | None = Field(None, description="GA4GH DRS URI, e.g. drs://dg.4DFC:<uuid>.")
    aws_bucket: str | None = Field(None, description="S3 bucket holding the series files.")
    source_native: dict[str, str] = Field(
        default_factory=dict, description="Source-native ids (e.g. Orthanc series id)."
    )

    @model_validator(mode="after")
    def _series_in_a_study(self) -> SeriesIdentifiers:
        if self.series_uid is not None and self.study_uid is None:
            raise ValueError("a series_uid needs its study_uid")
        return self


class SeriesRecord(_Model):
    """One DICOM series as harvested from one source (the atomic search document)."""

    id: str = Field(description="Stable record id: '<source>:<SeriesInstanceUID>'.")
    level: Literal["series"] = "series"
    source: str
    collection: str = Field(description="Collection/project id exactly as the source has it.")
    subject_id: str = Field(description="PatientID as the source has it.")
    identifiers: SeriesIdentifiers
    modality: str | None = Field(None, description="DICOM Modality, trimmed, upper-cased.")
    body_part: str | None = Field(None, description="DICOM BodyPartExamined, trimmed, upper.")
    body_part_raw: str | None = None
    sex: Literal["M", "F", "O"] | None = Field(None, description="DICOM PatientSex M/F/O.")
    sex_raw: str | None = None
    # harmonised from the raw fields by the vocabulary tables (indexers/vocab), never
    # replacing them; null when the value is missing or unmapped
    modality_meaning: str | None = Field(None, description="Meaning of the modality code "
                                         "(DICOM CID 29/33), e.g. 'Computed Tomography'.")
    body_part_code: str | None = Field(None, description="SNOMED CT code of the body part "
                                       "(DICOM PS3.16 Annex L), e.g. '816094009'.")
    body_part_meaning: str | None = Field(None, description="Meaning of body_part_code.")
    body_region: str | None = Field(None, description="Coarse body region, e.g. 'CHEST'.")
    procedure: str | None = Field(None, description="LOINC/RSNA Playbook code of the study "
                                  "description and modality, e.g. '36643-5'.")
    procedure_name: str | None = Field(None, description="LOINC long common name of procedure.")
    race: str | None = Field(None, description="OMB race category.")
    race_raw: str | None = Field(None, description="Race as the source has it.")
    ethnicity: str | None = Field(None, description="OMB ethnicity category.")
    ethnicity_raw: str | None = Field(None, description="Ethnicity as the source has it.")
    age: float | None = Field(None, ge=0, description="Age in years from DICOM AS.")
    age_raw: str | None = Field(None, description="PatientAge as the source has it.")
    manufacturer: str | None = None
    study_date: date | None = None
    study_year: int | None = None
    study_description: str | None = None
    series_description: str | None = None
    instances: int = Field(ge=0)
    size_bytes: int | None = Field(None, ge=0)
    extra: dict[str, str] = Field(
        default_factory=dict, description="Source attributes without a field of their own "
        "(e.g. an export's unmapped columns, a hub row's platform), name -> value as text.")
    disease_type: list[str] = Field(
        default_factory=list, description="Inherited from the collection record."
    )
    primary_site: list[str] = Field(
        default_factory=list, description="Inherited from the collection record."
    )
    species: list[str] = Field(
        default_factory=list, description="Inherited from the collection record."
    )
    access: Access
    provenance: Provenance


class CollectionRecord(_Model):
    """A dataset (collection/project) with its own descriptive facets."""

    id: str = Field(description="Stable record id: '<source>:collection:<collection id>'.")
    level: Literal["collection"] = "collection"
    source: str
    collection: str = Field(description="Collection id exactly as the source has it.")
    name: str
    description: str | None = None
    disease_type: list[str] = Field(default_factory=list)
    primary_site: list[str] = Field(default_factory=list)
    species: list[str] = Field(default_factory=list)
    subjects: int | None = Field(None, ge=0, description="Subjects as the source states it.")
    program: str | None = None
    status: str | None = None
    updated: str | None = None
    doi: list[str] = Field(default_factory=list, description="DOIs of the collection's sources.")
    citation: str | None = None
    extra: dict[str, str] = Field(
        default_factory=dict, description="Facts without a field of their own (a catalogue "
        "entry's modalities, image count, access requirement, date checked).")
    access: Access
    provenance: Provenance
