"""Configured sources: ``$IHUB_HOME/sources.toml``, one ``[sources.NAME]`` table each.

    [sources.idc]
    type = "idc"
    collections = ["nlst", "tcga_luad"]      # optional: only these collections

    [sources.pacs]
    type = "dicomweb"
    url = "http://127.0.0.1:8042/dicom-web"
    auth = { type = "basic", username = "ihub", password_env = "PACS_PASSWORD" }

    [sources.contrib]
    type = "dicom_folder"
    path = "/data/contributed/trial-7"

Absent file ⇒ the IDC source alone. Each table is validated by its type's model, found in
the registry of source types (``imaging_hub.source_types``): an unknown ``type`` or key, or a
bad value, raises ``ConfigError`` naming the file, ``[sources.NAME]`` and the key. Secrets
are read from the environment at harvest time (``password_env``, ``token_env``), never at
import time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.base import Indexer, StudyDateWindow
from imaging_hub.source_types import BuildOptions, SourceConfigBase, known_types, source_type

# Any type's configuration (each type's model subclasses it).
SourceConfig = SourceConfigBase


def default_sources() -> dict[str, SourceConfig]:
    """What runs without a ``sources.toml``: the IDC source alone."""
    return {"idc": source_type("idc").config.model_validate({"type": "idc"})}


def schedule_of(config: SourceConfig) -> str:
    """The source's cron schedule: configured, or the default of its type."""
    return config.schedule or source_type(config.type).default_schedule


def max_age(config: SourceConfig) -> float:
    """Hours after which the source's last good harvest counts as stale."""
    return config.max_age_hours or 2 * source_type(config.type).schedule_period_hours


def _problem(error: Any, type_name: str, keys: Sequence[str]) -> str:
    """One pydantic error as ``key: what is wrong`` (an unknown key lists the known ones)."""
    where = ".".join(str(p) for p in error["loc"]) or "entry"
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        return f"{where}: not a key of {type_name} sources (known: {', '.join(keys)})"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


def validate_source(name: str, table: object, where: str = "sources.toml") -> SourceConfig:
    """One ``[sources.NAME]`` table validated by its type's model.

    Raises ``ConfigError`` naming ``[sources.NAME]`` and the key: no or unknown ``type``
    (with the known types), unknown keys (with the type's keys), bad values.
    """
    place = f"{where} [sources.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{place}: expected a table of keys, got {type(table).__name__}")
    type_name = table.get("type")
    if not isinstance(type_name, str):
        raise ConfigError(f"{place}: type: missing (known: {', '.join(known_types())})")
    try:
        kind = source_type(type_name)
    except ConfigError as exc:
        raise ConfigError(f"{place}: type: {exc}") from None
    try:
        return kind.config.model_validate(table)
    except ValidationError as exc:
        keys = sorted(kind.config.model_fields)
        problems = "; ".join(_problem(e, type_name, keys) for e in exc.errors())
        raise ConfigError(f"{place}: {problems}") from None


def load_sources(path: Path) -> dict[str, SourceConfig]:
    """Read ``sources.toml``; the default (IDC alone) when the file does not exist.

    Raises ``ConfigError`` for invalid TOML, no ``[sources.NAME]`` table, or a bad table.
    """
    if not path.exists():
        return default_sources()
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    tables = data.get("sources")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: expected at least one [sources.NAME] table")
    return {name: validate_source(name, table, str(path)) for name, table in tables.items()}


def build_indexer(name: str, config: SourceConfig, collections: Sequence[str] | None = None,
                  window: StudyDateWindow | None = None) -> Indexer:
    """The indexer for one configured source, made by its type's factory.

    ``collections`` overrides the source's collection list (types that have one);
    ``window`` makes an incremental run of a type that supports windows
    (``imaging_hub.harvest.plan`` chooses it from the source's cursor).
    """
    options = BuildOptions(collections=collections, window=window, full=window is None)
    return source_type(config.type).build_indexer(name, config, options)
