"""Fixtures of the dashboard's browser tests: Debian's headless Chromium through
Playwright (never a downloaded browser), the session service's dashboard URL, and where
screenshots go.

Screenshots are kept as test artifacts under ``test-artifacts/`` at the repository's root
(ignored by git), or under ``$COVALENT_RAY_TEST_ARTIFACTS``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("COVALENT_RAY_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[2] / "test-artifacts")


@pytest.fixture(scope="module")
def dashboard_url(service: object, service_home: Path) -> str:
    return str(json.loads((service_home / "service.json").read_text())["api_url"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (`make browser`, or "
        "`apt-get install -y --no-install-recommends chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, login_url: str) -> Iterator[Any]:
    """A tab logged in to the dashboard through its login link, as a user opens it."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(login_url)
    pg.wait_for_function("() => !location.hash.includes('token')")
    pg.goto("about:blank")  # the tab keeps its session; each test loads the page afresh
    yield pg
    context.close()
    assert not errors, f"the dashboard raised in the browser: {errors}"


@pytest.fixture
def screenshot(page: Any, request: pytest.FixtureRequest) -> Any:
    """``screenshot(name)`` saves the page as ``test-artifacts/<test>-<name>.png`` and
    returns the path."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
