"""A dispatch's triggers and the runs they started, on its page in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray.client.connect import call

pytestmark = pytest.mark.browser


@ct.electron
def ui_tick() -> str:
    return "tick"


@ct.lattice
def ui_ticking() -> str:
    return ui_tick()


def _first_run_of(dispatch_id: str, since: int) -> str:
    """Wait on the change feed (no polling) for the first dispatch a firing started."""
    for _ in range(30):
        news = call(lambda conn, _, s=since: conn.result_manager.changes.remote(s, 10.0), "feed")
        since = news["seq"]
        for change in news["changes"]:
            if change["type"] == "dispatch" and change["dispatch_id"] != dispatch_id:
                return str(change["dispatch_id"])
    raise AssertionError(f"no trigger of {dispatch_id} fired within five minutes")


def test_a_dispatch_page_shows_its_triggers_and_their_runs(
    page: Any, dashboard_url: str, screenshot: Any
) -> None:
    original = ct.dispatch(ui_ticking)()
    ct.get_result(original, wait=True, timeout=120)
    since = call(lambda conn, _: conn.result_manager.changes.remote(2**62, 0.0), "feed")["seq"]
    ct.triggers.TimeTrigger(time_gap=0.3, lattice_dispatch_id=original).register()
    run = _first_run_of(original, since)
    ct.stop_triggers(original)
    ct.get_result(run, wait=True, timeout=120)

    page.goto(f"{dashboard_url}/#/dispatches/{original}")
    row = page.locator("#triggers tr[data-trigger]")
    row.wait_for()
    assert "TimeTrigger" in row.inner_text() and "time_gap=0.3" in row.inner_text()
    assert "stopped" in row.inner_text()
    screenshot("triggers")
    page.locator(f'#triggers a[href="#/dispatches/{run}"]').click()
    page.wait_for_selector("#triggers p >> text=Started by a trigger of")
    assert page.locator(f'#triggers a[href="#/dispatches/{original}"]').count() == 1
