"""Metadata exports (``type = "tabular"``): a CSV, TSV, Parquet or JSON-lines file a gated
database hands out, read through a declarative column mapping (``tabular_mapping``).

    [sources.decedent_ct]
    type = "tabular"
    path = "/data/exports/decedent_ct.csv"
    mapping = "/data/exports/decedent_ct.mapping.toml"

Each row becomes one record. Rows with DICOM UIDs are series (or, with a StudyInstanceUID
alone, study-level) records; rows without are **subject-level** records
(``identifiers.study_uid`` and ``series_uid`` null), counted as subjects but never as
studies or series. Columns the mapping does not use are kept as extra attributes
(``SeriesRecord.extra``). A mapping naming a column the file lacks is a configuration
error naming file and column; a bad value rejects its row, counted in the run report as
``bad_value:<column>`` with file, line (or Parquet row), column and value in the sample.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imaging_hub.errors import ConfigError
from imaging_hub.indexers import normalise
from imaging_hub.indexers.base import HarvestResult, ProgressFn, Tally, no_progress
from imaging_hub.indexers.tabular_mapping import Check, TabularMapping, load_mapping
from imaging_hub.indexers.tabular_read import Format, Row, columns, digest, file_format, rows
from imaging_hub.indexers.tabular_stage import STAGED, staged_batches, subjects, unique
from imaging_hub.schemas.columnar import collection_table
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import (
    Access,
    AccessTier,
    CollectionRecord,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import doi
from imaging_hub.source_types import BuildOptions, SourceConfigBase, SourceType
from imaging_hub.store.arrowio import bounded_duckdb, spill

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class TabularSource(SourceConfigBase):
    """``[sources.NAME] type = "tabular"``: a metadata export and its column mapping."""

    type: Literal["tabular"]
    path: Path = Field(description="The export: .csv, .tsv, .parquet or .jsonl")
    mapping: Path = Field(description="The column mapping (TOML)")
    format: Format | None = Field(None, description="Override the format the suffix implies")


class BadValue(ValueError):
    def __init__(self, column: str, value: Any, problem: str) -> None:
        super().__init__(f"column {column}: {value!r} {problem}")
        self.column = column


@dataclass(frozen=True)
class Context:
    source: str
    file: str
    source_version: str
    harvested_at: datetime
    run_id: str
    tier: AccessTier


def _number(column: str, value: Any, integer: bool = False) -> float:
    if isinstance(value, bool):
        raise BadValue(column, value, "is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue(column, value, "is not a number") from None
    if integer and number != int(number):
        raise BadValue(column, value, "is not a whole number")
    return number


def _date(column: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise BadValue(column, value, "is not a date (YYYY-MM-DD or YYYYMMDD)")


def check(column: str, value: Any, rule: Check) -> None:
    """Raise ``BadValue`` when ``value`` breaks ``rule``."""
    if rule.one_of is not None and str(value) not in rule.one_of:
        raise BadValue(column, value, f"is not one of {', '.join(rule.one_of)}")
    if rule.type == "date":
        _date(column, value)
    elif rule.type in ("number", "integer"):
        number = _number(column, value, rule.type == "integer")
        if (rule.min is not None and number < rule.min) or (
                rule.max is not None and number > rule.max):
            raise BadValue(column, value, f"is outside {rule.min}..{rule.max}")


def _coded(kind: str, column: str, value: Any, mapping: TabularMapping) -> str | None:
    table = next((v for k, v in mapping.values.items() if k == kind), {})
    text = str(value).strip()
    mapped = table.get(text) or next((v for k, v in table.items()
                                      if k.lower() == text.lower()), None)
    code = normalise.code(mapped or text)
    if kind == "sex" and code not in normalise.SEXES:
        raise BadValue(column, value, "is not a sex (map it to M, F or O in [values.sex])")
    return code


class _Row:
    """The cells of one row, read through the mapping (missing markers -> None)."""

    def __init__(self, cells: dict[str, Any], mapping: TabularMapping) -> None:
        self.cells, self.mapping = cells, mapping

    def raw(self, column: str) -> Any:
        value = self.cells.get(column)
        if isinstance(value, str):
            value = value.strip()
            if value in self.mapping.missing:
                return None
        if isinstance(value, dict | list):
            raise BadValue(column, value, "is not a single value")
        return value

    def get(self, name: str) -> tuple[str, Any]:
        """(column, value) of a record field: its column's cell, or its constant."""
        if name in self.mapping.fields:
            column = self.mapping.fields[name]  # type: ignore[index]
            return column, self.raw(column)
        return f"constants.{name}", self.mapping.constants.get(name)  # type: ignore[call-overload]


