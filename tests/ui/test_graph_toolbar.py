"""The graph toolbar of a dispatch in Debian's headless Chromium: glue nodes hidden and
bridged, the layout direction, the minimap, PNG export, and drilling into a sublattice's
graph and back by the breadcrumb."""

from __future__ import annotations

import struct
from typing import Any

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser

GLUE = (
    "electron_list",
    "electron_tuple",
    "electron_set",
    "electron_dict",
    "getitem",
    "getattr",
    "operator",
)


@ct.electron
def ui_pair(x):
    return [x, x + 1]


@ct.electron
def ui_total(values):
    return sum(values)


@ct.electron
@ct.lattice
def ui_inner_sub(x):
    return ui_total(ui_pair(x))


@ct.lattice
def ui_outer(x):
    pair = ui_pair(x)
    # pair[0] is a getitem, the list a collection, the sum an operator: glue nodes
    first = ui_total([pair[0], x])
    return ui_inner_sub(first) + first


@pytest.fixture(scope="module")
def outer(service: object) -> str:
    dispatch_id = ct.dispatch(ui_outer)(3)
    result = ct.get_result(dispatch_id, wait=True, timeout=180)
    assert result.status == "COMPLETED", result.error
    return dispatch_id


def _open(page: Any, url: str, dispatch_id: str, query: str = "") -> None:
    page.goto(f"{url}/#/dispatches/{dispatch_id}{query}")
    page.wait_for_selector("#graph[data-ready=true]", timeout=60_000)


def _kinds(page: Any) -> list[str]:
    return list(page.evaluate("() => window.covalentRay.cy.nodes().map(n => n.data('kind'))"))


def _edges_by_label(page: Any) -> set[tuple[str, str]]:
    return {
        tuple(e)
        for e in page.evaluate(
            "() => window.covalentRay.cy.edges().map(e => [e.source().data('label'),"
            " e.target().data('label')])"
        )
    }


def test_glue_nodes_hide_and_their_inputs_link_straight(
    page: Any, dashboard_url: str, outer: str, screenshot: Any
) -> None:
    _open(page, dashboard_url, outer)
    assert set(_kinds(page)) & set(GLUE), _kinds(page)
    page.uncheck("#graph-glue")
    page.wait_for_function(
        "() => window.covalentRay.cy.nodes().every(n => !["
        + ",".join(f"'{k}'" for k in GLUE)
        + "].includes(n.data('kind')))",
        timeout=30_000,
    )
    page.wait_for_selector("#graph[data-ready=true]")
    # ui_pair fed ui_total through pair[0] and a list: the edge is drawn straight
    assert ("ui_pair", "ui_total") in _edges_by_label(page)
    screenshot("glue-hidden")
    page.check("#graph-glue")
    page.wait_for_function(
        "() => window.covalentRay.cy.nodes().some(n => n.data('kind') === 'getitem')",
        timeout=30_000,
    )


def _along(page: Any) -> list[dict[str, float]]:
    """Per edge, how far the target lies right of and below its source."""
    return list(
        page.evaluate(
            "() => window.covalentRay.cy.edges().map(e => ({dx: e.target().position('x') -"
            " e.source().position('x'), dy: e.target().position('y') - e.source().position('y')}))"
        )
    )


def test_layout_direction_toggles_and_stays_in_the_address(
    page: Any, dashboard_url: str, outer: str, screenshot: Any
) -> None:
    _open(page, dashboard_url, outer)
    page.select_option("#graph-direction", "LR")
    page.wait_for_selector("#graph[data-rank-dir=LR]")
    assert all(e["dx"] > 0 for e in _along(page))
    assert "dir=LR" in page.evaluate("location.hash")
    screenshot("left-right")
    page.select_option("#graph-direction", "TB")
    page.wait_for_selector("#graph[data-rank-dir=TB]")
    assert all(e["dy"] > 0 for e in _along(page))
    # a shared link opens with the direction it was made with
    _open(page, dashboard_url, outer, "?dir=LR")
    assert page.get_attribute("#graph", "data-rank-dir") == "LR"
    assert page.input_value("#graph-direction") == "LR"


def _view_centre(page: Any) -> dict[str, float]:
    return dict(
        page.evaluate(
            "() => { const e = window.covalentRay.cy.extent();"
            " return {x: (e.x1 + e.x2) / 2, y: (e.y1 + e.y2) / 2}; }"
        )
    )


def test_minimap_shows_the_view_and_pans_it(
    page: Any, dashboard_url: str, outer: str, screenshot: Any
) -> None:
    _open(page, dashboard_url, outer)
    page.evaluate("() => window.covalentRay.cy.zoom({level: 3, renderedPosition: {x: 10, y: 10}})")
    # the rectangle shrinks to the zoomed-in part of the graph
    page.wait_for_function(
        "() => { const v = document.querySelector('#minimap').dataset.view;"
        " return v && Number(v.split(',')[2]) < 150; }",
        timeout=10_000,
    )
    box = page.locator("#minimap").bounding_box()
    # a click centres the view on the graph point under it
    target = (box["width"] * 0.75, box["height"] * 0.6)
    page.mouse.click(box["x"] + target[0], box["y"] + target[1])
    want = page.evaluate("([x, y]) => window.covalentRay.minimap.toModel(x, y)", list(target))
    got = _view_centre(page)
    assert abs(got["x"] - want["x"]) < 2 and abs(got["y"] - want["y"]) < 2, (got, want)
    # and a drag pans along with the pointer
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 100, steps=5)
    page.mouse.up()
    want = page.evaluate("() => window.covalentRay.minimap.toModel(120, 100)")
    got = _view_centre(page)
    assert abs(got["x"] - want["x"]) < 2 and abs(got["y"] - want["y"]) < 2, (got, want)
    screenshot("minimap")
    page.uncheck("#minimap-toggle")
    assert not page.is_visible("#minimap")


def test_graph_exports_as_png(page: Any, dashboard_url: str, outer: str) -> None:
    _open(page, dashboard_url, outer)
    with page.expect_download() as info:
        page.click("#export-png")
    download = info.value
    assert download.suggested_filename == f"ui_outer-{outer[:8]}.png"
    data = open(download.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100, (width, height)


def test_sublattice_drill_down_and_back(
    page: Any, dashboard_url: str, outer: str, screenshot: Any
) -> None:
    _open(page, dashboard_url, outer)
    options = page.locator("#sublattices option")
    assert options.count() == 2  # the prompt and the one sublattice
    child = options.nth(1).get_attribute("value")
    assert "ui_inner_sub" in options.nth(1).inner_text()
    page.select_option("#sublattices", child)
    page.wait_for_function("(c) => location.hash === `#/dispatches/${c}`", arg=child)
    page.wait_for_selector("#graph[data-ready=true]", timeout=60_000)
    page.wait_for_selector(f'#breadcrumb a[data-dispatch-id="{outer}"]')
    assert page.locator(".dispatch-head h1").inner_text() == "ui_inner_sub"
    labels = page.evaluate("() => window.covalentRay.cy.nodes().map(n => n.data('label'))")
    assert "ui_total" in labels
    screenshot("sublattice")
    page.click(f'#breadcrumb a[data-dispatch-id="{outer}"]')
    page.wait_for_function("(o) => location.hash === `#/dispatches/${o}`", arg=outer)
    page.wait_for_selector("#graph[data-ready=true]", timeout=60_000)
    assert page.locator(".dispatch-head h1").inner_text() == "ui_outer"
    assert page.is_hidden("#breadcrumb")
