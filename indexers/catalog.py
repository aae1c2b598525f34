"""A catalogue of datasets that cannot be crawled (``type = "catalog"``): databases behind a
registration or an approval that publish no metadata API (NMDID, ADNI, ABIDE, MIMIC-CXR,
MedPix, UK Biobank imaging, ...).

    [sources.gated]
    type = "catalog"                 # the catalogue shipped with imaging-hub
    # path = "/etc/ihub/catalog.toml"  # or another catalogue file of the same shape

Each entry of ``indexers/data/catalog.toml`` becomes one collection record with a non-open
access tier, its published subject count (``subjects``: counted as the collection's own
figure, never as subjects we can enumerate; there are no series rows), its modalities,
image count, access requirement and date checked (``extra``), and a "request access" link
to its landing page.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imaging_hub.errors import ConfigError
from imaging_hub.indexers import normalise
from imaging_hub.indexers.base import HarvestResult, ProgressFn, no_progress
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA, collection_table
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import Access, AccessTier, CollectionRecord, Provenance
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import doi
from imaging_hub.source_types import BuildOptions, SourceConfigBase, SourceType

SHIPPED = Path(__file__).parent / "data" / "catalog.toml"
_ID = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class Entry(BaseModel):
    """One dataset of the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(description="collection id: lower-case letters, digits, _")
    name: str
    description: str | None = None
    modalities: list[str] = Field(default_factory=list, description="DICOM Modality codes")
    body_regions: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    subjects: int | None = Field(None, ge=0, description="as the dataset publishes it")
    sex: dict[Literal["F", "M", "O"], int] | None = Field(
        None, description="subjects per DICOM sex code, as published (for estimates)")
    age_range: tuple[float, float] | None = Field(
        None, description="youngest and oldest age in years, as published (for estimates)")
    studies: int | None = Field(None, ge=0)
    images: int | None = Field(None, ge=0)
    access: Literal["registration", "controlled"]
    access_requirement: str
    license: str | None = None
    license_url: str | None = None
    landing_url: str
    doi: list[str] = Field(default_factory=list)
    citation: str | None = None
    checked: date
    sources: list[str] = Field(default_factory=list, description="pages the facts came from")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r}: use lower-case letters, digits and _")
        return value

    @field_validator("landing_url", "license_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("age_range")
    @classmethod
    def _ages(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] <= value[1]:
            raise ValueError(f"{list(value)}: give [youngest, oldest], in years, from 0")
        return value

    @field_validator("modalities")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return [normalise.code(v) or v for v in value]


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset: list[Entry] = Field(min_length=1)


def load_catalogue(path: Path) -> list[Entry]:
    """The entries of a catalogue file. Raises ``ConfigError`` naming the file, the entry
    (by position and id) and the key."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the catalogue: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the catalogue is not valid TOML: {exc}") from exc
    try:
        entries = Catalogue.model_validate(data).dataset
    except ValidationError as exc:
        raw = data.get("dataset") if isinstance(data, dict) else None
        problems = []
        for e in exc.errors():
            loc = list(e["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) > 1 and loc[0] == "dataset" and isinstance(loc[1], int) \
                    and isinstance(raw, list) and loc[1] < len(raw):
                name = raw[loc[1]].get("id", "?") if isinstance(raw[loc[1]], dict) else "?"
                where = f"dataset {loc[1] + 1} ({name}): {'.'.join(str(p) for p in loc[2:])}"
            problems.append(f"{where}: {str(e['msg']).removeprefix('Value error, ')}")
        raise ConfigError(f"{path}: invalid catalogue: {'; '.join(problems)}") from None
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ConfigError(f"{path}: dataset id {entry.id!r} appears twice")
        seen.add(entry.id)
    return entries


def _extra(e: Entry) -> dict[str, str]:
    facts = {"modalities": ", ".join(e.modalities), "conditions": ", ".join(e.conditions),
             "studies": str(e.studies) if e.studies is not None else "",
             "images": str(e.images) if e.images is not None else "",
             "access_requirement": e.access_requirement, "checked": e.checked.isoformat(),
             "landing_url": e.landing_url,
             "sex": ",".join(f"{k}={n}" for k, n in sorted((e.sex or {}).items())),
             "age_range": f"{e.age_range[0]:g}-{e.age_range[1]:g}" if e.age_range else ""}
    return {k: v for k, v in facts.items() if v}


@dataclass
class CatalogIndexer:
    """Publish a catalogue file as collection records."""

    name: str
    path: Path = SHIPPED
    access: AccessTier | None = None

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read the catalogue. Raises ``ConfigError`` for a file that is unreadable or
        breaks the catalogue's shape (naming the entry and key)."""
        entries = load_catalogue(self.path)
        now = datetime.now(UTC)
        newest = max(e.checked for e in entries)
        version = f"catalogue {self.path.name} (checked up to {newest.isoformat()})"
        prov = Provenance(source=self.name, source_version=version, harvested_at=now,
                          run_id=run_id)
        records = [CollectionRecord(
            id=f"{self.name}:collection:{e.id}", source=self.name, collection=e.id,
            name=e.name, description=e.description, disease_type=list(e.conditions),
            primary_site=list(e.body_regions), species=["Homo sapiens"],
            subjects=e.subjects, status="not crawlable: request access",
            doi=list(e.doi), citation=e.citation, extra=_extra(e),
            access=Access(tier=self.access or e.access, license=e.license,
                          license_url=e.license_url,
                          commercial_use=normalise.commercial_use(e.license)),
            provenance=prov) for e in entries]
        report = HarvestReport(source=self.name, run_id=run_id, source_version=version,
                               started_at=now, read=len(entries), collections=len(records))
        progress(f"{self.name}: catalogue", len(records), len(records))
        return HarvestResult(series=SERIES_SCHEMA.empty_table(),
                             collections=collection_table(records) if records
                             else COLLECTION_SCHEMA.empty_table(), report=report)


class CatalogSource(SourceConfigBase):
    """``[sources.NAME] type = "catalog"``: the shipped catalogue, or another file."""

    type: Literal["catalog"]
    path: Path = Field(SHIPPED, description="A catalogue file (default: the shipped one)")


def build(name: str, config: CatalogSource, options: BuildOptions) -> CatalogIndexer:
    return CatalogIndexer(name=name, path=config.path.expanduser(), access=config.access)


def collection_links(r: CollectionRecord, params: Mapping[str, str]) -> list[Link]:
    """A "request access" link to the dataset's landing page, then its DOIs."""
    links = []
    landing = r.extra.get("landing_url")
    if landing:
        links.append(Link(rel="request-access", host=r.collection,
                          title=f"Request access ({r.name})", href=landing))
    return links + [doi(d, r.collection) for d in r.doi]


SOURCE_TYPE = SourceType(
    name="catalog", config=CatalogSource, build_indexer=build,
    default_schedule="0 7 * * 1",  # weekly: the file changes with imaging-hub releases
    schedule_period_hours=24 * 7,
    collection_links=collection_links,
)