def _uid(row: _Row, name: str) -> str | None:
    column, value = row.get(name)
    if value is None:
        return None
    text = str(value)
    if not _UID.match(text) or len(text) > 64:
        raise BadValue(column, value, "is not a DICOM UID")
    return text


def _fields(row: _Row) -> dict[str, Any]:
    """The record fields of a row; raises ``BadValue`` naming the column."""
    out: dict[str, Any] = {}
    for name in ("modality", "body_part", "sex"):
        column, value = row.get(name)
        out[name] = None if value is None else _coded(name, column, value, row.mapping)
        out[f"{name}_raw"] = None if value is None else str(value)
    column, value = row.get("age")
    out["age"] = out["age_raw"] = out["age_warning"] = None
    if value is not None:
        out["age_raw"] = str(value)
        age = normalise.parse_age(str(value)) if isinstance(value, str) and \
            value[-1:].upper() in "DWMY" else normalise.age_in_years(_number(column, value))
        if age.warning == "age_unparseable":
            raise BadValue(column, value, "is not an age in years (or DICOM AS)")
        out["age"], out["age_warning"] = age.years, age.warning  # placeholder, implausible
    column, value = row.get("study_date")
    out["study_date"] = None if value is None else _date(column, value)
    column, value = row.get("study_year")
    year = None if value is None else int(_number(column, value, integer=True))
    if year is not None and not 1800 <= year <= 2100:
        raise BadValue(column, value, "is not a year")
    out["study_year"] = year or (out["study_date"].year if out["study_date"] else None)
    for name in ("instances", "size_bytes"):
        column, value = row.get(name)
        count = None if value is None else _number(column, value, integer=True)
        if count is not None and count < 0:
            raise BadValue(column, value, "is negative")
        out[name] = None if count is None else int(count)
    for name in ("manufacturer", "study_description", "series_description", "collection",
                 "id"):
        value = row.get(name)[1]
        out[name] = None if value is None else normalise.text(str(value))
    for name in ("race", "ethnicity"):  # as the file has them; harmonised at harvest
        value = row.get(name)[1]
        out[f"{name}_raw"] = None if value is None else normalise.text(str(value))
    return out


def _extra(row: _Row, names: list[str]) -> dict[str, str]:
    m = row.mapping
    out = {}
    for column in names:
        if column in m.columns_used() or column in m.unmapped.drop or not m.unmapped.keep:
            continue
        value = row.cells.get(column)
        value = row.raw(column) if not isinstance(value, dict | list) else json.dumps(value)
        if value is not None:
            out[column] = value.isoformat() if isinstance(value, date) else str(value)
    return out


