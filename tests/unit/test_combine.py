"""Searches with the same query on the same index sent as one, answers cut back apart."""

from __future__ import annotations

from imaging_hub.store.search_engine.combine import combine

Q = {"nested": {"path": "r", "query": {"bool": {"filter": [{"term": {"r.modality": "CT"}}]}},
                "score_mode": "none"}}
Q_HITS = {"nested": {**Q["nested"], "inner_hits": {"size": 1}}}
OTHER = {"term": {"key": "x"}}


def _answer(total: int, aggs: dict[str, object], hits: list[object]) -> dict[str, object]:
    return {"took": 3, "timed_out": False,
            "hits": {"total": {"value": total, "relation": "eq"}, "hits": hits},
            "aggregations": aggs}


def test_same_query_same_index_is_one_search_and_each_gets_its_own_answer() -> None:
    page = {"size": 20, "track_total_hits": True, "query": Q_HITS, "sort": [{"key": "asc"}]}
    facets = {"size": 0, "track_total_hits": False, "query": Q, "aggs": {"rows": {"x": 1}}}
    count = {"size": 0, "track_total_hits": True, "query": Q, "aggs": {"rows": {"y": 2}}}
    elsewhere = {"size": 0, "track_total_hits": True, "query": Q}
    different = {"size": 0, "track_total_hits": True, "query": OTHER}
    searches = [("s", facets), ("s", page), ("st", elsewhere), ("s", count), ("s", different)]
    sent, split = combine(searches)
    assert len(sent) == 3
    merged = next(b for i, b in sent if i == "s" and "sort" in b)
    assert merged["query"] == Q_HITS and merged["size"] == 20
    assert merged["track_total_hits"] is True
    assert merged["aggs"] == {"0#rows": {"x": 1}, "3#rows": {"y": 2}}
    answers = []
    for index, body in sent:
        if body is merged:
            answers.append(_answer(7, {"0#rows": "F", "3#rows": "C"}, ["h1", "h2"]))
        else:
            answers.append(_answer(1 if index == "st" else 2, {}, []))
    got = split(answers)
    assert got[0]["aggregations"] == {"rows": "F"} and got[0]["hits"]["hits"] == []
    assert got[1]["hits"]["hits"] == ["h1", "h2"] and got[1]["hits"]["total"]["value"] == 7
    assert "aggregations" not in got[1]
    assert got[3]["aggregations"] == {"rows": "C"} and got[3]["hits"]["total"]["value"] == 7
    assert got[2]["hits"]["total"]["value"] == 1
    assert got[4]["hits"]["total"]["value"] == 2


def test_two_pages_of_hits_or_other_keys_are_sent_alone() -> None:
    a = {"size": 20, "track_total_hits": True, "query": Q}
    b = {"size": 5, "track_total_hits": True, "query": Q}
    after = {"size": 0, "query": Q, "search_after": [1]}
    sent, split = combine([("s", a), ("s", b), ("s", after)])
    assert [body for _, body in sent] == [b, after, a]
    answers = [_answer(n, {}, [n]) for n in (2, 3, 1)]
    assert [g["hits"]["hits"] for g in split(answers)] == [[1], [2], [3]]


def test_relevance_scoring_is_a_different_query() -> None:
    scored = {"nested": {**Q["nested"], "score_mode": "max"}}
    sent, _ = combine([("s", {"size": 0, "query": Q}), ("s", {"size": 0, "query": scored})])
    assert len(sent) == 2
