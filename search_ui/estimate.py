"""Estimates for datasets known only at collection level (a catalogue's entries: no series
or subject records, only published facts), added to cohort counts as a separate
``estimated_additional`` block and never mixed into the exact numbers.

For each such dataset the question's filters are read against what the entry publishes:

* fields of the collection record itself (source, collection, access, licence, commercial
  use, disease types, primary sites, species) and the text (matched against the entry's
  name and description, as at the collection level): the entry matches or not (fraction 1
  or 0; a dataset that does not match is left out);
* ``modality`` against the entry's modality list: every listed modality selected, 1; none,
  0; some, unknown (how many subjects had which modality is not published);
* ``sex`` against a published sex distribution (``sex = {F = n, M = n}``): the selected
  share; ``age`` against a published age range (``age_range = [lo, hi]``): 1 when the
  filter covers the range, 0 when it misses it, unknown when it cuts it.

Anything else asked (series descriptions, body part, manufacturer, dates, ...) cannot be
answered from the entry: the dataset is listed in ``not_estimated`` with the reason, and
given no number. The estimate is ``published size x fraction`` (the product of the
fractions, assuming the published distributions independent); its range is ``[size x
fraction, same]`` for one known fraction, the Frechet bounds ``[size x max(0, sum - (n-1)),
size x min]`` for several, and ``[0, size x min(known)]`` when a fraction is unknown (then
there is no point estimate). Studies and images (instances) are scaled by the same fraction
when the entry publishes them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from imaging_hub.schemas.counts import DatasetEstimate, Estimate, EstimatedAdditional
from imaging_hub.schemas.filters import FieldFilter, expr_fields
from imaging_hub.schemas.query import CohortQuery, CollectionHit, Visibility
from imaging_hub.store.rowless import ANSWERABLE, matches

METHOD = ("Published size x the fraction the filters select, from each dataset's published "
          "facts (modality list, sex distribution, age range); fractions of several fields "
          "multiplied as if independent. Not counted: these datasets have no records here.")
ENTRY_FIELDS = frozenset({"modality", "sex", "age"})


@dataclass(frozen=True)
class Fraction:
    """Of a field's selection, the share of a dataset it covers (None: unknown)."""

    value: float | None
    why: str


def _listed(extra: dict[str, str], key: str) -> list[str]:
    return [v.strip().upper() for v in extra.get(key, "").split(",") if v.strip()]


def modality_fraction(flt: FieldFilter, extra: dict[str, str]) -> Fraction | None:
    listed = _listed(extra, "modalities")
    if not listed:
        return None
    chosen = {str(v).upper() for v in flt.values}
    hit = [m for m in listed if m in chosen]
    if len(hit) == len(listed):
        return Fraction(1.0, f"lists only {', '.join(listed)}")
    if not hit:
        return Fraction(0.0, f"lists {', '.join(listed)}")
    return Fraction(None, f"lists {', '.join(listed)}; how many subjects had "
                          f"{', '.join(hit)} is not published")


def sex_fraction(flt: FieldFilter, extra: dict[str, str]) -> Fraction | None:
    parts = dict(p.split("=", 1) for p in extra.get("sex", "").split(",") if "=" in p)
    counts = {k.strip().upper(): int(v) for k, v in parts.items() if v.strip().isdigit()}
    total = sum(counts.values())
    if not total:
        return None
    chosen = {str(v).upper() for v in flt.values}
    if flt.missing and not chosen >= set(counts):
        return Fraction(None, "subjects with no sex recorded are not published")
    share = sum(n for k, n in counts.items() if k in chosen) / total
    shown = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
    return Fraction(share, f"sex published as {shown}")


def age_fraction(flt: FieldFilter, extra: dict[str, str]) -> Fraction | None:
    raw = extra.get("age_range", "")
    lo_hi = raw.split("-", 1)
    if len(lo_hi) != 2:
        return None
    try:
        lo, hi = float(lo_hi[0]), float(lo_hi[1])
    except ValueError:
        return None
    spans = [(r.low if r.low is not None else -math.inf, r.high if r.high is not None
              else math.inf) for r in flt.ranges]
    spans += [(float(v), float(v)) for v in flt.values if not isinstance(v, bool)
              and isinstance(v, int | float)]
    what = f"ages published as {lo:g} to {hi:g} years"
    if any(a <= lo and b >= hi for a, b in spans):
        return Fraction(1.0, what)
    if not any(a <= hi and b >= lo for a, b in spans):
        return Fraction(None if flt.missing else 0.0, what)
    return Fraction(None, f"{what}; how many fall in the filter's range is not published")