def row_record(row: Row, mapping: TabularMapping, names: list[str], ctx: Context,
               tally: Tally) -> SeriesRecord | None:
    """One record from one row; ``None`` (and a reject naming file, place and column in
    ``tally``) when the row is malformed or holds a bad value."""
    if row.cells is None:
        tally.reject("malformed_row", row.where, f"{ctx.file} {row.where}: {row.problem}")
        return None
    r = _Row(row.cells, mapping)
    try:
        for column, rule in mapping.checks.items():
            value = r.raw(column)
            if value is not None:
                check(column, value, rule)
        study_uid, series_uid = _uid(r, "study_uid"), _uid(r, "series_uid")
        subject = r.get("subject_id")[1]
        f = _fields(r)
        extra = _extra(r, names)
    except BadValue as exc:
        tally.reject(f"bad_value:{exc.column}", row.where, f"{ctx.file} {row.where}, {exc}")
        return None
    if f["age_warning"]:  # kept, with its raw value; the age is not used
        tally.warn(f["age_warning"], key=row.where,
                   detail=f"{ctx.file} {row.where}: age {f['age_raw']!r}")
    if subject is None:
        tally.reject("missing_subject_id", row.where,
                     f"{ctx.file} {row.where}, column {mapping.fields['subject_id']}: empty")
        return None
    if series_uid and not study_uid:
        tally.reject("missing_study_uid", row.where, f"{ctx.file} {row.where}: a series UID "
                                                     "without its study UID")
        return None
    key = f["id"] or series_uid or (f"study:{study_uid}" if study_uid else f"subject:{subject}")
    return SeriesRecord(
        id=f"{ctx.source}:{key}", source=ctx.source,
        collection=f["collection"] or mapping.dataset.collection or ctx.source,
        subject_id=str(subject),
        identifiers=SeriesIdentifiers(study_uid=study_uid, series_uid=series_uid,
                                      doi=mapping.dataset.doi[0] if mapping.dataset.doi
                                      else None, source_native={"row": row.where}),
        modality=f["modality"], body_part=f["body_part"], body_part_raw=f["body_part_raw"],
        sex=f["sex"], sex_raw=f["sex_raw"], age=f["age"], age_raw=f["age_raw"],
        manufacturer=f["manufacturer"], study_date=f["study_date"],
        study_year=f["study_year"], study_description=f["study_description"],
        series_description=f["series_description"], instances=f["instances"] or 0,
        size_bytes=f["size_bytes"], race_raw=f["race_raw"], ethnicity_raw=f["ethnicity_raw"],
        extra=extra,
        access=_access(mapping, ctx.tier),
        provenance=Provenance(source=ctx.source, source_version=ctx.source_version,
                              harvested_at=ctx.harvested_at, run_id=ctx.run_id))


def _access(mapping: TabularMapping, tier: AccessTier) -> Access:
    d = mapping.dataset
    return Access(tier=tier, license=d.license, license_url=d.license_url,
                  commercial_use=normalise.commercial_use(d.license))


