"""Declarative mappings from a Gen3 commons' Guppy types (and its metadata service) to our
records, validated by pydantic. Two ship with the project (``indexers/data/gen3/``):

* ``midrc``: MIDRC's data model (uc-cdis/midrc_dictionary; data.midrc.org's ETL mapping in
  uc-cdis/gen3-gitops ``midrcprod/data.midrc.org/values/values.yaml``): one series per
  DICOM series package in Guppy type ``data_file`` (the ``*_series_file`` nodes), with the
  case and imaging-study properties the ETL injects into it; collections from the metadata
  service's discovery records.
* ``bih``: the Biomedical Imaging Hub (gen3-gitops ``bihprod/imaging-hub.data-commons.org``;
  uc-cdis/bih-data-commons ``config/gen3/explorer.json``): Guppy types ``imaging_series``
  (indices ``bih_imaging_series``) and ``dataset`` (``bih_dataset``); each row names its
  platform in ``commons_name`` (ACRdart, IDC, MIDRC, NIHCC, Open-i, OpenNeuro, Stanford
  AIMI, TCIA, Zenodo).

A mapping file (TOML or JSON) with the same shape adapts the connector to any other commons.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.gen3_client import NAME

DATA_DIR = Path(__file__).parent / "data" / "gen3"
BUILT_IN = ("midrc", "bih")
Sex = Literal["M", "F", "O"]
SEX_VALUES: dict[str, Sex] = {"female": "F", "male": "M", "other": "O", "f": "F", "m": "M",
                              "o": "O"}
MISSING = ("not reported", "unknown", "no data", "__missing__", "not applicable", "")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"{value!r} is not a Guppy type or field name")
    return value


Name = Annotated[str, AfterValidator(_check_name)]  # a GraphQL identifier, never a value


class SeriesFields(_Strict):
    """Record field -> Guppy field of the series type (``None``: the commons has none)."""

    series_uid: Name
    study_uid: Name
    subject_id: Name
    collection: Name
    modality: Name | None = None
    body_part: Name | None = None
    sex: Name | None = None
    age: Name | None = None
    manufacturer: Name | None = None
    study_year: Name | None = None
    study_description: Name | None = None
    series_description: Name | None = None
    instances: Name | None = None
    size_bytes: Name | None = None
    doi: Name | None = None
    license: Name | None = None
    object_id: Name | None = Field(None, description="indexd GUID(s) of the series' files")
    authz: Name | None = Field(None, description="the commons' authz resource path")
    platform: Name | None = Field(None, description="the platform hosting the series")
    viewer_url: Name | None = None
    race: Name | None = Field(None, description="race (several values are kept, joined)")
    ethnicity: Name | None = None


class SeriesSpec(_Strict):
    """Which Guppy type holds the series, which of its rows, and their fields."""

    type: Name
    filter: dict[str, Any] | None = Field(None, description="Guppy filter (JSON syntax)")
    sort: Name = Field(description="a unique field, so that offset paging is stable")
    fields: SeriesFields
    extra: dict[str, Name] = Field(
        default_factory=dict, description="extra attribute name -> Guppy field")


class CollectionFields(_Strict):
    """Collection field -> source field (Guppy field, or discovery metadata key)."""

    collection: str | None = Field(
        None, description="collection id field; unset for discovery: from the authz path")
    name: str | None = None
    description: str | None = None
    subjects: str | None = None
    doi: str | None = None
    citation: str | None = None
    disease_type: str | None = None
    primary_site: str | None = None
    license: str | None = None
    program: str | None = None
    updated: str | None = None
    authz: str | None = None


class GuppyCollections(_Strict):
    """Collections from a Guppy type (one row per dataset)."""

    type: Name
    sort: Name
    filter: dict[str, Any] | None = None
    fields: CollectionFields


class Discovery(_Strict):
    """Collections from the metadata service's discovery records."""

    guid_type: str = "discovery_metadata"
    study_field: str = "gen3_discovery"
    fields: CollectionFields


class Gen3Mapping(_Strict):
    """How one commons' data model maps to series and collection records."""

    name: str
    description: str = ""
    series: SeriesSpec
    collections: GuppyCollections | None = None
    discovery: Discovery | None = None
    sex_values: dict[str, Sex] = Field(
        default_factory=lambda: dict(SEX_VALUES),
        description="source value (case-insensitive) -> DICOM PatientSex")
    platform_urls: dict[str, str] = Field(
        default_factory=dict, description="platform -> home page (links)")

    def guppy_fields(self) -> dict[str, list[str]]:
        """Guppy type -> the fields this mapping reads from it."""
        wanted: dict[str, list[str]] = {}
        s = self.series
        names = [v for v in s.fields.model_dump().values() if v] + list(s.extra.values())
        wanted[s.type] = sorted(set(names) | {s.sort})
        if self.collections is not None:
            c = self.collections
            cols = {v for v in c.fields.model_dump().values() if v} | {c.sort}
            wanted[c.type] = sorted(cols | set(wanted.get(c.type, [])))
        return wanted


def load_mapping(model: str) -> Gen3Mapping:
    """A built-in mapping by name, or a TOML/JSON mapping file. Raises ``ConfigError``
    naming the file and the bad keys."""
    path = DATA_DIR / f"{model}.toml" if model in BUILT_IN else Path(model).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        known = ", ".join(BUILT_IN)
        raise ConfigError(f"model {model!r}: not a built-in model ({known}) and not a "
                          f"readable mapping file ({exc})") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'TOML'}: "
                          f"{exc}") from exc
    try:
        return Gen3Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: "
                             f"{str(e['msg']).removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ConfigError(f"{path}: invalid Gen3 mapping: {problems}") from None
