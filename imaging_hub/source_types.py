"""The one registry of source types: what ``type = "..."`` in ``sources.toml`` may name.

Each source type declares, in its own module (``indexers/<type>.py``), one ``SOURCE_TYPE``:
its configuration model (a ``SourceConfigBase`` subclass), its indexer factory, its default
schedule, whether it supports incremental windows, and its link builders. Everything that
needs to know about types reads ``REGISTRY``: config validation (``imaging_hub.sources``),
indexer factories, schedules and freshness, ``harvest.plan`` and the link dispatch in
``imaging_hub.search_ui.links``. Nothing keeps a second table of types.

Adding a source type: write ``indexers/<type>.py`` with its config model and
``SOURCE_TYPE``, its tests, and one line in ``_load_registry`` below. A type with
``windows=True`` configures with a ``WindowedConfig`` (``full_every_days``,
``incremental_days``): ``harvest.plan`` reads those to choose full or incremental runs, and
passes the window in ``BuildOptions`` (the type decides what its dates mean).

``REGISTRY`` is built on first use (module ``__getattr__``), because the source modules
import this one for ``SourceType`` and ``SourceConfigBase``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.base import Indexer, StudyDateWindow
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, CollectionRecord, SeriesRecord

Params = Mapping[str, str]
SeriesLinks = Callable[[SeriesRecord, Params], list[Link]]
CollectionLinks = Callable[[CollectionRecord, Params], list[Link]]
StudyLinks = Callable[[str, list[str], Params], list[Link]]


class SourceConfigBase(BaseModel):
    """Keys every source type accepts; each type's model adds ``type: Literal[...]`` and its
    own keys. Unknown keys are rejected (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")
    type: str
    schedule: str | None = Field(
        None, description="Cron expression for scheduled harvests (default by type).")
    max_age_hours: float | None = Field(
        None, gt=0, description="Freshness: flag the source when its last good harvest is "
        "older (default: twice the schedule's period).")
    max_drop_pct: float = Field(
        10.0, ge=0, le=100, description="Hold a harvest whose record count drops more than "
        "this percentage against what is published.")
    access: AccessTier | None = Field(
        None, description="Access tier of every record of the source, overriding what the "
        "source says (default: the source's own tier, or the type's default).")
    min_count: int = Field(
        10, ge=1, description="Small-count threshold: counts below it may be suppressed for "
        "callers without access to the records.")


class WindowedConfig(SourceConfigBase):
    """Keys of the types that support incremental runs (``SourceType.windows``)."""

    incremental_days: int | None = Field(
        None, ge=1, description="Incremental runs re-read at least the last N days.")
    full_every_days: int = Field(
        7, ge=1, description="Scheduled runs are incremental (from the cursor) except a full, "
        "reconciling pass at least this often.")


@dataclass(frozen=True)
class BuildOptions:
    """How ``harvest`` wants an indexer built for one run."""

    collections: Sequence[str] | None = None  # CLI override of a source's collection list
    # incremental scope chosen by harvest.plan(): the type decides what its dates mean
    # (DICOMweb: StudyDate; TCIA: date the series was last updated at the host)
    window: StudyDateWindow | None = None
    full: bool = True


@dataclass(frozen=True)
class SourceType:
    """One kind of source: how it is configured, harvested, scheduled and linked."""

    name: str  # the `type` key in sources.toml
    config: type[SourceConfigBase]
    build_indexer: Callable[[str, Any, BuildOptions], Indexer]
    default_schedule: str  # cron
    schedule_period_hours: float  # freshness default: max_age = 2 x period
    windows: bool = False  # supports incremental runs (since/until windows or cursors)
    series_links: SeriesLinks | None = None
    collection_links: CollectionLinks | None = None
    study_links: StudyLinks | None = None
    usage_policy_url: str | None = None  # a host's data usage policy (attribution)


def _load_registry() -> dict[str, SourceType]:
    # one line per source type (imported here, not at the top: they import this module)
    from imaging_hub.indexers import catalog, dicom_folder, dicomweb, gen3, idc, tabular, tcia

    types = (
        idc.SOURCE_TYPE,
        dicomweb.SOURCE_TYPE,
        dicom_folder.SOURCE_TYPE,
        tcia.SOURCE_TYPE,
        gen3.SOURCE_TYPE,
        tabular.SOURCE_TYPE,
        catalog.SOURCE_TYPE,
    )
    return {t.name: t for t in types}


_REGISTRY: dict[str, SourceType] | None = None


def registry() -> dict[str, SourceType]:
    """Every known source type by name."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _load_registry()
    return _REGISTRY


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def known_types() -> list[str]:
    return sorted(registry())


def source_type(name: str) -> SourceType:
    """The registered type ``name``. Raises ``ConfigError`` listing the known types."""
    found = registry().get(name)
    if found is None:
        raise ConfigError(f"unknown source type {name!r} (known: {', '.join(known_types())})")
    return found
