"""The settings page and the service's log page in Debian's headless Chromium."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray._logfile import service_log

pytestmark = pytest.mark.browser


def _log_line(home: Path) -> str:
    line = f"ui-test logged {uuid.uuid4().hex}"
    with open(service_log(home), "a") as f:
        f.write(line + "\n")
    return line


def test_settings_page_shows_the_effective_config_secrets_hidden(
    page: Any, dashboard_url: str, screenshot: Any
) -> None:
    ct.set_config("executors.ssh.password", "hunter2-not-shown")
    try:
        page.goto(dashboard_url + "/#/settings")
        page.wait_for_selector("[data-ready=true]", timeout=30_000)
        row = page.locator('tr[data-key="sdk.executor_dir"] td')
        assert row.inner_text() == ct.get_config("sdk.executor_dir")
        secret = page.locator('tr[data-key="executors.ssh.password"] td')
        assert secret.inner_text() == "********"
        assert "hunter2" not in page.content()
        # the filter narrows the rows to matching keys
        page.fill("#settings-filter", "executor_dir")
        keys = page.eval_on_selector_all("tr[data-key]", "rs => rs.map(r => r.dataset.key)")
        assert keys and all("executor_dir" in k for k in keys), keys
        screenshot("settings")
    finally:
        ct.set_config("executors.ssh.password", None)


def test_logs_page_shows_follows_and_downloads_the_service_log(
    page: Any, dashboard_url: str, service_home: Path, screenshot: Any
) -> None:
    before = _log_line(service_home)
    page.goto(dashboard_url + "/#/logs")
    page.wait_for_selector("#log-text[data-ready=true]", timeout=30_000)
    assert before in page.locator("#log-text").inner_text()
    assert page.locator("#log-path").inner_text() == str(service_log(service_home))
    # a line logged while the page is open appears without a reload
    page.wait_for_selector("#log-text[data-following=true]", timeout=30_000)
    after = _log_line(service_home)
    page.wait_for_function(
        "(l) => document.querySelector('#log-text').textContent.includes(l)",
        arg=after,
        timeout=30_000,
    )
    # the filter keeps only matching lines
    page.fill("#log-filter", after)
    assert page.locator("#log-text").inner_text().strip() == after
    page.fill("#log-filter", "")
    screenshot("logs")
    with page.expect_download() as info:
        page.click("#log-download")
    download = info.value
    assert download.suggested_filename == "service.log"
    text = Path(download.path()).read_text()
    assert before in text and after in text
    # not following: new lines wait for the box to be checked again
    page.uncheck("#log-follow")
    page.wait_for_selector("#log-text[data-following=false]")
    later = _log_line(service_home)
    page.check("#log-follow")
    page.wait_for_function(
        "(l) => document.querySelector('#log-text').textContent.includes(l)",
        arg=later,
        timeout=30_000,
    )
