"""Logging in to the dashboard: the login link's token is kept for the tab's session and
taken out of the address bar; without it the dashboard asks for the token."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_login_link_keeps_the_token_for_the_session_only(
    browser: Any, login_url: str, dashboard_url: str, api_token: str
) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(login_url)
        tab.wait_for_function("() => !location.hash.includes('token')")
        assert api_token not in tab.url  # not in the address bar, nor in its history
        assert tab.evaluate("sessionStorage.getItem('covalent-ray-api-token')") == api_token
        assert tab.evaluate("localStorage.getItem('covalent-ray-api-token')") is None
        tab.locator("#live.on").wait_for()  # the live stream logged in too (fetch + header)
        assert not tab.locator("#token-dialog[open]").count()

        # the token travels with a dispatch's address too: #token=...&/dispatches/<id>
        other = context.new_page()
        other.goto(f"{login_url}&/sql")
        other.wait_for_function("() => location.hash === '#/sql'")
        assert api_token not in other.url

        # a tab of its own (a new session) has no token: the dashboard asks for it
        fresh = browser.new_context().new_page()
        fresh.goto(dashboard_url + "/")
        fresh.locator("#token-dialog[open]").wait_for()
        fresh.fill("#token-input", api_token)
        fresh.locator("#token-form button").click()
        fresh.locator("#live.on").wait_for()
        fresh.context.close()
    finally:
        context.close()
