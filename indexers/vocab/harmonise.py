"""Harmonised fields of a whole harvest, computed in one place for every source type.

The harvest runner calls ``harmonise_result`` once per harvest, on the columnar result,
before staging: every rule reads raw columns, looks up each *distinct* value (or pair of
values) once in the vocabularies and spreads the answers over the rows with one ``take``,
so a million IDC series cost a few thousand lookups. Raw columns are never changed; the
harmonised ones sit beside them. Values the tables do not know are counted per field, with
the records they affect, for the run report and ``ihub vocab unmapped``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.indexers.base import HarvestResult
from imaging_hub.indexers.vocab.lookup import Outcome, Vocabularies
from imaging_hub.schemas.report import HarvestReport, Reject, UnmappedField, UnmappedValue

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


def _codes(column: pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
    """Distinct values of a string column and each row's index into them (-1: null)."""
    arr = column.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = arr.dictionary.to_pylist()
    codes = np.asarray(pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    return values, codes


def _distinct(table: pa.Table, inputs: tuple[str, ...],
              ) -> tuple[list[tuple[str | None, ...]], np.ndarray, np.ndarray]:
    """Distinct combinations of the input columns (None for null), each row's combination
    and the rows per combination."""
    decoded = [_codes(table.column(name)) for name in inputs]
    if len(decoded) == 1:  # the dictionary is the distinct values already: no sort needed
        values, codes = decoded[0]
        inverse = codes + 1  # 0: null
        return ([(None,)] + [(v,) for v in values], inverse,
                np.bincount(inverse, minlength=len(values) + 1))
    key = np.zeros(table.num_rows, np.int64)
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


def _apply(table: pa.Table, rule: Rule, vocab: Vocabularies,
           ) -> tuple[list[pa.Array], list[tuple[str, int]]]:
    combos, inverse, counts = _distinct(table, rule.inputs)
    lookup = rule.lookup(vocab)
    empty: tuple[None, ...] = (None,) * len(rule.outputs)
    answers: list[tuple[str | None, ...]] = []
    unmapped: list[tuple[str, int]] = []
    for combo, n in zip(combos, counts.tolist(), strict=True):
        if all(v is None for v in combo):
            answers.append(empty)
            continue
        outcome = lookup(*combo)
        if outcome is None:
            shown = combo if rule.shown < 0 else (combo[rule.shown],)
            unmapped.append((" | ".join(v or "" for v in shown), n))
            outcome = empty
        answers.append(outcome)
    take = pa.array(inverse, pa.int64())
    columns = [pa.array([a[j] for a in answers], pa.string()).take(take)
               for j in range(len(rule.outputs))]
    unmapped.sort(key=lambda vn: (-vn[1], vn[0]))
    return columns, unmapped


def harmonise(table: pa.Table, vocab: Vocabularies) -> Harmonised:
    """``table`` (series columns) with every harmonised column computed from the raw ones,
    and the unmapped values per field."""
    unmapped: dict[str, list[tuple[str, int]]] = {}
    for rule in RULES:
        if table.num_rows == 0:
            break
        columns, missing = _apply(table, rule, vocab)
        for name, column in zip(rule.outputs, columns, strict=True):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, column) if i >= 0 else \
                table.append_column(name, column)
        if missing:
            unmapped[rule.field] = missing
    return Harmonised(table, unmapped)


def report_with(report: HarvestReport, unmapped: dict[str, list[tuple[str, int]]],
                vocab: Vocabularies) -> HarvestReport:
    """``report`` with the unmapped counts as warnings (``unmapped_<field>``: records), the
    most frequent values per field and the first few as warning samples."""
    out = report.model_copy(deep=True)
    out.vocabularies = vocab.digest
    for field, values in unmapped.items():
        records = sum(n for _, n in values)
        out.warnings[f"unmapped_{field}"] = records
        out.unmapped[field] = UnmappedField(
            records=records, distinct=len(values),
            top=[UnmappedValue(value=v, records=n) for v, n in values[:TOP_IN_REPORT]])
        for value, n in values[:SAMPLES_PER_FIELD]:
            if len(out.warning_samples) < 2 * TOP_IN_REPORT:
                out.warning_samples.append(Reject(
                    reason=f"unmapped_{field}", key=value,
                    detail=f"{n:,} records; not in the {field} vocabulary"))
    return out


def harmonise_result(result: HarvestResult, vocab: Vocabularies,
                     ) -> tuple[HarvestResult, dict[str, list[tuple[str, int]]]]:
    """The harvest with its harmonised columns and its report's unmapped counts; and every
    unmapped value per field (value, records), most frequent first."""
    done = harmonise(result.series, vocab)
    return (replace(result, series=done.table,
                    report=report_with(result.report, done.unmapped, vocab)), done.unmapped)
