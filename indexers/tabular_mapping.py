"""The declarative column mapping of a metadata export (``type = "tabular"``), validated by
pydantic: which column feeds which record field, constant values, value maps for coded
fields, checks on the other columns, and what happens to unmapped columns. A worked example:
``examples/decedent_ct/mapping.toml``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imaging_hub.errors import ConfigError
from imaging_hub.schemas.records import AccessTier

# record fields a column (or a constant) may feed
FieldName = Literal[
    "id", "subject_id", "study_uid", "series_uid", "collection", "modality", "body_part",
    "sex", "age", "manufacturer", "study_date", "study_year", "study_description",
    "series_description", "instances", "size_bytes", "race", "ethnicity"]
CODED = ("modality", "body_part", "sex")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dataset(_Strict):
    """The collection the rows belong to (one, unless ``fields.collection`` names a column:
    then these facts apply to every collection of the file)."""

    collection: str | None = None
    name: str | None = None
    description: str | None = None
    access: AccessTier = "registration"
    license: str | None = None
    license_url: str | None = None
    doi: list[str] = Field(default_factory=list)
    citation: str | None = None
    landing_url: str | None = Field(None, description="where access is requested (links)")


class Check(_Strict):
    """What a column's values must be; a row breaking it is rejected, naming the column."""

    type: Literal["text", "number", "integer", "date"] = "text"
    min: float | None = None
    max: float | None = None
    one_of: list[str] | None = None


class Unmapped(_Strict):
    keep: bool = Field(True, description="unmapped columns become extra attributes")
    drop: list[str] = Field(default_factory=list, description="columns never kept")
    error: bool = Field(False, description="an unmapped column is a configuration error")


class TabularMapping(_Strict):
    """How the rows of one export become records."""

    dataset: Dataset = Field(default_factory=lambda: Dataset.model_validate({}))
    fields: dict[FieldName, str] = Field(description="record field -> column")
    constants: dict[FieldName, str] = Field(default_factory=dict)
    values: dict[Literal["modality", "body_part", "sex"], dict[str, str]] = Field(
        default_factory=dict, description="coded field -> column value -> code")
    checks: dict[str, Check] = Field(default_factory=dict, description="column -> check")
    unmapped: Unmapped = Field(default_factory=lambda: Unmapped.model_validate({}))
    missing: list[str] = Field(
        default_factory=lambda: ["", "NA", "N/A", "n/a", "null", "NULL"],
        description="cell values read as missing")

    @model_validator(mode="after")
    def _coherent(self) -> TabularMapping:
        if "subject_id" not in self.fields:
            raise ValueError("fields.subject_id is required: every row is about a subject")
        both = sorted(set(self.fields) & set(self.constants))
        if both:
            raise ValueError(f"{', '.join(both)}: both a column and a constant")
        if "collection" not in self.fields and not self.dataset.collection:
            raise ValueError("dataset.collection (or fields.collection) is required")
        if "series_uid" in self.fields and "study_uid" not in self.fields:
            raise ValueError("fields.series_uid needs fields.study_uid")
        sex = self.values.get("sex", {})
        bad = sorted(v for v in sex.values() if v not in ("M", "F", "O"))
        if bad:
            raise ValueError(f"values.sex: {', '.join(bad)} (codes are M, F, O)")
        return self

    def columns_used(self) -> set[str]:
        return set(self.fields.values())


def load_mapping(path: Path) -> TabularMapping:
    """Read and validate a TOML mapping. Raises ``ConfigError`` naming the file and keys."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the column mapping: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the column mapping is not valid TOML: {exc}") from exc
    try:
        return TabularMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: "
                             f"{str(e['msg']).removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ConfigError(f"{path}: invalid column mapping: {problems}") from None