@dataclass
class TabularIndexer:
    """Harvest one export through its mapping."""

    name: str
    path: Path
    mapping_path: Path
    format: Format | None = None
    access: AccessTier | None = None
    link_params: dict[str, str] = field(default_factory=dict)

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read every row. Raises ``ConfigError`` (unreadable file or mapping, a mapped
        column the file lacks), ``SourceFormatError`` (the file breaks part-way)."""
        mapping = load_mapping(self.mapping_path)
        fmt = file_format(self.path, self.format)
        names = columns(self.path, fmt)
        self._check_columns(mapping, names)
        now = datetime.now(UTC)
        version = f"{self.path.name} sha256:{digest(self.path)[:16]}"
        ctx = Context(self.name, self.path.name, version, now, run_id,
                      self.access or mapping.dataset.access)
        report = HarvestReport(source=self.name, run_id=run_id, source_version=version,
                               started_at=now)
        tally = Tally.new()
        # streamed: the records go batch by batch to a memory-mapped spill file, and the
        # repeated rows and the subjects per collection are found by a DuckDB held to its
        # memory limit, so memory does not grow with the export
        def records() -> Iterator[tuple[SeriesRecord | None, str]]:
            for row in rows(self.path, fmt, names):
                report.read += 1
                if report.read % 10_000 == 0:
                    progress(f"{self.name}: rows", report.read, 0)
                yield row_record(row, mapping, names, ctx, tally), row.where

        def repeated(where: str, rid: str, first: str) -> None:
            tally.reject("duplicate_row", where,
                         f"{ctx.file} {where}: the same record as {first} ({rid})")

        with tempfile.TemporaryDirectory(prefix="ihub-tabular-") as scratch:
            staged = spill(staged_batches(records()), STAGED, Path(scratch))
            con = bounded_duckdb(Path(scratch))
            try:
                series = unique(con, staged, Path(scratch), repeated)
                collections = self._collections(subjects(con, series), mapping, ctx)
            finally:
                con.close()
        report.series, report.collections = series.num_rows, len(collections)
        tally.into(report)
        params = dict(self.link_params)
        if mapping.dataset.landing_url:
            params["landing"] = mapping.dataset.landing_url
        return HarvestResult(series=series, collections=collection_table(collections),
                             report=report, link_params=params)

    def _check_columns(self, mapping: TabularMapping, names: list[str]) -> None:
        wanted = {f"fields.{k}": v for k, v in mapping.fields.items()}
        wanted.update({f"checks.{c}": c for c in mapping.checks})
        wanted.update({f"unmapped.drop[{i}]": c for i, c in enumerate(mapping.unmapped.drop)})
        for key, column in wanted.items():
            if column not in names:
                raise ConfigError(f"{self.mapping_path}: {key} names column {column!r}, "
                                  f"which {self.path} does not have (its columns: "
                                  f"{', '.join(names)})")
        if mapping.unmapped.error:
            extra = [n for n in names if n not in mapping.columns_used()
                     and n not in mapping.checks and n not in mapping.unmapped.drop]
            if extra:
                raise ConfigError(f"{self.path}: column {extra[0]!r} is not in the mapping "
                                  f"{self.mapping_path} (unmapped.error = true)")

    @staticmethod
    def _collections(subjects: list[tuple[str, int]], mapping: TabularMapping,
                     ctx: Context) -> list[CollectionRecord]:
        d = mapping.dataset
        return [CollectionRecord(
            id=f"{ctx.source}:collection:{c}", source=ctx.source, collection=c,
            name=d.name if d.collection == c and d.name else c, description=d.description,
            subjects=people, doi=list(d.doi), citation=d.citation,
            access=_access(mapping, ctx.tier),
            provenance=Provenance(source=ctx.source, source_version=ctx.source_version,
                                  harvested_at=ctx.harvested_at, run_id=ctx.run_id))
            for c, people in subjects]


def build(name: str, config: TabularSource, options: BuildOptions) -> TabularIndexer:
    return TabularIndexer(name=name, path=config.path.expanduser(),
                          mapping_path=config.mapping.expanduser(), format=config.format,
                          access=config.access)


def _landing(host: str, params: Mapping[str, str], tier: str) -> list[Link]:
    url = params.get("landing")
    if not url:
        return []
    rel = "request-access" if tier != "open" else "landing"
    title = "Request access" if tier != "open" else "Landing page"
    return [Link(rel=rel, host=host, title=title, href=url)]


def series_links(r: SeriesRecord, params: Mapping[str, str]) -> list[Link]:
    """The dataset's landing page (where access is requested) and its DOI."""
    links = _landing(r.source, params, r.access.tier)
    return links + ([doi(r.identifiers.doi, r.source)] if r.identifiers.doi else [])


def collection_links(r: CollectionRecord, params: Mapping[str, str]) -> list[Link]:
    return _landing(r.source, params, r.access.tier) + [doi(d, r.source) for d in r.doi]


SOURCE_TYPE = SourceType(
    name="tabular", config=TabularSource, build_indexer=build,
    default_schedule="15 6 * * *",  # daily: re-reading a file is cheap; new exports land any day
    schedule_period_hours=24,
    series_links=series_links, collection_links=collection_links,
)
