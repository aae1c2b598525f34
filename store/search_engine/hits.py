"""Pages of hits at each browse level on the cluster.

Series, studies and subjects are documents of their own index: a page is a sorted search
with ``search_after`` (the first page plain, later ones on a point in time over the
generation's index, which never changes). Study and subject hits are summarised from their
matching records by one aggregation over the page's documents. Collections are the datasets
with a matching record (a few thousand at most), paged by offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from imaging_hub.schemas.columnar import series_fields
from imaging_hub.schemas.query import (
    RELEVANCE,
    CollectionHit,
    SearchRequest,
    SeriesHit,
    StudyHit,
    SubjectHit,
    Visibility,
)
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON
from imaging_hub.store.search_engine.docs import collection_from_doc
from imaging_hub.store.search_engine.mapping import NESTED

SUMMARY_TERMS = 10_000


FIRST_RECORD = [{dsl.f("source"): "asc"}, {dsl.f("collection"): "asc"}, {dsl.f("id"): "asc"}]


def level_page(kind: str, req: SearchRequest, clauses: list[JSON], flat: bool,
               ) -> tuple[JSON, list[JSON]]:
    """The search body of a level's first page (series: each with its first matching
    record; study, subject: keys, summarised afterwards), and the clauses on its index."""
    body: JSON = {"size": req.page.size, "track_total_hits": True}
    if kind != "series":
        body.update(sort=level_sort(clauses, None), query=dsl.has_row(clauses),
                    _source=False, docvalue_fields=["key"])
        return body, clauses
    clauses = dsl.for_unit_index(clauses, "series")
    body.update(sort=level_sort(clauses, req.sort, req.text, flat=flat),
                query=dsl.has_row(clauses, {"size": 1, "_source": True, "sort": FIRST_RECORD},
                                  relevance=req.text if req.sort == RELEVANCE else None),
                _source=HIT_SOURCE)
    return body, clauses


def level_sort(clauses: list[JSON], sort: str | None, text: str | None = None,
               flat: bool = False) -> list[JSON]:
    """Sort keys of a level search: the requested field (missing values last), relevance
    (score) or the index order of the embedded store (source, collection, study, series);
    ties by key. ``flat``: every series document holds one record (no series at several
    hosts in this generation), so the document's own copies of the keys give the same
    order without sorting through the nested records."""
    nested = {"path": NESTED, "filter": {"bool": {"filter": clauses}}}
    if sort == "relevance":
        if text:
            return [{"_score": "desc"}, {"key": "asc"}]
        sort = None
    if flat:
        if sort:
            desc = sort.startswith("-")
            return [{sort.lstrip("-"): {"order": "desc" if desc else "asc",
                                        "missing": "_last"}}, {"key": "asc"}]
        return [{"first_source": "asc"}, {"first_collection": "asc"}, {"study_uid": "asc"},
                {"key": "asc"}]
    if sort:
        desc = sort.startswith("-")
        return [{dsl.f(sort.lstrip("-")): {"order": "desc" if desc else "asc",
                                           "mode": "max" if desc else "min",
                                           "missing": "_last", "nested": nested}},
                {"key": "asc"}]
    return [{dsl.f(n): {"order": "asc", "mode": "min", "nested": nested}}
            for n in ("source", "collection", "study_uid")] + [{"key": "asc"}]


def series_hit(hit: JSON, vis: Visibility) -> SeriesHit:
    """A series document's first matching record (inner hit) with every host holding it
    among the records ``vis`` allows."""
    row = hit["inner_hits"][NESTED]["hits"]["hits"][0]["_source"]
    hosts = sorted({c["source"] for c in hit["_source"].get(NESTED, [])
                    if vis.allows(c["access"], c["source"], c["collection"])})
    return series_hit_of(row, hosts)


HIT_SOURCE = [f"{NESTED}.source", f"{NESTED}.access", f"{NESTED}.collection"]


def series_hit_of(row: JSON, hosts: list[str]) -> SeriesHit:
    stored = dict(row)
    stored["study_date"] = date.fromisoformat(row["study_date"]) if row["study_date"] else None
    stored["harvested_at"] = datetime.fromisoformat(row["harvested_at"])
    fields = series_fields(stored, {k: row.get(k) for k in
                                    ("disease_type", "primary_site", "species")})
    return SeriesHit.model_construct(**fields, level="series", links=[], hosts=hosts)


def summary_aggs(clauses: list[JSON], level: str, size: int) -> JSON:
    """Per page document: its matching records' hosts, modalities, series, ..."""
    first = {"top_hits": {"size": 1, "sort": [{dsl.f("source"): "asc"},
                                              {dsl.f("collection"): "asc"},
                                              {dsl.f("series_uid"): "asc"}],
                          "docvalue_fields": [dsl.f(n) for n in (
                              "source", "subject_id", "collection", "study_uid",
                              "study_date", "study_description")], "_source": False}}
    first_sex = {"filter": {"exists": {"field": dsl.f("sex")}}, "aggs": {"first": {
        "top_hits": {**first["top_hits"], "docvalue_fields": [dsl.f("sex")]}}}}
    terms = {name: {"terms": {"field": dsl.f(name), "size": SUMMARY_TERMS}}
             for name in ("source", "modality", "collection", "study_uid")}
    terms["series_uid"] = {"terms": {"field": dsl.f("series_uid"), "size": SUMMARY_TERMS},
                           "aggs": {"inst": {"max": {"field": dsl.f("instances")}}}}
    inner = {**terms, "first": first, "first_sex": first_sex,
             "age_min": {"min": {"field": dsl.f("age")}},
             "age_max": {"max": {"field": dsl.f("age")}}}
    return {"docs": {"terms": {"field": "key", "size": max(size, 1)}, "aggs": {
        "rows": {"nested": {"path": NESTED}, "aggs": {
            "m": {"filter": {"bool": {"filter": clauses}}, "aggs": inner}}}}}}


