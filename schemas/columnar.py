"""The columnar form of records (Arrow), used between indexers and the store.

Bulk sources (the IDC index) produce these columns directly, vectorised; record-at-a-time
sources (DICOMweb, folders) build ``SeriesRecord`` objects and convert them with
``series_table``. ``series_from_row`` turns a stored row back into the typed record, so the
pydantic model stays the one contract for what a record is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from imaging_hub.schemas.records import (
    Access,
    CollectionRecord,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)

_S = pa.string()
SERIES_SCHEMA = pa.schema(
    [
        ("id", _S), ("source", _S), ("collection", _S), ("subject_id", _S),
        ("study_uid", _S), ("series_uid", _S), ("doi", _S), ("crdc_series_uuid", _S),
        ("drs_uri", _S), ("aws_bucket", _S), ("source_native", _S),
        ("modality", _S), ("body_part", _S), ("body_part_raw", _S), ("sex", _S),
        ("sex_raw", _S), ("age", pa.float64()), ("age_raw", _S), ("manufacturer", _S),
        ("study_date", pa.date32()), ("study_year", pa.int32()), ("study_description", _S),
        ("series_description", _S), ("instances", pa.int64()), ("size_bytes", pa.int64()),
        ("access", _S), ("license", _S), ("license_url", _S), ("commercial_use", pa.bool_()),
        ("source_version", _S), ("harvested_at", pa.timestamp("us", tz="UTC")), ("run_id", _S),
        ("extra", _S),  # JSON object name -> value, like source_native
    ]
)

COLLECTION_SCHEMA = pa.schema(
    [
        ("id", _S), ("source", _S), ("collection", _S), ("name", _S), ("description", _S),
        ("disease_type", pa.list_(_S)), ("primary_site", pa.list_(_S)),
        ("species", pa.list_(_S)), ("subjects", pa.int64()), ("program", _S), ("status", _S),
        ("updated", _S), ("doi", pa.list_(_S)), ("citation", _S), ("access", _S),
        ("license", _S), ("license_url", _S), ("commercial_use", pa.bool_()),
        ("source_version", _S), ("harvested_at", pa.timestamp("us", tz="UTC")), ("run_id", _S),
        ("extra", _S),  # JSON object name -> value
    ]
)


def _series_row(r: SeriesRecord) -> dict[str, Any]:
    ids = r.identifiers
    return {
        "id": r.id, "source": r.source, "collection": r.collection, "subject_id": r.subject_id,
        "study_uid": ids.study_uid, "series_uid": ids.series_uid, "doi": ids.doi,
        "crdc_series_uuid": ids.crdc_series_uuid, "drs_uri": ids.drs_uri,
        "aws_bucket": ids.aws_bucket,
        "source_native": json.dumps(ids.source_native) if ids.source_native else None,
        "modality": r.modality, "body_part": r.body_part, "body_part_raw": r.body_part_raw,
        "sex": r.sex, "sex_raw": r.sex_raw, "age": r.age, "age_raw": r.age_raw,
        "manufacturer": r.manufacturer, "study_date": r.study_date, "study_year": r.study_year,
        "study_description": r.study_description, "series_description": r.series_description,
        "instances": r.instances, "size_bytes": r.size_bytes, "access": r.access.tier,
        "license": r.access.license, "license_url": r.access.license_url,
        "commercial_use": r.access.commercial_use,
        "source_version": r.provenance.source_version,
        "harvested_at": r.provenance.harvested_at, "run_id": r.provenance.run_id,
        "extra": json.dumps(r.extra, sort_keys=True) if r.extra else None,
    }


def series_table(records: Iterable[SeriesRecord]) -> pa.Table:
    """Typed series records to an Arrow table with ``SERIES_SCHEMA``."""
    return pa.Table.from_pylist([_series_row(r) for r in records], schema=SERIES_SCHEMA)


def collection_table(records: Iterable[CollectionRecord]) -> pa.Table:
    """Typed collection records to an Arrow table with ``COLLECTION_SCHEMA``."""
    rows = []
    for r in records:
        row = r.model_dump(exclude={"access", "provenance", "level"})
        row.update(
            access=r.access.tier, license=r.access.license, license_url=r.access.license_url,
            commercial_use=r.access.commercial_use,
            source_version=r.provenance.source_version,
            harvested_at=r.provenance.harvested_at, run_id=r.provenance.run_id,
            extra=json.dumps(r.extra, sort_keys=True) if r.extra else None,
        )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=COLLECTION_SCHEMA)


def _access(row: Mapping[str, Any]) -> Access:
    return Access(
        tier=row["access"], license=row["license"], license_url=row["license_url"],
        commercial_use=row["commercial_use"],
    )


def _provenance(row: Mapping[str, Any]) -> Provenance:
    harvested: datetime = row["harvested_at"]
    return Provenance(
        source=row["source"], source_version=row["source_version"], harvested_at=harvested,
        run_id=row["run_id"],
    )


def series_fields(row: Mapping[str, Any], collection: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored series row (plus its collection row, if any) as ``SeriesRecord`` fields."""
    native = row["source_native"]
    study_date: date | None = row["study_date"]
    return {
        "id": row["id"], "source": row["source"], "collection": row["collection"],
        "subject_id": row["subject_id"],
        "identifiers": SeriesIdentifiers(
            study_uid=row["study_uid"], series_uid=row["series_uid"], doi=row["doi"],
            crdc_series_uuid=row["crdc_series_uuid"], drs_uri=row["drs_uri"],
            aws_bucket=row["aws_bucket"], source_native=json.loads(native) if native else {},
        ),
        "modality": row["modality"], "body_part": row["body_part"],
        "body_part_raw": row["body_part_raw"], "sex": row["sex"], "sex_raw": row["sex_raw"],
        "age": row["age"], "age_raw": row["age_raw"], "manufacturer": row["manufacturer"],
        "study_date": study_date, "study_year": row["study_year"],
        "study_description": row["study_description"],
        "series_description": row["series_description"], "instances": row["instances"],
        "size_bytes": row["size_bytes"],
        "disease_type": list(collection["disease_type"] or []) if collection else [],
        "primary_site": list(collection["primary_site"] or []) if collection else [],
        "access": _access(row), "provenance": _provenance(row),
        "extra": json.loads(row["extra"]) if row.get("extra") else {},
    }


def collection_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored collection row as ``CollectionRecord`` fields."""
    fields = {k: row[k] for k in CollectionRecord.model_fields if k in row and k != "access"}
    for key in ("disease_type", "primary_site", "species", "doi"):
        fields[key] = list(row[key] or [])
    fields.pop("provenance", None)
    fields["extra"] = json.loads(row["extra"]) if row.get("extra") else {}
    fields["access"] = _access(row)
    fields["provenance"] = _provenance(row)
    return fields
