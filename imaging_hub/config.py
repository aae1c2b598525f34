"""Where things live and which index store answers: ``IHUB_HOME``, ``IHUB_STORE`` and the
search engine's connection settings.

Nothing is read from the environment at import time; callers ask ``Settings.from_env()``.

    IHUB_HOME                         index (embedded), run reports, staging, sources.toml,
                                      API tokens (tokens/), the audit log (audit/)
    IHUB_STORE                        embedded (default) | opensearch | elasticsearch
    OPENSEARCH_URL                    e.g. https://node1:9200 (comma-separate several nodes)
    OPENSEARCH_USERNAME / _PASSWORD   basic auth, or OPENSEARCH_API_KEY
    OPENSEARCH_CA_FILE                PEM file of the CA that signed the nodes' certificates
    OPENSEARCH_VERIFY_CERTS           true (default) | false
    ELASTICSEARCH_...                 the same for Elasticsearch
    IHUB_INDEX_PREFIX                 index and alias names start with it (default: ihub)
    IHUB_INDEX_SHARDS / _REPLICAS     shards per level index (1); replicas (1 on a cluster)
    IHUB_COUNT_NOISE                  small-count protection: bounded noise added to restricted
                                      counts before rounding, at most +-N (0, the default: off;
                                      else at least 2); see search_ui/protect.py
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from imaging_hub.errors import ConfigError

DEFAULT_HOME = Path.home() / ".imaging-hub"
STORE_KINDS = ("embedded", "opensearch", "elasticsearch")
ENGINE_ENV = ("URL", "USERNAME", "PASSWORD", "API_KEY", "CA_FILE", "VERIFY_CERTS")
ENV_NAMES = ("IHUB_HOME", "IHUB_STORE", "IHUB_INDEX_PREFIX", "IHUB_INDEX_SHARDS",
             "IHUB_INDEX_REPLICAS", "IHUB_COUNT_NOISE",
             *(f"{p}_{k}" for p in ("OPENSEARCH", "ELASTICSEARCH") for k in ENGINE_ENV))


@dataclass(frozen=True)
class EngineSettings:
    """How to reach an OpenSearch or Elasticsearch cluster."""

    kind: str  # "opensearch" | "elasticsearch"
    urls: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    verify_certs: bool = True
    index_prefix: str = "ihub"
    shards: int = 1  # primary shards of each level index (IHUB_INDEX_SHARDS)
    replicas: int | None = None  # IHUB_INDEX_REPLICAS; default: 1 when the cluster has
    # more than one node, else 0

    @classmethod
    def from_env(cls, kind: str, env: Mapping[str, str]) -> EngineSettings:
        """Read ``<KIND>_URL`` and friends; raise ``ConfigError`` naming what is wrong."""
        prefix = kind.upper()
        raw = env.get(f"{prefix}_URL", "").strip()
        if not raw:
            raise ConfigError(f"IHUB_STORE={kind} needs {prefix}_URL (e.g. "
                              f"http://127.0.0.1:9200; see scripts/{kind}.sh)")
        urls = tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise ConfigError(f"{prefix}_URL: {u!r} must start with http:// or https://")
        verify = env.get(f"{prefix}_VERIFY_CERTS", "true").strip().lower()
        if verify not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{prefix}_VERIFY_CERTS={verify!r} is not true or false")
        ca = env.get(f"{prefix}_CA_FILE", "").strip()
        if ca and not Path(ca).is_file():
            raise ConfigError(f"{prefix}_CA_FILE={ca!r} is not a file")
        user = env.get(f"{prefix}_USERNAME") or None
        password = env.get(f"{prefix}_PASSWORD") or None
        if bool(user) != bool(password):
            raise ConfigError(f"{prefix}_USERNAME and {prefix}_PASSWORD go together")
        index_prefix = env.get("IHUB_INDEX_PREFIX", "ihub").strip().lower() or "ihub"
        if not index_prefix.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"IHUB_INDEX_PREFIX={index_prefix!r}: letters, digits, - and _")
        return cls(kind=kind, urls=urls, username=user, password=password,
                   api_key=env.get(f"{prefix}_API_KEY") or None,
                   ca_file=Path(ca) if ca else None,
                   verify_certs=verify in ("true", "1", "yes"), index_prefix=index_prefix,
                   shards=_int(env, "IHUB_INDEX_SHARDS", 1, 1) or 1,
                   replicas=_int(env, "IHUB_INDEX_REPLICAS", None, 0))


def _int(env: Mapping[str, str], name: str, default: int | None, low: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < low:
        raise ConfigError(f"{name}={value} is below {low}")
    return value


MAX_COUNT_NOISE = 1000


def count_noise(env: Mapping[str, str]) -> int:
    """``IHUB_COUNT_NOISE``: 0 (off) or a bound from 2 to 1000. Noise of at most 1 is
    refused: with rounding, a difference of two such answers can pin a suppressed count
    (README, "Small counts and estimates"). Raises ``ConfigError``."""
    value = _int(env, "IHUB_COUNT_NOISE", 0, 0) or 0
    if value == 1 or value > MAX_COUNT_NOISE:
        raise ConfigError(f"IHUB_COUNT_NOISE={value}: use 0 (no noise) or a bound from 2 to "
                          f"{MAX_COUNT_NOISE} (noise of at most 1 can give a suppressed count "
                          f"away when two answers are subtracted)")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved runtime settings."""

    home: Path
    store: str = "embedded"
    engine: EngineSettings | None = None
    count_noise: int = 0  # IHUB_COUNT_NOISE: bound of the noise on restricted counts (0: off)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``IHUB_HOME``, ``IHUB_STORE`` and the engine's settings; raise
        ``ConfigError`` on a bad value."""
        env = os.environ if environ is None else environ
        home = Path(env.get("IHUB_HOME") or DEFAULT_HOME).expanduser()
        store = env.get("IHUB_STORE", "embedded").strip().lower() or "embedded"
        if store not in STORE_KINDS:
            raise ConfigError(f"IHUB_STORE={store!r} is not one of {', '.join(STORE_KINDS)}")
        engine = None if store == "embedded" else EngineSettings.from_env(store, env)
        return cls(home=home, store=store, engine=engine, count_noise=count_noise(env))

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def published_dir(self) -> Path:
        """On a search engine cluster: this publisher's copies of what it published
        (``store/search_engine/local_copy.py``)."""
        return self.home / "published"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def sources_file(self) -> Path:
        return self.home / "sources.toml"

    @property
    def tokens_dir(self) -> Path:
        """API tokens (hashed): ``imaging_hub.tokens``."""
        return self.home / "tokens"

    @property
    def count_key_file(self) -> Path:
        """The secret that seeds the noise on restricted counts (``search_ui.protect``):
        made on first use, readable by the owner only."""
        return self.home / "count-noise.key"

    @property
    def cohorts_dir(self) -> Path:
        """Saved cohorts (members pinned to a generation): ``search_ui.cohorts``."""
        return self.home / "cohorts"

    @property
    def audit_dir(self) -> Path:
        """The audit log of queries over non-open data: ``imaging_hub.audit``."""
        return self.home / "audit"
