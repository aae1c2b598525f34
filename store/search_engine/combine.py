"""Searches of one multi-search that ask the same query of the same index, run as one.

A question's multi-search often holds several searches with the same query on the same
index: its first page, the facets it does not filter and its level's count, for example.
The engine evaluates a query once per search, so such searches are sent as one: the search
holding the page (if any), with every member's aggregations renamed apart and the total
tracked if any member tracks it. Each member's answer is then cut back out of the combined
answer, as if it had been sent alone. Searches with anything else (search_after, a point in
time, a post filter, ...) are sent as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
SEP = "#"  # between a member's position and its aggregation's name
_COMBINABLE = {"size", "track_total_hits", "query", "aggs", "sort", "_source",
               "docvalue_fields"}


def _without_inner_hits(node: Any) -> Any:
    """The query's matching part: inner hits choose what a hit shows, not what matches."""
    if isinstance(node, dict):
        return {k: _without_inner_hits(v) for k, v in node.items() if k != "inner_hits"}
    if isinstance(node, list):
        return [_without_inner_hits(v) for v in node]
    return node


def _key(index: str, body: JSON) -> str | None:
    if not set(body) <= _COMBINABLE or "query" not in body:
        return None
    return index + "\n" + json.dumps(_without_inner_hits(body["query"]), sort_keys=True)


def _merge(members: list[tuple[int, JSON]]) -> JSON:
    """One body for ``members`` (position, body): at most one of them has hits."""
    host = next((b for _, b in members if b.get("size", 10)), members[0][1])
    body = {k: v for k, v in host.items() if k != "aggs"}
    if any(b.get("track_total_hits") is True for _, b in members):
        body["track_total_hits"] = True
    aggs = {f"{j}{SEP}{name}": agg for j, b in members for name, agg in
            (b.get("aggs") or {}).items()}
    if aggs:
        body["aggs"] = aggs
    return body


def _member_answer(answer: JSON, j: int, body: JSON) -> JSON:
    out = {k: v for k, v in answer.items() if k != "aggregations"}
    if not body.get("size", 10):
        out["hits"] = {**answer["hits"], "hits": []}
    if body.get("aggs"):
        got = answer["aggregations"]
        out["aggregations"] = {name: got[f"{j}{SEP}{name}"] for name in body["aggs"]}
    return out


def combine(searches: list[tuple[str, JSON]],
            ) -> tuple[list[tuple[str, JSON]], Callable[[list[JSON]], list[JSON]]]:
    """(the searches to send, a function from their answers to one answer per search of
    ``searches``, in order)."""
    groups: dict[str, list[int]] = {}
    solo: list[int] = []
    for i, (index, body) in enumerate(searches):
        key = _key(index, body)
        if key is None:
            solo.append(i)
            continue
        group = groups.setdefault(key, [])
        if body.get("size", 10) and any(searches[m][1].get("size", 10) for m in group):
            solo.append(i)  # a second page of hits: sent alone
            continue
        group.append(i)
    plan = [[i] for i in solo] + list(groups.values())
    sent = [searches[p[0]] if len(p) == 1 else
            (searches[p[0]][0], _merge([(i, searches[i][1]) for i in p])) for p in plan]

    def split(answers: list[JSON]) -> list[JSON]:
        out: list[JSON] = [{} for _ in searches]
        for members, answer in zip(plan, answers, strict=True):
            if len(members) == 1:
                out[members[0]] = answer
                continue
            for i in members:
                out[i] = _member_answer(answer, i, searches[i][1])
        return out

    return sent, split
