"""Comparing two dispatches and deleting dispatches, from the dashboard's list and a
dispatch's page, in Debian's headless Chromium."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser


@ct.electron
def ui_scale(x, factor):
    return x * factor


@ct.electron
def ui_label(value):
    return f"value={value}"


@ct.lattice
def ui_cmp_sweep(x, factor):
    return ui_label(ui_scale(x, factor))


@ct.lattice
def ui_del_target(x):
    return ui_label(x)


def _pick(page: Any, dispatch_id: str) -> None:
    page.locator(f'tr[data-dispatch-id="{dispatch_id}"] input.pick').check()


def test_compare_two_dispatches_picked_in_the_list(page: Any, dashboard_url: str,
                                                   screenshot: Any) -> None:
    first = ct.dispatch(ui_cmp_sweep)(3, 2)
    second = ct.dispatch(ui_cmp_sweep)(3, 5)
    for d in (first, second):
        ct.get_result(d, wait=True, timeout=120)

    page.goto(f"{dashboard_url}/#/?name=ui_cmp_sweep")
    for d in (first, second):
        page.locator(f'tr[data-dispatch-id="{d}"]').wait_for()
    assert page.locator("#compare-selected").is_disabled()
    _pick(page, second)
    _pick(page, first)
    page.locator("#compare-selected").click()
    page.wait_for_selector(".compare[data-ready=true]")
    assert page.url.endswith(f"#/compare/{first}/{second}")  # the older run is the baseline

    inputs = page.locator("#cmp-inputs")
    assert "differs" in inputs.locator("h3").inner_text()
    left_in, right_in = inputs.locator("pre").all_inner_texts()
    assert "2" in left_in and "5" in right_in
    result = page.locator("#cmp-result pre").all_inner_texts()
    assert result == ["'value=6'", "'value=15'"]

    scale = page.locator('#cmp-table tr[data-name="ui_scale"]')
    assert scale.get_attribute("data-output-changed") == "true"
    cells = scale.locator("td.out").all_inner_texts()
    assert cells == ["6", "15"]
    assert scale.locator("td.out.changed").count() == 2
    assert scale.locator(".badge").all_inner_texts() == ["COMPLETED", "COMPLETED"]
    # the factor parameter, ui_scale and ui_label
    assert "3 outputs differ" in page.locator("#cmp-summary").inner_text()
    screenshot("compare")

    # parameters are hidden until asked for; the changed factor then shows as a difference
    assert page.locator('#cmp-table tr[data-name^=":parameter:"]').count() == 0
    page.locator("#cmp-params").check()
    assert page.locator('#cmp-table tr[data-name^=":parameter:"][data-differs="true"]').count() == 1
    assert "params=1" in page.url
    # only differences: the unchanged parameter x drops out
    page.locator("#cmp-only-diffs").check()
    assert page.locator('#cmp-table tbody tr[data-differs="false"]').count() == 0
    assert page.locator('#cmp-table tbody tr[data-differs="true"]').count() == 3


def test_compare_a_redispatch_with_its_original(page: Any, dashboard_url: str,
                                                screenshot: Any) -> None:
    original = ct.dispatch(ui_cmp_sweep)(4, 3)
    ct.get_result(original, wait=True, timeout=120)
    page.goto(f"{dashboard_url}/#/dispatches/{original}")
    page.wait_for_selector('.dispatch-head .badge[data-status="COMPLETED"]')
    page.locator(".actions button", has_text="Redispatch").first.click()
    page.wait_for_selector("#compare-origin")
    new_id = page.url.split("#/dispatches/")[1].split("?")[0]
    assert new_id != original
    ct.get_result(new_id, wait=True, timeout=120)
    page.wait_for_selector('.dispatch-head .badge[data-status="COMPLETED"]')
    page.locator("#compare-origin").click()
    page.wait_for_selector(".compare[data-ready=true]")
    assert page.url.endswith(f"#/compare/{original}/{new_id}")
    assert "same" in page.locator("#cmp-inputs h3").inner_text()
    assert "same" in page.locator("#cmp-result h3").inner_text()
    assert page.locator('#cmp-table tr[data-output-changed="true"]').count() == 0
    screenshot("redispatch")

    # the Compare… button of the new run offers the original as the baseline
    page.goto(f"{dashboard_url}/#/dispatches/{new_id}")
    page.locator("#compare-with").click()
    page.wait_for_selector("#compare-dialog[open]")
    page.locator("#compare-choice").select_option(original)
    page.locator("#compare-go").click()
    page.wait_for_selector(".compare[data-ready=true]")
    assert page.url.endswith(f"#/compare/{original}/{new_id}")


def test_delete_asks_then_deletes(page: Any, dashboard_url: str, screenshot: Any,
                                  api_headers: dict[str, str]) -> None:
    doomed = [ct.dispatch(ui_del_target)(i) for i in range(2)]
    kept = ct.dispatch(ui_del_target)(9)
    for d in (*doomed, kept):
        ct.get_result(d, wait=True, timeout=120)
    page.goto(f"{dashboard_url}/#/?name=ui_del_target")
    for d in (*doomed, kept):
        page.locator(f'tr[data-dispatch-id="{d}"]').wait_for()
    for d in doomed:
        _pick(page, d)
    assert page.locator("#compare-selected").is_enabled()

    # asked first; keeping them deletes nothing
    page.locator("#delete-selected").click()
    dialog = page.locator("#delete-dialog[open]")
    dialog.wait_for()
    assert "Delete 2 dispatches?" in dialog.inner_text()
    screenshot("confirm")
    dialog.locator("button", has_text="Keep").click()
    dialog.wait_for(state="detached")
    for d in doomed:
        assert httpx.get(f"{dashboard_url}/api/v1/dispatches/{d}", headers=api_headers).status_code == 200

    page.locator("#delete-selected").click()
    page.locator("#confirm-delete").click()
    for d in doomed:
        page.locator(f'tr[data-dispatch-id="{d}"]').wait_for(state="detached")
        assert httpx.get(f"{dashboard_url}/api/v1/dispatches/{d}", headers=api_headers).status_code == 404
    assert page.locator(f'tr[data-dispatch-id="{kept}"]').count() == 1
    assert httpx.get(f"{dashboard_url}/api/v1/dispatches/{kept}", headers=api_headers).status_code == 200
    assert page.locator("#delete-selected").is_disabled()  # nothing selected any more
    screenshot("deleted")

