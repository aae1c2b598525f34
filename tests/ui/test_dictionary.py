"""The data dictionary page in a real Chromium against ``ihub serve`` over the IDC slice:
fields with coverage equal to the API's, vocabularies with provenance, the find box, and
the search page's harmonised facet showing meanings."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import ARTIFACTS, facet_map, open_page, shown_facet


def open_dictionary(page: Page) -> None:
    page.goto("/dictionary")
    page.wait_for_function("document.body.dataset.state !== 'loading'")
    assert page.evaluate("document.body.dataset.state") == "ready"


def test_dictionary_page_renders_fields_coverage_and_vocabularies(
        page: Page, client: httpx.Client) -> None:
    open_dictionary(page)
    api = client.get("/api/v1/dictionary").json()
    rows = page.locator("#fields tbody tr")
    expect(rows).to_have_count(len(api["fields"]))
    region = page.locator("#fields tr[data-field=body_region][data-level=series]")
    want = next(f for f in api["fields"] if f["name"] == "body_region")["coverage"]["idc"]
    cells = region.locator("td.cov")
    expect(cells).to_have_count(1)
    assert cells.first.inner_text().startswith(f"{want['percent']:.1f} %")
    title = f"{want['filled']:,} of {want['records']:,} records"
    assert cells.first.get_attribute("title") == title
    expect(region.get_by_text("harmonised", exact=True)).to_be_visible()
    expect(page.locator("#fields thead th[data-source=idc]")).to_have_text("Coverage: idc")
    body_part = page.locator("article[data-vocab=body_part]")
    expect(body_part.locator("li[data-table=body_part]")).to_contain_text("highdicom 0.28.2")
    expect(body_part.locator("li[data-table=body_part_alias]")).to_contain_text("etl_flow")
    expect(page.locator("#notices")).to_contain_text("This material contains content from LOINC")
    page.screenshot(path=str(ARTIFACTS / "ui-dictionary.png"), full_page=False)


def test_find_box_narrows_fields_and_opens_matching_values(page: Page) -> None:
    open_dictionary(page)
    page.fill("#find", "LUNG")
    lung = page.locator("article[data-vocab=body_part] tr[data-value='39607008']")
    expect(lung).to_be_visible()
    expect(lung).to_contain_text("Lung")
    expect(page.locator("article[data-vocab=body_part] tr[data-value='12738006']")).to_be_hidden()
    expect(page.locator("#fields tr[data-field=modality]")).to_be_hidden()
    page.fill("#find", "")
    expect(page.locator("#fields tr[data-field=modality]")).to_be_visible()


def test_search_page_shows_body_regions_by_name_and_links_the_dictionary(
        page: Page, client: httpx.Client) -> None:
    open_page(page, "/?body_region=CHEST")
    api = client.post("/api/v1/search", json={"facets": ["body_region"], "page": {"size": 0},
                                              "filters": {"body_region": ["CHEST"]}}).json()
    shown = shown_facet(page, "body_region")
    assert shown == facet_map(api["facets"]["body_region"]) and "CHEST" in shown
    box = page.locator("fieldset[data-facet=body_region]")
    expect(box.get_by_role("checkbox", name="Chest", exact=False).first).to_be_checked()
    page.get_by_role("link", name="data dictionary").click()
    page.wait_for_url("**/dictionary")
    page.wait_for_function("document.body.dataset.state === 'ready'")
