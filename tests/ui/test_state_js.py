"""The page's pure state functions (search_ui/static/state.js), run in Chromium: URL round
trips and the age-bucket ↔ age-range conversion."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.ui.conftest import open_page


def run(page: Page, body: str) -> Any:
    return page.evaluate(f"async () => {{ const S = await import('/static/state.js'); {body} }}")


def test_url_round_trip_keeps_every_part_of_the_state(page: Page) -> None:
    open_page(page)
    url = ("?q=t1+brain&level=study&modality=MR&modality=CT&sex=F&sex=%28none%29"
           "&commercial_use=true&subject_id=P%2F1&age=60..69.99&age=80..89.99&age=%28none%29"
           "&study_year=..2010")
    state = run(page, f"return S.parseUrl({url!r});")
    assert state == {"text": "t1 brain", "level": "study", "sort": None, "filters": {
        "modality": ["MR", "CT"], "sex": ["F", None], "commercial_use": ["true"],
        "subject_id": ["P/1"], "age": [{"gte": 60, "lte": 69.99}, {"gte": 80, "lte": 89.99}, None],
        "study_year": [{"lte": 2010}]}}
    assert run(page, f"return S.toUrl(S.parseUrl({url!r}));") == url
    body = run(page, f"return S.searchBody(S.parseUrl({url!r}));")
    assert body["filters"]["commercial_use"] == [True]  # booleans go to the API as booleans
    # several ranges OR'ed and "not recorded" as null: what the API takes
    assert body["filters"]["age"] == [{"gte": 60, "lte": 69.99}, {"gte": 80, "lte": 89.99}, None]
    assert body["filters"]["sex"] == ["F", None]
    assert body["level"] == "study" and "sort" not in body
    # a sort only applies to series; unknown parameters and levels are ignored
    assert run(page, "return S.parseUrl('?sort=-age&level=nope&bogus=1');") == {
        "text": None, "level": "series", "sort": "-age", "filters": {}}
    # text the API will reject is passed on as typed, so the API's message names it
    assert run(page, "return S.parseRange('abc..5');") == {"gte": "abc", "lte": 5}


def test_age_buckets_select_exactly_what_was_ticked(page: Page) -> None:
    open_page(page)
    cases = [
        ("'60-69', null, true", [{"gte": 60, "lte": 69.99}]),
        ("'70-79', [{gte: 60, lte: 69.99}], true", [{"gte": 60, "lte": 79.99}]),  # adjacent: one
        # the cases: 60-69 then 80-89 is not 60-89, and unticking 70-79 keeps 80-89
        ("'80-89', [{gte: 60, lte: 69.99}], true",
         [{"gte": 60, "lte": 69.99}, {"gte": 80, "lte": 89.99}]),
        ("'70-79', [{gte: 60, lte: 89.99}], false",
         [{"gte": 60, "lte": 69.99}, {"gte": 80, "lte": 89.99}]),
        ("'70-79', [{gte: 60, lte: 69.99}, {gte: 80, lte: 89.99}], true",
         [{"gte": 60, "lte": 89.99}]),
        ("'100+', [{gte: 60, lte: 69.99}], true", [{"gte": 60, "lte": 69.99}, {"gte": 100}]),
        ("'0-9', [{lte: 29.99}], false", [{"gte": 10, "lte": 29.99}]),
        ("'60-69', [{gte: 60}], false", [{"gte": 70}]),
        ("'100+', [{gte: 60}], false", [{"gte": 60, "lte": 99.99}]),
        ("'60-69', [{gte: 60, lte: 69.99}], false", None),
        ("'60-69', [{gte: 60, lte: 69.99}, null], false", [None]),  # not recorded stays
        ("'60-69', [null], true", [{"gte": 60, "lte": 69.99}, None]),
    ]
    for args, expected in cases:
        assert run(page, f"return S.toggleBucket({args});") == expected, args
    assert run(page, "return ['50-59', '60-69', '100+'].map(b => S.bucketCovered(b, [{gte: 60}]))"
               ) == [False, True, True]
    assert run(page, "return ['60-69', '70-79', '80-89'].map(b => S.bucketCovered(b, "
                     "[{gte: 60, lte: 69.99}, {gte: 80, lte: 89.99}]))") == [True, False, True]


def test_datasets_rank_by_matching_subjects_then_series_suppressed_last(page: Page) -> None:
    open_page(page)
    ranked = run(page, """
        const c = (s, n) => ({subjects: {count: s}, studies: {count: 1}, series: {count: n}});
        return S.byMatches({b: c(5, 10), a: c(5, 10), z: c(9, 1), y: c(5, 20),
                            hidden: {subjects: {count: null, suppressed: true},
                                     series: {count: null}}}).map(([id]) => id);""")
    assert ranked == ["z", "y", "a", "b", "hidden"]
    assert run(page, "return S.chartBody(S.parseUrl('?q=lung&sex=F'));") == {
        "text": "lung", "filters": {"sex": ["F"]}, "facets": ["age", "sex", "modality"],
        "facet_unit": "subjects", "counts": False, "page": {"size": 0}}


def test_chart_bars_say_whether_they_are_inside_the_filter(page: Page) -> None:
    open_page(page)
    rows = page.evaluate("""async () => {
        const S = await import('/static/state.js');
        const C = await import('/static/charts.js');
        const age = [{value: '60-69', count: 5}, {value: '70-79', count: 3},
                     {value: '80-89', count: 2}];
        const state = S.parseUrl('?age=60..75');
        return C.chartRows('age', age, state).filter(r => r.count)
          .map(r => [r.value, r.status, r.selected]); }""")
    assert rows == [["60-69", "in", True], ["70-79", "part", False], ["80-89", "out", False]]
