"""Missing values and age decades in the page (issue 12 §1 and §3 as the page shows them), in
Chromium over the IDC slice: "not recorded" buckets you can see and choose, what each filter
leaves out for lacking a value, and decades that select exactly what was ticked."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import api_counts, open_page, settle, shown_counts, shown_facet


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def decade(page: Page, label: str) -> Any:
    return page.get_by_role("group", name="Age at imaging (years)").get_by_role(
        "checkbox", name=re.compile(rf"^{re.escape(label)}\b"))


def facets(client: httpx.Client, filters: dict[str, Any], names: list[str]) -> dict[str, Any]:
    r = client.post("/api/v1/search", json={"filters": filters, "facets": names,
                                            "page": {"size": 0}})
    assert r.status_code == 200, r.text
    return r.json()["facets"]


def test_decades_select_exactly_what_was_ticked(page: Page, client: httpx.Client) -> None:
    open_page(page)
    settle(page, decade(page, "60-69").check)
    settle(page, decade(page, "80-89").check)
    assert query(page) == {"age": ["60..69.99", "80..89.99"]}
    expect(decade(page, "70-79")).not_to_be_checked()
    two = [{"gte": 60, "lte": 69.99}, {"gte": 80, "lte": 89.99}]
    assert shown_counts(page) == api_counts(client, None, {"age": two})
    # the old behaviour (the hull, 60 to 89.99) counts differently on this slice
    assert shown_counts(page) != api_counts(client, None, {"age": {"gte": 60, "lte": 89.99}})
    settle(page, decade(page, "70-79").check)
    assert query(page) == {"age": ["60..89.99"]}
    settle(page, decade(page, "70-79").uncheck)
    assert query(page) == {"age": ["60..69.99", "80..89.99"]}
    expect(decade(page, "80-89")).to_be_checked()
    expect(page.locator("#chips")).to_contain_text("60 – 69.99 or 80 – 89.99")


def test_not_recorded_is_a_bucket_you_can_see_and_choose(page: Page, client: httpx.Client
                                                        ) -> None:
    open_page(page)
    api = facets(client, {}, ["sex", "age"])
    none = {name: next(b["count"] for b in api[name] if b["value"] is None)
            for name in ("sex", "age")}
    assert none["sex"] > 0 and none["age"] > 0
    assert shown_facet(page, "sex")["(none)"] == none["sex"]
    assert shown_facet(page, "age")["(none)"] == none["age"]
    sex = page.get_by_role("group", name="Sex")
    expect(sex.locator("li.none")).to_contain_text("not recorded")
    settle(page, sex.get_by_role("checkbox", name=re.compile("^not recorded")).check)
    assert query(page) == {"sex": ["(none)"]}
    assert shown_counts(page) == api_counts(client, None, {"sex": [None]})
    assert shown_counts(page)["series"] == none["sex"]
    expect(page.locator("#chips")).to_contain_text("Sex: not recorded")
    # the charts show the subjects without a recorded sex too, as the selected bar
    bar = page.locator("figure[data-chart=sex] g.bar[data-value='']")
    expect(bar).to_have_attribute("aria-pressed", "true")


def test_each_filter_says_what_it_leaves_out_for_lacking_a_value(page: Page,
                                                                 client: httpx.Client) -> None:
    filters: dict[str, Any] = {"sex": ["M"], "age": [{"gte": 60}]}
    open_page(page, "/?sex=M&age=60..")
    # the oracle: the exact count of the records each filter drops for having no value
    left_out = {
        "sex": api_counts(client, None, {"age": [{"gte": 60}], "sex": [None]})["series"],
        "age": api_counts(client, None, {"sex": ["M"], "age": [None]})["series"]}
    assert any(left_out.values())
    shown = {str(li.get_attribute("data-field")): int(str(li.get_attribute("data-count")))
             for li in page.locator("#cohort-excluded li:not(.total)").all()}
    assert shown == {k: n for k, n in left_out.items() if n}
    # the same numbers as the API's own missing_excluded, in series and subjects
    api = client.post("/api/v1/cohort/count", json={"filters": filters}).json()
    assert {k: m["series"] for k, m in api["missing_excluded"].items() if m["series"]} == shown
    age = api["missing_excluded"]["age"]
    expect(page.locator("#cohort-excluded")).to_contain_text(
        f"Age at imaging (years) = ≥ 60 also excludes {age['series']:,} series "
        f"({age['subjects']:,} subject")
    expect(page.locator("#cohort-excluded")).to_contain_text("with no age at imaging recorded")
    # in all: the cohort with "not recorded" accepted in both filters, minus the cohort
    wide = api_counts(client, None, {"sex": ["M", None], "age": [{"gte": 60}, None]})
    cohort = api_counts(client, None, filters)
    total = page.locator("#cohort-excluded li.total")
    assert int(str(total.get_attribute("data-count"))) == wide["series"] - cohort["series"]
    assert int(str(total.get_attribute("data-subjects"))) == \
        wide["subjects"] - cohort["subjects"]
    several = wide["series"] - cohort["series"] - sum(left_out.values())
    assert int(str(total.get_attribute("data-several"))) == several
    # the records without sex and without age: in the total, in neither line
    assert several == api_counts(client, None, {"sex": [None], "age": [None]})["series"]
    expect(page.locator("#sticky-excluded")).to_contain_text(
        f"{wide['series'] - cohort['series']:,} series")
    # choosing "not recorded" as well ends that exclusion
    settle(page, lambda: page.get_by_role("group", name="Age at imaging (years)").get_by_role(
        "checkbox", name=re.compile("^not recorded")).check())
    assert query(page)["age"] == ["60..", "(none)"]
    assert page.locator("#cohort-excluded li[data-field=age]").count() == 0
    assert shown_counts(page) == api_counts(client, None, {**filters, "age": [{"gte": 60}, None]})
