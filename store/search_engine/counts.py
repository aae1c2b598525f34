"""Exact cohort counts on the cluster, sent as one multi-search.

* A level's count is its number of documents with a matching record (``track_total_hits``
  on a ``has_row`` query): series, studies, subjects. No aggregation is needed for them.
* Instances and bytes are summed once per series: the series document holds the largest
  count among its hosts' records, as the embedded store does.
* Per source: records are unique per (source, series), so a source's series, instances and
  bytes are sums over its matching records; its studies and subjects are document counts of
  the same question narrowed to the source (when the index holds one source, the overall
  counts are its counts).
* Per collection (the count endpoint only): ``terms -> reverse_nested``; for series every
  record is counted as its series, then the records of series held by several sources
  (few) are replaced by those series (folded).
* What each filter excludes only for lacking its field: document counts of the question
  with that filter replaced by "lacks the field".
"""

from __future__ import annotations

from typing import Any, Protocol

from imaging_hub.schemas.counts import CountBlock, MissingExcluded
from imaging_hub.store.responses import count_block
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON

LEVELS = ("series", "study", "subject")
NO_SIZE: JSON = {"filter": {"bool": {"must_not": {"exists": {"field": dsl.f("size_bytes")}}}}}


class _Served(Protocol):
    def index(self, prefix: str, kind: str) -> str: ...


Search = tuple[str, str, JSON]  # (tag, index, body)


def _total(clauses: list[JSON], aggs: JSON | None = None) -> JSON:
    body: JSON = {"size": 0, "track_total_hits": True, "query": dsl.has_row(clauses)}
    if aggs:
        body["aggs"] = aggs
    return body


def _series_aggs(clauses: list[JSON], breakdown: bool, per_source: bool) -> JSON:
    sums = {"instances": {"sum": {"field": dsl.f("instances")}},
            "bytes": {"sum": {"field": dsl.f("size_bytes")}}}
    inner: JSON = {"no_size": NO_SIZE}
    if per_source:
        inner["by_source"] = {"terms": {"field": dsl.f("source"), "size": dsl.TERMS_SIZE},
                              "aggs": {**sums, "no_size": NO_SIZE}}
    if breakdown:  # every record counted as its series, then the records of series held
        # by several sources (few) replaced by those series
        folded = {"reverse_nested": {}, "aggs": {"instances": {"sum": {"field": "instances"}},
                                                 "bytes": {"sum": {"field": "size_bytes"}}}}
        inner["by_collection"] = {
            "terms": {"field": dsl.f("collection"), "size": dsl.TERMS_SIZE}, "aggs": {
                **sums, "no_size": NO_SIZE,
                "many": {"filter": dsl.MANY_COPIES, "aggs": {**sums, "e": folded}}}}
    return {"instances": {"sum": {"field": "instances"}},
            "bytes": {"sum": {"field": "size_bytes"}},
            "rows": {"nested": {"path": "r"}, "aggs": {
                "m": {"filter": {"bool": {"filter": clauses}}, "aggs": inner}}}}


def _per_collection(clauses: list[JSON]) -> JSON:
    return {"rows": {"nested": {"path": "r"}, "aggs": {"m": {
        "filter": {"bool": {"filter": clauses}}, "aggs": {"by_collection": {
            "terms": {"field": dsl.f("collection"), "size": dsl.TERMS_SIZE},
            "aggs": {"e": {"reverse_nested": {}}}}}}}}}


