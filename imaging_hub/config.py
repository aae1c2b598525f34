"""Where things live: ``IHUB_HOME`` and the paths under it.

Nothing is read from the environment at import time; callers ask ``Settings.from_env()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imaging_hub.errors import ConfigError

DEFAULT_HOME = Path.home() / ".imaging-hub"
STORE_KINDS = ("embedded", "opensearch", "elasticsearch")


@dataclass(frozen=True)
class Settings:
    """Resolved runtime settings."""

    home: Path
    store: str = "embedded"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read ``IHUB_HOME`` and ``IHUB_STORE``; raise ``ConfigError`` on a bad store kind."""
        env = os.environ if environ is None else environ
        home = Path(env.get("IHUB_HOME") or DEFAULT_HOME).expanduser()
        store = env.get("IHUB_STORE", "embedded").strip().lower() or "embedded"
        if store not in STORE_KINDS:
            raise ConfigError(f"IHUB_STORE={store!r} is not one of {', '.join(STORE_KINDS)}")
        return cls(home=home, store=store)

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def sources_file(self) -> Path:
        return self.home / "sources.toml"
