"""search_ui/static/errors.js, run in Chromium on the live API's own 422 answers: every problem
the page can cause reads as a sentence in the page's words, never in the API's."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.ui.conftest import open_page

LONG = "a" * 600
# (request body, the page's state when it sent it, the sentence the person reads)
CASES: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"filters": {"age": {"gte": 80, "lte": 60}}}, {},
     "Age at imaging (years): from 80 is after to 60"),
    ({"filters": {"study_year": {"gte": 2010, "lte": 2000}}}, {},
     "Study year: from 2010 is after to 2000"),
    ({"filters": {"age": {"gte": "abc"}}}, {"filters": {"age": {"gte": "abc"}}},
     "Age at imaging (years): from “abc” is not a number"),
    ({"filters": {"age": {"lte": "not a number"}}}, {},
     "Age at imaging (years): the “to” value is not a number"),
    ({"filters": {"age": {}}}, {}, "Age at imaging (years): give a “from” or a “to” value"),
    ({"filters": {"age": {"gte": 1, "above": 2}}}, {},
     "Age at imaging (years): a range has only “from” and “to”, not “above”"),
    ({"filters": {"bogus": ["x"]}}, {}, "“bogus” is not a filter this index has"),
    ({"filters": {"commercial_use": ["maybe"]}}, {},
     "Commercial use: “maybe” is not one of its choices"),
    ({"filters": {"modality": []}}, {}, "Modality: no value was chosen"),
    ({"filters": {"modality": {"gte": 1}}}, {},
     "Modality: pick values from its list; it has no from–to range"),
    ({"filters": {"modality": ["x" * 600]}}, {},
     "Modality: a value is too long (at most 512 characters)"),
    ({"text": LONG}, {"text": LONG}, "Search text: at most 500 characters (this one has 600)"),
    ({"sort": "bogus"}, {}, "Sort: “bogus” is not an order this index offers"),
    ({"filters": {"age": [5]}}, {},
     "Age at imaging (years): give a from–to range, not single values"),
    ({"filters": {"age": {"gte": 1, "gt": 2}}}, {},
     "Age at imaging (years): give one lower and one upper bound"),
    ({"filters": {"age": [{"gte": 9, "lte": 1}, {"gte": 1}]}}, {},
     "Age at imaging (years): from 9 is after to 1"),
]
API_WORDS = re.compile(r"\b(gte|lte|inverted|Input should|Value error|String should)\b|filter '")


def plain(page: Page, details: list[dict[str, Any]], state: dict[str, Any]) -> Any:
    return page.evaluate(
        """async ([details, state]) => {
             const S = await import('/static/state.js');
             const E = await import('/static/errors.js');
             return E.plainProblems(details, {label: S.labelOf, state});
           }""", [details, state])


@pytest.mark.parametrize(("body", "state", "sentence"), CASES,
                         ids=[c[2][:40] for c in CASES])
def test_the_apis_422_details_read_as_plain_sentences(
        page: Page, client: httpx.Client, body: dict[str, Any], state: dict[str, Any],
        sentence: str) -> None:
    r = client.post("/api/v1/search", json=body)
    assert r.status_code == 422, r.text
    details = r.json()["details"]
    open_page(page)  # configure() has read the field labels from the server
    got = plain(page, details, state)
    assert [p["text"] for p in got] == [sentence], json.dumps(details)
    assert not API_WORDS.search(sentence)


def test_the_problem_names_its_filter_and_unknown_problems_keep_their_text(page: Page) -> None:
    open_page(page)
    got = plain(page, [
        {"field": "filters", "problem": "filter 'age': inverted range: gte 80.0 > lte 60.0"},
        {"field": "filters", "problem": "filter 'age': inverted range: gte 80.0 > lte 60.0"},
        {"field": "filters", "problem": "filter 'sex': something new"},
        {"field": "page.after", "problem": "token from another index"},
        {"field": None, "problem": "invalid request"}], {})
    assert got == [
        {"field": "age", "text": "Age at imaging (years): from 80 is after to 60"},
        {"field": "sex", "text": "Sex: something new"},
        {"field": "page.after", "text": "page.after: token from another index"},
        {"field": None, "text": "invalid request"}]