def searches(served: _Served, prefix: str, clauses: list[JSON], breakdown: bool,
             missing: dict[str, list[JSON]] | None, sources: list[str],
             answered: tuple[str, set[str]] = ("", set())) -> list[Search]:
    """Every search a count needs; ``sources``: the sources published in the index;
    ``answered``: a level and the filters whose "lacks the field" count on it another
    search answers already (a facet's "no value" bucket in that unit)."""
    out: list[Search] = []
    for level in LEVELS:
        mine = dsl.for_unit_index(clauses, level)
        index = served.index(prefix, level)
        if level == "series":
            out.append((level, index, _total(mine, _series_aggs(mine, breakdown,
                                                                  len(sources) > 1))))
        else:
            out.append((level, index, _total(mine, _per_collection(mine) if breakdown
                                              else None)))
            if len(sources) > 1:
                for source in sources:
                    narrowed = [*mine, {"term": {dsl.f("source"): source}}]
                    out.append((f"{level}:source:{source}", index, _total(narrowed)))
        for name, c in (missing or {}).items():
            if level != answered[0] or name not in answered[1]:
                out.append((f"{level}:miss:{name}", index,
                            _total(dsl.for_unit_index(c, level))))
    return out


def _hits(answer: JSON) -> int:
    return int(answer["hits"]["total"]["value"])


def read(tagged: dict[str, JSON], sources: list[str], breakdown: bool,
         ) -> tuple[CountBlock, dict[str, CountBlock], dict[str, CountBlock]]:
    """(overall, by source, by collection) from the answers of ``searches`` by tag."""
    series, study, subject = (tagged[level] for level in LEVELS)
    aggs = series["aggregations"]
    rows = aggs["rows"]["m"]
    overall = count_block(_hits(subject), _hits(study), _hits(series),
                          aggs["instances"]["value"], aggs["bytes"]["value"],
                          rows["no_size"]["doc_count"])
    by_source: dict[str, CountBlock] = {}
    per = {b["key"]: b for b in rows["by_source"]["buckets"]} if "by_source" in rows else {}
    for source in sources:
        if len(sources) == 1:
            if overall.subjects.count:
                by_source[source] = overall
            continue
        subjects = _hits(tagged[f"subject:source:{source}"])
        if not subjects:
            continue
        b = per.get(source)
        by_source[source] = count_block(
            subjects, _hits(tagged[f"study:source:{source}"]), b["doc_count"] if b else 0,
            b["instances"]["value"] if b else 0, b["bytes"]["value"] if b else 0,
            b["no_size"]["doc_count"] if b else 0)
    return overall, by_source, _by_collection(tagged) if breakdown else {}


def _by_collection(tagged: dict[str, JSON]) -> dict[str, CountBlock]:
    def per(level: str) -> dict[str, JSON]:
        agg = tagged[level]["aggregations"]["rows"]["m"]["by_collection"]
        return {b["key"]: b for b in agg["buckets"]}

    s, st, sj = per("series"), per("study"), per("subject")
    out: dict[str, CountBlock] = {}
    for key in sorted(sj):  # every record has a subject; not every one a series
        b: Any = s.get(key)
        if b is None:
            out[str(key)] = count_block(sj[key]["e"]["doc_count"],
                                        st[key]["e"]["doc_count"] if key in st else 0,
                                        0, 0, 0, 0)
            continue
        m, e = b["many"], b["many"]["e"]
        out[str(key)] = count_block(
            sj[key]["e"]["doc_count"], st[key]["e"]["doc_count"] if key in st else 0,
            b["doc_count"] - m["doc_count"] + e["doc_count"],
            b["instances"]["value"] - m["instances"]["value"] + e["instances"]["value"],
            b["bytes"]["value"] - m["bytes"]["value"] + e["bytes"]["value"],
            b["no_size"]["doc_count"])
    return out


def missing_excluded(missing: dict[str, list[JSON]], tagged: dict[str, JSON],
                     answered: dict[str, dict[str, int]] | None = None,
                     ) -> dict[str, MissingExcluded]:
    """Per filter of ``missing``: the counts of its searches, or of ``answered`` (level ->
    filter -> count) for those left out."""
    def count(level: str, name: str) -> int:
        known = (answered or {}).get(level, {})
        return known[name] if name in known else _hits(tagged[f"{level}:miss:{name}"])

    return {n: MissingExcluded(subjects=count("subject", n), studies=count("study", n),
                               series=count("series", n)) for n in missing}
