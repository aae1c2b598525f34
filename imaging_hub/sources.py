"""Configured sources: ``$IHUB_HOME/sources.toml``, one ``[sources.NAME]`` table each.

    [sources.idc]
    type = "idc"
    collections = ["nlst", "tcga_luad"]   # optional: only these collections

Absent file ⇒ the IDC source alone. Entries are validated by pydantic; a bad entry raises
``ConfigError`` naming it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.base import Indexer


class _SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: str | None = Field(None, description="Cron expression for scheduled harvests.")


class IdcSource(_SourceConfig):
    type: Literal["idc"] = "idc"
    collections: list[str] = Field(default_factory=list)
    series_parquet: Path | None = None
    collections_parquet: Path | None = None
    drs_prefix: str = "dg.4DFC"


SourceConfig = Annotated[IdcSource, Field(discriminator="type")]
_ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)
DEFAULT_SOURCES: dict[str, SourceConfig] = {"idc": IdcSource.model_validate({})}


def load_sources(path: Path) -> dict[str, SourceConfig]:
    """Read ``sources.toml``; the default (IDC alone) when the file does not exist."""
    if not path.exists():
        return dict(DEFAULT_SOURCES)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    tables = data.get("sources")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: expected at least one [sources.NAME] table")
    out: dict[str, SourceConfig] = {}
    for name, table in tables.items():
        try:
            out[name] = _ADAPTER.validate_python(table)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                for e in exc.errors())
            raise ConfigError(f"{path}: [sources.{name}] is invalid: {problems}") from None
    return out


def build_indexer(name: str, config: SourceConfig,
                  collections: Sequence[str] | None = None) -> Indexer:
    """The indexer for one configured source; ``collections`` overrides the config's list."""
    from imaging_hub.indexers.idc import IdcIndexer

    wanted = list(collections) if collections else config.collections
    return IdcIndexer(
        name=name, collections=wanted, series_parquet=config.series_parquet,
        collections_parquet=config.collections_parquet, drs_prefix=config.drs_prefix,
    )
