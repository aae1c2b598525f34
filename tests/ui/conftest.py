"""Browser fixtures: Debian's Chromium driven by Playwright against the live ``server``.

Playwright's own browser downloads are never used (no ``playwright install``): the system
Chromium at ``/usr/bin/chromium`` is launched headless. Timings measured in the page
(``window.__ihubTimings``) are collected into ``artifacts/ui-timings.json`` and printed.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]
VIEWPORT: ViewportSize = {"width": 1366, "height": 860}  # a laptop screen
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium at /usr/bin/chromium "
                    "(bash scripts/setup.sh test installs it)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def checked_tab(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A fresh browser context on ``server``; fails the test on any script error."""
    context = browser.new_context(viewport=VIEWPORT, base_url=server.url,
                                  accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A fresh browser context on the live server; fails the test on any script error."""
    yield from checked_tab(browser, server)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="session")
def ui_timings() -> Iterator[dict[str, list[float]]]:
    """Tests append page-measured milliseconds here; written and printed at the end."""
    found: dict[str, list[float]] = {"first_render_ms": [], "facet_click_to_counts_ms": []}
    yield found
    summary: dict[str, Any] = {"where": "test IDC slice (tests/conftest.py IDC_SLICE)"}
    for name, values in found.items():
        if values:
            summary[name] = {"median": round(statistics.median(values), 1),
                             "max": round(max(values), 1), "n": len(values),
                             "values": [round(v, 1) for v in values]}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "ui-timings.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nUI timings (ms, in Chromium): {json.dumps(summary)}")


# --- helpers used by the tests ---------------------------------------------------------------

def done(page: Page) -> int:
    """How many searches the page has finished (rendered or reported as an error)."""
    return int(page.evaluate("Number(document.body.dataset.done || 0)"))


def settle(page: Page, action: Callable[[], Any]) -> None:
    """Run ``action`` and wait until the search it starts has been rendered."""
    before = done(page)
    action()
    page.wait_for_function("n => Number(document.body.dataset.done || 0) > n", arg=before)


def open_page(page: Page, path: str = "/") -> None:
    page.goto(path)
    page.wait_for_function("Number(document.body.dataset.done || 0) >= 1")


def shown_counts(page: Page) -> dict[str, int]:
    """The cohort panel's 'All sources' row as displayed (text, thousands separators
    removed), keyed subjects/studies/series/instances."""
    cells = page.locator("#cohort-table tr[data-source=all] td[data-count]")
    out = {}
    for i in range(cells.count()):
        cell = cells.nth(i)
        kind = cell.get_attribute("data-count")
        if kind != "bytes":
            out[str(kind)] = int(cell.inner_text().replace(",", "").lstrip("≈≥"))
    return out


def api_counts(client: httpx.Client, text: str | None, filters: dict[str, Any]) -> dict[str, int]:
    r = client.post("/api/v1/cohort/count", json={"text": text, "filters": filters})
    assert r.status_code == 200, r.text
    body = r.json()
    return {k: body[k]["count"] for k in ("subjects", "studies", "series", "instances")}


def facet_map(buckets: list[dict[str, Any]], none: str = "(none)") -> dict[str, int]:
    """An API facet as value → count, keyed the way the page writes values ("not recorded",
    the API's null, is ``none``: "(none)" on checkboxes, "" on chart bars)."""
    return {none if b["value"] is None else str(b["value"]): b["count"] for b in buckets}


def shown_facet(page: Page, name: str) -> dict[str, int]:
    """value → count of one facet as displayed (expanded if it has a 'Show all')."""
    box = page.locator(f"fieldset[data-facet={name}]")
    more = box.locator("button[aria-expanded=false]")
    if more.count():
        more.click()
    out = {}
    for item in box.locator("ul.values label").all():
        value = item.locator("input").get_attribute("value")
        out[str(value)] = int(item.locator(".count").inner_text().replace(",", ""))
    return out
