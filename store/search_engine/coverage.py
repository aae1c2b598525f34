"""Field coverage on the cluster: per source, the records having a value in each
searchable field, exact (filter aggregations count nested records; no cardinality
estimate is involved)."""

from __future__ import annotations

from imaging_hub.schemas.dictionary import SourceCoverage
from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.query import Visibility
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON
from imaging_hub.store.search_engine.mapping import NESTED


def body(vis: Visibility) -> JSON:
    """One search on the series index: nested records the caller may see, by source, and
    within each source one ``exists`` filter per field."""
    per_field = {name: {"filter": {"exists": {"field": dsl.f(name)}}} for name in FIELDS}
    return {"size": 0, "track_total_hits": False, "aggs": {"rows": {
        "nested": {"path": NESTED}, "aggs": {"visible": {
            "filter": dsl.visibility_clause(vis),
            "aggs": {"source": {"terms": {"field": dsl.f("source"), "size": dsl.TERMS_SIZE},
                                "aggs": per_field}}}}}}}


def read(answer: JSON) -> dict[str, SourceCoverage]:
    buckets = answer["aggregations"]["rows"]["visible"]["source"]["buckets"]
    return {b["key"]: SourceCoverage(
        records=int(b["doc_count"]),
        fields={name: int(b[name]["doc_count"]) for name in FIELDS}) for b in buckets}
