"""Counts as the API answers them: exact numbers, numbers holding a protected restricted part
(small-count protection, ``search_ui/protect.py``; README "Small counts and estimates"), the
records a filter excludes for lacking its field, and estimates labelled as such."""

from __future__ import annotations

from pydantic import BaseModel, Field


# -- small-count protection (search_ui/protect.py; README "Small counts and estimates") ------
# A number drawn on records the caller may count but not see one by one has two parts: the
# visible part (exact: the caller could list those records) and the restricted part, shown
# protected. Fields below that are absent from a number are at their defaults: an exact
# number has none of them.
def is_false(v: object) -> bool:
    return v is False


def is_true(v: object) -> bool:
    return v is True


def is_none(v: object) -> bool:
    return v is None


class RestrictedPart(BaseModel):
    """The part of a number drawn from records the caller may count but not see one by
    one, as protected: suppressed when fewer than ``threshold``, otherwise rounded down to
    a multiple of ``threshold`` (after seeded, bounded noise when the server adds it)."""

    count: int | None = Field(description="As published; null when suppressed.")
    suppressed: bool = Field(False, exclude_if=is_false)
    threshold: int = Field(description="k: the smallest restricted part shown.")
    low: int = Field(description="The true restricted part is at least this ...")
    high: int | None = Field(description="... and at most this (null: not bounded here).")
    method: str = Field(description="How it was protected, in words.")


class Protected(BaseModel):
    """A count that may hold a restricted part (absent fields: the count is exact)."""

    count: int | None = Field(description="The number shown: the visible part plus the "
                              "restricted part as published (only the visible part when that "
                              "is suppressed); null when the whole number is suppressed.")
    exact: bool = True
    suppressed: bool = Field(False, exclude_if=is_false,
                             description="True when count is null: fewer than threshold.")
    threshold: int | None = Field(None, exclude_if=is_none)
    visible: int | None = Field(None, exclude_if=is_none, description="The part counted over "
                                "records the caller may see one by one (exact).")
    restricted: RestrictedPart | None = Field(None, exclude_if=is_none)


class FacetBucket(BaseModel):
    value: str | int | bool | None = Field(description="null: records lacking the field")
    count: int | None = Field(description="Matching records with this value, in the facet "
                              "unit (null: suppressed, see threshold).")
    exact: bool = Field(True, exclude_if=is_true)
    suppressed: bool = Field(False, exclude_if=is_false)
    threshold: int | None = Field(None, exclude_if=is_none)
    visible: int | None = Field(None, exclude_if=is_none)
    restricted: RestrictedPart | None = Field(None, exclude_if=is_none)


class CountValue(Protected):
    missing: int | None = Field(
        None, description="Series whose value is unknown (then count is a lower bound)")


class CountBlock(BaseModel):
    subjects: CountValue
    studies: CountValue
    series: CountValue
    instances: CountValue
    bytes: CountValue


class MissingExcluded(BaseModel):
    """Records a filter excludes only because they lack the field: they match everything
    else asked (``sex = F`` also excludes the series with no sex recorded)."""

    subjects: int | None
    studies: int | None
    series: int | None
    exact: bool = Field(True, exclude_if=is_true)
    detail: dict[str, CountValue] | None = Field(
        None, exclude_if=is_none, description="Per unit, how a number holding a restricted "
        "part was protected (null counts: suppressed).")


MISSING_EXCLUDED_DOC = ("Per active filter that does not select null: how many records it "
                        "excludes for lacking the field, in each unit.")


class Estimate(BaseModel):
    """A number estimated from a dataset's published facts, never counted."""

    estimate: int | None = Field(description="Published size x matching fraction; null "
                                 "when the fraction is unknown (see low/high).")
    low: int
    high: int


class DatasetEstimate(BaseModel):
    """One dataset known only at collection level (a catalogue entry)."""

    source: str
    collection: str
    name: str
    fraction: float | None = Field(description="Of the published size, the part the "
                                   "filters select (null: unknown, between 0 and 1).")
    subjects: Estimate | None = None
    studies: Estimate | None = None
    instances: Estimate | None = None
    method: str = Field(description="How the fraction was found, in words.")


class EstimatedAdditional(BaseModel):
    """Datasets that may hold more matching data but are known only by their published
    facts: never mixed into the exact counts."""

    subjects: Estimate = Field(description="Sum over the datasets below.")
    studies: Estimate | None = Field(None, description="Where every dataset below publishes "
                                     "its studies.")
    datasets: list[DatasetEstimate]
    not_estimated: dict[str, str] = Field(
        default_factory=dict, description="Datasets whose published facts cannot answer the "
        "question: collection -> what they cannot answer.")
    method: str


ESTIMATED_DOC = ("Datasets known only at collection level (catalogue entries) that may hold "
                 "matching subjects: estimates from their published facts, never counted "
                 "into the exact numbers. Absent when there is none.")


class SearchCounts(CountBlock):
    by_source: dict[str, CountBlock]
    missing_excluded: dict[str, MissingExcluded] = Field(
        default_factory=dict, description=MISSING_EXCLUDED_DOC)
    estimated_additional: EstimatedAdditional | None = Field(
        None, exclude_if=is_none, description=ESTIMATED_DOC)
