"""Reading metadata exports row by row: CSV, TSV, Parquet, JSON lines.

Every row comes with where it is (``line 12`` of a text file, ``row 12`` of a Parquet file)
so a bad value can be reported exactly. Parquet is read with pyarrow, in record batches.
CSV/TSV and JSON lines are read with the standard library because a malformed line must be
reported with its line number and the rest read on: pyarrow's streaming CSV reader hands a
malformed row to ``invalid_row_handler`` with ``number=None`` (pyarrow 26), and its JSON
reader fails the whole file on one bad line.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq

from imaging_hub.errors import ConfigError, SourceFormatError

Format = Literal["csv", "tsv", "parquet", "jsonl"]
SUFFIXES: dict[str, Format] = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
                               ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
                               ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Row:
    """One row: its place in the file, and its cells (``None`` when it is malformed)."""

    where: str  # "line 12" / "row 12"
    cells: dict[str, Any] | None
    problem: str | None = None


def file_format(path: Path, declared: Format | None) -> Format:
    """The export's format: declared, or from its suffix. Raises ``ConfigError``."""
    if declared:
        return declared
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ConfigError(f"{path}: cannot tell the format from the suffix "
                          f"{path.suffix!r}; set format = csv | tsv | parquet | jsonl")
    return found


def digest(path: Path) -> str:
    """SHA-256 of the file (the source version: the same bytes, the same records)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def columns(path: Path, fmt: Format) -> list[str]:
    """The export's column names. Raises ``ConfigError`` naming the file when it cannot be
    read or its header repeats a name."""
    try:
        if fmt == "parquet":
            names = list(pq.ParquetFile(path).schema_arrow.names)
        elif fmt == "jsonl":
            names = _json_keys(path)
        else:
            with path.open(newline="", encoding="utf-8-sig") as f:
                names = next(csv.reader(f, delimiter="\t" if fmt == "tsv" else ","), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the export: {exc}") from exc
    except Exception as exc:  # pyarrow raises ArrowInvalid for a file that is not Parquet
        raise ConfigError(f"{path}: not a readable {fmt} file: {exc}") from exc
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{path}: the header repeats column {', '.join(repeated)}")
    if not names:
        raise ConfigError(f"{path}: the export has no columns")
    return names


def rows(path: Path, fmt: Format, names: list[str]) -> Iterator[Row]:
    """Every row of the export. Raises ``SourceFormatError`` when the file stops being
    readable part-way (bad encoding, truncated Parquet)."""
    try:
        if fmt == "parquet":
            yield from _parquet_rows(path)
        elif fmt == "jsonl":
            yield from _json_rows(path)
        else:
            yield from _text_rows(path, "\t" if fmt == "tsv" else ",", names)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceFormatError(f"{path}: unreadable part-way: {exc}") from exc


def _text_rows(path: Path, delimiter: str, names: list[str]) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)  # the header
        for cells in reader:
            where = f"line {reader.line_num}"
            if not cells:
                continue  # a blank line
            if len(cells) != len(names):
                yield Row(where, None, f"{len(cells)} cells where the header has "
                                       f"{len(names)} columns")
            else:
                yield Row(where, dict(zip(names, cells, strict=True)))


def _parquet_rows(path: Path) -> Iterator[Row]:
    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for cells in batch.to_pylist():
            n += 1
            yield Row(f"row {n}", cells)


def _json_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                cells = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Row(f"line {n}", None, f"not JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(cells, dict):
                yield Row(f"line {n}", None, f"a JSON {type(cells).__name__}, not an object")
            else:
                yield Row(f"line {n}", cells)


def _json_keys(path: Path) -> list[str]:
    keys: dict[str, None] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                cells = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue  # reported as a rejected row when the rows are read
            if isinstance(cells, dict):
                keys.update(dict.fromkeys(cells))
    return list(keys)
