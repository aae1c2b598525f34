"""Adversarial tests of small-count protection, on every backend (embedded, OpenSearch,
Elasticsearch): an anonymous caller tries to recover a suppressed count by differencing —
a total minus its facet buckets, a filter with and without one value, the same question
asked again, the same records asked for in other words — and never narrows it to one value.

The attacker's reasoning is brute force over the mechanism README states (a restricted part
r is absent when 0, suppressed when 1 <= r < k, else published as k * max(1, floor((r + e) /
k)) with |e| <= the noise bound), written here independently of search_ui/protect.py: every
true value consistent with everything observed stays possible.

Data: an open source (visible), "clinic" (controlled, min_count 10) with 47 CT subjects and
3 MR subjects (one study and series each, all sex F), "clinic2" (controlled, min_count 20)
with 25 CT subjects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imaging_hub.config import Settings
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.search_ui.api import create_app
from tests.api.access_data import AsgiClient
from tests.store import synthetic as syn
from tests.store.backends import BACKENDS, store_factory

MR_TRUE = 3
CT_CLINIC = 47
CT_CLINIC2 = 25
NOISE = 3
UNITS = ("subjects", "studies", "series")
Part = dict[str, Any] | None


def _controlled(r: SeriesRecord) -> SeriesRecord:
    return r.model_copy(update={"access": r.access.model_copy(update={"tier": "controlled"})})


def _records() -> dict[str, list[SeriesRecord]]:
    open_src = [syn.series("public", "lungs", f"P{i}", f"1.{i}", f"1.1.{i}",
                           modality=("CT", "MR", "PT")[i % 3], sex=("F", "M")[i % 2])
                for i in range(30)]
    clinic = [_controlled(syn.series("clinic", "lungs", f"C{i}", f"2.{i}", f"2.1.{i}",
                                     modality="CT" if i < CT_CLINIC else "MR", sex="F"))
              for i in range(CT_CLINIC + MR_TRUE)]
    clinic2 = [_controlled(syn.series("clinic2", "brains", f"D{i}", f"3.{i}", f"3.1.{i}",
                                      modality="CT", sex="F")) for i in range(CT_CLINIC2)]
    return {"public": open_src, "clinic": clinic, "clinic2": clinic2}


Apps = tuple[AsgiClient, AsgiClient]  # noise off, noise on


@pytest.fixture(scope="module", params=BACKENDS)
def apps(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[Apps]:
    home = tmp_path_factory.mktemp("adversarial")
    store = store_factory(request, home)()
    for source, recs in _records().items():
        result = syn.result(source, recs)
        result.min_count = 20 if source == "clinic2" else 10
        store.publish(result)
    plain = AsgiClient(create_app(store, Settings(home=home), cache=False))
    noisy = AsgiClient(create_app(store, Settings(home=home, count_noise=NOISE), cache=False))
    yield plain, noisy
    store.close()


# -- the attacker's reasoning ------------------------------------------------------------------
def could_be(part: Part, r: int, k: int, noise: int) -> bool:
    """Could a restricted part of true value ``r`` be published as ``part``?"""
    if part is None:
        return r == 0
    if part["count"] is None:
        return 1 <= r < k
    return r >= k and any(k * max(1, (r + e) // k) == part["count"]
                          for e in range(-noise, noise + 1))


def feasible_difference(whole: Part, rest: Part, small: Part, k_whole: int, k_rest: int,
                        k_small: int, noise: int, limit: int = 400) -> set[int]:
    """Values m of the small part consistent with whole = rest + m (both published) and
    with what was published for the small part itself."""
    return feasible_jointly([(whole, rest, small)], k_whole, k_rest, k_small, noise, limit)


def feasible_jointly(seen: list[tuple[Part, Part, Part]], k_whole: int, k_rest: int,
                     k_small: int, noise: int, limit: int = 400) -> set[int]:
    """Values m consistent with every observation (whole, rest, small) at once, all of the
    same unknowns: whole = rest + m (e.g. one set counted in several units that count it
    alike, where noise drawn per unit could be averaged)."""
    out = set()
    for m in range(0, 3 * k_small):
        if not all(could_be(small, m, k_small, noise) for _, _, small in seen):
            continue
        if any(all(could_be(rest, x, k_rest, noise) and could_be(whole, x + m, k_whole, noise)
                   for whole, rest, _ in seen) for x in range(limit)):
            out.add(m)
    return out


def _assert_hidden(found: set[int], k: int, noise: int) -> None:
    assert MR_TRUE in found  # the attacker's model of the mechanism is right
    assert len(found) >= 2, found  # never one value
    if noise == 0:  # rounding to k leaves every suppressed value possible
        assert found == set(range(1, k)), found


def _search(client: AsgiClient, body: dict[str, Any]) -> dict[str, Any]:
    got = client.post("/api/v1/search", json=body, headers={"Cache-Control": "no-cache"})
    assert got.status_code == 200, got.text
    return dict(got.json())


def _count(client: AsgiClient, body: dict[str, Any]) -> dict[str, Any]:
    got = client.post("/api/v1/cohort/count", json=body, headers={"Cache-Control": "no-cache"})
    assert got.status_code == 200, got.text
    return dict(got.json())


def _bucket(answer: dict[str, Any], facet: str, value: str) -> dict[str, Any]:
    return next(b for b in answer["facets"][facet] if b["value"] == value)


# -- the attacks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("noisy", [False, True], ids=["rounded", "noisy"])
def test_a_total_minus_its_facet_buckets_leaves_the_suppressed_bucket_hidden(
        apps: Apps, noisy: bool) -> None:
    client, noise = (apps[1], NOISE) if noisy else (apps[0], 0)
    for facet_unit in UNITS:
        got = _search(client, {"filters": {"source": ["clinic"]}, "facets": ["modality"],
                               "facet_unit": facet_unit, "counts": True, "page": {"size": 0}})
        mr, ct = _bucket(got, "modality", "MR"), _bucket(got, "modality", "CT")
        assert mr["count"] is None and mr["suppressed"] and mr["threshold"] == 10
        whole = got["counts"][facet_unit]["restricted"]
        _assert_hidden(feasible_difference(whole, ct["restricted"], mr["restricted"],
                                           10, 10, 10, noise), 10, noise)
    # over every source the threshold is the larger one (clinic2's 20)
    got = _search(client, {"facets": ["modality"], "counts": True, "page": {"size": 0}})
    mr, ct = _bucket(got, "modality", "MR"), _bucket(got, "modality", "CT")
    assert mr["restricted"]["suppressed"] and mr["restricted"]["threshold"] == 20
    assert mr["count"] == mr["visible"] == 10  # the open MR series, exact
    found = feasible_difference(got["total"]["restricted"], ct["restricted"],
                                mr["restricted"], 20, 20, 20, noise)
    _assert_hidden(found, 20, noise)


@pytest.mark.parametrize("noisy", [False, True], ids=["rounded", "noisy"])
def test_a_filter_with_and_without_one_value_leaves_it_hidden(apps: Apps, noisy: bool) -> None:
    client, noise = (apps[1], NOISE) if noisy else (apps[0], 0)
    both = _count(client, {"filters": {"source": ["clinic"], "modality": ["CT", "MR"]}})
    ct = _count(client, {"filters": {"source": ["clinic"], "modality": ["CT"]}})
    mr = _count(client, {"filters": {"source": ["clinic"], "modality": ["MR"]}})
    # one subject, study and series each: every unit counts the same records alike, so an
    # attacker takes all three units' answers together
    _assert_hidden(feasible_jointly([(both[u]["restricted"], ct[u]["restricted"],
                                      mr[u]["restricted"]) for u in UNITS], 10, 10, 10, noise),
                   10, noise)
    for unit in UNITS:
        assert mr[unit]["count"] is None and mr[unit]["suppressed"]
        _assert_hidden(feasible_difference(both[unit]["restricted"], ct[unit]["restricted"],
                                           mr[unit]["restricted"], 10, 10, 10, noise),
                       10, noise)
        # the by-source row of the same question differs in nothing either
        _assert_hidden(feasible_difference(
            both["by_source"]["clinic"][unit]["restricted"],
            ct["by_source"]["clinic"][unit]["restricted"],
            mr["by_source"].get("clinic", {}).get(unit, {}).get("restricted"),
            10, 10, 10, noise), 10, noise)


def test_asking_again_gives_the_same_noisy_answer(apps: Apps) -> None:
    _, client = apps
    body = {"filters": {"source": ["clinic", "clinic2"]}, "facets": ["modality", "source"],
            "counts": True, "page": {"size": 0}}
    first = _search(client, body)
    assert all(_search(client, body) == first for _ in range(4))
    assert all(_count(client, {"filters": body["filters"]}) == _count(
        client, {"filters": body["filters"]}) for _ in range(3))
    for unit in UNITS:
        part = first["counts"][unit]["restricted"]
        k, shown = part["threshold"], part["count"]
        assert k == 20 and "noise of at most ±3" in part["method"]
        assert (part["low"], part["high"]) == (max(k, shown - NOISE), shown + k - 1 + NOISE)


def test_the_same_records_asked_in_other_words_get_the_same_noise(apps: Apps) -> None:
    """Phrasings that select the same restricted records (a filter, a 'where' expression, a
    Guppy filter, a redundant filter, a facet bucket) publish the same restricted part, even
    where the visible part differs: nothing to average."""
    _, client = apps
    phrasings: list[dict[str, Any]] = [
        {"filters": {"modality": ["CT"]}},
        {"where": {"field": "modality", "any_of": ["CT"]}},
        {"filters": {"AND": [{"IN": {"modality": ["CT"]}}]}},
        {"filters": {"modality": ["CT"], "sex": ["F"]}},  # every restricted record is F
        {"filters": {"modality": ["CT", "SEG"]}},  # no SEG anywhere
    ]
    parts = []
    for body in phrasings:
        got = _count(client, body)
        parts.append({u: got[u]["restricted"] for u in UNITS})
    assert all(p == parts[0] for p in parts), parts
    assert _count(client, phrasings[3])["series"]["visible"] != \
        _count(client, phrasings[0])["series"]["visible"]  # the visible parts differ
    facet = _search(client, {"facets": ["modality"], "facet_unit": "series",
                             "page": {"size": 0}})
    assert _bucket(facet, "modality", "CT")["restricted"] == parts[0]["series"]


def test_per_source_thresholds_come_from_the_manifest(apps: Apps) -> None:
    client, _ = apps
    got = _count(client, {})
    assert got["by_source"]["clinic2"]["series"]["restricted"]["threshold"] == 20
    assert got["by_source"]["clinic"]["series"]["restricted"]["threshold"] == 10
    assert got["series"]["restricted"]["threshold"] == 20  # draws on both
    assert "restricted" not in got["by_source"]["public"]["series"]  # all visible: exact
    listing = client.get("/api/v1/sources").json()["sources"]
    series = {s["source"]: s for s in listing}
    assert series["public"]["series"] == 30 and "detail" not in series["public"]
    assert series["clinic2"]["detail"]["series"]["restricted"]["count"] == 20  # 25 -> 20
