"""The page keeps the cohort in view (issue 12 §4), in a real Chromium over the IDC slice:
counts that stay on screen while filtering, matches per dataset, the subject charts, chips that
wrap, the copy-link button and exports that refuse to write empty files."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import VIEWPORT, api_counts, facet_map, open_page, settle, shown_counts


def in_viewport(page: Page, locator: Locator) -> bool:
    """Whether the element's whole box is inside the visible part of the page."""
    box = locator.bounding_box()
    assert box is not None
    height = page.evaluate("window.innerHeight")
    return box["y"] >= 0 and box["y"] + box["height"] <= height


def sticky_counts(page: Page) -> dict[str, int]:
    line = page.locator("#sticky-counts")
    return {str(s.get_attribute("data-count")): int(str(s.get_attribute("data-value")))
            for s in line.locator("[data-count]").all()}


def subject_facets(client: httpx.Client, filters: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/search", json={
        "filters": filters, "facets": ["age", "sex", "modality"], "facet_unit": "subjects",
        "page": {"size": 0}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["facet_unit"] == "subjects"
    return body["facets"]


def bars(page: Page, chart: str) -> dict[str, int]:
    out = {}
    for g in page.locator(f"figure[data-chart={chart}] g.bar").all():
        out[str(g.get_attribute("data-value"))] = int(str(g.get_attribute("data-count")))
    return out


def test_counts_stay_in_view_after_a_click_on_a_low_facet(page: Page, client: httpx.Client
                                                         ) -> None:
    open_page(page)
    low = page.locator("fieldset[data-facet=manufacturer] input[type=checkbox]").first
    value = str(low.get_attribute("value"))
    low.scroll_into_view_if_needed()
    settle(page, low.check)
    assert parse_qs(urlsplit(page.url).query) == {"manufacturer": [value]}
    # the scenario of the issue: the cohort panel itself is far above the view ...
    assert page.evaluate("window.scrollY") > 0
    assert not in_viewport(page, page.locator("#cohort-summary"))
    # ... while the counts line at the top of the filters is on screen with the new counts
    assert in_viewport(page, page.locator("#sticky-counts"))
    api = api_counts(client, None, {"manufacturer": [value]})
    assert sticky_counts(page) == {k: api[k] for k in ("subjects", "studies", "series")}
    expect(page.locator("#sticky-counts")).to_contain_text(
        f"{api['subjects']:,} subject")
    assert shown_counts(page) == api


def test_matches_per_dataset_in_the_panel_and_on_the_cards_most_subjects_first(
        page: Page, client: httpx.Client) -> None:
    open_page(page)
    r = client.post("/api/v1/cohort/count", json={"filters": {}})
    by = r.json()["by_collection"]
    order = sorted(by, key=lambda c: (-by[c]["subjects"]["count"], -by[c]["series"]["count"], c))
    assert order != sorted(order)  # so the test tells "by matches" from alphabetical
    table = page.locator("#datasets-table tbody tr")
    assert table.count() == 5 < len(order)
    page.get_by_role("button", name=f"Show all {len(order)} datasets").click()
    shown = [(row.get_attribute("data-collection"),
              {str(td.get_attribute("data-count")): int(str(td.get_attribute("data-value")))
               for td in row.locator("td").all()}) for row in table.all()]
    assert shown == [(c, {k: by[c][k]["count"] for k in ("subjects", "studies", "series")})
                     for c in order]

    settle(page, lambda: page.click("#tab-collection"))
    cards = page.locator("#results li.card")
    assert cards.evaluate_all("els => els.map(e => e.dataset.id)") == [
        f"idc:collection:{c}" for c in order]
    for card, c in zip(cards.all(), order, strict=True):
        got = {str(m.get_attribute("data-count")): int(str(m.get_attribute("data-value")))
               for m in card.locator(".matches [data-count]").all()}
        assert got == {k: by[c][k]["count"] for k in ("subjects", "studies", "series")}, c

    # with a filter the matches (and the order) follow the cohort; a row narrows to its dataset
    settle(page, lambda: page.get_by_role("group", name="Modality")
           .get_by_role("checkbox", name="SEG").check())
    seg = client.post("/api/v1/cohort/count", json={"filters": {"modality": ["SEG"]}}).json()
    first = page.locator("#results li.card").first
    top = max(seg["by_collection"], key=lambda c: (seg["by_collection"][c]["subjects"]["count"],
                                                   seg["by_collection"][c]["series"]["count"]))
    assert first.get_attribute("data-id") == f"idc:collection:{top}"
    expect(first.locator(".matches")).to_contain_text(
        f"{seg['by_collection'][top]['subjects']['count']:,} matching subject")
    settle(page, lambda: page.get_by_role("button", name=f"Only the dataset {top}").click())
    assert parse_qs(urlsplit(page.url).query)["collection"] == [top]


def test_charts_count_subjects_like_the_api_and_work_by_keyboard(page: Page,
                                                                 client: httpx.Client) -> None:
    open_page(page, "/?modality=CT")
    api = subject_facets(client, {"modality": ["CT"]})
    shown_age = bars(page, "age")
    assert {v: n for v, n in shown_age.items() if n} == {
        v: n for v, n in facet_map(api["age"], none="").items() if n}
    assert list(shown_age)[:3] == ["0-9", "10-19", "20-29"]  # decades in order, gaps at 0
    assert "" in shown_age  # "not recorded" is a bar too, the last one
    assert list(shown_age)[-1] == ""
    assert bars(page, "sex") == facet_map(api["sex"], none="")
    known = [b for b in api["modality"] if b["value"] is not None]
    top = sorted(known, key=lambda b: -b["count"])[:8] + [
        b for b in api["modality"] if b["value"] is None]
    assert bars(page, "modality") == facet_map(top, none="")
    # subjects, not series: the CT bar is the cohort's subject count
    assert bars(page, "modality")["CT"] == api_counts(client, None, {"modality": ["CT"]})[
        "subjects"]
    # accessible: a title and a description that says every value in words
    sex = page.locator("figure[data-chart=sex] svg")
    assert "subjects" in str(sex.locator("title").first.text_content())
    desc = str(sex.locator("desc").text_content())
    for b in api["sex"]:
        assert f"{b['count']:,}" in desc

    # keyboard: one tab stop per chart, arrows move, Enter filters like the checkbox
    first = page.locator("figure[data-chart=sex] g.bar").first
    first.focus()
    page.keyboard.press("ArrowDown")
    second = page.locator("figure[data-chart=sex] g.bar").nth(1)
    expect(second).to_be_focused()
    value = str(second.get_attribute("data-value"))
    settle(page, lambda: page.keyboard.press("Enter"))
    assert parse_qs(urlsplit(page.url).query) == {"modality": ["CT"], "sex": [value]}
    pressed = page.locator(f"figure[data-chart=sex] g.bar[data-value='{value}']")
    expect(pressed).to_have_attribute("aria-pressed", "true")
    expect(page.locator("figure[data-chart=sex] g.bar[aria-pressed=false]").first
           ).to_have_attribute("data-status", "out")
    narrowed = subject_facets(client, {"modality": ["CT"], "sex": [value]})
    assert bars(page, "age") == {**{k: 0 for k in bars(page, "age")},
                                 **facet_map(narrowed["age"], none="")}


@pytest.mark.parametrize("text", ["x" * 500, ("pulmonary nodule " * 40)[:500]],
                         ids=["one-long-word", "many-words"])
def test_a_long_search_term_wraps_in_its_chip(page: Page, text: str) -> None:
    open_page(page)
    page.fill("#q", text)
    settle(page, lambda: page.press("#q", "Enter"))
    chip = page.locator("#chips .chip").first
    expect(chip).to_contain_text(text[:40])
    assert page.evaluate("document.documentElement.scrollWidth") == VIEWPORT["width"]
    box = chip.bounding_box()
    assert box is not None and box["x"] + box["width"] <= VIEWPORT["width"]
    assert box["height"] > 40  # wrapped onto several lines


def test_copy_link_copies_the_shareable_url(page: Page, client: httpx.Client) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, "/?modality=CT&sex=F&level=study")
    page.get_by_role("button", name="Copy link to this search").click()
    expect(page.locator("#copy-status")).to_contain_text("Link copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.url and "modality=CT" in copied and "sex=F" in copied
    # the copied link opens the same search
    open_page(page, copied)
    assert shown_counts(page) == api_counts(client, None, {"modality": ["CT"], "sex": ["F"]})
    expect(page.locator("#tab-study")).to_have_attribute("aria-selected", "true")


def test_export_is_disabled_when_nothing_matches(page: Page, client: httpx.Client) -> None:
    open_page(page, "/?collection=tcga_chol&modality=MG")
    assert api_counts(client, None, {"collection": ["tcga_chol"], "modality": ["MG"]})[
        "series"] == 0
    for fmt in ("csv", "jsonl", "s5cmd", "tcia"):
        expect(page.locator(f"button[data-export={fmt}]")).to_be_disabled()
    expect(page.locator("#export-status")).to_contain_text("Nothing to export")
    settle(page, lambda: page.get_by_role("button", name="Remove filter Modality: MG").click())
    for fmt in ("csv", "jsonl", "s5cmd", "tcia"):
        expect(page.locator(f"button[data-export={fmt}]")).to_be_enabled()
    expect(page.locator("#export-status")).not_to_contain_text("Nothing to export")


def test_text_without_matches_offers_the_filter_values_holding_its_words(
        page: Page, client: httpx.Client) -> None:
    api = client.post("/api/v1/search", json={"text": "siemens", "page": {"size": 0}}).json()
    assert api["total"]["count"] == 0 and api["suggestions"]  # a manufacturer, not a text
    open_page(page, "/?q=siemens")
    offered = page.locator("#results .suggestions button")
    assert [(b.get_attribute("data-field"), b.get_attribute("data-value"),
             int(str(b.get_attribute("data-count")))) for b in offered.all()] == [
        (s["field"], s["value"], s["count"]) for s in api["suggestions"]]
    first = api["suggestions"][0]
    expect(page.locator("#results .suggestions li").first).to_contain_text(
        f"{first['value']} — {first['label']}, {first['count']:,} series")
    settle(page, offered.first.click)
    assert parse_qs(urlsplit(page.url).query) == {first["field"]: [first["value"]]}
    assert shown_counts(page)["series"] == first["count"]