def field_fraction(name: str, flt: FieldFilter, extra: dict[str, str]) -> Fraction | None:
    """The share ``flt`` selects of a dataset (None: the entry publishes nothing on it)."""
    if name == "modality":
        if flt.missing or flt.ranges:
            return None
        return modality_fraction(flt, extra)
    if name == "sex":
        return sex_fraction(flt, extra)
    if name == "age":
        return age_fraction(flt, extra)
    return None


def dataset_estimate(hit: CollectionHit, query: CohortQuery,
                     vis: Visibility) -> DatasetEstimate | str | None:
    """The estimate for one dataset; a reason when the entry cannot answer the question;
    None when it does not match (a field of its own record excludes it)."""
    own = CohortQuery(text=query.text, where=query.where, filters={
        n: f for n, f in query.filters.items() if n in ANSWERABLE})
    if query.where is not None and not expr_fields(query.where) <= ANSWERABLE:
        return "the 'where' expression asks about series fields"
    row = {**hit.model_dump(), "access": hit.access.tier, "license": hit.access.license,
           "commercial_use": hit.access.commercial_use}
    if not matches(row, own.model_copy(update={"text": None}), vis):
        return None
    fractions: list[Fraction] = []
    unanswered: list[str] = []
    for name, flt in query.filters.items():
        if name in ANSWERABLE:
            continue
        fraction = field_fraction(name, flt, hit.extra) if name in ENTRY_FIELDS else None
        if fraction is None:
            unanswered.append(name)
        elif fraction.value == 0.0:  # the entry says it holds none
            return None
        else:
            fractions.append(fraction)
    if unanswered:
        return f"{', '.join(unanswered)}: not published for the dataset"
    if own.text and not matches(row, CohortQuery(text=own.text), vis):
        return "the text is not in its published description (its series are not known)"
    if hit.subjects is None:
        return "no published subject count"
    return _estimate(hit, fractions)


def _scaled(size: int | None, fractions: list[Fraction]) -> Estimate | None:
    if size is None:
        return None
    known = [f.value for f in fractions if f.value is not None]
    top = round(size * min(known, default=1.0))
    if len(known) < len(fractions):
        return Estimate(estimate=None, low=0, high=top)
    point = round(size * math.prod(known))
    if len(known) <= 1:
        return Estimate(estimate=point, low=point, high=point)
    low = round(size * max(0.0, sum(known) - (len(known) - 1)))
    return Estimate(estimate=point, low=low, high=top)


def _estimate(hit: CollectionHit, fractions: list[Fraction]) -> DatasetEstimate:
    known = [f.value for f in fractions]
    fraction = None if None in known else math.prod(v for v in known if v is not None)
    why = "; ".join(f.why for f in fractions) or "the filters select the whole dataset"
    extra = hit.extra
    studies = int(extra["studies"]) if extra.get("studies", "").isdigit() else None
    images = int(extra["images"]) if extra.get("images", "").isdigit() else None
    return DatasetEstimate(
        source=hit.source, collection=hit.collection, name=hit.name, fraction=fraction,
        subjects=_scaled(hit.subjects, fractions), studies=_scaled(studies, fractions),
        instances=_scaled(images, fractions),
        method=f"published size{' x fraction' if fractions else ''}: {why}")


def _sum(parts: Iterable[Estimate | None]) -> Estimate | None:
    items = list(parts)
    if not items or any(p is None for p in items):
        return None
    got = [p for p in items if p is not None]
    point = None if any(p.estimate is None for p in got) else sum(
        p.estimate or 0 for p in got)
    return Estimate(estimate=point, low=sum(p.low for p in got), high=sum(p.high for p in got))


def estimated_additional(hits: list[CollectionHit], query: CohortQuery,
                         vis: Visibility) -> EstimatedAdditional | None:
    """The block for ``query`` over the datasets ``hits`` (record-less collections the
    caller may count); None when none of them matches or could."""
    datasets: list[DatasetEstimate] = []
    not_estimated: dict[str, str] = {}
    for hit in hits:
        got = dataset_estimate(hit, query, vis)
        if isinstance(got, DatasetEstimate):
            datasets.append(got)
        elif got is not None:
            not_estimated[f"{hit.source}:{hit.collection}"] = got
    if not datasets and not not_estimated:
        return None
    subjects = _sum(d.subjects for d in datasets) or Estimate(estimate=0, low=0, high=0)
    return EstimatedAdditional(subjects=subjects, studies=_sum(d.studies for d in datasets),
                               datasets=datasets, not_estimated=not_estimated, method=METHOD)