def _keys(agg: JSON, name: str) -> list[str]:
    return sorted(str(b["key"]) for b in agg[name]["buckets"])


def _first(agg: JSON) -> dict[str, Any]:
    hits = agg["first"]["hits"]["hits"]
    if not hits:
        return {}
    hit = hits[0]
    values = hit.get("fields", {})
    return {k.split(".", 1)[1]: v[0] for k, v in values.items() if v}


def summaries(agg: JSON, level: str, keys: list[str]) -> list[StudyHit | SubjectHit]:
    """Hits for the page's documents, in page order, from ``summary_aggs``' answer."""
    by_key = {b["key"]: b["rows"]["m"] for b in agg["docs"]["buckets"]}
    out: list[StudyHit | SubjectHit] = []
    for key in keys:
        m = by_key[key]
        first = _first(m)
        series = m["series_uid"]["buckets"]
        instances = int(sum(b["inst"]["value"] or 0 for b in series))
        if level == "study":
            out.append(StudyHit(
                id=f"study:{key}", study_uid=key, subject_id=first.get("subject_id", ""),
                collection=first.get("collection", ""), hosts=_keys(m, "source"),
                study_date=_date(first.get("study_date")),
                study_description=first.get("study_description"),
                modalities=_keys(m, "modality"), series=len(series), instances=instances))
        else:
            source, subject = first.get("source", ""), first.get("subject_id", "")
            out.append(SubjectHit(
                id=f"{source}:subject:{subject}", source=source, subject_id=subject,
                hosts=_keys(m, "source"), collections=_keys(m, "collection"),
                sex=_first(m["first_sex"]).get("sex"), age_min=m["age_min"]["value"],
                age_max=m["age_max"]["value"], modalities=_keys(m, "modality"),
                studies=len(m["study_uid"]["buckets"]), series=len(series)))
    return out


def _date(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):  # epoch millis from doc values
        return datetime.fromtimestamp(value / 1000, UTC).date().isoformat()
    return str(value)[:10]


def collection_hit(doc: JSON, series: int) -> CollectionHit:
    return CollectionHit.model_construct(**collection_from_doc(doc), level="collection",
                                         series=series, links=[])
