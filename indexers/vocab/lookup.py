"""The loaded vocabularies and the rules that map one raw value to its harmonised values.

Each rule answers for one *distinct* raw value (``harmonise`` applies it to whole columns):
a tuple of harmonised values, a tuple of ``None`` when the value is known to say nothing (a
BodyPartExamined of ``OTHER``, a race ``Not Reported``), or ``None`` when the tables do not
know it (an *unmapped* value, counted and listed for curators).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.vocab.tables import (
    SPECS,
    Table,
    load_table,
    norm,
    override_files,
    provenance,
    unknown_files,
)

Outcome = tuple[str | None, ...] | None
SEXES = frozenset({"M", "F", "O"})
_SEPARATORS = re.compile(r"[^A-Z0-9]")
_LIST = re.compile(r"\s*[;,|]\s*")  # several races in one value: "Asian, White"
MULTIPLE_RACES = "More than one race"


def squash(text: str) -> str:
    """A term without spaces, hyphens, underscores, slashes: ``HEAD-NECK`` -> ``HEADNECK``."""
    return _SEPARATORS.sub("", text.upper())


@dataclass(frozen=True)
class Vocabularies:
    """Every table, shipped rows amended by the operator's overrides."""

    tables: dict[str, Table]
    home: Path | None = None

    def table(self, name: str) -> Table:
        return self.tables[name]

    def column(self, table: str, key: str, value: str) -> dict[str, str]:
        """``key`` -> ``value`` column of a single-key table."""
        return {row[key]: row[value] for row in self.tables[table].rows.values()}

    @cached_property
    def digest(self) -> str:
        """A short fingerprint of every row: which tables a harvest was harmonised with."""
        h = hashlib.sha256()
        for name in sorted(self.tables):
            for key, row in sorted(self.tables[name].rows.items()):
                h.update(repr((name, key, sorted(row.items()))).encode())
        overrides = [t.spec.file for t in self.tables.values() if t.override]
        return f"sha256:{h.hexdigest()[:12]}" + (
            f" (overrides: {', '.join(overrides)})" if overrides else "")

    # -- body part ---------------------------------------------------------------------------
    @cached_property
    def code_meaning(self) -> dict[str, str]:
        """SNOMED code -> meaning. Several terms may share a code (CHEST and THORAX; HEART
        and ENDOCARDIAC): the meaning of the term named like its meaning wins."""
        out: dict[str, str] = {}
        for (term,), row in sorted(self.tables["body_part"].rows.items()):
            if row["code"] not in out or squash(row["meaning"]) == term:
                out[row["code"]] = row["meaning"]
        return out

    @cached_property
    def _terms(self) -> dict[str, tuple[str, str, str | None]]:
        return {term: (row["code"], self.code_meaning[row["code"]], row["region"] or None)
                for (term,), row in self.tables["body_part"].rows.items()}

    @cached_property
    def _squashed(self) -> dict[str, str]:
        return {squash(t): t for t in self._terms}

    def body_part(self, value: str) -> Outcome:
        """(SNOMED code, meaning, body region) of a BodyPartExamined value: an Annex L term
        (case, spaces, hyphens and underscores aside) or an alias of one."""
        key = norm(value)
        term: str | None = key if key in self._terms else None
        alias = self.tables["body_part_alias"].rows.get((key,))
        if term is None and alias is not None:
            if not alias["term"]:
                return (None, None, None)  # known: names no body part
            term = alias["term"]
        if term is None:
            term = self._squashed.get(squash(key))
        return self._terms[term] if term is not None else None

    # -- modality, procedure -------------------------------------------------------------------
    @cached_property
    def modality_meaning(self) -> dict[str, str]:
        return self.column("modality", "code", "meaning")

    def modality(self, value: str) -> Outcome:
        meaning = self.modality_meaning.get(norm(value))
        return (meaning,) if meaning else None

    @cached_property
    def loinc_name(self) -> dict[str, str]:
        return self.column("loinc", "loinc", "long_common_name")

    @cached_property
    def _procedures(self) -> dict[tuple[str, str], str]:
        """(modality, description) -> code; modality '*': the table's any-modality rows."""
        return {k: row["loinc"] for k, row in self.tables["procedure"].rows.items()
                if len(k) == 2}

    def procedure(self, modality: str | None, description: str | None) -> Outcome:
        """(LOINC code, long common name) of a study description with the series'
        modality: the (modality, description) row, else the table's any-modality row. A
        description alone is not enough: MIDRC maps 'CHEST' to an XR code for CR and DX,
        which would be wrong for the segmentation of a CT study described 'CHEST'."""
        if not description or not description.strip():
            return (None, None)  # nothing to map
        pairs = self._procedures
        d = norm(description)
        code = pairs.get((norm(modality or ""), d)) or pairs.get(("*", d))
        return (code, self.loinc_name.get(code)) if code else None

    # -- people --------------------------------------------------------------------------------
    def sex(self, current: str | None, raw: str | None) -> Outcome:
        """The source's own M/F/O when the indexer set one; else the raw value's."""
        if current:
            return (current,)
        if raw is None or not raw.strip():
            return (None,)
        row = self.tables["sex"].rows.get((norm(raw),))
        return None if row is None else (row["sex"] or None,)

    def _category(self, table: str, raw: str) -> Outcome:
        row = self.tables[table].rows.get((norm(raw),))
        return None if row is None else (row[table] or None,)

    def race(self, raw: str) -> Outcome:
        """OMB race category; several listed races -> 'More than one race'."""
        whole = self._category("race", raw)
        if whole is not None:
            return whole
        parts = [p for p in _LIST.split(raw) if p.strip()]
        if len(parts) < 2:
            return None
        found = [self._category("race", p) for p in parts]
        if any(f is None for f in found):
            return None
        races = {f[0] for f in found if f is not None and f[0]}
        if not races:
            return (None,)
        return (races.pop(),) if len(races) == 1 else (MULTIPLE_RACES,)

    def ethnicity(self, raw: str) -> Outcome:
        return self._category("ethnicity", raw)

    # -- labels the page shows for values ---------------------------------------------------------
    def labels(self, field: str) -> dict[str, str]:
        """value -> label of a field whose values are codes (facets show meanings)."""
        if field == "body_part_code":
            return {c: f"{m} ({c})" for c, m in self.code_meaning.items()}
        if field == "body_region":
            return self.column("body_region", "region", "label")
        if field == "procedure":
            return {c: f"{n} ({c})" for c, n in self.loinc_name.items()}
        if field == "modality":  # people know these codes: the code first
            return {c: f"{c} ({m})" for c, m in self.modality_meaning.items()}
        return {}


