"""Index layout on the cluster, generated from the field registry.

One generation is five indices, each behind an alias that is swapped atomically at publish:

    <prefix>-series-<gen>   one document per SeriesInstanceUID; nested ``r``: the series'
                            records, one per source holding it (full records in _source)
    <prefix>-study-<gen>    one document per StudyInstanceUID; nested ``r``: its records
    <prefix>-subject-<gen>  one document per subject (linked across sources); nested ``r``
    <prefix>-coll-<gen>     one document per collection record
    <prefix>-meta-<gen>     one document: the generation's manifest (sources, reports)

Counting is exact by construction: a level's count is the number of its documents having a
record that matches (``track_total_hits``), and a facet value's count in a unit is a
``nested -> filter -> terms -> reverse_nested`` document count on the unit's index — no
cardinality (HyperLogLog) aggregation anywhere.
"""

from __future__ import annotations

from typing import Any

from imaging_hub.schemas.fields import FIELDS, Column

# bumped when documents or mappings change shape; a generation of another layout is refused
# with a clear message until the next publish rebuilds it (publishing reads it back tolerantly)
LAYOUT_VERSION = 3
LEVEL_INDICES = ("series", "study", "subject")
KINDS = (*LEVEL_INDICES, "coll", "meta")
NESTED = "r"
# fields every nested record carries besides the searchable ones
EXTRA_ROW_FIELDS: dict[str, dict[str, Any]] = {
    "id": {"type": "keyword"},
    "dataset": {"type": "keyword"},  # "<source>\x1f<collection>"
    # the linked subject: the subject index's document key; kept in the series' _source
    "subject_key": {"type": "keyword", "index": False, "doc_values": False},
    # the record's searchable text, normalised (schemas/text.py); only matched (wildcard),
    # never grouped or sorted, so no doc values to build at loading
    "tx": {"type": "keyword", "doc_values": False},
    "study_date": {"type": "date", "format": "strict_date"},
    "study_description": {"type": "keyword", "index": False},  # shown on study hits
    "copies": {"type": "integer"},  # records of the same series (hosts holding it)
}
# Nested fields read from doc values (grouped, summed, sorted on or fetched) besides the
# facets and the sortable fields, per level index. Every other field is only matched, so
# it gets no doc values: they are most of what loading writes for a field of (nearly)
# unique values such as the UIDs.
READ_BY_VALUE: dict[str, frozenset[str]] = {
    # hit order (source, collection, study), the first record's id, counts' sums, datasets
    "series": frozenset({"source", "collection", "study_uid", "id", "instances",
                         "size_bytes", "dataset"}),
    # and the page summaries of study and subject hits (hits.summary_aggs)
    "study": frozenset({"source", "collection", "study_uid", "instances", "size_bytes",
                        "dataset", "series_uid", "subject_id", "study_date",
                        "study_description"}),
}
READ_BY_VALUE["subject"] = READ_BY_VALUE["study"]
# Nested fields no search of the study and subject indices uses: their documents leave
# them out (docs.py); the series documents keep them in their _source
UNUSED_BY_GROUPS = frozenset({"id", "copies", "subject_key"})
DATASET_SEP = "\x1f"
_ENGINE_TYPES = {"keyword": "keyword", "keyword_list": "keyword", "float": "double",
                 "int": "integer", "long": "long", "bool": "boolean"}


def index_name(prefix: str, kind: str, generation: str) -> str:
    return f"{prefix}-{kind}-{generation}"


def alias_name(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def _field_type(c: Column) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _ENGINE_TYPES[c.type]}
    if c.facet and out["type"] == "keyword":  # facets group by global ordinals: built at
        # the generation's refresh, not by the first question that meets each field
        out["eager_global_ordinals"] = True
    return out


