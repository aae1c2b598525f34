"""Small counts and estimates on the page, in Chromium: an anonymous visitor of an index
holding gated records sees suppressed numbers as "<10" (facets, the cohort table) and the
estimates of catalogue datasets in their own labelled block, never added to the counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from imaging_hub.config import Settings
from imaging_hub.indexers.catalog import CatalogIndexer
from imaging_hub.store.embedded import EmbeddedStore
from tests.api.access_data import publish
from tests.api.test_estimates import CATALOGUE
from tests.conftest import LiveServer, serving
from tests.ui.conftest import checked_tab, open_page, settle


@pytest.fixture(scope="module")
def gated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-gated")
    publish(home)  # alpha, beta, reg (9 registration series), vault (sequestered)
    path = home / "catalogue.toml"
    path.write_text(CATALOGUE)
    EmbeddedStore(Settings(home=home).index_dir).publish(
        CatalogIndexer(name="gated", path=path).harvest("run-cat"), "catalog")
    with serving(home) as live:
        yield live


@pytest.fixture
def gated_page(browser: Browser, gated_server: LiveServer) -> Iterator[Page]:
    yield from checked_tab(browser, gated_server)


def _api(server: LiveServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    got = httpx.post(f"{server.url}{path}", json=body, timeout=30)
    assert got.status_code == 200, got.text
    return dict(got.json())


def test_suppressed_counts_read_less_than_ten(gated_page: Page, gated_server: LiveServer,
                                              ) -> None:
    answer = _api(gated_server, "/api/v1/search", {"facets": ["source"], "counts": True,
                                                   "page": {"size": 0}})
    reg = next(b for b in answer["facets"]["source"] if b["value"] == "reg")
    assert reg["count"] is None and reg["suppressed"] and reg["threshold"] == 10
    open_page(gated_page)
    box = gated_page.locator("fieldset[data-facet=source]")
    count = box.locator("li", has=gated_page.locator("input[value=reg]")).locator(".count")
    expect(count).to_have_text("<10")
    assert "fewer than 10" in str(count.get_attribute("title"))
    row = gated_page.locator("#cohort-table tr[data-source=reg]")
    expect(row.locator("td[data-count=series]")).to_have_text("<10")
    expect(row.locator("td[data-count=subjects]")).to_have_text("<10")
    # a number with a visible part and a rounded restricted part reads "≈", with the range
    total = answer["counts"]["series"]
    cell = gated_page.locator("#cohort-table tr[data-source=all] td[data-count=series]")
    expect(cell).to_have_text(f"≈{total['count']:,}")
    part = total["restricted"]
    assert f"{part['low']} to {part['high']}" in str(cell.get_attribute("title"))
    expect(gated_page.locator("#shown")).to_contain_text("more you may count but not see")


def test_estimates_stand_apart_labelled_and_follow_the_filters(
        gated_page: Page, gated_server: LiveServer) -> None:
    open_page(gated_page)
    block = gated_page.locator("#cohort-estimates")
    expect(block).to_be_visible()
    expect(block).to_contain_text("estimate, not counted")
    want = _api(gated_server, "/api/v1/cohort/count", {})["estimated_additional"]
    assert block.locator("p[data-estimate]").get_attribute("data-estimate") == \
        str(want["subjects"]["estimate"])
    expect(block.locator("li[data-collection=decedents]")).to_contain_text("≈15,000 subjects")
    sex = gated_page.get_by_role("group", name="Sex")
    settle(gated_page, sex.get_by_role("checkbox", name="Female (F)").check)
    expect(block.locator("li[data-collection=decedents]")).to_contain_text("≈6,000 subjects")
    expect(block).to_contain_text("gated:brainmix: not estimated — sex: not published")
    counted = gated_page.locator("#cohort-table tr[data-source=all] td[data-count=subjects]")
    exact = _api(gated_server, "/api/v1/cohort/count", {"filters": {"sex": ["F"]}})
    assert str(counted.get_attribute("data-value")) == str(exact["subjects"]["count"])
