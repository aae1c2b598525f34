"""Pure normalisers for TCIA's NBIA v4 payloads (see ``tcia_client`` for their shapes).

No I/O: rows in, typed records out; a row that cannot be a record is rejected with a reason
in the ``Tally``, a value that cannot be read is nulled and counted as a warning.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from imaging_hub.indexers import normalise
from imaging_hub.indexers.base import Tally
from imaging_hub.schemas.records import (
    Access,
    AccessTier,
    CollectionRecord,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)

_DOI_URL = re.compile(r"^\s*(?:https?://)?(?:dx\.)?doi\.org/(10\.\S+?)\s*$", re.IGNORECASE)
_BARE_DOI = re.compile(r"^\s*(?:doi:)?(10\.\d{4,9}/\S+?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Context:
    """What the normaliser needs besides a row: provenance, and each collection's tier."""

    source: str
    source_version: str
    harvested_at: datetime
    run_id: str
    tiers: Mapping[str, AccessTier]  # collection (as the server spells it) -> tier

    def provenance(self) -> Provenance:
        return Provenance(source=self.source, source_version=self.source_version,
                          harvested_at=self.harvested_at, run_id=self.run_id)


def nbia_date(raw: object, tally: Tally) -> date | None:
    """A v4 date (``MM-DD-YYYY``) to a date; anything else is counted and nulled."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return datetime.strptime(str(raw).strip(), "%m-%d-%Y").date()
    except ValueError:
        tally.warn("study_date_unparseable")
        return None


def doi_of(uri: object) -> str | None:
    """The DOI in a DataDescriptionURI/descriptionURI (``https://doi.org/10.7937/...``), as
    written there; ``None`` for a URI that is not a DOI (some point at a web page)."""
    if not isinstance(uri, str):
        return None
    match = _DOI_URL.match(uri) or _BARE_DOI.match(uri)
    return match.group(1) if match else None


def plain(raw: object) -> str | None:
    """HTML (descriptions, formatted citations with ``<i>``) to plain text."""
    return normalise.html_text(raw)


def _str(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or isinstance(value, dict | list):
        return None
    return normalise.text(str(value))


def _count(value: object) -> int | None:
    """A JSON number that is a whole count (v4 sends counts as numbers, never strings)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def series_record(row: object, ctx: Context, studies: Mapping[str, Mapping[str, Any]],
                  tally: Tally) -> SeriesRecord | None:
    """One getSeries/getUpdatedSeries row as a ``SeriesRecord``; ``None`` (and a reject)
    when it is not an object, lacks its UIDs or collection, or its ImageCount is not a
    count. ``studies`` (getPatientStudy rows by StudyInstanceUID) fill study-level values
    the row leaves out."""
    if not isinstance(row, dict):
        tally.reject("not_an_object", None, f"series row is {type(row).__name__}")
        return None
    series_uid, study_uid = _str(row, "SeriesInstanceUID"), _str(row, "StudyInstanceUID")
    collection = _str(row, "Collection")
    key = series_uid or study_uid
    for missing, reason in ((series_uid, "missing_series_uid"), (study_uid, "missing_study_uid"),
                            (collection, "missing_collection")):
        if not missing:
            tally.reject(reason, key)
            return None
    assert series_uid and study_uid and collection  # narrowed above
    instances = _count(row.get("ImageCount"))
    if instances is None:
        tally.reject("bad_instance_count", series_uid, f"ImageCount {row.get('ImageCount')!r}")
        return None
    study = studies.get(study_uid, {})
    return _build(row, study, series_uid, study_uid, collection, instances, ctx, tally)


def _build(row: Mapping[str, Any], study: Mapping[str, Any], series_uid: str, study_uid: str,
           collection: str, instances: int, ctx: Context, tally: Tally) -> SeriesRecord:
    patient = _str(row, "PatientID") or _str(study, "PatientID")
    if not patient:
        tally.warn("patient_id_empty")
    age_raw = _str(row, "PatientAge") or _str(study, "PatientAge")
    age = normalise.parse_age(age_raw)
    if age.warning:
        tally.warn(age.warning)
    sex_raw = _str(row, "PatientSex") or _str(study, "PatientSex")
    sex = normalise.sex(sex_raw)
    if sex is None and sex_raw:
        tally.warn("sex_unrecognised")
    size = row.get("FileSize")
    size_bytes = _count(size)
    if size is not None and size_bytes is None:
        tally.warn("size_unparseable")
    study_date = nbia_date(row.get("StudyDate") or study.get("StudyDate"), tally)
    licence, body_raw = _str(row, "LicenseName"), _str(row, "BodyPartExamined")
    described = _str(row, "DataDescriptionURI")
    return SeriesRecord(
        id=f"{ctx.source}:{series_uid}", source=ctx.source, collection=collection,
        subject_id=normalise.subject_id(patient, study_uid),
        identifiers=SeriesIdentifiers(
            study_uid=study_uid, series_uid=series_uid, doi=doi_of(described),
            source_native={"description_uri": described} if described else {}),
        modality=normalise.code(_str(row, "Modality")), body_part=normalise.code(body_raw),
        body_part_raw=body_raw, sex=sex, sex_raw=sex_raw, age=age.years, age_raw=age_raw,  # type: ignore[arg-type]
        manufacturer=_str(row, "Manufacturer"), study_date=study_date,
        study_year=study_date.year if study_date else None,
        study_description=_str(row, "StudyDesc") or _str(study, "StudyDescription"),
        series_description=_str(row, "SeriesDescription"), instances=instances,
        size_bytes=size_bytes,
        access=Access(tier=ctx.tiers.get(collection, "open"), license=licence,
                      license_url=_str(row, "LicenseURI"),
                      commercial_use=normalise.commercial_use(licence)),
        provenance=ctx.provenance())


def studies_by_uid(rows: Iterable[object]) -> dict[str, dict[str, Any]]:
    """getPatientStudy rows by StudyInstanceUID (rows that are not objects are skipped:
    they only supply fallbacks)."""
    return {str(r["StudyInstanceUID"]): r for r in rows
            if isinstance(r, dict) and r.get("StudyInstanceUID")}


def fallback_citation(name: str, doi: str | None) -> str:
    """The attribution TCIA's policy asks for, when the formatted citation is unavailable:
    the dataset, the repository and the DOI link."""
    link = f" https://doi.org/{doi}" if doi else ""
    return f"{name} [Data set]. The Cancer Imaging Archive.{link}"


@dataclass(frozen=True)
class CollectionFacts:
    """What the harvest gathered about one collection from several endpoints."""

    name: str
    description: Mapping[str, Any] | None  # its getCollectionDescriptions entry
    patients: int | None  # getCollectionValuesAndCounts "Count"
    species: tuple[str, ...]
    series: tuple[SeriesRecord, ...]
    citation: str | None


def collection_record(facts: CollectionFacts, ctx: Context) -> CollectionRecord:
    """One ``CollectionRecord``: DOI from the description (else the series'), licence the
    one most of its series carry, tier the collection's, citation as harvested."""
    desc = facts.description or {}
    dois = [d for d in (doi_of(desc.get("descriptionURI")),) if d]
    dois += [d for d, _ in Counter(r.identifiers.doi for r in facts.series
                                   if r.identifiers.doi).most_common() if d not in dois]
    licences = Counter((r.access.license, r.access.license_url) for r in facts.series
                       if r.access.license)
    licence, licence_url = licences.most_common(1)[0][0] if licences else (None, None)
    return CollectionRecord(
        id=f"{ctx.source}:collection:{facts.name}", source=ctx.source,
        collection=facts.name, name=facts.name, description=plain(desc.get("description")),
        species=list(facts.species), subjects=facts.patients, doi=dois,
        citation=facts.citation or fallback_citation(facts.name, dois[0] if dois else None),
        access=Access(tier=ctx.tiers.get(facts.name, "open"), license=licence,
                      license_url=licence_url,
                      commercial_use=normalise.commercial_use(licence)),
        provenance=ctx.provenance())


def species_of(patients: Iterable[object]) -> tuple[str, ...]:
    """Distinct SpeciesDescription values of getPatient rows, in first-seen order."""
    found = (normalise.text(str(p.get("SpeciesDescription") or ""))
             for p in patients if isinstance(p, dict))
    return tuple(dict.fromkeys(s for s in found if s))


def patient_counts(rows: Iterable[object]) -> dict[str, int]:
    """getCollectionValuesAndCounts rows to {collection: patients} (counts are numbers)."""
    out = {}
    for r in rows:
        if isinstance(r, dict) and r.get("Collection") is not None:
            count = _count(r.get("Count"))
            if count is not None:
                out[str(r["Collection"])] = count
    return out
