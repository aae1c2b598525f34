"""Gen3 rows to records, pure (no I/O): a Guppy row of the series type to a
``SeriesRecord``; a discovery record or a dataset row to a ``CollectionRecord``.

Guppy rows are Elasticsearch documents built by tube, the Gen3 ETL: a property injected from
a linked node (a data file's case ``sex``, its imaging study's ``study_uid``) arrives as a
list, usually of one value; a missing property is absent, ``null`` or ``[]``. One value is
taken; several distinct values are counted as a warning and the first is kept. A row that is
not an object, or holds an object where a value belongs, is rejected as ``malformed_record``
with the field named; the rest of the harvest goes on.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from imaging_hub.indexers import normalise
from imaging_hub.indexers.base import Tally
from imaging_hub.indexers.gen3_mapping import MISSING, CollectionFields, Gen3Mapping
from imaging_hub.schemas.records import (
    Access,
    AccessTier,
    CollectionRecord,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)

_PREFIXED_GUID = re.compile(r"^(dg\.[A-Za-z0-9]+)/(.+)$")
_AUTHZ_PROJECT = re.compile(r"^/programs/([^/]+)/projects/([^/]+)$")
_DOI_PREFIX = re.compile(r"^(https?://(dx\.)?doi\.org/|doi:)", re.IGNORECASE)


class Malformed(ValueError):
    """A row whose shape we cannot read (reported as ``malformed_record``)."""


@dataclass(frozen=True)
class Gen3Context:
    """What the normalisers need besides the rows."""

    source: str
    host: str  # the commons' hostname, for DRS URIs of GUIDs without a dg. prefix
    source_version: str
    harvested_at: datetime
    run_id: str
    tier: AccessTier


def values(row: dict[str, Any], field: str | None) -> list[Any]:
    """The field's non-empty values (a scalar is one value, a list its items)."""
    if field is None:
        return []
    raw = row.get(field)
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, dict | list):
            raise Malformed(f"field {field}: expected a value, got {type(item).__name__}")
        if item is None or (isinstance(item, str) and not item.strip()):
            continue
        if item not in out:
            out.append(item)
    return out


def one(row: dict[str, Any], field: str | None, tally: Tally) -> Any:
    """The field's single value; the first of several (warned ``multiple_<field>``)."""
    found = values(row, field)
    if len(found) > 1:
        tally.warn(f"multiple_{field}")
    return found[0] if found else None


def text(value: Any) -> str | None:
    return normalise.text(str(value)) if value is not None else None


def drs_uri(guid: str, host: str) -> str:
    """A GUID as a DRS URI: ``dg.MD1R/<uuid>`` -> ``drs://dg.MD1R:<uuid>`` (the compact form
    indexd's ``create_drs_uri`` builds, resolvable through the dataguids.org prefix
    registry); a GUID without prefix -> the hostname form ``drs://<host>/<guid>``."""
    match = _PREFIXED_GUID.match(guid)
    if match:
        return f"drs://{match.group(1)}:{match.group(2)}"
    return f"drs://{host}/{guid}"


def bare_doi(value: str | None) -> str | None:
    """``https://doi.org/10.7937/x`` (how Gen3 commons store DOIs) -> ``10.7937/x``."""
    if not value:
        return None
    return _DOI_PREFIX.sub("", value.strip()) or None


def project_of(authz: str | None) -> tuple[str, str] | None:
    """(program, project_id) of an authz resource path: ``/programs/Open/projects/A1`` ->
    ``("Open", "Open-A1")``, the project_id Gen3 derives from a program and project code."""
    match = _AUTHZ_PROJECT.match(authz or "")
    return (match.group(1), f"{match.group(1)}-{match.group(2)}") if match else None


