"""Collections known only by their collection record (a catalogue of gated datasets): no
series or subject records to count, yet a researcher browsing datasets must find them.

Such a collection matches a question when everything the question asks can be answered
from the collection record itself — its source, id, access tier, licence, disease types,
primary sites, species and its searchable text — and it does. A question about anything
else (modality, age, ...) cannot be answered for it, so it does not match: it is never
claimed to hold data it may not hold. Every backend lists them at the collection level and
counts them in the collections unit through these functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.filters import FieldFilter, expr_fields
from imaging_hub.schemas.query import CohortQuery, Visibility
from imaging_hub.schemas.text import collection_texts, normalise, parse_text, record_matches

# searchable fields a collection record answers by itself (its own value for them)
OWN = ("source", "collection", "access", "license", "commercial_use")
ANSWERABLE = frozenset(OWN) | frozenset(n for n, f in FIELDS.items() if f.collection_level)
Row = Mapping[str, Any]


def values_of(row: Row, name: str) -> list[Any]:
    value = row.get(name)
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [] if value is None else [value]


def _field_ok(row: Row, name: str, flt: FieldFilter) -> bool:
    present = values_of(row, name)
    return (flt.missing and not present) or any(v in flt.values for v in present)


def matches(row: Row, query: CohortQuery, vis: Visibility, skip: str | None = None) -> bool:
    """Does a record-less collection match ``query`` (all but ``skip``'s filter)?"""
    if not vis.allows(row["access"], row["source"], row["collection"]):
        return False
    if query.where is not None and not expr_fields(query.where) <= ANSWERABLE:
        return False
    if query.where is not None and not _where_ok(row, query.where):
        return False
    for name, flt in query.filters.items():
        if name == skip:
            continue
        if name not in ANSWERABLE or not _field_ok(row, name, flt):
            return False
    text = parse_text(query.text)
    return text.empty or record_matches(text, [normalise(*collection_texts(row))])


def _where_ok(row: Row, expr: Any) -> bool:
    if hasattr(expr, "field"):
        return _field_ok(row, expr.field, expr.any_of)
    if hasattr(expr, "not_"):
        return not _where_ok(row, expr.not_)
    if hasattr(expr, "all"):
        return all(_where_ok(row, e) for e in expr.all)
    return any(_where_ok(row, e) for e in expr.any)


def facet_counts(rows: Iterable[Row], query: CohortQuery, vis: Visibility,
                 names: Iterable[str]) -> dict[str, Counter[Any]]:
    """Per facet, how many record-less collections hold each value (null: none), each
    counted where it matches every other filter (disjunctive, like every facet)."""
    rows = list(rows)
    out: dict[str, Counter[Any]] = {}
    for name in names:
        counter: Counter[Any] = Counter()
        if name in ANSWERABLE:
            for row in rows:
                if matches(row, query, vis, skip=name):
                    counter.update(values_of(row, name) or [None])
        out[name] = counter
    return out


def merge_counts(pairs: list[tuple[Any, int]], extra: Counter[Any]) -> list[tuple[Any, int]]:
    counts: Counter[Any] = Counter(dict(pairs))
    counts.update(extra)
    return list(counts.items())
