"""Disjunctive facets on the cluster: each facet leaves out its own filter.

A facet's buckets group the nested records meeting the other conditions by value and count
the documents above them (``reverse_nested``): exact distinct counts in the unit's index. The
searches go into the question's one multi-search:

* the facets the question does not filter share its conditions: one search for them all,
  their aggregations named ``<facet>:<part>``;
* each filtered facet gets a search of its own, whose query is its conditions, so the engine
  visits only the documents they match (not every document once per facet);
* in series, every record of a matching document is first counted as if it were its
  series, and a twin search on the series held by several sources (``copies > 1``, few)
  replaces those documents' records by their series: exact, with neither a per-record
  copies test nor a re-check of the conditions on each record in the big search (a series
  held by one source is one record, which matched if its document did);
* a single-valued field's "no value" count on records is the records counted less those in
  its buckets (``sum_other_doc_count`` included), so no ``missing`` aggregation is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imaging_hub.schemas.fields import AGE_BUCKET_YEARS, FIELDS
from imaging_hub.schemas.query import CohortQuery, Visibility
from imaging_hub.store.search_engine.mapping import NESTED
from imaging_hub.store.search_engine.query import (
    IS_SERIES,
    JSON,
    MANY_COPIES,
    TERMS_SIZE,
    f,
    has_row,
    row_filter,
)

AGE_DECADES = 11  # 0-9 ... 90-99, 100+
TAG = "facets"
MANY = "|many"  # tag suffix of a search's twin on the series held by several sources


def _age_ranges() -> list[JSON]:
    out = []
    for i in range(AGE_DECADES):
        lo = i * AGE_BUCKET_YEARS
        if i == AGE_DECADES - 1:
            out.append({"key": f"{lo}+", "from": lo})
        else:
            out.append({"key": f"{lo}-{lo + AGE_BUCKET_YEARS - 1}", "from": lo,
                        "to": lo + AGE_BUCKET_YEARS})
    return out


def _count_below(unit: str) -> JSON | None:
    """What a bucket counts beyond its records: documents of the index (``reverse_nested``),
    or (unit collections) datasets; None: the records themselves."""
    if unit == "collections":
        return {"d": {"terms": {"field": f("dataset"), "size": TERMS_SIZE}}}
    if unit == "records":
        return None
    return {"e": {"reverse_nested": {}}}


def _derived_missing(name: str, unit: str) -> bool:
    """Whether "no value" is the records counted less those with a value: records of a
    single-valued field whose buckets (terms) hold every value."""
    return unit == "records" and name != "age" and not FIELDS[name].multi


def facet_agg(name: str, unit: str) -> JSON:
    below = _count_below(unit)
    if name == "age":
        agg: JSON = {"range": {"field": f("age"), "keyed": True, "ranges": _age_ranges()}}
    else:
        agg = {"terms": {"field": f(name), "size": TERMS_SIZE, "shard_size": TERMS_SIZE}}
    if below:
        agg["aggs"] = below
    return agg


def _values_and_missing(name: str, unit: str) -> JSON:
    if _derived_missing(name, unit):
        return {"v": facet_agg(name, unit)}
    missing: JSON = {"missing": {"field": f(name)}}
    below = _count_below(unit)
    if below:
        missing["aggs"] = below
    return {"v": facet_agg(name, unit), "none": missing}


def _aggs(names: list[str], unit: str) -> JSON:
    return {f"{n}:{k}": agg for n in names for k, agg in _values_and_missing(n, unit).items()}


def _search(conditions: list[JSON], names: list[str], unit: str) -> JSON:
    """Buckets of the records meeting ``conditions`` in the documents having one."""
    return {"size": 0, "track_total_hits": False, "query": has_row(conditions),
            "aggs": {"rows": {"nested": {"path": NESTED}, "aggs": {"m": {
                "filter": {"bool": {"filter": conditions}}, "aggs": _aggs(names, unit)}}}}}


def _series_searches(conditions: list[JSON], names: list[str], multi_copy: bool,
                     ) -> list[tuple[str, JSON]]:
    """(tag suffix, body) of the series facets: every record of the matching documents
    counted (no re-check per record: a document of one record matched through it), and,
    if the generation has series held by several sources, the twin on those documents:
    their records as counted above (``all``) and their series meeting the conditions."""
    out: list[tuple[str, JSON]] = [("", {
        "size": 0, "track_total_hits": False, "query": has_row(conditions),
        "aggs": {"rows": {"nested": {"path": NESTED}, "aggs": _aggs(names, "records")}}})]
    if multi_copy:
        twin = _search([*conditions, MANY_COPIES], names, "series")
        twin["aggs"]["rows"]["aggs"]["all"] = {"filter": {"match_all": {}},
                                               "aggs": _aggs(names, "records")}
        out.append((MANY, twin))
    return out


def facet_searches(q: CohortQuery, vis: Visibility, datasets_matching: Mapping[str, list[str]],
                   names: list[str], unit: str, multi_copy: bool = True,
                   ) -> list[tuple[str, JSON]]:
    """(tag, body) of the searches answering the facets ``names`` in ``unit``;
    ``multi_copy``: whether the generation holds series held by several sources (without
    them, every series record is its series and the twins are left out)."""
    extra = [IS_SERIES] if unit == "series" else []
    groups: list[tuple[str, list[JSON], list[str]]] = []
    shared = [n for n in names if n not in q.filters]
    if shared:
        groups.append((TAG, row_filter(q, vis, datasets_matching), shared))
    groups += [(f"{TAG}:{n}", row_filter(q, vis, datasets_matching, skip=n), [n])
               for n in names if n in q.filters]
    out: list[tuple[str, JSON]] = []
    for tag, conditions, facets in groups:
        if unit == "series":
            out += [(tag + suffix, body) for suffix, body in
                    _series_searches(conditions + extra, facets, multi_copy)]
        else:
            out.append((tag, _search(conditions, facets, unit)))
    return out


def _part(answer: JSON, name: str, part: str = "m") -> JSON:
    """One facet's aggregations in ``part`` of an answer's nested records (the records
    themselves where the search has no such part)."""
    rows = answer["aggregations"]["rows"]
    m = rows.get(part, rows)
    prefix = f"{name}:"
    return {"doc_count": m["doc_count"],
            **{k[len(prefix):]: v for k, v in m.items() if k.startswith(prefix)}}


def facet_of(name: str, tagged: Mapping[str, JSON]) -> JSON:
    """One facet's aggregations among the answers to ``facet_searches`` (by tag)."""
    tag = f"{TAG}:{name}" if f"{TAG}:{name}" in tagged else TAG
    agg = _part(tagged[tag], name)
    if tag + MANY in tagged:
        agg["many"] = _part(tagged[tag + MANY], name)
        agg["many_all"] = _part(tagged[tag + MANY], name, "all")
    return agg