def age_years(raw: Any, tally: Tally) -> float | None:
    """Age in years: a number as Gen3 dictionaries define it, or a DICOM AS string; a value
    that is unreadable, a placeholder or implausible is warned (``normalise.parse_age``)."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        age = normalise.Age(None, "age_unparseable")
    elif isinstance(raw, int | float):
        age = normalise.age_in_years(float(raw))
    else:
        age = normalise.parse_age(str(raw))
        if age.warning == "age_unparseable":
            with contextlib.suppress(ValueError):  # a number of years written as text
                age = normalise.age_in_years(float(str(raw).strip()))
    if age.warning:
        tally.warn(age.warning)
    return age.years


def count(raw: Any, kind: str, tally: Tally) -> int | None:
    """A non-negative integer; unreadable values are warned ``<kind>_unparseable``."""
    if raw is None:
        return None
    try:
        number = float(raw) if not isinstance(raw, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if number < 0 or number != int(number):
        tally.warn(f"{kind}_unparseable")
        return None
    return int(number)


def sex_code(raw: Any, mapping: Gen3Mapping, tally: Tally) -> str | None:
    if raw is None or str(raw).strip().lower() in MISSING:
        return None
    code = mapping.sex_values.get(str(raw).strip().lower())
    if code is None:
        tally.warn("sex_unrecognised")
    return code


def joined(row: dict[str, Any], field: str | None) -> str | None:
    """Every value of a field as the source has it, joined with ', ' (a case may list
    several races); ``None`` when it has none. The vocabularies harmonise it later."""
    found = [str(v).strip() for v in values(row, field)]
    return ", ".join(found) or None


def access(license_value: str | None, tier: AccessTier) -> Access:
    url = license_value if license_value and license_value.startswith("http") else None
    return Access(tier=tier, license=license_value, license_url=url,
                  commercial_use=normalise.commercial_use(license_value))


def extra_values(row: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, field in extra.items():
        found = [str(v).strip() for v in values(row, field)]
        if found and not all(v.lower() in MISSING for v in found):
            out[name] = ", ".join(found)
    return out


def series_record(row: Any, mapping: Gen3Mapping, ctx: Gen3Context, tally: Tally,
                  ) -> SeriesRecord | None:
    """One series record from a Guppy row; ``None`` (and a reject in ``tally``) when the
    row lacks an identifying value or is malformed."""
    f = mapping.series.fields
    key = row.get(f.series_uid) if isinstance(row, dict) else None
    try:
        if not isinstance(row, dict):
            raise Malformed(f"row is {type(row).__name__}, not an object")
        return _series(row, mapping, ctx, tally)
    except (Malformed, ValidationError) as exc:
        tally.reject("malformed_record", text(key) if not isinstance(key, list) else None,
                     str(exc).replace("\n", " ")[:300])
        return None


def _series(row: dict[str, Any], mapping: Gen3Mapping, ctx: Gen3Context, tally: Tally,
            ) -> SeriesRecord | None:
    f = mapping.series.fields
    series_uid, study_uid = text(one(row, f.series_uid, tally)), text(one(row, f.study_uid,
                                                                          tally))
    collection = text(one(row, f.collection, tally))
    for reason, value in (("missing_series_uid", series_uid), ("missing_study_uid", study_uid),
                          ("missing_collection", collection)):
        if not value:
            tally.reject(reason, series_uid or study_uid)
            return None
    assert series_uid and study_uid and collection
    subject = text(one(row, f.subject_id, tally))
    if not subject:  # the project's subject rule: kept, one placeholder subject per study
        tally.warn("patient_id_empty")
    guid = text(one(row, f.object_id, tally))
    native = {k: v for k, v in (
        ("object_id", guid), ("authz", text(one(row, f.authz, tally))),
        ("platform", text(one(row, f.platform, tally))),
        ("viewer_url", text(one(row, f.viewer_url, tally)))) if v}
    body_raw = text(one(row, f.body_part, tally))
    age_raw = one(row, f.age, tally)
    sex_raw = text(one(row, f.sex, tally))
    year = count(one(row, f.study_year, tally), "study_year", tally)
    license_value = text(one(row, f.license, tally))
    return SeriesRecord(
        id=f"{ctx.source}:{series_uid}", source=ctx.source, collection=collection,
        subject_id=normalise.subject_id(subject, study_uid),
        identifiers=SeriesIdentifiers(
            study_uid=study_uid, series_uid=series_uid,
            doi=bare_doi(text(one(row, f.doi, tally))),
            drs_uri=drs_uri(guid, ctx.host) if guid else None, source_native=native),
        modality=normalise.code(text(one(row, f.modality, tally))),
        body_part=normalise.code(body_raw), body_part_raw=body_raw,
        sex=sex_code(sex_raw, mapping, tally), sex_raw=sex_raw,  # type: ignore[arg-type]
        age=age_years(age_raw, tally), age_raw=text(age_raw),
        manufacturer=text(one(row, f.manufacturer, tally)), study_year=year,
        study_description=text(one(row, f.study_description, tally)),
        series_description=text(one(row, f.series_description, tally)),
        instances=count(one(row, f.instances, tally), "instances", tally) or 0,
        size_bytes=count(one(row, f.size_bytes, tally), "size", tally),
        race_raw=joined(row, f.race), ethnicity_raw=joined(row, f.ethnicity),
        extra=extra_values(row, mapping.series.extra),
        access=access(license_value, ctx.tier),
        provenance=Provenance(source=ctx.source, source_version=ctx.source_version,
                              harvested_at=ctx.harvested_at, run_id=ctx.run_id),
    )


def collection_record(meta: Any, fields: CollectionFields, ctx: Gen3Context, tally: Tally,
                      key: str | None = None) -> CollectionRecord | None:
    """One collection record from a discovery record's metadata or a dataset row; its id
    is ``fields.collection``'s value, else the project of its authz path, else ``key``
    (the discovery GUID)."""
    try:
        if not isinstance(meta, dict):
            raise Malformed(f"metadata is {type(meta).__name__}, not an object")
        return _collection(meta, fields, ctx, tally, key)
    except (Malformed, ValidationError) as exc:
        tally.reject("malformed_collection", key, str(exc).replace("\n", " ")[:300])
        return None


def _collection(meta: dict[str, Any], fields: CollectionFields, ctx: Gen3Context,
                tally: Tally, key: str | None) -> CollectionRecord | None:
    authz = values(meta, fields.authz)
    project = next((p for p in map(project_of, map(str, authz)) if p), None)
    collection = text(one(meta, fields.collection, tally)) or (project[1] if project else key)
    if not collection:
        tally.reject("missing_collection", key)
        return None
    name = text(one(meta, fields.name, tally)) or collection
    listed = {k: [item for v in values(meta, getattr(fields, k))
                  for item in normalise.split_list(str(v))]
              for k in ("disease_type", "primary_site")}
    license_value = text(one(meta, fields.license, tally))
    program = text(one(meta, fields.program, tally)) or (project[0] if project else None)
    return CollectionRecord(
        id=f"{ctx.source}:collection:{collection}", source=ctx.source, collection=collection,
        name=name, description=text(one(meta, fields.description, tally)),
        disease_type=listed["disease_type"], primary_site=listed["primary_site"],
        subjects=count(one(meta, fields.subjects, tally), "subjects", tally),
        program=program, updated=text(one(meta, fields.updated, tally)),
        doi=[d for d in (bare_doi(text(v)) for v in values(meta, fields.doi)) if d],
        citation=text(one(meta, fields.citation, tally)),
        access=access(license_value, ctx.tier),
        provenance=Provenance(source=ctx.source, source_version=ctx.source_version,
                              harvested_at=ctx.harvested_at, run_id=ctx.run_id),
    )