def row_properties(level: str) -> dict[str, Any]:
    """Mapped fields of a nested record in a level index: every searchable field of the
    registry, plus the keys above; doc values only where ``READ_BY_VALUE``, a facet or a
    sort needs them; in series, an analysed field for relevance ranking."""
    props = {name: _field_type(spec) for name, spec in FIELDS.items()}
    props.update(EXTRA_ROW_FIELDS)
    for name, spec in props.items():
        column = FIELDS.get(name)
        read = name in READ_BY_VALUE[level] or (column is not None and (
            column.facet or column.sortable))
        if level != "series" and name in UNUSED_BY_GROUPS:
            props[name] = {"type": spec["type"], "index": False, "doc_values": False}
        elif not read and spec.get("doc_values", True):
            props[name] = {**spec, "doc_values": False}
    if level == "series":  # the built-in standard analyzer (the minimal distribution has
        # no others); ranked by ``match`` only (BM25 needs term frequencies, not positions)
        props["text"] = {"type": "text", "analyzer": "standard", "index_options": "freqs"}
    return props


# Translog size at which a loading index is flushed: its buffered documents are written as a
# segment in the background while loading goes on. Whatever is still buffered when loading
# ends is written afterwards, on one thread (``publish._settle``), and the last index's is on
# the publish's critical path. Measured with the documents of all of IDC, one node, 4 GB
# heap: the study index loaded, refreshed and merged in 32.4 s at 200mb against 39.1 s at
# 1gb (its refresh 0.1 s against 11.3 s); the series index (a 2 GB translog) took 80.9 s
# at 200mb against 78.1 s at 1gb, the many segments of its flushes being merged while it
# loads (53.8 s of merging in the engine's statistics against 13.9 s).
FLUSH_THRESHOLD = {"series": "1gb"}
DEFAULT_FLUSH_THRESHOLD = "200mb"


def settings(shards: int, replicas: int, kind: str) -> dict[str, Any]:
    """Settings of an index of ``kind`` while it loads (``publish._finish`` sets those
    of a served index)."""
    return {"index": {
        "number_of_shards": shards, "number_of_replicas": replicas,
        "refresh_interval": "-1",  # loading: refreshed once at the end
        # loading: the translog is fsynced in the background; a generation that did not load
        # completely is dropped anyway, and durability is per request again once it did
        "translog.durability": "async", "translog.sync_interval": "30s",
        "translog.flush_threshold_size": FLUSH_THRESHOLD.get(kind, DEFAULT_FLUSH_THRESHOLD),
        "mapping.nested_objects.limit": 10_000_000,  # a subject may hold many series
        "mapping.total_fields.limit": 2000,
        "max_inner_result_window": 1000,
    }}


def level_mapping(level: str) -> dict[str, Any]:
    """Mapping of one level index (series, study, subject)."""
    root: dict[str, Any] = {"key": {"type": "keyword"}}
    if level == "series":
        root.update(study_uid={"type": "keyword"}, hosts={"type": "keyword"},
                    instances={"type": "long"}, size_bytes={"type": "long"},
                    first_source={"type": "keyword"}, first_collection={"type": "keyword"},
                    age={"type": "double"}, study_year={"type": "integer"})
    mapping: dict[str, Any] = {
        "dynamic": False,
        "properties": {**root, NESTED: {"type": "nested", "dynamic": False,
                                        "properties": row_properties(level)}},
    }
    if level != "series":  # hits of these levels are built from aggregations
        mapping["_source"] = {"enabled": False}
    return mapping


def collection_mapping() -> dict[str, Any]:
    return {"dynamic": False, "properties": {
        "id": {"type": "keyword"}, "source": {"type": "keyword"},
        "collection": {"type": "keyword"}, "dataset": {"type": "keyword"}}}


def meta_mapping() -> dict[str, Any]:
    return {"dynamic": False, "properties": {"generation": {"type": "keyword"}}}


def mapping_of(kind: str) -> dict[str, Any]:
    if kind in LEVEL_INDICES:
        return level_mapping(kind)
    return collection_mapping() if kind == "coll" else meta_mapping()