def read_facet(name: str, agg: JSON, unit: str) -> list[tuple[Any, int]]:
    """(value, count) pairs of one facet's aggregation (zero counts dropped)."""
    if unit != "series":
        return _read(name, agg, unit)
    counts = dict(_read(name, agg, "records"))
    many = agg.get("many")
    if many is None:
        return list(counts.items())
    for value, records in _read(name, agg["many_all"], "records"):
        counts[value] = counts.get(value, 0) - records
    for value, series in _read(name, many, "series"):
        counts[value] = counts.get(value, 0) + series
    return [(v, n) for v, n in counts.items() if n]


def _bucket_count(bucket: JSON, unit: str) -> int:
    if unit == "collections":
        return len(bucket["d"]["buckets"])
    if unit == "records":
        return int(bucket["doc_count"])
    return int(bucket["e"]["doc_count"])


def _read(name: str, agg: JSON, unit: str) -> list[tuple[Any, int]]:
    """(value, count) per bucket, "no value" (None) last; zero counts left out."""
    raw = agg["v"]["buckets"]
    items = list(raw.items() if isinstance(raw, dict) else ((b.get("key"), b) for b in raw))
    out = [(_value(name, key, bucket), _bucket_count(bucket, unit)) for key, bucket in items]
    if "none" in agg:
        out.append((None, _bucket_count(agg["none"], unit)))
    else:  # derived: every record has one value or none
        out.append((None, int(agg["doc_count"]) - sum(int(b["doc_count"]) for _, b in items)
                    - int(agg["v"].get("sum_other_doc_count", 0))))
    return [(v, n) for v, n in out if n]


def _value(name: str, key: Any, bucket: JSON) -> Any:
    kind = FIELDS[name].kind
    if kind == "boolean":
        return bucket.get("key_as_string", str(key)) == "true" or key in (1, True)
    if name == "study_year":
        return int(key)
    return key
