"""Gen3 Guppy filter JSON, accepted in the ``filters`` key of search and count requests, read
into imaging-hub's own filters (uc-cdis/guppy ``doc/queries.md`` "Filters",
``src/server/es/filter.js``).

Recognised when ``filters`` is an object with a single key that is a Guppy operator (none
is an imaging-hub field name). Operators, as Guppy spells them:

* ``AND`` / ``OR`` (any case), ``nested`` (``{"nested": {"path": P, <operator>: ...}}``:
  our records are flat series, so the inner filter applies to the series' own values);
* text and numbers: ``=`` ``eq`` ``EQ``; ``in`` ``IN`` ``contains_any`` ``CONTAINS_ANY``;
  ``!=``; ``excludes_any`` ``EXCLUDES_ANY`` (and ``exclude_any`` as Guppy's doc spells
  it); ``contains_all`` / ``excludes_all`` (``EXCLUDES_ALL``, ``exclude_all``);
* numbers: ``>`` ``gt`` ``GT``, ``>=`` ``gte`` ``GTE``, ``<`` ``lt`` ``LT``, ``<=`` ``lte``
  ``LTE``.

Semantics follow Guppy's: ``!=`` on text excludes records holding any listed value
(records without the field stay), on numbers it is ``> v OR < v`` (records without the
field go); ``"no data"`` in ``=``/``IN`` selects records lacking the field. ``search`` is
refused (words go in ``text``).

The result is a plain AND of per-field conditions where it can be (``filters``: facets
stay disjunctive), and the rest a ``where`` expression AND'ed with it. Field names go
through one table (``schemas/data/guppy_fields.toml``); imaging-hub's own names pass.
Anything unsupported raises ``GuppyFilterError`` naming the operator or field and where
it sits (``filters.AND[1].EXCLUDES_ANY``); the API answers it with 400.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.filters import (
    MAX_RANGES_PER_FIELD,
    All,
    AnyOf,
    Expr,
    FieldFilter,
    Match,
    Not,
    RangeFilter,
    parse_field_filter,
)

TABLE = Path(__file__).parent / "data" / "guppy_fields.toml"
MAX_DEPTH = 32

# Guppy's spellings -> what they do
LEAF_OPS: dict[str, str] = {
    "=": "eq", "eq": "eq", "EQ": "eq",
    "in": "in", "IN": "in", "contains_any": "in", "CONTAINS_ANY": "in",
    "contains_all": "all", "CONTAINS_ALL": "all",
    "!=": "ne",
    "excludes_any": "exclude", "EXCLUDES_ANY": "exclude", "exclude_any": "exclude",
    "excludes_all": "exclude_all", "EXCLUDES_ALL": "exclude_all", "exclude_all": "exclude_all",
    ">": "gt", "gt": "gt", "GT": "gt", ">=": "gte", "gte": "gte", "GTE": "gte",
    "<": "lt", "lt": "lt", "LT": "lt", "<=": "lte", "lte": "lte", "LTE": "lte",
}
RANGE_OPS = ("gt", "gte", "lt", "lte")
TEXT_ONLY = ("all", "exclude", "exclude_all")
KNOWN = ", ".join(["AND", "OR", "nested", *dict.fromkeys(LEAF_OPS)])


class GuppyFilterError(ValueError):
    """A Guppy filter imaging-hub cannot read. ``unsupported``: a valid Guppy operator or
    field that has no imaging-hub equivalent; otherwise the filter is malformed."""

    def __init__(self, path: str, message: str, unsupported: bool = False) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.unsupported = unsupported

    @property
    def code(self) -> str:
        return "unsupported_filter" if self.unsupported else "invalid_filter"


@dataclass(frozen=True)
class FieldTable:
    fields: dict[str, str]
    unsupported: dict[str, str]
    values: dict[str, dict[str, str]]
    missing: dict[str, frozenset[str]]


@cache
def table() -> FieldTable:
    """The Guppy field table (read once)."""
    data = tomllib.loads(TABLE.read_text())
    for guppy, ours in data["fields"].items():
        assert ours in FIELDS, f"{TABLE}: {guppy} -> {ours}: not an imaging-hub field"
    return FieldTable(
        fields=dict(data["fields"]), unsupported=dict(data["unsupported"]),
        values={f: {k.lower(): v for k, v in m.items()} for f, m in data["values"].items()},
        missing={f: frozenset(v.lower() for v in vs) for f, vs in data["missing"].items()})


def _is_operator(key: str) -> bool:
    return key.lower() in ("and", "or") or key in LEAF_OPS or key in ("nested", "search")


def is_guppy(filters: Any) -> bool:
    """Whether ``filters`` is Guppy filter JSON (a single key that is a Guppy operator)."""
    return (isinstance(filters, dict) and len(filters) == 1
            and isinstance(key := next(iter(filters)), str)
            and _is_operator(key) and key not in FIELDS)


def apply(data: Any) -> Any:
    """A request body whose ``filters`` is Guppy JSON, with ``filters`` and ``where`` in
    imaging-hub's form (``where`` AND'ed with the body's own); other bodies unchanged.
    Raises ``GuppyFilterError``."""
    if not isinstance(data, dict) or not is_guppy(data.get("filters")):
        return data
    filters, where = translate(data["filters"])
    own = data.get("where")
    if own is not None:
        where = own if where is None else All.model_validate({"all": [where, own]})
    return {**data, "filters": filters, "where": where}


def translate(guppy: dict[str, Any]) -> tuple[dict[str, FieldFilter], Expr | None]:
    """Guppy filter JSON -> (per-field filters, the rest as a ``where`` expression).
    Raises ``GuppyFilterError``."""
    expr = _node(guppy, "filters", None, 0)
    if expr is None:
        return {}, None
    filters: dict[str, FieldFilter] = {}
    rest: list[Expr] = []
    for part in _conjuncts(expr):
        if isinstance(part, Match) and part.field not in filters:
            filters[part.field] = part.any_of
        elif isinstance(part, Match) and (merged := _intersect(filters[part.field],
                                                                part.any_of)):
            filters[part.field] = merged
        else:
            rest.append(part)
    where = None if not rest else rest[0] if len(rest) == 1 else All(all=rest)
    return filters, where


def _conjuncts(expr: Expr) -> list[Expr]:
    if isinstance(expr, All):
        return [p for e in expr.all for p in _conjuncts(e)]
    return [expr]


def _intersect(a: FieldFilter, b: FieldFilter) -> FieldFilter | None:
    """Two single ranges on one field AND'ed, as one range (e.g. ``>= 40`` and ``< 60``);
    None when they are not that simple, or do not overlap."""
    if a.values or b.values or a.missing or b.missing or len(a.ranges) != 1 \
            or len(b.ranges) != 1:
        return None
    ra, rb = a.ranges[0], b.ranges[0]
    low = _tightest([(ra.gte, False), (ra.gt, True), (rb.gte, False), (rb.gt, True)], True)
    high = _tightest([(ra.lte, False), (ra.lt, True), (rb.lte, False), (rb.lt, True)], False)
    spec: dict[str, float] = {}
    if low is not None:
        spec["gt" if low[1] else "gte"] = low[0]
    if high is not None:
        spec["lt" if high[1] else "lte"] = high[0]
    try:
        return FieldFilter(ranges=(RangeFilter.model_validate(spec),))
    except ValueError:  # inverted: kept as two conditions (in 'where'), matching nothing
        return None


def _union(parts: list[Expr]) -> Match | None:
    """Matches of one field OR'ed, as one match (its values, ranges and null OR'ed)."""
    if not all(isinstance(p, Match) for p in parts):
        return None
    matches = [p for p in parts if isinstance(p, Match)]
    if len({m.field for m in matches}) != 1:
        return None
    ranges = tuple(r for m in matches for r in m.any_of.ranges)
    if len(ranges) > MAX_RANGES_PER_FIELD:
        return None
    return Match(field=matches[0].field, any_of=FieldFilter(
        values=tuple(dict.fromkeys(v for m in matches for v in m.any_of.values)),
        ranges=ranges, missing=any(m.any_of.missing for m in matches)))


def _tightest(bounds: list[tuple[float | None, bool]], low: bool) -> tuple[float, bool] | None:
    """The tightest of (value, exclusive) bounds: the largest low / smallest high bound,
    exclusive before inclusive at the same value."""
    found = [(v, excl) for v, excl in bounds if v is not None]
    if not found:
        return None
    return max(found, key=lambda b: (b[0] if low else -b[0], b[1]))


def _node(obj: Any, path: str, nest: str | None, depth: int) -> Expr | None:
    """One Guppy filter object; None when it filters nothing (an empty AND, as in Guppy)."""
    if depth > MAX_DEPTH:
        raise GuppyFilterError(path, f"nested more than {MAX_DEPTH} levels deep")
    if not isinstance(obj, dict) or not obj:
        raise GuppyFilterError(path, "expected an object {OPERATOR: ...}")
    if len(obj) != 1:
        raise GuppyFilterError(path, f"one operator per object, got {', '.join(obj)}")
    op, body = next(iter(obj.items()))
    here = f"{path}.{op}"
    if op.lower() in ("and", "or"):
        if not isinstance(body, list):
            raise GuppyFilterError(here, f"'{op}' takes a list of filters")
        parts = [p for i, item in enumerate(body)
                 if (p := _node(item, f"{here}[{i}]", nest, depth + 1)) is not None]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        if op.lower() == "and":
            return All(all=parts)
        return _union(parts) or AnyOf(any=parts)
    if op == "nested":
        return _nested(body, here, depth)
    if op == "search":
        raise GuppyFilterError(here, "operator 'search' is not supported: put the words in "
                               "'text' (matched in descriptions and collection names)", True)
    if op not in LEAF_OPS:
        raise GuppyFilterError(here, f"operator {op!r} is not supported (supported: {KNOWN})",
                               True)
    return _leaf(op, body, here, nest)


def _nested(body: Any, here: str, depth: int) -> Expr | None:
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        raise GuppyFilterError(here, "'nested' takes {\"path\": ..., OPERATOR: ...}")
    inner = {k: v for k, v in body.items() if k != "path"}
    return _node(inner, here, body["path"], depth + 1)


def _field(name: str, nest: str | None, here: str) -> str:
    t = table()
    for key in ([f"{nest}.{name}"] if nest else []) + [name]:
        if key in t.fields:
            return t.fields[key]
        if key in FIELDS:
            return key
        if key in t.unsupported:
            raise GuppyFilterError(here, f"field {key!r} is not supported: "
                                   f"{t.unsupported[key]}", True)
    raise GuppyFilterError(here, f"field {name!r} is not supported: not an imaging-hub field "
                           f"({', '.join(FIELDS)}) nor a known Gen3 field "
                           f"(see README, 'Gen3 Guppy filters')", True)


def _leaf(op: str, body: Any, here: str, nest: str | None) -> Expr:
    """``{op: {field: value}}`` as a field match (or its negation / conjunction)."""
    if not isinstance(body, dict) or len(body) != 1:
        raise GuppyFilterError(here, f"'{op}' takes one {{FIELD: VALUE}}")
    guppy_field, value = next(iter(body.items()))
    at = f"{here}.{guppy_field}"
    name = _field(str(guppy_field), nest, at)
    kind, what = FIELDS[name].kind, LEAF_OPS[op]
    if kind == "range" and what in TEXT_ONLY:
        raise GuppyFilterError(at, f"operator {op!r} takes a text field; {guppy_field!r} is "
                               f"numeric (Guppy refuses it too; use '!=' or ranges)", True)
    if kind != "range" and what in RANGE_OPS:
        raise GuppyFilterError(at, f"operator {op!r} takes a numeric field; {guppy_field!r} "
                               f"is not", True)
    items = _items(op, value, at)
    try:
        if kind == "range":
            return _numeric(what, name, items)
        return _text(what, name, items)
    except ValueError as exc:  # a value the field cannot hold, named by parse_field_filter
        raise GuppyFilterError(at, str(exc).replace(f"filter {name!r}",
                                                     f"{guppy_field!r} ({name})")) from None


def _items(op: str, value: Any, at: str) -> list[Any]:
    """The operand as a list: ``=`` and range operators take one value, the others a list
    (a single value is taken as a list of one)."""
    if LEAF_OPS[op] in ("eq", *RANGE_OPS) and isinstance(value, list):
        raise GuppyFilterError(at, f"'{op}' takes one value, got a list")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise GuppyFilterError(at, f"'{op}' has an empty value list")
    for v in items:
        if not isinstance(v, str | int | float | bool):
            raise GuppyFilterError(at, f"'{op}': {v!r:.60} is not a value")
    return items


def _text(what: str, name: str, items: list[Any]) -> Expr:
    """Keyword and boolean fields."""
    t = table()
    missing = t.missing.get("any", frozenset()) | t.missing.get(name, frozenset())
    mapping = t.values.get(name, {})

    def value(v: Any) -> Any:
        return mapping.get(v.strip().lower(), v) if isinstance(v, str) else v

    if what in ("eq", "in"):  # Guppy's missing-data alias selects records without a value
        return Match(field=name, any_of=parse_field_filter(name, [
            None if isinstance(v, str) and v.strip().lower() in missing else value(v)
            for v in items]))
    if what in ("ne", "exclude"):  # none of the values
        return Not.model_validate({"not": Match(
            field=name, any_of=parse_field_filter(name, [value(v) for v in items]))})
    each: list[Expr] = [Match(field=name, any_of=parse_field_filter(name, [value(v)]))
                        for v in items]
    every = each[0] if len(each) == 1 else All(all=each)
    return every if what == "all" else Not.model_validate({"not": every})


def _numeric(what: str, name: str, items: list[Any]) -> Expr:
    """Range fields: values become one-point ranges; ``!=`` is ``> v OR < v`` (Guppy's)."""
    numbers = [_number(name, v) for v in items]
    if what in RANGE_OPS:
        ranges: list[dict[str, float]] = [{what: numbers[0]}]
    elif what == "ne":
        if len(numbers) > 1:
            raise ValueError(f"filter {name!r}: '!=' on a number takes one value")
        ranges = [{"gt": numbers[0]}, {"lt": numbers[0]}]
    else:  # eq, in
        ranges = [{"gte": v, "lte": v} for v in numbers]
    return Match(field=name, any_of=parse_field_filter(name, list(ranges)))


def _number(name: str, v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(f"filter {name!r} takes numbers, got {v!r}")
    try:
        number = float(v)
    except ValueError:
        raise ValueError(f"filter {name!r} takes numbers, got {v!r:.60}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"filter {name!r} takes finite numbers, got {v!r:.60}")
    return number
