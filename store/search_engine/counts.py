"""Exact cohort counts on the cluster: one search per level index (series, studies,
subjects), sent together. Each level's count is its number of matching documents; instances
and bytes are summed once per series (the series document holds the largest count among
its hosts' records, as the embedded store does); per source and per collection the same,
through ``terms -> reverse_nested``."""

from __future__ import annotations

from typing import Any, Protocol

from imaging_hub.schemas.query import CountBlock, MissingExcluded
from imaging_hub.store.responses import count_block
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON

LEVELS = ("series", "study", "subject")


class _Served(Protocol):
    def index(self, prefix: str, kind: str) -> str: ...


def searches(served: _Served, prefix: str, clauses: list[JSON], breakdown: bool,
             missing: dict[str, list[JSON]] | None = None) -> list[tuple[str, JSON]]:
    """One count search per level; ``missing`` (filter -> the other conditions plus "lacks
    the field") adds, over every document (``global``), how many records each filter
    excludes only for lacking its field."""
    out = []
    for level in LEVELS:
        mine = dsl.for_unit_index(clauses, level)
        aggs = dsl.count_aggs(mine, level, breakdown=True)
        if missing:
            aggs["miss"] = {"global": {}, "aggs": {name: {
                "nested": {"path": "r"}, "aggs": {"m": {
                    "filter": {"bool": {"filter": dsl.for_unit_index(c, level)}},
                    "aggs": {"e": {"reverse_nested": {}}}}}} for name, c in missing.items()}}
        out.append((served.index(prefix, level), {
            "size": 0, "track_total_hits": True, "query": dsl.has_row(mine), "aggs": aggs}))
    return out


def missing_excluded(answers: list[JSON]) -> dict[str, MissingExcluded]:
    series, study, subject = answers[:3]
    if "miss" not in series["aggregations"]:
        return {}

    def n(answer: JSON, name: str) -> int:
        return int(answer["aggregations"]["miss"][name]["m"]["e"]["doc_count"])

    return {name: MissingExcluded(subjects=n(subject, name), studies=n(study, name),
                                  series=n(series, name))
            for name in series["aggregations"]["miss"] if name != "doc_count"}


def _per(answer: JSON, name: str) -> dict[str, JSON]:
    agg = answer["aggregations"]["rows"]["m"].get(f"by_{name}")
    return {b["key"]: b for b in agg["buckets"]} if agg else {}


def read(answers: list[JSON], breakdown: bool,
         ) -> tuple[CountBlock, dict[str, CountBlock], dict[str, CountBlock]]:
    """(overall, by source, by collection) from the three answers of ``searches``."""
    series, study, subject = answers[:3]
    rows = series["aggregations"]["rows"]["m"]
    overall = count_block(
        subject["hits"]["total"]["value"], study["hits"]["total"]["value"],
        series["hits"]["total"]["value"], series["aggregations"]["instances"]["value"],
        series["aggregations"]["bytes"]["value"], rows["no_size"]["doc_count"])
    by_source = _breakdown(series, study, subject, "source")
    by_collection = _breakdown(series, study, subject, "collection") if breakdown else {}
    return overall, by_source, by_collection


def _breakdown(series: JSON, study: JSON, subject: JSON, name: str) -> dict[str, CountBlock]:
    s, st, sj = _per(series, name), _per(study, name), _per(subject, name)
    out: dict[str, CountBlock] = {}
    for key in sorted(sj):  # every record has a subject; not every one a series
        b = s.get(key)
        if b is None:
            out[str(key)] = count_block(_doc_count(sj.get(key)), _doc_count(st.get(key)),
                                        0, 0, 0, 0)
            continue
        # per source a series is one record (rows are unique per source): rows' sums; per
        # collection, once per series: the series documents' sums
        sums: Any = b if name == "source" else b["e"]
        out[str(key)] = count_block(
            _doc_count(sj.get(key)), _doc_count(st.get(key)), b["e"]["doc_count"],
            sums["instances"]["value"], sums["bytes"]["value"], b["no_size"]["doc_count"])
    return out


def _doc_count(bucket: JSON | None) -> int:
    return int(bucket["e"]["doc_count"]) if bucket else 0
