"""Harmonised fields of a whole harvest, computed in one place for every source type.

The harvest runner calls ``harmonise_result`` once per harvest, on the columnar result,
before staging. The table is read batch by batch (memory holds one batch, whatever the
number of series) and written to a memory-mapped spill file (``store.arrowio.spill``). In
each batch every rule reads raw columns, looks up each *distinct* value (or pair of values)
in the vocabularies and spreads the answers over the rows with one ``take``; the answers are
remembered across batches, so a million IDC series cost a few thousand lookups. Raw columns
are never changed; the harmonised ones sit beside them. Values the tables do not know are
counted per field, with the records they affect, for the run report and ``ihub vocab
unmapped``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.indexers.base import HarvestResult
from imaging_hub.indexers.vocab.lookup import Outcome, Vocabularies
from imaging_hub.schemas.report import HarvestReport, Reject, UnmappedField, UnmappedValue
from imaging_hub.store.arrowio import BATCH_ROWS, spill

TOP_IN_REPORT = 20  # most frequent unmapped values per field kept in the run report
SAMPLES_PER_FIELD = 3  # of those, listed among the report's warning samples


@dataclass(frozen=True)
class Rule:
    """Raw ``inputs`` -> harmonised ``outputs`` through one vocabulary lookup."""

    field: str  # how reports name it: warning 'unmapped_<field>'
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    lookup: Callable[[Vocabularies], Callable[..., Outcome]]
    shown: int = -1  # which input names an unmapped value (-1: all, joined by ' | ')


RULES: tuple[Rule, ...] = (
    Rule("body_part", ("body_part",), ("body_part_code", "body_part_meaning", "body_region"),
         lambda v: v.body_part),
    Rule("modality", ("modality",), ("modality_meaning",), lambda v: v.modality),
    Rule("procedure", ("modality", "study_description"), ("procedure", "procedure_name"),
         lambda v: v.procedure),
    Rule("sex", ("sex", "sex_raw"), ("sex",), lambda v: v.sex, shown=1),
    Rule("race", ("race_raw",), ("race",), lambda v: v.race),
    Rule("ethnicity", ("ethnicity_raw",), ("ethnicity",), lambda v: v.ethnicity),
)
HARMONISED_COLUMNS = tuple(dict.fromkeys(o for r in RULES for o in r.outputs))


@dataclass(frozen=True)
class Harmonised:
    table: pa.Table
    unmapped: dict[str, list[tuple[str, int]]]  # field -> (value, records), most first


Combo = tuple[str | None, ...]  # one distinct combination of a rule's input values
Decoded = list[tuple[list[str | None], np.ndarray]]  # per input: distinct values, row codes


def _codes(column: pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
    """Distinct values of a string column and each row's index into them (-1: null)."""
    arr = column.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = arr.dictionary.to_pylist()
    codes = np.asarray(pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    return values, codes


def _distinct(decoded: Decoded, num_rows: int) -> tuple[list[Combo], np.ndarray, np.ndarray]:
    """Distinct combinations of the decoded input columns (None for null), each row's
    combination and the rows per combination."""
    if len(decoded) == 1:  # the dictionary is the distinct values already: no sort needed
        values, codes = decoded[0]
        inverse = codes + 1  # 0: null
        return ([(None,)] + [(v,) for v in values], inverse,
                np.bincount(inverse, minlength=len(values) + 1))
    key = np.zeros(num_rows, np.int64)
    for values, codes in decoded:  # mixed radix: small dictionaries, no overflow
        key = key * (len(values) + 1) + (codes + 1)
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    combos: list[list[str | None]] = [[] for _ in uniq]
    rest = uniq.copy()
    for values, _ in reversed(decoded):
        digit = rest % (len(values) + 1)
        rest //= len(values) + 1
        for i, d in enumerate(digit.tolist()):
            combos[i].insert(0, values[d - 1] if d else None)
    return [tuple(c) for c in combos], inverse.reshape(-1), counts


@dataclass
class _Tally:
    """One rule over the batches of a harvest: each distinct combination of input values
    looked up once, and the records of each unmapped one."""

    rule: Rule
    lookup: Callable[..., Outcome]
    answers: dict[Combo, Outcome] = field(default_factory=dict)
    missing: dict[Combo, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rule: Rule, vocab: Vocabularies) -> _Tally:
        return cls(rule, rule.lookup(vocab))

    def columns(self, table: pa.Table) -> list[pa.Array]:
        """The rule's output columns for the rows of ``table``; unmapped values counted."""
        decoded = [_codes(table.column(name)) for name in self.rule.inputs]
        combos, inverse, counts = _distinct(decoded, table.num_rows)
        empty: tuple[None, ...] = (None,) * len(self.rule.outputs)
        answers: list[tuple[str | None, ...]] = []
        for combo, n in zip(combos, counts.tolist(), strict=True):
            outcome = empty if all(v is None for v in combo) else self._answer(combo, n)
            answers.append(outcome or empty)
        take = pa.array(inverse, pa.int64())
        return [pa.array([a[j] for a in answers], pa.string()).take(take)
                for j in range(len(self.rule.outputs))]

    def _answer(self, combo: Combo, n: int) -> Outcome:
        if combo not in self.answers:
            self.answers[combo] = self.lookup(*combo)
        outcome = self.answers[combo]
        if outcome is None:
            self.missing[combo] = self.missing.get(combo, 0) + n
        return outcome

    def unmapped(self) -> list[tuple[str, int]]:
        """(value as reports show it, records), most records first, then by value. (Two
        combinations shown alike with as many records give equal pairs: no tie to break.)"""
        shown = [(" | ".join(v or "" for v in (
            combo if self.rule.shown < 0 else (combo[self.rule.shown],))), n)
            for combo, n in self.missing.items()]
        return sorted(shown, key=lambda vn: (-vn[1], vn[0]))


def _apply(table: pa.Table, rule: Rule, vocab: Vocabularies,
           ) -> tuple[list[pa.Array], list[tuple[str, int]]]:
    """One rule over a whole table: its output columns and its unmapped values."""
    tally = _Tally.of(rule, vocab)
    return tally.columns(table), tally.unmapped()


def _with_outputs(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every rule's output a string column (set in place, or appended)."""
    for name in HARMONISED_COLUMNS:
        i = schema.get_field_index(name)
        out = pa.field(name, pa.string())
        schema = schema.set(i, out) if i >= 0 else schema.append(out)
    return schema


def _batch(batch: pa.RecordBatch, tallies: list[_Tally]) -> pa.RecordBatch:
    table = pa.Table.from_batches([batch])
    for tally in tallies:
        for name, column in zip(tally.rule.outputs, tally.columns(table), strict=True):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, column) if i >= 0 else \
                table.append_column(name, column)
    return pa.record_batch([c.combine_chunks() for c in table.columns], schema=table.schema)


def harmonise(table: pa.Table, vocab: Vocabularies, batch_rows: int = BATCH_ROWS,
              folder: Path | None = None) -> Harmonised:
    """``table`` (series columns) with every harmonised column computed from the raw ones,
    read ``batch_rows`` rows at a time and spilled to a memory-mapped file (in ``folder``,
    default the system's temporary directory), and the unmapped values per field."""
    if table.num_rows == 0:
        return Harmonised(table, {})
    tallies = [_Tally.of(rule, vocab) for rule in RULES]
    batches = (_batch(b, tallies) for b in table.to_batches(max_chunksize=batch_rows))
    done = spill(batches, _with_outputs(table.schema), folder)
    unmapped = {t.rule.field: u for t in tallies if (u := t.unmapped())}
    return Harmonised(done, unmapped)


def report_with(report: HarvestReport, unmapped: dict[str, list[tuple[str, int]]],
                vocab: Vocabularies) -> HarvestReport:
    """``report`` with the unmapped counts as warnings (``unmapped_<field>``: records), the
    most frequent values per field and the first few as warning samples."""
    out = report.model_copy(deep=True)
    out.vocabularies = vocab.digest
    for name, values in unmapped.items():
        records = sum(n for _, n in values)
        out.warnings[f"unmapped_{name}"] = records
        out.unmapped[name] = UnmappedField(
            records=records, distinct=len(values),
            top=[UnmappedValue(value=v, records=n) for v, n in values[:TOP_IN_REPORT]])
        for value, n in values[:SAMPLES_PER_FIELD]:
            if len(out.warning_samples) < 2 * TOP_IN_REPORT:
                out.warning_samples.append(Reject(
                    reason=f"unmapped_{name}", key=value,
                    detail=f"{n:,} records; not in the {name} vocabulary"))
    return out


def harmonise_result(result: HarvestResult, vocab: Vocabularies,
                     ) -> tuple[HarvestResult, dict[str, list[tuple[str, int]]]]:
    """The harvest with its harmonised columns and its report's unmapped counts; and every
    unmapped value per field (value, records), most frequent first."""
    done = harmonise(result.series, vocab)
    return (replace(result, series=done.table,
                    report=report_with(result.report, done.unmapped, vocab)), done.unmapped)
