"""The spill helper of ``store.arrowio``: record batches written to a temporary Arrow IPC
file and read back memory-mapped, with nothing left on disk, also when writing fails."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from imaging_hub.store.arrowio import spill

SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64())])


def _batches(count: int, rows: int = 3) -> Iterator[pa.RecordBatch]:
    for b in range(count):
        yield pa.record_batch([pa.array([f"r{b}.{i}" for i in range(rows)]),
                               pa.array([b * rows + i for i in range(rows)], pa.int64())],
                              schema=SCHEMA)


def test_spill_round_trips_batches_and_leaves_no_file(tmp_path: Path) -> None:
    table = spill(_batches(4), SCHEMA, tmp_path)
    assert list(tmp_path.iterdir()) == []  # unlinked once mapped
    assert table.schema == SCHEMA and table.num_rows == 12
    assert table.column("n").to_pylist() == list(range(12))
    assert table.column("id").to_pylist()[4] == "r1.1"
    assert pa.Table.from_batches(list(_batches(4))).equals(table)


def test_spill_of_no_batches_is_an_empty_table_of_the_schema(tmp_path: Path) -> None:
    table = spill(iter(()), SCHEMA, tmp_path)
    assert table.num_rows == 0 and table.schema == SCHEMA
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_no_file(tmp_path: Path) -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield from _batches(2)
        raise RuntimeError("the source broke part-way")

    with pytest.raises(RuntimeError, match="part-way"):
        spill(failing(), SCHEMA, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_batch_of_another_schema_fails_and_leaves_no_file(tmp_path: Path) -> None:
    other = pa.record_batch([pa.array([1])], names=["id"])
    with pytest.raises(pa.ArrowInvalid):
        spill(iter([other]), SCHEMA, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_spill_defaults_to_the_temporary_directory(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    table = spill(_batches(2), SCHEMA)
    assert list(tmp_path.iterdir()) == [] and table.num_rows == 6
