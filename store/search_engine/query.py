"""The query DSL, as data: conditions on nested records.

A record (nested ``r``) matches a question when it satisfies the visibility, the text and
every filter (``row_filter``); a document (series, study or subject) matches when one of its
records does. Facets are built on these in ``facets.py``, counts in ``counts.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imaging_hub.schemas.filters import All, Expr, FieldFilter, Match, Not, RangeFilter
from imaging_hub.schemas.query import CohortQuery, Visibility
from imaging_hub.schemas.text import parse_text
from imaging_hub.store.search_engine.mapping import NESTED

JSON = dict[str, Any]
TERMS_SIZE = 10_000


def f(name: str) -> str:
    return f"{NESTED}.{name}"


def text_clauses(text: str | None, datasets_matching: Mapping[str, list[str]]) -> list[JSON]:
    """One clause per clause of the query (schemas/text.py): any alternative occurs in the
    record's normalised text (``tx``) or in its collection's (``datasets_matching`` maps a
    pattern's needle to the datasets whose collection text holds it; the backend computes
    it); a negated clause must not."""
    out: list[JSON] = []
    for clause in parse_text(text).clauses:
        should: list[JSON] = []
        for p in clause.alternatives:
            should.append({"wildcard": {f("tx"): {"value": f"*{p.needle}*"}}})
            if datasets_matching.get(p.needle):
                should.append({"terms": {f("dataset"): datasets_matching[p.needle]}})
        if clause.negated:
            out.append({"bool": {"must_not": should}})
        else:
            out.append({"bool": {"should": should, "minimum_should_match": 1}})
    return out


def _range(name: str, r: RangeFilter) -> JSON:
    bounds = {k: v for k, v in (("gte", r.gte), ("gt", r.gt), ("lte", r.lte), ("lt", r.lt))
              if v is not None}
    return {"range": {f(name): bounds}}


def filter_clause(name: str, flt: FieldFilter) -> JSON:
    """One field's filter on nested records: any value, any range, or no value (missing)."""
    should: list[JSON] = []
    if flt.values:
        should.append({"terms": {f(name): list(flt.values)}})
    should += [_range(name, r) for r in flt.ranges]
    if flt.missing:
        should.append({"bool": {"must_not": {"exists": {"field": f(name)}}}})
    if len(should) == 1:
        return should[0]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def where_clause(expr: Expr) -> JSON:
    """A ``where`` expression on one nested record."""
    if isinstance(expr, Match):
        return filter_clause(expr.field, expr.any_of)
    if isinstance(expr, Not):
        return {"bool": {"must_not": where_clause(expr.not_)}}
    if isinstance(expr, All):
        return {"bool": {"filter": [where_clause(e) for e in expr.all]}}
    return {"bool": {"should": [where_clause(e) for e in expr.any], "minimum_should_match": 1}}


def visibility_clause(vis: Visibility) -> JSON:
    """Records some grant covers (tier, and the grant's sources / collections if narrowed)."""
    should: list[JSON] = []
    for g in sorted(vis.grants, key=lambda g: (g.tier, sorted(g.sources or []),
                                               sorted(g.collections or []))):
        parts: list[JSON] = [{"term": {f("access"): g.tier}}]
        if g.sources is not None:
            parts.append({"terms": {f("source"): sorted(g.sources)}})
        if g.collections is not None:
            parts.append({"terms": {f("collection"): sorted(g.collections)}})
        should.append(parts[0] if len(parts) == 1 else {"bool": {"filter": parts}})
    if not should:
        return {"bool": {"must_not": {"match_all": {}}}}
    return {"bool": {"should": should, "minimum_should_match": 1}}


def row_filter(q: CohortQuery, vis: Visibility, datasets_matching: Mapping[str, list[str]],
               skip: str | None = None) -> list[JSON]:
    """Conditions one nested record must meet (all but ``skip``'s filter)."""
    clauses: list[JSON] = [visibility_clause(vis)]
    clauses += text_clauses(q.text, datasets_matching)
    if q.where is not None:
        clauses.append(where_clause(q.where))
    clauses += [filter_clause(n, v) for n, v in q.filters.items() if n != skip]
    return clauses


# records without a SeriesInstanceUID (subject-level rows) sit in the series index as
# documents of their own, so publishing can read every record back; they are no series
IS_SERIES: JSON = {"exists": {"field": f("series_uid")}}


def for_unit_index(clauses: list[JSON], index: str) -> list[JSON]:
    """``clauses`` plus, on the series index, "the record is a series"."""
    return [*clauses, IS_SERIES] if index == "series" else clauses


def has_row(clauses: list[JSON], inner_hits: JSON | None = None,
            relevance: str | None = None) -> JSON:
    """Documents with at least one record meeting ``clauses``; with ``relevance`` (a text)
    scored by BM25 of the text's words on the records' analysed text (best record)."""
    inner: JSON = {"bool": {"filter": clauses}}
    if relevance:
        wanted = " ".join(parse_text(relevance).words)
        if wanted:
            inner["bool"]["should"] = [{"match": {f("text"): {"query": wanted}}}]
    nested: JSON = {"path": NESTED, "query": inner,
                    "score_mode": "max" if relevance else "none"}
    if inner_hits is not None:
        nested["inner_hits"] = inner_hits
    return {"nested": nested}


def missing_clauses(q: CohortQuery, vis: Visibility,
                    datasets_matching: Mapping[str, list[str]]) -> dict[str, list[JSON]]:
    """Per filter not selecting null: the other conditions, and "lacks the field"."""
    return {name: [*row_filter(q, vis, datasets_matching, skip=name),
                   {"bool": {"must_not": {"exists": {"field": f(name)}}}}]
            for name, flt in q.filters.items() if not flt.missing}


# a series held by one source is one record: counting its records counts series; only the
# records of series held by several sources need folding back onto their series document
MANY_COPIES: JSON = {"range": {f("copies"): {"gt": 1}}}
