"""The columnar form of records (Arrow), derived from the field registry.

Bulk sources (the IDC index) produce these columns directly, vectorised; record-at-a-time
sources (DICOMweb, folders) build ``SeriesRecord`` objects and convert them with
``series_table``. ``series_fields`` turns a stored row back into the typed record's fields,
so the pydantic model stays the one contract for what a record is. The models are checked
against the registry when this module is imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from imaging_hub.schemas.fields import (
    COLLECTION_COLUMNS,
    SERIES_COLUMNS,
    Column,
    ColumnType,
)
from imaging_hub.schemas.records import (
    Access,
    CollectionRecord,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "keyword": pa.string(), "float": pa.float64(), "int": pa.int32(), "long": pa.int64(),
    "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC"), "bool": pa.bool_(),
    "json": pa.string(), "keyword_list": pa.list_(pa.string()),
}


def _schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in columns])


SERIES_SCHEMA = _schema(SERIES_COLUMNS)
COLLECTION_SCHEMA = _schema(COLLECTION_COLUMNS)
# series inherit these from their collection record (filters, facets, hits)
INHERITED = tuple(c.name for c in COLLECTION_COLUMNS if c.filter and c.level == "collection")
_NESTED: dict[str, type[BaseModel]] = {
    "identifiers": SeriesIdentifiers, "access": Access, "provenance": Provenance}


def _get(record: BaseModel, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _row(record: BaseModel, columns: tuple[Column, ...]) -> dict[str, Any]:
    row = {}
    for c in columns:
        value = _get(record, c.path)
        if c.type == "json":
            value = json.dumps(value, sort_keys=True) if value else None
        row[c.name] = value
    return row


def series_table(records: Iterable[SeriesRecord]) -> pa.Table:
    """Typed series records to an Arrow table with ``SERIES_SCHEMA``."""
    return pa.Table.from_pylist([_row(r, SERIES_COLUMNS) for r in records], schema=SERIES_SCHEMA)


def collection_table(records: Iterable[CollectionRecord]) -> pa.Table:
    """Typed collection records to an Arrow table with ``COLLECTION_SCHEMA``."""
    return pa.Table.from_pylist([_row(r, COLLECTION_COLUMNS) for r in records],
                                schema=COLLECTION_SCHEMA)


def with_all_columns(table: pa.Table, schema: pa.Schema = SERIES_SCHEMA) -> pa.Table:
    """``table`` cast to ``schema``, in its order; a column it lacks (a field no source of
    its type fills, e.g. the harmonised ones before harmonisation) becomes all null."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.table(cols, schema=schema)


def _fields(row: Mapping[str, Any], columns: tuple[Column, ...]) -> dict[str, Any]:
    """Row values placed at their record paths; nested parts built as their models."""
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for c in columns:
        value = row.get(c.name)
        if c.type == "json":
            value = json.loads(value) if value else {}
        elif c.type == "keyword_list":
            value = list(value or [])
        head, _, rest = c.path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            out[head] = value
    if "provenance" in nested:  # a record's provenance names its source (one column)
        nested["provenance"]["source"] = row.get("source")
    for head, values in nested.items():
        out[head] = _NESTED[head].model_construct(**values) if head != "access" else Access(
            **values)
    return out


def series_fields(row: Mapping[str, Any], collection: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored series row (plus its collection row, if any) as ``SeriesRecord`` fields."""
    fields = _fields(row, SERIES_COLUMNS)
    for name in INHERITED:
        fields[name] = list(collection[name] or []) if collection else []
    return fields


def collection_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored collection row as ``CollectionRecord`` fields."""
    return _fields(row, COLLECTION_COLUMNS)


def _leaves(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out |= _leaves(sub, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def check_models() -> None:
    """Raise ``TypeError`` when a record model and the field registry disagree."""
    for model, columns, extra in (
        (SeriesRecord, SERIES_COLUMNS, {"level", "provenance.source", *INHERITED}),
        (CollectionRecord, COLLECTION_COLUMNS, {"level", "provenance.source"}),
    ):
        leaves, paths = _leaves(model), {c.path for c in columns}
        if leaves - extra != paths:
            raise TypeError(
                f"{model.__name__} and schemas/fields.py disagree: only in the model "
                f"{sorted(leaves - extra - paths)}, only in the registry "
                f"{sorted(paths - leaves)}")


check_models()
