"""Errors in the browser are readable messages in a role=alert element, never a blank page."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import api_counts, open_page, settle, shown_counts


def test_inverted_age_range_is_explained_in_the_pages_words(page: Page, client: httpx.Client
                                                          ) -> None:
    r = client.post("/api/v1/search", json={"filters": {"age": {"gte": 90, "lte": 10}}})
    assert r.status_code == 422
    message = r.json()["message"]
    assert "inverted range" in message

    open_page(page)
    page.fill("#age_gte", "90")
    page.fill("#age_lte", "10")
    settle(page, lambda: page.press("#age_lte", "Enter"))
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    seen = alert.inner_text()  # what is on screen: the API's wording only behind a fold
    assert "Age at imaging (years): from 90 is after to 10" in seen
    assert "inverted" not in seen and "gte" not in seen
    alert.get_by_text("What the server said").click()
    expect(alert).to_contain_text(message)
    expect(page.locator("#age_gte")).to_have_attribute("aria-invalid", "true")
    # the page stays usable: the previous results are still there, and fixing the range works
    assert page.locator("#results li.hit").count() > 0
    page.fill("#age_lte", "95")
    settle(page, lambda: page.press("#age_lte", "Enter"))
    expect(alert).to_be_hidden()
    assert shown_counts(page) == api_counts(client, None, {"age": {"gte": 90, "lte": 95}})


def test_a_bad_shared_url_explains_itself(page: Page) -> None:
    open_page(page, "/?age=90..10")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Age at imaging (years): from 90 is after to 10")
    assert "inverted" not in alert.inner_text()
    expect(page.get_by_role("heading", name="Filters")).to_be_visible()
    expect(page.locator("#chips")).to_contain_text("Age at imaging (years): 90 – 10")
    remove = page.get_by_role("button", name="Remove filter Age at imaging (years): 90 – 10")
    settle(page, lambda: remove.click())
    expect(alert).to_be_hidden()
    assert page.locator("#results li.hit").count() > 0


def test_server_down_shows_a_readable_error_and_retry_recovers(
        page: Page, client: httpx.Client) -> None:
    open_page(page)
    before = shown_counts(page)

    def refuse(route: Route) -> None:
        route.abort("connectionrefused")

    page.route("**/api/v1/search", refuse)
    settle(page, lambda: page.get_by_role("group", name="Modality")
           .get_by_role("checkbox").first.check())
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Cannot reach the imaging-hub server")
    expect(alert).to_contain_text("ihub serve")
    # not a blank page: the last results and counts stay, marked as from the previous search
    expect(alert).to_contain_text("previous search")
    assert shown_counts(page) == before
    assert page.locator("#results li.hit").count() > 0

    page.unroute("**/api/v1/search", refuse)
    settle(page, lambda: alert.get_by_role("button", name="Retry").click())
    expect(alert).to_be_hidden()
    modality = page.url.split("modality=")[1].split("&")[0]
    assert shown_counts(page) == api_counts(client, None, {"modality": [modality]})


def test_server_down_on_first_load_is_not_a_blank_page(page: Page) -> None:
    page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    open_page(page, "/?modality=CT")
    expect(page.get_by_role("alert")).to_contain_text("Cannot reach the imaging-hub server")
    expect(page.get_by_role("search")).to_be_visible()
    expect(page.locator("#chips")).to_contain_text("Modality: CT")
    assert page.locator("body").inner_text().count("\n") > 10
