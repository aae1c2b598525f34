"""Exact cohort counts on the cluster, sent as one multi-search.

* A level's count is its number of documents with a matching record (``track_total_hits``
  on a ``has_row`` query): series, studies, subjects. No aggregation is needed for them.
* Instances and bytes are summed once per series: the series document holds the largest
  count among its hosts' records, as the embedded store does.
* Per source: records are unique per (source, series), so a source's series, instances and
  bytes are sums over its matching records; its studies and subjects are document counts of
  the same question narrowed to the source (when the index holds one source, the overall
  counts are its counts).
* Per collection (the count endpoint only): ``terms -> reverse_nested``; for series split
  into records of series held by one source (counted directly) and the others (folded).
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


def _series_aggs(clauses: list[JSON], breakdown: bool) -> JSON:
    per_source = {"terms": {"field": dsl.f("source"), "size": dsl.TERMS_SIZE}, "aggs": {
        "instances": {"sum": {"field": dsl.f("instances")}},
        "bytes": {"sum": {"field": dsl.f("size_bytes")}}, "no_size": NO_SIZE}}
    inner: JSON = {"no_size": NO_SIZE, "by_source": per_source}
    if breakdown:
        folded = {"reverse_nested": {}, "aggs": {"instances": {"sum": {"field": "instances"}},
                                                 "bytes": {"sum": {"field": "size_bytes"}}}}
        direct = {"instances": {"sum": {"field": dsl.f("instances")}},
                  "bytes": {"sum": {"field": dsl.f("size_bytes")}}}
        inner["by_collection"] = {
            "terms": {"field": dsl.f("collection"), "size": dsl.TERMS_SIZE}, "aggs": {
                "no_size": NO_SIZE, "one": {"filter": dsl.ONE_COPY, "aggs": direct},
                "many": {"filter": dsl.MANY_COPIES, "aggs": {"e": folded}}}}
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
             missing: dict[str, list[JSON]] | None, sources: list[str]) -> list[Search]:
    """Every search a count needs; ``sources``: the sources published in the index."""
    out: list[Search] = []
    for level in LEVELS:
        mine = dsl.for_unit_index(clauses, level)
        index = served.index(prefix, level)
        if level == "series":
            out.append((level, index, _total(mine, _series_aggs(mine, breakdown))))
        else:
            out.append((level, index, _total(mine, _per_collection(mine) if breakdown
                                              else None)))
            if len(sources) > 1:
                for source in sources:
                    narrowed = [*mine, {"term": {dsl.f("source"): source}}]
                    out.append((f"{level}:source:{source}", index, _total(narrowed)))
        for name, c in (missing or {}).items():
            out.append((f"{level}:miss:{name}", index, _total(dsl.for_unit_index(c, level))))
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
    per = {b["key"]: b for b in rows["by_source"]["buckets"]}
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
        one, many = b["one"], b["many"]["e"]
        out[str(key)] = count_block(
            sj[key]["e"]["doc_count"], st[key]["e"]["doc_count"] if key in st else 0,
            one["doc_count"] + many["doc_count"],
            one["instances"]["value"] + many["instances"]["value"],
            one["bytes"]["value"] + many["bytes"]["value"], b["no_size"]["doc_count"])
    return out


def missing_excluded(tagged: dict[str, JSON]) -> dict[str, MissingExcluded]:
    names = [t.split(":", 2)[2] for t in tagged if t.startswith("series:miss:")]
    return {n: MissingExcluded(subjects=_hits(tagged[f"subject:miss:{n}"]),
                               studies=_hits(tagged[f"study:miss:{n}"]),
                               series=_hits(tagged[f"series:miss:{n}"])) for n in names}
