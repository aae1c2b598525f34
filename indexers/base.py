"""What every indexer returns, and the small helpers they share."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import pyarrow as pa

from imaging_hub.schemas.report import HarvestReport

# (stage description, completed, total) — drives the CLI's progress bar.
ProgressFn = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """Progress sink that ignores updates."""


def new_run_id(source: str) -> str:
    """A sortable, unique harvest run id."""
    return f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class HarvestResult:
    """Records of one source, columnar (``SERIES_SCHEMA``/``COLLECTION_SCHEMA``), and the
    report of how they were produced."""

    series: pa.Table
    collections: pa.Table
    report: HarvestReport


class Indexer(Protocol):
    """A configured source that can be harvested as a whole."""

    name: str

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read the source and normalise it; raise ``HarvestError`` if it cannot complete."""
        ...
