"""Series records from DICOM attribute values, whatever they came from (a QIDO-RS JSON
response, a file header). Pure: no I/O; bad values are nulled and counted in a ``Tally``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from imaging_hub.indexers import normalise
from imaging_hub.indexers.base import Tally
from imaging_hub.schemas.records import (
    Access,
    AccessTier,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)

# keyword -> DICOM JSON tag (PS3.18 F.2), for the attributes we index
TAGS = {
    "StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E", "PatientID": "00100020",
    "PatientSex": "00100040", "PatientAge": "00101010", "StudyDate": "00080020",
    "StudyDescription": "00081030", "SeriesDescription": "0008103E", "Modality": "00080060",
    "BodyPartExamined": "00180015", "Manufacturer": "00080070",
    "NumberOfSeriesRelatedInstances": "00201209", "RetrieveURL": "00081190",
    "SOPInstanceUID": "00080018", "SpecificCharacterSet": "00080005",
}
STUDY_FIELDS = ("PatientID", "PatientSex", "PatientAge", "StudyDate", "StudyDescription")
SERIES_FIELDS = ("Modality", "BodyPartExamined", "Manufacturer", "SeriesDescription",
                 "NumberOfSeriesRelatedInstances")


def json_value(item: dict[str, Any], keyword: str) -> str | None:
    """First value of an attribute in the DICOM JSON model, as text (PN: Alphabetic)."""
    element = item.get(TAGS[keyword])
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    first = values[0]
    if isinstance(first, dict):  # PN
        first = first.get("Alphabetic")
    return None if first is None else str(first)


@dataclass(frozen=True)
class Context:
    """What a normaliser needs to know besides the attribute values."""

    source: str
    collection: str
    source_version: str
    harvested_at: datetime
    run_id: str
    access: AccessTier = "controlled"
    license: str | None = None


def dicom_date(raw: str | None, tally: Tally) -> date | None:
    """DICOM DA (YYYYMMDD; the old YYYY.MM.DD form too) to a date; bad values counted."""
    if not raw or not raw.strip():
        return None
    text = raw.strip().replace(".", "")
    try:
        return datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        tally.warn("study_date_unparseable")
        return None


def series_record(values: dict[str, str | None], instances: int, size_bytes: int | None,
                  ctx: Context, tally: Tally, native: dict[str, str] | None = None,
                  ) -> SeriesRecord | None:
    """One ``SeriesRecord`` from attribute values by keyword; ``None`` (and a reject in
    ``tally``) when an identifying attribute is missing."""
    study_uid = normalise.text(values.get("StudyInstanceUID"))
    series_uid = normalise.text(values.get("SeriesInstanceUID"))
    patient = normalise.text(values.get("PatientID"))
    key = series_uid or study_uid
    if not series_uid:
        tally.reject("missing_series_uid", key)
        return None
    if not study_uid:
        tally.reject("missing_study_uid", key)
        return None
    if not patient:  # PatientID is type 2 (may be empty): kept, one subject per study
        tally.warn("patient_id_empty")
    age_raw, sex_raw = values.get("PatientAge"), values.get("PatientSex")
    age = normalise.parse_age(age_raw)
    if age.warning:
        tally.warn(age.warning)
    sex = normalise.sex(sex_raw)
    if sex is None and normalise.text(sex_raw):
        tally.warn("sex_unrecognised")
    study_date = dicom_date(values.get("StudyDate"), tally)
    body_raw = values.get("BodyPartExamined")
    return SeriesRecord(
        id=f"{ctx.source}:{series_uid}", source=ctx.source, collection=ctx.collection,
        subject_id=normalise.subject_id(patient, study_uid),
        identifiers=SeriesIdentifiers(study_uid=study_uid, series_uid=series_uid,
                                      source_native=native or {}),
        modality=normalise.code(values.get("Modality")), body_part=normalise.code(body_raw),
        body_part_raw=body_raw, sex=sex, sex_raw=sex_raw, age=age.years, age_raw=age_raw,  # type: ignore[arg-type]
        manufacturer=normalise.text(values.get("Manufacturer")), study_date=study_date,
        study_year=study_date.year if study_date else None,
        study_description=normalise.text(values.get("StudyDescription")),
        series_description=normalise.text(values.get("SeriesDescription")),
        instances=max(instances, 0), size_bytes=size_bytes,
        access=Access(tier=ctx.access, license=ctx.license,
                      commercial_use=normalise.commercial_use(ctx.license)),
        provenance=Provenance(source=ctx.source, source_version=ctx.source_version,
                              harvested_at=ctx.harvested_at, run_id=ctx.run_id),
    )