def _check(v: Vocabularies) -> None:
    """Cross-table references; raise ``ConfigError`` naming the row's file and line."""
    terms, regions = v.tables["body_part"], v.tables["body_region"]
    for key, row in terms.rows.items():
        if row["region"] and (row["region"],) not in regions.rows:
            raise ConfigError(f"{terms.where(key)}: region {row['region']!r} is not in "
                              "body_region.csv")
        if row["paired"] not in ("true", "false", ""):
            raise ConfigError(f"{terms.where(key)}: paired must be true or false")
        if not row["code"] or not row["meaning"]:
            raise ConfigError(f"{terms.where(key)}: code and meaning must not be empty")
    aliases = v.tables["body_part_alias"]
    for key, row in aliases.rows.items():
        if row["term"] and (row["term"],) not in terms.rows:
            raise ConfigError(f"{aliases.where(key)}: term {row['term']!r} is not an Annex L "
                              "term of body_part.csv")
    procedures, codes = v.tables["procedure"], v.tables["loinc"]
    for key, row in procedures.rows.items():
        if (row["loinc"],) not in codes.rows:
            raise ConfigError(f"{procedures.where(key)}: LOINC {row['loinc']!r} is not in "
                              "loinc.csv")
    sexes = v.tables["sex"]
    for key, row in sexes.rows.items():
        if row["sex"] and row["sex"] not in SEXES:
            raise ConfigError(f"{sexes.where(key)}: sex must be M, F, O or empty")


@lru_cache(maxsize=8)
def _load(home: Path | None, _stamp: tuple[tuple[str, float], ...]) -> Vocabularies:
    stray = unknown_files(home)
    if stray:
        raise ConfigError(f"{stray[0]}: not a vocabulary table (override files are named "
                          f"like the shipped ones: {', '.join(s.file for s in SPECS.values())})")
    prov = provenance()
    v = Vocabularies({n: load_table(s, home, prov) for n, s in SPECS.items()}, home)
    _check(v)
    return v


def load(home: Path | None = None) -> Vocabularies:
    """The shipped tables, amended by ``home``/vocab/*.csv when ``home`` is given; read once
    and again only when an override file changes. Raises ``ConfigError``."""
    return _load(home, override_files(home))
