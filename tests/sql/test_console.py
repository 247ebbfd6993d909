"""The dashboard's SQL console in headless Chromium, served by the session's service."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from covalent_ray.storage.sql import VIEWS

from .conftest import readme_queries

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("service")]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(service: Any, login_url: str) -> Iterator[Any]:
    assert CHROMIUM is not None, "no chromium on this machine (`make test` installs Debian's)"
    assert getattr(service, "api_url", None), "the session's service serves no HTTP API"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        tab.set_default_timeout(30_000)
        tab.goto(login_url)  # logged in for the tab's session, as a user is
        tab.wait_for_function("() => !location.hash.includes('token')")
        tab.goto("about:blank")  # the tab keeps its session; each test loads the page afresh
        yield tab
        browser.close()


def test_console_runs_a_query_from_the_url(page: Any, service: Any, runs: dict[str, Any]) -> None:
    best_five = readme_queries()[0]
    page.goto(f"{service.api_url.rstrip('/')}/#/sql?{urlencode({'q': best_five})}")
    page.wait_for_selector("table.sql-table tbody tr")
    headers = page.locator("table.sql-table th").all_inner_texts()
    assert headers == ["dispatch_id", "lr", "depth", "score", "duration_s"]
    rows = page.locator("table.sql-table tbody tr")
    assert rows.count() == 5
    assert rows.nth(0).locator("td").nth(0).inner_text() == runs["sweep"][(0.05, 4)]
    assert "5 rows" in page.locator(".sql-status").inner_text()
    # the views and their columns are at hand
    page.wait_for_selector(".sql-schema details")
    names = page.locator(".sql-schema .view-name").all_inner_texts()
    assert names == list(VIEWS)
    assert page.locator(".sql-schema li[title]").count() == sum(
        len(v.columns) for v in VIEWS.values()
    )


def test_console_shows_why_a_query_is_refused(page: Any, service: Any) -> None:
    page.goto(f"{service.api_url.rstrip('/')}/#/sql")
    page.fill("textarea.sql-editor", "COPY electrons TO '/tmp/x.csv'")
    page.click("text=Run")
    page.wait_for_selector(".sql-error:not([hidden])")
    assert "COPY statements are refused" in page.locator(".sql-error").inner_text()
    assert page.locator("table.sql-table").count() == 0


def test_console_view_shortcut_and_keyboard(page: Any, service: Any) -> None:
    page.goto(f"{service.api_url.rstrip('/')}/#/sql")
    page.wait_for_selector(".sql-schema .view-name")
    page.click(".sql-schema .view-name >> text=edges")
    assert page.input_value("textarea.sql-editor") == "SELECT *\nFROM edges\nLIMIT 100"
    page.focus("textarea.sql-editor")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("table.sql-table tbody tr")
    headers = page.locator("table.sql-table th").all_inner_texts()
    assert headers == [c.name for c in VIEWS["edges"].columns]
