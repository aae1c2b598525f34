"""Vocabulary tables: the CSV files shipped in ``data/`` and an operator's overrides in
``$IHUB_HOME/vocab/``, read and checked once.

An override file has the name and the columns of the shipped table it amends (e.g.
``$IHUB_HOME/vocab/body_part_alias.csv`` with ``raw,term,source``). A row whose key equals
a shipped row's key replaces that row; other rows are added. Keys compare as values are
looked up: trimmed, inner whitespace collapsed, upper-cased (``raw``, ``term``, ``code``,
``region``, ``modality``, ``study_description``). A file that cannot be read, lacks a
column, repeats a key or points at a value another table does not have is a ``ConfigError``
naming the file and the line.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from imaging_hub.errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"
OVERRIDE_DIR = "vocab"  # under IHUB_HOME
Row = dict[str, str]
Key = tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """One table: its key columns and all its columns (in the shipped file's order);
    ``upper`` columns compare case-insensitively (normalised on reading)."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    upper: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


SPECS: dict[str, TableSpec] = {s.name: s for s in (
    TableSpec("body_part", ("term",), ("term", "code", "meaning", "region", "paired"),
              ("term", "region")),
    TableSpec("body_part_alias", ("raw",), ("raw", "term", "source"), ("raw", "term")),
    TableSpec("body_region", ("region",), ("region", "label", "description"), ("region",)),
    TableSpec("modality", ("code",), ("code", "meaning"), ("code",)),
    TableSpec("procedure", ("modality", "study_description"),
              ("modality", "study_description", "loinc"), ("modality", "study_description")),
    TableSpec("loinc", ("loinc",), ("loinc", "long_common_name", "method", "system", "timing")),
    TableSpec("sex", ("raw",), ("raw", "sex"), ("raw", "sex")),
    TableSpec("race", ("raw",), ("raw", "race"), ("raw",)),
    TableSpec("ethnicity", ("raw",), ("raw", "ethnicity"), ("raw",)),
)}


def norm(text: str) -> str:
    """How coded text is compared: trimmed, inner whitespace collapsed, upper-cased."""
    return " ".join(text.split()).upper()


@dataclass
class Table:
    """A table's rows by key, and where each came from (``file:line``)."""

    spec: TableSpec
    rows: dict[Key, Row]
    origin: dict[Key, str]
    shipped_rows: int
    override: Path | None = None
    override_rows: int = 0
    provenance: dict[str, str] = field(default_factory=dict)

    def where(self, key: Key) -> str:
        return self.origin.get(key, self.spec.file)


def read_csv(path: Path, spec: TableSpec) -> list[tuple[int, Row]]:
    """The rows of one CSV file with their line numbers, values trimmed and ``upper``
    columns normalised. Raises ``ConfigError`` naming the file (and line)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in spec.columns if c not in header]
            unknown = [c for c in header if c not in spec.columns]
            if missing or unknown:
                raise ConfigError(
                    f"{path}: the header of a {spec.name} table must name the columns "
                    f"{', '.join(spec.columns)}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; unknown {', '.join(map(str, unknown))}" if unknown else ""))
            out = []
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise ConfigError(f"{path}:{line}: more values than columns (quote values "
                                      "holding commas)")
                clean = {c: (row.get(c) or "").strip() for c in spec.columns}
                for c in spec.upper:
                    clean[c] = norm(clean[c])
                if not all(clean[k] for k in spec.key):
                    raise ConfigError(f"{path}:{line}: {' and '.join(spec.key)} must not be "
                                      "empty")
                out.append((line, clean))
            return out
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {spec.name} vocabulary table: {exc}") \
            from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable CSV table: {exc}") from exc


def _rows(path: Path, spec: TableSpec) -> tuple[dict[Key, Row], dict[Key, str]]:
    rows: dict[Key, Row] = {}
    origin: dict[Key, str] = {}
    for line, row in read_csv(path, spec):
        key = tuple(row[k] for k in spec.key)
        if key in rows:
            raise ConfigError(f"{path}:{line}: {'/'.join(key)} is already listed at "
                              f"{origin[key]}")
        rows[key], origin[key] = row, f"{path}:{line}"
    return rows, origin


def provenance() -> dict[str, dict[str, str]]:
    """The shipped tables' provenance (``data/provenance.toml``), by table."""
    data = tomllib.loads((DATA_DIR / "provenance.toml").read_text())
    return {name: {k: str(v) for k, v in entry.items()}
            for name, entry in data.get("tables", {}).items()}


def load_table(spec: TableSpec, home: Path | None,
               prov: dict[str, dict[str, str]] | None = None) -> Table:
    """The shipped table with the override file under ``home``/vocab, if there is one."""
    rows, origin = _rows(DATA_DIR / spec.file, spec)
    table = Table(spec, rows, origin, shipped_rows=len(rows),
                  provenance=(prov or {}).get(spec.name, {}))
    override = home / OVERRIDE_DIR / spec.file if home is not None else None
    if override is not None and override.is_file():
        extra, extra_origin = _rows(override, spec)
        table.rows.update(extra)
        table.origin.update(extra_origin)
        table.override, table.override_rows = override, len(extra)
    return table


def override_files(home: Path | None) -> tuple[tuple[str, float], ...]:
    """(path, modification time) of the override files present: what the cache keys on."""
    if home is None:
        return ()
    folder = home / OVERRIDE_DIR
    found = []
    for spec in SPECS.values():
        path = folder / spec.file
        try:
            found.append((str(path), path.stat().st_mtime))
        except OSError:
            continue
    return tuple(found)


def unknown_files(home: Path | None) -> list[Path]:
    """Files in the override folder that are no table's (probably misnamed)."""
    if home is None or not (home / OVERRIDE_DIR).is_dir():
        return []
    names = {s.file for s in SPECS.values()}
    return sorted(p for p in (home / OVERRIDE_DIR).iterdir()
                  if p.suffix == ".csv" and p.name not in names)
