"""Configured sources: ``$IHUB_HOME/sources.toml``, one ``[sources.NAME]`` table each.

    [sources.idc]
    type = "idc"
    collections = ["nlst", "tcga_luad"]      # optional: only these collections

    [sources.pacs]
    type = "dicomweb"
    url = "http://127.0.0.1:8042/dicom-web"
    auth = { type = "basic", username = "ihub", password_env = "PACS_PASSWORD" }
    viewer_url = "http://127.0.0.1:8042/ohif/viewer?StudyInstanceUIDs={study_uid}"
    incremental_days = 30                      # incremental runs re-read at least 30 days

    [sources.contrib]
    type = "dicom_folder"
    path = "/data/contributed/trial-7"

Absent file ⇒ the IDC source alone. Entries are validated by pydantic; a bad entry raises
``ConfigError`` naming it. Secrets are read from the environment at harvest time
(``password_env``, ``token_env``), never at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.base import Indexer, StudyDateWindow
from imaging_hub.schemas.records import AccessTier


class _SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: str | None = Field(
        None, description="Cron expression for scheduled harvests (default by type).")
    max_age_hours: float | None = Field(
        None, gt=0, description="Freshness: flag the source when its last good harvest is "
        "older (default: twice the schedule's period).")
    max_drop_pct: float = Field(
        10.0, ge=0, le=100, description="Hold a harvest whose record count drops more than "
        "this percentage against what is published.")


class IdcSource(_SourceConfig):
    type: Literal["idc"] = "idc"
    collections: list[str] = Field(default_factory=list)
    series_parquet: Path | None = None
    collections_parquet: Path | None = None
    drs_prefix: str = "dg.4DFC"


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["none", "basic", "bearer"] = "none"
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    token: str | None = None
    token_env: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthConfig:
        if self.type == "basic" and not (self.username and (self.password or self.password_env)):
            raise ValueError("basic auth needs username and password or password_env")
        if self.type == "bearer" and not (self.token or self.token_env):
            raise ValueError("bearer auth needs token or token_env")
        return self

    def build(self) -> tuple[httpx.Auth | None, dict[str, str]]:
        """(httpx auth, extra headers); raises ``ConfigError`` for a missing env secret."""
        if self.type == "basic":
            return httpx.BasicAuth(self.username or "", self._secret(
                self.password, self.password_env)), {}
        if self.type == "bearer":
            return None, {"Authorization": f"Bearer {self._secret(self.token, self.token_env)}"}
        return None, {}

    @staticmethod
    def _secret(value: str | None, env: str | None) -> str:
        if value:
            return value
        secret = os.environ.get(env or "")
        if not secret:
            raise ConfigError(f"environment variable {env} (a source secret) is not set")
        return secret


class DicomwebSource(_SourceConfig):
    type: Literal["dicomweb"]
    url: str = Field(description="DICOMweb root, e.g. http://host:8042/dicom-web")
    auth: AuthConfig = Field(default_factory=lambda: AuthConfig.model_validate({}))
    collection: str | None = Field(None, description="Collection id (default: source name)")
    access: AccessTier = "controlled"
    license: str | None = None
    page_size: int = Field(100, ge=1, le=10_000)
    concurrency: int = Field(4, ge=1, le=32)
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    incremental_days: int | None = Field(None, ge=1)
    full_every_days: int = Field(
        7, ge=1, description="Scheduled runs are incremental (from the cursor) except a full, "
        "reconciling pass at least this often.")
    wado_url: str | None = Field(None, description="WADO-RS root (default: url)")
    viewer_url: str | None = Field(
        None, description="Viewer URL template with {study_uid} and {series_uid}")

    @model_validator(mode="after")
    def _http_url(self) -> DicomwebSource:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


class DicomFolderSource(_SourceConfig):
    type: Literal["dicom_folder"]
    path: Path
    collection: str | None = Field(None, description="Collection id (default: folder name)")
    access: AccessTier = "controlled"
    license: str | None = None
    workers: int | None = Field(None, ge=1, description="Processes (default: all cores)")


SourceConfig = Annotated[IdcSource | DicomwebSource | DicomFolderSource,
                         Field(discriminator="type")]
_ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)
DEFAULT_SOURCES: dict[str, SourceConfig] = {"idc": IdcSource.model_validate({})}
# IDC releases every few months: weekly; servers and folders change daily
DEFAULT_SCHEDULES = {"idc": "0 3 * * 1", "dicomweb": "0 2 * * *", "dicom_folder": "30 2 * * *"}
SCHEDULE_PERIOD_HOURS = {"idc": 24 * 7, "dicomweb": 24, "dicom_folder": 24}


def schedule_of(config: SourceConfig) -> str:
    """The source's cron schedule: configured, or the default of its type."""
    return config.schedule or DEFAULT_SCHEDULES[config.type]


def max_age(config: SourceConfig) -> float:
    """Hours after which the source's last good harvest counts as stale."""
    return config.max_age_hours or 2 * SCHEDULE_PERIOD_HOURS[config.type]


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
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: "
                f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
            raise ConfigError(f"{path}: [sources.{name}] is invalid: {problems}") from None
    return out


def build_indexer(name: str, config: SourceConfig, collections: Sequence[str] | None = None,
                  window: StudyDateWindow | None = None) -> Indexer:
    """The indexer for one configured source.

    ``collections`` overrides an IDC source's list; ``window`` limits a DICOMweb harvest to a
    study-date window (``imaging_hub.harvest.plan`` chooses it from the source's cursor).
    """
    if isinstance(config, IdcSource):
        from imaging_hub.indexers.idc import IdcIndexer

        return IdcIndexer(
            name=name, collections=list(collections) if collections else config.collections,
            series_parquet=config.series_parquet,
            collections_parquet=config.collections_parquet, drs_prefix=config.drs_prefix)
    if isinstance(config, DicomwebSource):
        from imaging_hub.indexers.dicomweb import DicomwebIndexer, QidoClient
        from imaging_hub.indexers.http import HttpSettings, build_client

        settings = HttpSettings(connect_timeout=config.connect_timeout,
                                read_timeout=config.read_timeout,
                                max_attempts=config.max_attempts)
        auth, headers = config.auth.build()
        client = build_client(config.url, auth, headers, settings)
        links = {"wado_rs": (config.wado_url or config.url).rstrip("/")}
        if config.viewer_url:
            links["viewer"] = config.viewer_url
        return DicomwebIndexer(
            name=name, qido=QidoClient(client, config.page_size, settings),
            collection=config.collection, access=config.access, license=config.license,
            concurrency=config.concurrency, window=window, link_params=links)
    from imaging_hub.indexers.dicom_folder import DicomFolderIndexer

    return DicomFolderIndexer(name=name, path=config.path, collection=config.collection,
                              access=config.access, license=config.license,
                              workers=config.workers)
