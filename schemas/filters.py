"""Filters: what one field must hold, and boolean combinations of them.

``filters`` (the faceted form): per field, a record matches when its value is one of the
listed values, lies in one of the listed ranges, or is missing when ``null`` is listed;
fields are AND'ed. A facet's counts leave its own field's filter out (disjunctive facets).

``where`` (the general form, e.g. translated from a Gen3 Guppy filter): ``all`` / ``any`` /
``not`` over field matches, AND'ed with ``filters``; facets never leave parts of it out.

Values are canonical after validation (``canonical``): coded fields upper-cased, booleans
parsed, range fields numbers. Error messages name the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imaging_hub.schemas.fields import FIELDS

MAX_VALUES_PER_FIELD = 1000
MAX_RANGES_PER_FIELD = 50
MAX_EXPR_NODES = 200
Scalar = Annotated[str, Field(max_length=512)] | int | float | bool
Value = str | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeFilter(_Strict):
    """A range; ``gte``/``lte`` inclusive, ``gt``/``lt`` exclusive; any bound may be left out."""

    gte: float | None = Field(None, allow_inf_nan=False)
    lte: float | None = Field(None, allow_inf_nan=False)
    gt: float | None = Field(None, allow_inf_nan=False)
    lt: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> RangeFilter:
        if all(b is None for b in (self.gte, self.lte, self.gt, self.lt)):
            raise ValueError("a range needs 'gte', 'lte' or both")
        if self.gte is not None and self.gt is not None:
            raise ValueError("a range takes 'gte' or 'gt', not both")
        if self.lte is not None and self.lt is not None:
            raise ValueError("a range takes 'lte' or 'lt', not both")
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"inverted range: gte {lo} > lte {hi}")
        return self

    @property
    def low(self) -> float | None:
        return self.gte if self.gte is not None else self.gt

    @property
    def high(self) -> float | None:
        return self.lte if self.lte is not None else self.lt

    def contains(self, x: float) -> bool:
        return ((self.gte is None or x >= self.gte) and (self.gt is None or x > self.gt)
                and (self.lte is None or x <= self.lte) and (self.lt is None or x < self.lt))


class FieldFilter(_Strict):
    """One field's selection: any listed value, any listed range, or no value (``missing``)."""

    values: tuple[Value, ...] = ()
    ranges: tuple[RangeFilter, ...] = ()
    missing: bool = False

    def items(self) -> list[Value | RangeFilter | None]:
        """The selection as the API takes it (values, ranges, then null)."""
        return [*self.values, *self.ranges, *([None] if self.missing else [])]


def canonical(name: str, value: Any) -> Value:
    """A filter value as stored: booleans parsed, numbers for range fields, coded fields
    trimmed and upper-cased, other text trimmed. Raises ``ValueError`` naming the field."""
    spec = FIELDS[name]
    if spec.kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(f"filter {name!r} takes true or false, got {value!r:.60}")
    if spec.kind == "range":
        if isinstance(value, bool):
            raise ValueError(f"filter {name!r} takes numbers, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"filter {name!r} takes numbers, got {value!r:.60}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"filter {name!r} takes finite numbers, got {value!r:.60}")
        return number
    text = str(value).strip()
    return text.upper() if spec.upper else text


def _range(name: str, value: dict[str, Any]) -> RangeFilter:
    try:
        return RangeFilter.model_validate(value)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        msg = str(problem["msg"]).removeprefix("Value error, ")
        raise ValueError(f"filter {name!r}: {msg}" + (f" ({where})" if where else "")) from None


def parse_field_filter(name: str, value: Any) -> FieldFilter:
    """Read one field's filter: ``[v, ...]`` (values, ``null`` = missing, and for range
    fields ``{"gte": x, "lte": y}`` items), or a single range object. Raises ``ValueError``
    naming the field."""
    spec = FIELDS.get(name)
    if spec is None:
        raise ValueError(f"unknown filter field {name!r}; known: {', '.join(FIELDS)}")
    if isinstance(value, FieldFilter):
        return value
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        shape = "a range {'gte': x, 'lte': y} or a list of ranges" if spec.kind == "range" \
            else "a list"
        raise ValueError(f"filter {name!r} takes {shape}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"filter {name!r} has an empty value list")
    if len(value) > MAX_VALUES_PER_FIELD:
        raise ValueError(f"filter {name!r} has more than {MAX_VALUES_PER_FIELD} values")
    values: list[Value] = []
    ranges: list[RangeFilter] = []
    missing = False
    for v in value:
        if v is None:
            missing = True
        elif isinstance(v, dict):
            if spec.kind != "range":
                raise ValueError(f"filter {name!r} takes a list of values, not a range")
            ranges.append(_range(name, v))
        elif not isinstance(v, str | int | float | bool) or (isinstance(v, str) and len(v) > 512):
            raise ValueError(f"filter {name!r}: values must be strings (≤512 chars), "
                             f"numbers, booleans or null, got {v!r:.60}")
        elif isinstance(v, float) and v != v:
            raise ValueError(f"filter {name!r}: NaN is not a value")
        elif spec.kind == "range" and not spec.also_values:
            raise ValueError(f"filter {name!r} takes ranges {{'gte': x, 'lte': y}}, "
                             f"not values like {v!r:.60}")
        else:
            values.append(canonical(name, v))
    if len(ranges) > MAX_RANGES_PER_FIELD:
        raise ValueError(f"filter {name!r} has more than {MAX_RANGES_PER_FIELD} ranges")
    return FieldFilter(values=tuple(dict.fromkeys(values)), ranges=tuple(ranges),
                       missing=missing)


class Match(_Strict):
    """``where`` leaf: the field's value satisfies ``any_of`` (the ``filters`` syntax)."""

    field: str
    any_of: FieldFilter

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any) -> Any:
        if isinstance(data, dict) and "field" in data and "any_of" in data:
            return {**data, "any_of": parse_field_filter(str(data["field"]), data["any_of"])}
        return data


class All(_Strict):
    all: list[Expr] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Expr] = Field(min_length=1)


class Not(_Strict):
    not_: Expr = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Expr = Match | All | AnyOf | Not
All.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def expr_size(e: Expr) -> int:
    if isinstance(e, Match):
        return 1
    if isinstance(e, Not):
        return 1 + expr_size(e.not_)
    return 1 + sum(expr_size(x) for x in (e.all if isinstance(e, All) else e.any))


def expr_fields(e: Expr) -> set[str]:
    if isinstance(e, Match):
        return {e.field}
    if isinstance(e, Not):
        return expr_fields(e.not_)
    return set().union(*(expr_fields(x) for x in (e.all if isinstance(e, All) else e.any)))
