"""A publisher's own copy of the records it published, so that its next publish need not
read them back from the cluster.

A publish merges the harvest into the records the cluster serves, so it needs those
records. Reading them back page by page costs most of a republish of a large source. So the
publisher also writes the records it loads to a Parquet file named after the generation,
and keeps the file once the aliases point at that generation. A later publish that finds the
served generation's file reads the records from it.

Generations are never changed after loading and their names are unique (time and a random
suffix), so the file of the served generation holds exactly what the cluster serves. When
there is no such file (another machine published, the folder was cleared, a first publish),
the records are read back from the cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from imaging_hub.schemas.columnar import SERIES_SCHEMA
from imaging_hub.store.merge import RECORDS

READ_BATCH = 10_000


class LocalCopies:
    """Copies of published generations of one index prefix, in a folder of their own: only
    the served generation's copy is kept."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder / prefix

    def path(self, generation: str) -> Path:
        return self.folder / f"{generation}.parquet"

    def pending(self, generation: str) -> Path:
        """Where the copy of ``generation`` is written until that generation is served."""
        return self.path(generation).with_suffix(".pending")

    def read(self, generation: str, records: int) -> Iterator[pa.Table] | None:
        """The records of ``generation`` in batches; None without a readable copy of it
        holding ``records`` records (its manifest's count). The copy is decoded once
        through before it is used (about a second for IDC), so a damaged page sends the
        publish to the cluster instead of failing it half-way through the merge."""
        path = self.path(generation)
        try:
            with pq.ParquetFile(path) as f:
                if f.metadata.num_rows != records:
                    return None
                for group in range(f.num_row_groups):
                    f.read_row_group(group, columns=SERIES_SCHEMA.names)
        except (OSError, pa.ArrowException, ValueError):
            return None
        return self._batches(path)

    @staticmethod
    def _batches(path: Path) -> Iterator[pa.Table]:
        with pq.ParquetFile(path) as f:
            for batch in f.iter_batches(READ_BATCH, columns=SERIES_SCHEMA.names):
                yield pa.Table.from_batches([batch]).cast(SERIES_SCHEMA)

    def write(self, con: duckdb.DuckDBPyConnection, generation: str) -> Path | None:
        """Write the merged records (``merge.RECORDS`` on ``con``) of a generation being
        loaded; the file only counts once ``keep`` has named it. A copy that cannot be
        written (a full disk, say) is no reason to fail the publish: None."""
        pending = self.pending(generation)
        columns = ", ".join(f'"{n}"' for n in SERIES_SCHEMA.names)
        target = str(pending).replace("'", "''")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY (SELECT {columns} FROM {RECORDS}) TO '{target}' "
                        f"(FORMAT parquet, COMPRESSION zstd)")
        except (OSError, duckdb.Error):
            self.discard(pending)
            return None
        return pending

    def keep(self, pending: Path, generation: str) -> None:
        """``generation`` is served now: its copy replaces every other of this prefix."""
        final = self.path(generation)
        with contextlib.suppress(OSError):  # without it, the next publish reads back
            pending.replace(final)
        for other in self.folder.glob("*"):
            if other != final:
                self.discard(other)

    @staticmethod
    def discard(pending: Path | None) -> None:
        if pending is not None:
            with contextlib.suppress(OSError):
                pending.unlink()
