"""A large graph in Debian's headless Chromium: repeated electrons drawn as one group
node with its status counts, listed and expanded on click."""

from __future__ import annotations

from typing import Any

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser

WIDTH = 600  # 1,202 nodes: above the dashboard's grouping threshold (1,000)


@ct.electron
def ui_inc(x):
    return x + 1


@ct.electron
def ui_sum(values):
    return sum(values)


@ct.lattice
def ui_wide(width):
    return ui_sum([ui_inc(i) for i in range(width)])


def _labels(page: Any) -> list[str]:
    return list(page.evaluate("() => window.covalentRay.cy.nodes().map(n => n.data('label'))"))


def _click_node(page: Any, label_start: str) -> None:
    box = page.locator("#graph").bounding_box()
    at = page.evaluate(
        "(s) => window.covalentRay.cy.nodes().filter(n => n.data('label').startsWith(s))[0]"
        ".renderedPosition()", label_start)
    page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])


def test_a_large_graph_groups_repeated_electrons(page: Any, dashboard_url: str,
                                                 screenshot: Any) -> None:
    dispatch_id = ct.dispatch(ui_wide)(WIDTH)
    page.goto(f"{dashboard_url}/#/dispatches/{dispatch_id}")
    page.wait_for_selector("#graph[data-ready=true]", timeout=120_000)
    assert page.get_attribute("#graph", "data-grouped") == "true"
    # the group's counts follow the run live until every member completed
    ct.get_result(dispatch_id, wait=True, timeout=300)
    try:
        page.wait_for_function(
            "(w) => window.covalentRay.cy.nodes().some(n => n.data('label') === "
            "`ui_inc ×${w}\\n${w} completed`)", arg=WIDTH, timeout=60_000)
    except Exception:
        raise AssertionError(f"the group never showed all completed: {_labels(page)}") from None
    labels = _labels(page)
    assert len(labels) < 10, labels  # 1,202 nodes drawn as a handful
    assert "ui_sum" in labels
    assert f"{2 * WIDTH + 2} nodes shown as" in page.locator("#graph-info").inner_text()
    screenshot("grouped")

    # a click on the group lists its members; a member opens as an electron
    _click_node(page, "ui_inc ×")
    page.wait_for_selector("#group-name")
    assert page.locator("#group-name").inner_text() == f"ui_inc ×{WIDTH}"
    assert page.locator("#group-counts").inner_text().split() == ["COMPLETED", str(WIDTH)]
    members = page.locator("#group-members li")
    assert members.count() == 200
    members.first.locator("a").click()
    page.wait_for_selector("#electron-output")
    assert page.locator("#electron-name").inner_text().startswith("ui_inc")
    assert page.locator("#electron-output").inner_text() == "1"  # ui_inc(0)

    # expanding draws the members one by one; collapsing groups them again
    _click_node(page, "ui_inc ×")
    page.locator("#expand-group").click()
    page.wait_for_function(
        "(w) => window.covalentRay.cy.nodes().filter(n => n.data('label') === 'ui_inc')"
        ".length === w", arg=WIDTH, timeout=120_000)
    page.locator("#collapse-groups").click()
    page.wait_for_function(
        "() => window.covalentRay.cy.nodes().some(n => n.data('label').startsWith('ui_inc ×'))",
        timeout=120_000)
